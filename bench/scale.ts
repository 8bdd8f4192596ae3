// Scale benchmark: what requests, the server's memory and the operator
// commands cost as the store grows from 10,000 to 1,000,000 versions.
//
//   deno run -A bench/scale.ts [--sizes=10000,100000,1000000] [--backend=kv|fs]
//                              [--runs=20] [--load-seconds=5] [--dir=.tmp/scale]
//                              [--keep=false] [--reuse=false] [--ops=true]
//                              [--ops-seconds=0 (no cap)]
//
// Each size gets a fresh store (`--backend=kv`: the default layout, a KV file
// for rows and fs bundles; `fs`: rows and bundles in folders), seeded through
// the storage seam with the rows and blobs publishes write
// (bench/_scale_seed.ts, proven equal to HTTP publishes by
// tests/scale_seed_test.ts): two 10,000-version packages (`@big/huge`, a ggui
// gadget; `@big/deno`, JSR) at every size, and `size` more versions in
// packages of 10 (nine in ten ggui gadgets, one in ten JSR; "common" in every
// other description, "needle" in three). Then the real server (main.ts, a
// child process) is started on it and measured from outside over HTTP:
// cold start to the first answer, each request's median and p90 over
// `--runs` sequential runs after 3 warm-ups, JSR publishes over HTTP, the
// server's RSS at rest and its peak (VmHWM) after `--load-seconds` of 4
// concurrent clients over the read mix; then `export`, `import` (into a fresh
// store of the same backend) and `gc` as child processes, with their time and
// peak RSS (VmHWM from /proc). Results print as a Markdown table per size and
// as JSON lines.
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { ensureSearchIndex } from "../core/search_index.ts";
import { createToken } from "../core/tokens.ts";
import { encodeListCursor } from "../core/cursor.ts";
import { listAll } from "../core/store.ts";
import * as keys from "../storage/keys.ts";
import { openStores } from "../server/open.ts";
import { parseServerArgs } from "../server/config.ts";
import { Seeder, type SeedPackage, seedPackage } from "./_scale_seed.ts";
import { jsrFiles } from "./_scale_seed.ts";
import { makeTarball } from "../tests/_rack_fixtures.ts";
import { startServer } from "../tests/_server.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    sizes: { type: "string", default: "10000,100000,1000000" },
    backend: { type: "string", default: "kv" },
    runs: { type: "string", default: "20" },
    "load-seconds": { type: "string", default: "5" },
    dir: { type: "string", default: ".tmp/scale" },
    keep: { type: "string", default: "false" },
    reuse: { type: "string", default: "false" },
    ops: { type: "string", default: "true" },
    "ops-seconds": { type: "string", default: "0" },
  },
});
const SIZES = values.sizes.split(",").map(Number);
const BACKEND = values.backend === "fs" ? "fs" : "kv";
const RUNS = Number(values.runs);
const LOAD_SECONDS = Number(values["load-seconds"]);
const OPS_SECONDS = Number(values["ops-seconds"]);
const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
const BIG = 10_000;
const PER_PACKAGE = 10;
const BASE = Date.parse("2025-01-01T00:00:00.000Z");

/** The server/CLI flags of a store in `dir`. */
function storeFlags(dir: string): string[] {
  return BACKEND === "kv" ? [`--data-dir=${dir}`] : [`--storage=fs:${dir}`];
}

function versionsOf(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `1.${Math.floor(i / 100)}.${i % 100}`);
}

/** Filler package `i`. */
function filler(i: number): SeedPackage {
  const words = [`term${(i * 7) % 300}`, `word${(i * 13) % 500}`];
  if (i % 2 === 0) words.push("common");
  if (i === 10 || i === 20 || i === 30) words.push("needle");
  return {
    namespace: `@team${i % 1000}`,
    name: `item-${i}`,
    format: i % 10 === 9 ? "jsr" : "ggui.gadget",
    versions: versionsOf(PER_PACKAGE),
    description: `Item ${i}: ${words.join(" ")}`,
    firstAt: BASE + (2 * BIG + i * PER_PACKAGE) * 1000,
    publisher: "alice",
  };
}

/** Seed a store of `size` filler versions plus the two big packages; answers the admin token. */
async function seed(dir: string, size: number): Promise<{ token: string; seconds: number }> {
  await Deno.mkdir(`${dir}/bundles`, { recursive: true });
  const parsed = parseServerArgs(storeFlags(dir), {});
  if (!parsed.ok) throw new Error("help" in parsed ? "help" : parsed.error);
  const stores = await openStores(parsed.config);
  const started = performance.now();
  try {
    // As a server's first start on the empty store does: the search index's
    // marker (else the first start of the seeded server rebuilds the index).
    await ensureSearchIndex(stores.storage);
    const seeder = new Seeder(stores.storage, stores.bundles);
    const big = { versions: versionsOf(BIG), publisher: "alice", firstAt: BASE };
    await seeder.add(seedPackage({
      ...big,
      namespace: "@big",
      name: "huge",
      format: "ggui.gadget",
      description: "The big gadget",
    }, { claimScope: true }));
    await seeder.add(seedPackage({
      ...big,
      firstAt: BASE + BIG * 1000,
      namespace: "@big",
      name: "deno",
      format: "jsr",
      description: "The big module",
    }, { claimScope: false }));
    let shown = performance.now();
    for (let i = 0; i < size / PER_PACKAGE; i++) {
      await seeder.add(seedPackage(filler(i), { claimScope: i < 1000 }));
      if (performance.now() - shown > 10_000) {
        shown = performance.now();
        // The two big packages' versions are part of the time, so of the rate.
        const rate = (2 * BIG + i * PER_PACKAGE) / ((shown - started) / 1000);
        console.error(`seed ${i * PER_PACKAGE}/${size} versions, ${rate.toFixed(0)}/s`);
      }
    }
    await seeder.flush();
    const ctx = { storage: stores.storage, bundles: stores.bundles, clock: () => new Date() };
    const admin = await createToken(ctx, {
      subject: "bench",
      grants: [{ namespace: "*", actions: ["admin"] }],
    }, { subject: "root", admin: true });
    return { token: admin.secret, seconds: (performance.now() - started) / 1000 };
  } finally {
    await stores.close();
  }
}

/** The id of the second-oldest audit record (a cursor that leaves one page: the deepest). */
async function deepAuditCursor(dir: string): Promise<string> {
  const parsed = parseServerArgs(storeFlags(dir), {});
  if (!parsed.ok) throw new Error("help" in parsed ? "help" : parsed.error);
  const stores = await openStores(parsed.config);
  try {
    const rows = [];
    for await (const e of listAll<{ id: string }>(stores.storage, keys.auditPrefix())) {
      rows.push(e.value.id);
      if (rows.length === 2) break;
    }
    // The cursor the API hands out after that record (core/cursor.ts).
    return encodeURIComponent(encodeListCursor("audit", [rows[1]!]));
  } finally {
    await stores.close();
  }
}

function rss(pid: number): { rss: number; peak: number } {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1]);
  return { rss: kib("VmRSS") / 1024, peak: kib("VmHWM") / 1024 };
}

/** CPU time (ms) of all the process's threads so far (each thread's schedstat under /proc, in ns). */
function cpuMs(pid: number): number {
  let ns = 0;
  for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/schedstat`).split(" ")[0]);
    } catch { /* the thread ended */ }
  }
  return ns / 1e6;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/**
 * Median and p90 (ms) of `RUNS` sequential fetches after 3 warm-ups, the
 * server's CPU ms per request over those runs (steadier than wall time on a
 * busy machine), and the body's bytes.
 */
async function timeRequest(pid: number, url: string, init: RequestInit = {}) {
  let bytes = 0;
  const times: number[] = [];
  let cpu = 0;
  for (let i = 0; i < RUNS + 3; i++) {
    if (i === 3) cpu = cpuMs(pid);
    const t = performance.now();
    const res = await fetch(url, init);
    const body = await res.arrayBuffer();
    const ms = performance.now() - t;
    if (res.status !== 200) {
      throw new Error(`${url}: ${res.status} ${new TextDecoder().decode(body)}`);
    }
    bytes = body.byteLength;
    if (i >= 3) times.push(ms);
  }
  cpu = (cpuMs(pid) - cpu) / RUNS;
  times.sort((a, b) => a - b);
  return { p50: quantile(times, 0.5), p90: quantile(times, 0.9), cpu, bytes };
}

/** The search cursor after up to `pages` pages of `q` (fewer when the results end), and the page it opens. */
async function searchCursor(base: string, q: string, pages: number) {
  let cursor: string | undefined;
  let page = 1;
  for (; page <= pages; page++) {
    const res = await fetch(`${base}/search?q=${q}${cursor ? `&cursor=${cursor}` : ""}`);
    const body = await res.json();
    if (!body.nextCursor) break;
    cursor = encodeURIComponent(body.nextCursor);
  }
  return { cursor: cursor ?? "", page };
}

/** JSR publishes over HTTP: median ms. */
async function timePublishes(base: string, token: string, n: number): Promise<number> {
  const times: number[] = [];
  const p = { namespace: "@big", name: "deno", description: "The big module" } as SeedPackage;
  for (let i = 0; i < n; i++) {
    const version = `2.0.${i}-${Date.now()}`;
    const tarball = await makeTarball(jsrFiles(p, version));
    const t = performance.now();
    const res = await fetch(
      `${base}/api/scopes/big/packages/deno/versions/${version}?config=%2Fdeno.json`,
      {
        method: "POST",
        headers: { "content-encoding": "gzip", authorization: `Bearer ${token}` },
        body: tarball as BodyInit,
      },
    );
    const text = await res.text();
    if (res.status !== 200) throw new Error(`publish: ${res.status} ${text}`);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return quantile(times, 0.5);
}

/** 4 clients over the read mix for `LOAD_SECONDS`. */
async function load(urls: [string, RequestInit][]): Promise<number> {
  const until = performance.now() + LOAD_SECONDS * 1000;
  let n = 0;
  await Promise.all(Array.from({ length: 4 }, async (_, c) => {
    for (let i = c; performance.now() < until; i++) {
      const [url, init] = urls[i % urls.length]!;
      await (await fetch(url, init)).arrayBuffer();
      n++;
    }
  }));
  return n;
}

async function measureServer(dir: string, token: string) {
  const admin = { headers: { authorization: `Bearer ${token}` } };
  const auditCursor = await deepAuditCursor(dir);
  const t0 = performance.now();
  await using server = await startServer([
    ...storeFlags(dir),
    "--jsr-visibility=public",
    "--log-requests=false",
    "--rate-limit=0",
    "--read-rate-limit=0",
    "--metadata-rate-limit=0",
    "--query-rate-limit=0",
    "--upload-rate-limit=0",
    "--token-upload-rate-limit=0",
  ], { init: false });
  const first = await fetch(`${server.url}/pkg/@big/huge/1.0.5`);
  await first.arrayBuffer();
  const coldStart = performance.now() - t0;
  const u = server.url;
  const cases: Record<string, [string, RequestInit?]> = {
    "ggui list @big/huge (10k versions)": [`${u}/pkg/@big/huge`],
    "JSR meta.json @big/deno (10k versions)": [`${u}/@big/deno/meta.json`],
    "audit, deepest cursor": [`${u}/admin/audit?limit=100&cursor=${auditCursor}`, admin],
    "version read": [`${u}/pkg/@big/huge/1.50.5`],
    "search, few matches": [`${u}/search?q=needle`],
    "search, many matches": [`${u}/search?q=common`],
  };
  const atRest = rss(server.pid);
  const requests: Record<string, { p50: number; p90: number; cpu: number; bytes: number }> = {};
  for (const [name, [url, init]] of Object.entries(cases)) {
    requests[name] = await timeRequest(server.pid, url, init);
  }
  const deep = await searchCursor(u, "common", 20);
  requests[`search, many, page ${deep.page}`] = await timeRequest(
    server.pid,
    `${u}/search?q=common${deep.cursor ? `&cursor=${deep.cursor}` : ""}`,
  );
  const publish = await timePublishes(u, token, 10);
  const served = await load(Object.values(cases).map(([url, init]) => [url, init ?? {}]));
  const peak = rss(server.pid).peak;
  return { coldStart, requests, publish, rssAtRest: atRest.rss, peakRss: peak, served };
}

/**
 * Run an operator command as a child: its time and peak RSS (VmHWM, read
 * every 200 ms). With `--ops-seconds` it is stopped (SIGKILL) after that many
 * seconds: the peak then covers that much of the work (`finished: false`).
 */
async function timed(args: string[]) {
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const errText = new Response(child.stderr).text();
  let peak = 0;
  let finished = true;
  const sampler = setInterval(() => {
    try {
      const now = rss(child.pid).peak; // NaN once the child has exited
      if (Number.isFinite(now)) peak = Math.max(peak, now);
    } catch { /* exited */ }
    if (OPS_SECONDS > 0 && performance.now() - started > OPS_SECONDS * 1000) {
      finished = false;
      try {
        child.kill("SIGKILL");
      } catch { /* exited */ }
    }
  }, 200);
  const status = await child.status;
  clearInterval(sampler);
  const text = await errText;
  if (!status.success && finished) {
    throw new Error(`${args.join(" ")} failed:\n${text.slice(-2000)}`);
  }
  return { seconds: (performance.now() - started) / 1000, peakRss: peak, finished };
}

async function measureOps(dir: string) {
  const file = `${dir}.jsonl`;
  const exported = await timed(["export", `--out=${file}`, ...storeFlags(dir)]);
  const bytes = exported.finished ? (await Deno.stat(file)).size : 0;
  const target = `${dir}-imported`;
  const imported = exported.finished
    ? await timed(["import", `--in=${file}`, "--init", ...storeFlags(target)])
    : undefined;
  const gc = await timed(["gc", ...storeFlags(dir)]);
  if (values.keep !== "true" || !exported.finished) cleanups.push(`${file}.partial`, file, target);
  return { export: { ...exported, bytes }, ...(imported ? { import: imported } : {}), gc };
}

function table(size: number, r: Awaited<ReturnType<typeof run>>): string {
  const lines = [
    `### ${BACKEND}, ${size.toLocaleString("en")} filler versions (+${
      2 * BIG
    } in the two big packages)`,
    "",
    `Seeded in ${r.seedSeconds.toFixed(0)} s; cold start to the first answer ${
      r.server.coldStart.toFixed(0)
    } ms; server RSS at rest ${r.server.rssAtRest.toFixed(0)} MiB, peak under load ${
      r.server.peakRss.toFixed(0)
    } MiB (${r.server.served} requests in ${LOAD_SECONDS} s); JSR publish p50 ${
      r.server.publish.toFixed(1)
    } ms.`,
    "",
    "| request | p50 ms | p90 ms | server CPU ms/request | body bytes |",
    "|---|---|---|---|---|",
    ...Object.entries(r.server.requests).map(([name, t]) =>
      `| ${name} | ${t.p50.toFixed(1)} | ${t.p90.toFixed(1)} | ${t.cpu.toFixed(2)} | ${
        t.bytes.toLocaleString("en")
      } |`
    ),
  ];
  if (r.ops) {
    lines.push("", "| command | seconds | peak RSS MiB |", "|---|---|---|");
    for (const [name, o] of Object.entries(r.ops)) {
      const stopped = o.finished ? "" : " (stopped: the first part of the work)";
      lines.push(`| ${name}${stopped} | ${o.seconds.toFixed(1)} | ${o.peakRss.toFixed(0)} |`);
    }
  }
  return lines.join("\n");
}

/** Seed, or with `--reuse=true` take the store a `--keep=true` run left (its token beside it). */
async function seededStore(dir: string, size: number): Promise<{ token: string; seconds: number }> {
  const saved = `${dir}.seeded.json`;
  if (values.reuse === "true") {
    const text = await Deno.readTextFile(saved).catch(() => null);
    if (text !== null) return JSON.parse(text);
  }
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(values.dir, { recursive: true });
  const result = await seed(dir, size);
  console.error(`seeded ${size} in ${result.seconds.toFixed(0)} s`);
  if (values.keep === "true") await Deno.writeTextFile(saved, JSON.stringify(result));
  return result;
}

async function run(size: number) {
  const dir = `${values.dir}/${BACKEND}-${size}`;
  const seeded = await seededStore(dir, size);
  const server = await measureServer(dir, seeded.token);
  const ops = values.ops === "true" ? await measureOps(dir) : undefined;
  if (values.keep !== "true") cleanups.push(dir);
  return { seedSeconds: seeded.seconds, server, ops };
}

/** What to delete once a size's results are printed (removing a big store takes minutes). */
const cleanups: string[] = [];

for (const size of SIZES) {
  const result = await run(size);
  console.log(JSON.stringify({ backend: BACKEND, size, ...result }));
  console.log(table(size, result));
  for (const path of cleanups.splice(0)) {
    await Deno.remove(path, { recursive: true }).catch(() => {});
  }
}
