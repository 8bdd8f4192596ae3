// Bundle storage on an S3-API bucket beside the fs backend, in the same run:
// 10 KiB and 1 MiB reads cold (a fresh storage: nothing cached or verified, so
// a full GET streamed and hashed) and cached (CachingBundleStorage, as the
// server wraps every backend), and one 50 MiB streamed upload (multipart, 8 MiB
// parts) with this process's peak RSS while it runs. The bucket is s3rver on
// loopback in a child process (its own memory not counted).
//
// Then the same through the server: two main.ts processes in the same run, one
// with --bundles=fs, one with --bundles=s3 (the same s3rver), each serving a
// Rack version of 10 KiB and 1 MiB template files: each file read over HTTP
// once cold (the first read since the server started: the blob comes from the
// backend) and once cached (again: the server's blob cache), and one 50 MiB
// Rack upload with its time and the server's peak RSS (VmHWM from /proc).
//
//   deno run -A --import-map=tests/import_map.json --lock=tests/deno.lock bench/s3_bench.ts [--reads=50] [--server-only] [--upload-mib=50]
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { S3BundleStorage } from "../storage/s3.ts";
import { FsBundleStorage } from "../storage/fs.ts";
import { CachingBundleStorage } from "../core/read_cache.ts";
import type { BundleStorage } from "../storage/types.ts";
import { S3RVER_KEY } from "../tests/_s3rver.ts";
import { startServer } from "../tests/_server.ts";
import { TEST_CONFIG_FLAGS } from "../tests/_test_config.ts";
import { curlRackUpload, makeItem, makePackage } from "../tests/_rack_fixtures.ts";
import { memoryOf } from "../tests/_upload_rss.ts";
import { sha256Hex } from "../base/digest.ts";

const S3RVER_KEY_ENV = {
  AWS_ACCESS_KEY_ID: S3RVER_KEY.accessKeyId,
  AWS_SECRET_ACCESS_KEY: S3RVER_KEY.secretAccessKey,
};

const { values } = parseArgs({
  args: Deno.args,
  options: {
    reads: { type: "string", default: "50" },
    "server-only": { type: "boolean", default: false },
    "upload-mib": { type: "string", default: "50" },
  },
});
const READS = Number(values.reads);

const child = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "-A",
    ...TEST_CONFIG_FLAGS,
    fileURLToPath(new URL("./_s3rver_process.ts", import.meta.url)),
  ],
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
for (const size of values["server-only"] ? [] : [10 * 1024, 1024 * 1024]) {
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
if (rows.length > 0) {
  console.log(`| blob | backend | cold read, median ms | cached read, median ms |`);
  console.log(`| ---- | ------- | -------------------- | ---------------------- |`);
  for (const r of rows) console.log(r);
}

// One 50 MiB upload, streamed in 64 KiB chunks made on the fly, with peak RSS sampled every 5 ms.
const TOTAL = 50 * 1024 * 1024;
for (
  const [name, open] of values["server-only"]
    ? []
    : [["fs", openFs], ["s3 (s3rver)", openS3]] as const
) {
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

await serverRows(endpoint);

child.kill("SIGTERM");
await child.status;
await Deno.remove(root, { recursive: true });

/** POST a Rack archive with curl -F (from a file: the bench's own memory stays out of it); throws unless 201. */
async function rackUpload(url: string, archive: Uint8Array): Promise<void> {
  const file = await Deno.makeTempFile({ suffix: ".tar.gz" });
  try {
    await Deno.writeFile(file, archive);
    const answer = await curlRackUpload(url, "bench-admin", file, sha256Hex(archive));
    if (answer.status !== "201") throw new Error(`upload answered ${answer.status} ${answer.body}`);
  } finally {
    await Deno.remove(file);
  }
}

/** A Rack package of `count` files of each of 10 KiB (`s<i>.bin`) and 1 MiB (`m<i>.bin`). */
function readPackage(count: number): Promise<Uint8Array> {
  const files: Record<string, Uint8Array> = {};
  const entries = [];
  for (const [size, label] of [[10 * 1024, "s"], [1024 * 1024, "m"]] as const) {
    for (let i = 0; i < count; i++) {
      const path = `templates/${label}${i}.bin`;
      files[path] = bytesOf(size, 1000 * size + i);
      entries.push({ path, target: path, type: "registry:asset" });
    }
  }
  return makePackage({ item: makeItem({ files: entries }), files });
}

/** A Rack package of `mib` MiB of incompressible files of at most 50 MiB (Rack's cap is 64 MiB). */
function bigPackage(mib: number): Promise<Uint8Array> {
  const total = mib * 1024 * 1024;
  const files: Record<string, Uint8Array> = {};
  const entries = [];
  for (let at = 0, n = 0; at < total; at += 50 * 1024 * 1024, n++) {
    const big = new Uint8Array(Math.min(50 * 1024 * 1024, total - at));
    for (let i = 0; i < big.byteLength; i += 65536) {
      crypto.getRandomValues(big.subarray(i, i + 65536));
    }
    files[`templates/big${n}.bin`] = big;
    entries.push({ path: `templates/big${n}.bin`, target: `big${n}.bin`, type: "registry:asset" });
  }
  return makePackage({ item: makeItem({ version: "2.0.0", files: entries }), files });
}

/** Each file's first (cold) and second (cached) read over HTTP: medians in ms. */
async function readRows(url: string, name: string): Promise<string[]> {
  const base = `${url}/registries/@rack/quality/husky/1.0.0`;
  await (await fetch(base)).arrayBuffer(); // the version row, read once
  const rows: string[] = [];
  for (const [label, size] of [["s", "10 KiB"], ["m", "1 MiB"]] as const) {
    const time = async (i: number) => {
      const t = performance.now();
      const res = await fetch(`${base}/files/templates/${label}${i}.bin`);
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`read answered ${res.status}`);
      return performance.now() - t;
    };
    const cold: number[] = [];
    const cached: number[] = [];
    for (let i = 0; i < READS; i++) cold.push(await time(i));
    for (let i = 0; i < READS; i++) cached.push(await time(i));
    rows.push(`| ${size} | ${name} | ${median(cold).toFixed(2)} | ${median(cached).toFixed(2)} |`);
  }
  return rows;
}

/** Server-level rows: reads of 10 KiB and 1 MiB files, cold and cached, and a 50 MiB upload. */
async function serverRows(endpoint: string): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "s3bench_srv_" });
  await Deno.writeTextFile(`${tmp}/auth.json`, JSON.stringify({ "@rack": [] }));
  const env = { ...S3RVER_KEY_ENV, S3_ENDPOINT: endpoint };
  const common = [
    "--admin-token=bench-admin",
    `--auth-config=${tmp}/auth.json`,
    "--log-requests=false",
    "--rate-limit=0",
    "--upload-rate-limit=0",
    "--token-upload-rate-limit=0",
    "--metadata-rate-limit=0",
    "--max-upload-bytes=1073741824",
    "--log-level=warn",
  ];
  const servers = [
    ["fs", [`--storage=kv:${tmp}/fs/registry.kv`, `--bundles=fs:${tmp}/fs/bundles`]],
    ["s3 (s3rver)", [`--storage=kv:${tmp}/s3/registry.kv`, "--bundles=s3:bench/srv"]],
  ] as const;
  const table: string[] = [];
  const uploads: string[] = [];
  const reads = await readPackage(READS);
  const archive = await bigPackage(Number(values["upload-mib"]));
  for (const [name, store] of servers) {
    // Publish with one server, measure with a fresh one: nothing of the files cached yet.
    const seed = await startServer([...store, ...common], { env });
    await rackUpload(seed.url, reads);
    await seed.stop();
    const server = await startServer([...store, ...common], { env });
    table.push(...await readRows(server.url, name));
    const before = await memoryOf(server.pid);
    const t = performance.now();
    await rackUpload(server.url, archive);
    const seconds = (performance.now() - t) / 1000;
    const after = await memoryOf(server.pid);
    uploads.push(
      `| ${name} | ${(archive.byteLength / 2 ** 20).toFixed(1)} MiB | ${seconds.toFixed(2)} s | ${
        before.rss.toFixed(0)
      } MiB | ${after.peak.toFixed(0)} MiB | +${(after.peak - before.rss).toFixed(0)} MiB |`,
    );
    await server.stop();
  }
  console.log("\nThrough the server (main.ts), each file read over HTTP, median ms:");
  console.log(`| file | bundles | cold, median ms | cached, median ms |`);
  console.log(`| ---- | ------- | --------------- | ----------------- |`);
  for (const r of table) console.log(r);
  console.log("\nOne Rack upload through the server:");
  console.log(
    `| bundles | archive | time to 201 | server RSS before | server peak RSS | peak over before |`,
  );
  console.log(
    `| ------- | ------- | ----------- | ----------------- | --------------- | ---------------- |`,
  );
  for (const r of uploads) console.log(r);
  await Deno.remove(tmp, { recursive: true });
}
