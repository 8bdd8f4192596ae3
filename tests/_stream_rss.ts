// Child process of tests/stream_rss_test.ts: streams a large generated blob
// into a persistent bundle backend and back, never holding it in memory, and
// reports the process's peak RSS as JSON on stdout.
// Usage: _stream_rss.ts <fs|kv> <fs root or KV file> <MiB>
import { incrementalHash } from "../base/digest.ts";
import { FsBundleStorage } from "../storage/fs.ts";
import { KvBundleStorage } from "../storage/kv.ts";
import type { BundleStorage } from "../storage/types.ts";

/** Size of each generated piece: what a request body typically delivers. */
const PIECE = 64 * 1024;
const MIB = 1024 * 1024;

/** `mib` MiB of deterministic bytes, one fresh piece at a time, hashed as they go. */
function generated(mib: number, hash: { update(b: Uint8Array): void }): ReadableStream<Uint8Array> {
  const base = new Uint8Array(PIECE);
  let x = 0x9e3779b9;
  for (let i = 0; i < PIECE; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    base[i] = x & 0xff;
  }
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i === (mib * MIB) / PIECE) return controller.close();
      const piece = base.slice();
      new DataView(piece.buffer).setUint32(0, i++); // every piece differs
      hash.update(piece);
      controller.enqueue(piece);
    },
  }, { highWaterMark: 0 });
}

/** Peak resident set size so far, in bytes (VmHWM on Linux, else sampled). */
function peakRss(sampled: number): number {
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    const kib = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]);
    if (Number.isFinite(kib)) return Math.max(sampled, kib * 1024);
  } catch {
    // not Linux: the sampled peak is what we have
  }
  return sampled;
}

if (import.meta.main) {
  const [backend, path, mibArg] = Deno.args;
  const mib = Number(mibArg);
  let sampled = Deno.memoryUsage().rss;
  const sampler = setInterval(() => sampled = Math.max(sampled, Deno.memoryUsage().rss), 10);
  const blobs: BundleStorage = backend === "kv"
    ? await KvBundleStorage.open(path!)
    : await FsBundleStorage.open({ root: path! });
  try {
    const startRssBytes = peakRss(sampled);
    const t0 = performance.now();
    const sent = incrementalHash();
    const info = await blobs.put(generated(mib, sent));
    const t1 = performance.now();
    // The first read verifies the digest while streaming: a mismatch would
    // error this loop with blob_corrupt.
    const body = await blobs.get(info.sha256);
    const got = incrementalHash();
    let size = 0;
    for await (const piece of body!.stream) {
      got.update(piece);
      size += piece.byteLength;
    }
    const t2 = performance.now();
    console.log(JSON.stringify({
      size,
      expectedSize: mib * MIB,
      putSha256: info.sha256,
      expectedSha256: sent.hex(),
      readSha256: got.hex(),
      startRssBytes,
      peakRssBytes: peakRss(sampled),
      writeMiBps: mib / ((t1 - t0) / 1000),
      readMiBps: mib / ((t2 - t1) / 1000),
    }));
  } finally {
    clearInterval(sampler);
    await blobs.close();
  }
}
