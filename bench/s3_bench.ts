// Bundle storage on an S3-API bucket beside the fs backend, in the same run:
// 10 KiB and 1 MiB reads cold (a fresh storage: nothing cached or verified, so
// a full GET streamed and hashed) and cached (CachingBundleStorage, as the
// server wraps every backend), and one 50 MiB streamed upload (multipart, 8 MiB
// parts) with this process's peak RSS while it runs. The bucket is s3rver on
// loopback in a child process (its own memory not counted).
//
//   deno run -A bench/s3_bench.ts [--reads=50]
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { S3BundleStorage } from "../storage/s3.ts";
import { FsBundleStorage } from "../storage/fs.ts";
import { CachingBundleStorage } from "../core/read_cache.ts";
import type { BundleStorage } from "../storage/types.ts";
import { S3RVER_KEY } from "../tests/_s3rver.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { reads: { type: "string", default: "50" } },
});
const READS = Number(values.reads);

const child = new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", fileURLToPath(new URL("./_s3rver_process.ts", import.meta.url))],
  stdout: "piped",
  stderr: "inherit",
}).spawn();
const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
let head = "";
while (!/s3rver (\S+)\n/.test(head)) head += (await reader.read()).value ?? "";
const endpoint = /s3rver (\S+)\n/.exec(head)![1]!;
reader.releaseLock();

const root = await Deno.makeTempDir({ prefix: "s3bench_fs_" });
const openS3 = () =>
  S3BundleStorage.open({ ...S3RVER_KEY, bucket: "bench", prefix: "b/", endpoint });
const openFs = () => FsBundleStorage.open({ root });

function bytesOf(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) out[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  return out;
}

async function readAll(s: BundleStorage, sha: string): Promise<number> {
  const body = await s.get(sha);
  if (body?.bytes) {
    await body.stream.cancel();
    return body.bytes.byteLength;
  }
  return (await new Response(body!.stream).arrayBuffer()).byteLength;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const rows: string[] = [];
for (const size of [10 * 1024, 1024 * 1024]) {
  for (const [name, open] of [["fs", openFs], ["s3 (s3rver)", openS3]] as const) {
    const writer = await open();
    const shas: string[] = [];
    for (let i = 0; i < READS; i++) shas.push((await writer.put(bytesOf(size, i + 1))).sha256);
    await writer.close();
    // Cold: a fresh storage per read (no verified ETag, no cache).
    const cold: number[] = [];
    for (const sha of shas) {
      const s = new CachingBundleStorage(await open());
      const t = performance.now();
      await readAll(s, sha);
      cold.push(performance.now() - t);
      await s.close();
    }
    // Cached: one warm storage, each blob read once before timing.
    const warm = new CachingBundleStorage(await open());
    for (const sha of shas) await readAll(warm, sha);
    const cached: number[] = [];
    for (const sha of shas) {
      const t = performance.now();
      await readAll(warm, sha);
      cached.push(performance.now() - t);
    }
    await warm.close();
    rows.push(
      `| ${size === 10240 ? "10 KiB" : "1 MiB"} | ${name} | ${median(cold).toFixed(2)} | ${
        median(cached).toFixed(3)
      } |`,
    );
  }
}
console.log(`| blob | backend | cold read, median ms | cached read, median ms |`);
console.log(`| ---- | ------- | -------------------- | ---------------------- |`);
for (const r of rows) console.log(r);

// One 50 MiB upload, streamed in 64 KiB chunks made on the fly, with peak RSS sampled every 5 ms.
const TOTAL = 50 * 1024 * 1024;
for (const [name, open] of [["fs", openFs], ["s3 (s3rver)", openS3]] as const) {
  const s = await open();
  const chunk = bytesOf(64 * 1024, 99);
  let sent = 0;
  let n = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent >= TOTAL) return c.close();
      const next = chunk.slice();
      next[0] = n++ & 0xff; // every chunk different: no accidental dedup
      sent += next.byteLength;
      c.enqueue(next);
    },
  });
  (globalThis as { gc?: () => void }).gc?.();
  const base = Deno.memoryUsage().rss;
  let peak = base;
  const timer = setInterval(() => peak = Math.max(peak, Deno.memoryUsage().rss), 5);
  const t = performance.now();
  await s.put(body);
  const ms = performance.now() - t;
  clearInterval(timer);
  peak = Math.max(peak, Deno.memoryUsage().rss);
  console.log(
    `50 MiB upload, ${name}: ${(ms / 1000).toFixed(2)} s, RSS ${(base / 2 ** 20).toFixed(0)} MiB ` +
      `before, peak ${(peak / 2 ** 20).toFixed(0)} MiB (+${
        ((peak - base) / 2 ** 20).toFixed(0)
      } MiB)`,
  );
  await s.close();
}

child.kill("SIGTERM");
await child.status;
await Deno.remove(root, { recursive: true });
