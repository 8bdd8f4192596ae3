// Interleaved A/B of single requests across stores of different sizes that
// `bench/scale.ts --keep=true` left (`--backend=kv|fs`, as there): one server per store, all
// running at once, and rounds of `--runs` sequential requests to each in turn,
// so a busy machine weighs on every size alike. Reports per store and round
// the server's CPU per request (all its threads, /proc/<pid>/task/*/schedstat)
// and the p50 wall time, and the median over rounds.
//
//   deno run -A bench/scale_pair.ts --dir=.tmp/scale --sizes=10000,1000000 [--backend=kv] [--rounds=5] [--runs=200]
import { parseArgs } from "node:util";
import process from "node:process";
import { listAudit } from "../core/audit.ts";
import type { RegistryContext } from "../core/context.ts";
import { encodeListCursor } from "../core/cursor.ts";
import { listAll } from "../core/store.ts";
import * as keys from "../storage/keys.ts";
import { openStores } from "../server/open.ts";
import { parseServerArgs } from "../server/config.ts";
import { type RunningServer, startServer } from "../tests/_server.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    dir: { type: "string", default: ".tmp/scale" },
    sizes: { type: "string", default: "10000,1000000" },
    rounds: { type: "string", default: "5" },
    runs: { type: "string", default: "200" },
    backend: { type: "string", default: "kv" },
  },
});
const ROUNDS = Number(values.rounds);
const RUNS = Number(values.runs);
const BACKEND = values.backend === "fs" ? "fs" : "kv";
/** The store flags of a kept store (as bench/scale.ts names them). */
const storeFlag = (dir: string) => BACKEND === "kv" ? `--data-dir=${dir}` : `--storage=fs:${dir}`;

function cpuMs(pid: number): number {
  let ns = 0;
  for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/schedstat`).split(" ")[0]);
    } catch { /* the thread ended */ }
  }
  return ns / 1e6;
}

/** The store opened in this process too (KV files are shared safely), and the audit cursor that leaves one record. */
async function openHere(dir: string) {
  const parsed = parseServerArgs([storeFlag(dir)], {});
  if (!parsed.ok) throw new Error("help" in parsed ? "help" : parsed.error);
  const stores = await openStores(parsed.config);
  const ids: string[] = [];
  for await (const e of listAll<{ id: string }>(stores.storage, keys.auditPrefix())) {
    ids.push(e.value.id);
    if (ids.length === 2) break;
  }
  const cursor = encodeListCursor("audit", [ids[1]!]);
  // An fs store is not opened beside its server (opening may tidy it): no in-process figure there.
  if (BACKEND === "fs") {
    await stores.close();
    return { cursor };
  }
  const ctx: RegistryContext = { ...stores, clock: () => new Date() };
  return { stores, ctx, cursor };
}

interface Target {
  size: number;
  server: RunningServer;
  here: Awaited<ReturnType<typeof openHere>>;
  cases: Record<string, [string, RequestInit]>;
  results: Record<string, { cpu: number[]; p50: number[] }>;
}

async function open(size: number): Promise<Target> {
  const dir = `${values.dir}/${BACKEND}-${size}`;
  const { token } = JSON.parse(await Deno.readTextFile(`${dir}.seeded.json`));
  const here = await openHere(dir);
  const cursor = encodeURIComponent(here.cursor);
  const server = await startServer([
    storeFlag(dir),
    "--log-requests=false",
    "--rate-limit=0",
    "--read-rate-limit=0",
    "--metadata-rate-limit=0",
    "--query-rate-limit=0",
  ], { init: false });
  const u = server.url;
  const admin = { headers: { authorization: `Bearer ${token}` } };
  return {
    size,
    server,
    here,
    results: {},
    cases: {
      "audit, deepest cursor": [`${u}/admin/audit?limit=100&cursor=${cursor}`, admin],
      "audit, first page of 100": [`${u}/admin/audit?limit=100`, admin],
      "admin token list (auth only + one page)": [`${u}/admin/tokens?limit=1`, admin],
      "version read": [`${u}/pkg/@big/huge/1.50.5`, {}],
    },
  };
}

async function measure(t: Target, name: string, [url, init]: [string, RequestInit]) {
  for (let i = 0; i < 5; i++) await (await fetch(url, init)).arrayBuffer();
  const times: number[] = [];
  const before = cpuMs(t.server.pid);
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now();
    const res = await fetch(url, init);
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`${name}: ${res.status}`);
    times.push(performance.now() - started);
  }
  const cpu = (cpuMs(t.server.pid) - before) / RUNS;
  times.sort((a, b) => a - b);
  const r = t.results[name] ??= { cpu: [], p50: [] };
  r.cpu.push(cpu);
  r.p50.push(times[Math.floor(RUNS / 2)]!);
}

/** The core's deepest audit page in this process: its CPU (this process) per call. */
async function measureCore(t: Target) {
  const ctx = t.here.ctx;
  if (ctx === undefined) return;
  const call = () => listAudit(ctx, { limit: 100, cursor: t.here.cursor });
  for (let i = 0; i < 5; i++) await call();
  const cpu = () => (process.cpuUsage().user + process.cpuUsage().system) / 1000;
  const before = cpu();
  const started = performance.now();
  for (let i = 0; i < RUNS; i++) await call();
  const r = t.results[CORE] ??= { cpu: [], p50: [] };
  r.cpu.push((cpu() - before) / RUNS);
  r.p50.push((performance.now() - started) / RUNS);
}
const CORE = "core listAudit, deepest cursor (in process; mean wall)";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const targets: Target[] = [];
for (const size of values.sizes.split(",").map(Number)) targets.push(await open(size));
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of Object.keys(targets[0]!.cases)) {
      for (const t of targets) await measure(t, name, t.cases[name]!);
    }
    for (const t of targets) await measureCore(t);
  }
  console.log(`load: ${Deno.readTextFileSync("/proc/loadavg").trim()}`);
  console.log(
    `| request | ${targets.map((t) => `${t.size}: CPU ms (rounds) · p50 ms`).join(" | ")} |`,
  );
  console.log(`|---|${targets.map(() => "---").join("|")}|`);
  for (const name of [...Object.keys(targets[0]!.cases), CORE]) {
    if (targets[0]!.results[name] === undefined) continue;
    const cells = targets.map((t) => {
      const r = t.results[name]!;
      return `${median(r.cpu).toFixed(3)} (${r.cpu.map((c) => c.toFixed(2)).join(" ")}) · ${
        median(r.p50).toFixed(2)
      }`;
    });
    console.log(`| ${name} | ${cells.join(" | ")} |`);
  }
} finally {
  for (const t of targets) {
    await t.server[Symbol.asyncDispose]();
    await t.here.stores?.close();
  }
}
