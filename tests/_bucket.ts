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
 * `read` again while s3rver answers 500 InternalError, a bounded number of
 * times. s3rver's reads are not atomic with its writes: a listing or a GET that
 * meets an object still being written (the mirror writes in the background)
 * answers 500, which S3 does not. Any other error is the test's.
 */
async function throughS3rverRaces<T>(read: () => Promise<T>): Promise<T> {
  for (let attempt = 1;; attempt++) {
    try {
      return await read();
    } catch (err) {
      if (attempt >= 20 || !/answered 500/.test(String(err))) throw err;
      await new Promise((r) => setTimeout(r, 100 * attempt));
    }
  }
}

/** Every key under `prefix`, sorted (s3rver lists in its own order; S3 by UTF-8 bytes). */
export function bucketKeys(bucket: S3BundleStorage, prefix = ""): Promise<string[]> {
  return throughS3rverRaces(async () => {
    const out: string[] = [];
    for await (const o of bucket.listObjects(prefix)) out.push(o.key);
    return out.sort();
  });
}

/** An object's bytes, or `null`. */
export function objectBytes(
  bucket: S3BundleStorage,
  key: string,
): Promise<Uint8Array | null> {
  return throughS3rverRaces(async () => {
    const o = await bucket.getObject(key);
    return o && new Uint8Array(await new Response(o.stream).arrayBuffer());
  });
}
