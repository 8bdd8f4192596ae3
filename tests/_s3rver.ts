// A real S3-protocol server (npm s3rver) on 127.0.0.1, for the S3 backend's
// tests. s3rver accepts any signature from a known access key (S3RVER), so
// signing itself is covered by aws4fetch's own guarantees (docs/scaling.md).
import S3rver from "s3rver";

/** The access key s3rver knows (any other is refused with InvalidAccessKeyId). */
export const S3RVER_KEY = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const;

/** A running s3rver with its buckets. */
export interface RunningS3 {
  /** `http://127.0.0.1:<port>`. */
  endpoint: string;
  /** Stop the server and remove its files. */
  close(): Promise<void>;
}

/**
 * Start s3rver with `buckets` created, its files in a temp dir, on a free port;
 * or on `port` over `directory` (start it again after a `close`: an outage).
 */
export async function startS3rver(
  buckets: readonly string[] = ["registry"],
  options: { port?: number; directory?: string } = {},
): Promise<RunningS3> {
  const directory = options.directory ?? await Deno.makeTempDir({ prefix: "s3rver_" });
  const server = new S3rver({
    port: options.port ?? 0,
    address: "127.0.0.1",
    silent: true,
    directory,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  const { port } = await server.run();
  return {
    endpoint: `http://127.0.0.1:${port}`,
    async close() {
      await server.close();
      // A directory handed in outlives this run (the caller starts it again).
      if (options.directory === undefined) {
        await Deno.remove(directory, { recursive: true }).catch(() => {});
      }
    },
  };
}
