// Test helpers over an S3 bucket: its keys, an object's bytes, and waiting for
// what a background writer (the Rack mirror, a crashed upload) leaves there.
import type { S3BundleStorage } from "../storage/s3.ts";

/** Wait (bounded, never timed: the machine may be slow) until `check` holds. */
export async function eventually(
  what: string,
  check: () => Promise<boolean>,
  seconds = 120,
): Promise<void> {
  const until = Date.now() + seconds * 1000;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`Gave up waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Every key under `prefix`, sorted (s3rver lists in its own order; S3 by UTF-8
 * bytes). s3rver's listing is not atomic with its writes: a listing that meets
 * an object still being written (the mirror works in the background) answers
 * 500 InternalError, which S3 does not. Such a listing is tried again, a
 * bounded number of times; any other error is the test's.
 */
export async function bucketKeys(bucket: S3BundleStorage, prefix = ""): Promise<string[]> {
  for (let attempt = 1;; attempt++) {
    try {
      const out: string[] = [];
      for await (const o of bucket.listObjects(prefix)) out.push(o.key);
      return out.sort();
    } catch (err) {
      if (attempt >= 20 || !/answered 500/.test(String(err))) throw err;
      await new Promise((r) => setTimeout(r, 100 * attempt));
    }
  }
}

/** An object's bytes, or `null`. */
export async function objectBytes(
  bucket: S3BundleStorage,
  key: string,
): Promise<Uint8Array | null> {
  const o = await bucket.getObject(key);
  return o && new Uint8Array(await new Response(o.stream).arrayBuffer());
}
