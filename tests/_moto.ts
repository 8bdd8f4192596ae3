// A second S3-protocol server for the tests: moto's (`moto_server`, Python,
// preinstalled on this project's machines). Unlike s3rver it implements
// ListMultipartUploads, ListParts and AbortMultipartUpload, which the crash
// test needs. Like s3rver it checks no signature. Its quirk: every upload's
// `Initiated` is a fixed date in 2010, so every upload counts as old.
import type { RunningS3 } from "./_s3rver.ts";

/** Start `moto_server` on a free loopback port with `buckets` created. */
export async function startMoto(buckets: readonly string[]): Promise<RunningS3> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("moto_server", {
      args: ["-H", "127.0.0.1", "-p", "0"],
      stdout: "piped",
      stderr: "piped",
      stdin: "null",
    }).spawn();
  } catch (err) {
    throw new Error(
      `Could not start moto_server (Python package moto, with its server extra): ${err}`,
    );
  }
  let text = "";
  const decoder = new TextDecoder();
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`moto_server did not start:\n${text}`)),
      60_000,
    );
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream) {
        text += decoder.decode(chunk, { stream: true });
        const m = /Running on http:\/\/127\.0\.0\.1:(\d+)/.exec(text);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      }
    };
    pump(child.stdout).catch(() => {});
    pump(child.stderr).catch(() => {});
    child.status.then(() => reject(new Error(`moto_server exited:\n${text}`)));
  });
  const endpoint = `http://127.0.0.1:${port}`;
  for (const bucket of buckets) {
    const res = await fetch(`${endpoint}/${bucket}`, { method: "PUT" });
    await res.body?.cancel();
    if (!res.ok) throw new Error(`moto_server refused to create bucket ${bucket}: ${res.status}`);
  }
  return {
    endpoint,
    async close() {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      await child.status;
    },
  };
}
