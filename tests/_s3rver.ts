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

/** Start s3rver on a free port with `buckets` created, its files in a temp dir. */
export async function startS3rver(buckets: readonly string[] = ["registry"]): Promise<RunningS3> {
  const directory = await Deno.makeTempDir({ prefix: "s3rver_" });
  const server = new S3rver({
    port: 0,
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
      await Deno.remove(directory, { recursive: true }).catch(() => {});
    },
  };
}
