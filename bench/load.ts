// Load benchmark: main.ts on 127.0.0.1 pinned to CPU 0 (its output to a file), wrk pinned to CPU 1,
// each figure beside references: a bare Hono route answering 300 bytes of
// JSON, the same bytes from a file and from memory, the headers a /pkg read
// carries answered with no work (the floor those headers set), 300 bytes with
// 1, 7 and 13 headers (what headers alone cost), and the operations stack's
// two cases bare and stacked (bench/_ops_apps.ts), and the web pages (a
// package page of 10,000 versions and the home page) beside a bare route
// sending the same bytes.
//
// Every server stays up for the whole run and each round measures every case
// once; ratios are taken within a round, then the median over rounds. Beside
// requests/s, each case reports the server's CPU time per request (all its
// threads, from /proc) and the steal on CPU 0: on a shared VM whose speed
// drifts, CPU per request and same-round ratios are what stays comparable.
//
//   deno run -A bench/load.ts [--seconds=3] [--rounds=3] [--connections=32]
//                             [--storage=kv] [--log-requests=true]
//                             [--hot-reads-only | --pages-only] [--compare=<checkout>]
//
// `--compare=<checkout>` also runs another checkout's main.ts over the same
// stores and measures each hot read and each page from it in the same
// rounds, beside the same reference: a before/after comparison of a change.
// `--pages-only` measures the web pages alone (and the hono-300 reference
// their 304 is compared with); the registry is still seeded, not measured.
//
// Needs `wrk` and `taskset` (Debian: apt-get install wrk util-linux).
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { sha256Hex } from "../base/digest.ts";
import { CACHED_PATH, JSON_PATH } from "./_ops_apps.ts";
import { makeGadget, makeKey } from "../tests/_ggui_fixtures.ts";
import { makeItem, makePackage, makeTarball, uploadRequest } from "../tests/_rack_fixtures.ts";
import { growVersions, publishMany } from "./_ui_seed.ts";

const USAGE = `usage: deno run -A bench/load.ts [--seconds=3] [--rounds=3] [--connections=32]
                                      [--storage=kv|memory|fs] [--log-requests=true|false]
                                      [--hot-reads-only | --pages-only] [--compare=<checkout dir>]
Needs wrk and taskset (Debian: apt-get install wrk util-linux).`;

function parseOptions() {
  try {
    return parseArgs({
      args: Deno.args,
      options: {
        seconds: { type: "string", default: "3" },
        rounds: { type: "string", default: "3" },
        connections: { type: "string", default: "32" },
        storage: { type: "string", default: "kv" },
        "log-requests": { type: "string", default: "true" },
        "hot-reads-only": { type: "boolean", default: false },
        "pages-only": { type: "boolean", default: false },
        compare: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    }).values;
  } catch (err) {
    console.error(`load.ts: ${(err as Error).message}\n${USAGE}`);
    Deno.exit(2);
  }
}

const values = parseOptions();
if (values.help) {
  console.log(USAGE);
  Deno.exit(0);
}
const SECONDS = Number(values.seconds);
/** Only the hot reads beside their same-bytes references and the request log's cost. */
const HOT_ONLY = values["hot-reads-only"] === true;
/** Only the web pages (and the reference their 304 is a share of). */
const PAGES_ONLY = values["pages-only"] === true && !HOT_ONLY;
const ROUNDS = Number(values.rounds);
const CONNECTIONS = Number(values.connections);
for (const [name, n] of [["seconds", SECONDS], ["rounds", ROUNDS], ["connections", CONNECTIONS]]) {
  if (!Number.isInteger(n) || (n as number) < 1) {
    console.error(`load.ts: --${name} must be a positive integer\n${USAGE}`);
    Deno.exit(2);
  }
}
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

interface Child {
  url: string;
  process: Deno.ChildProcess;
  peakRss(): Promise<number>;
}

/**
 * Start a server pinned to `cpu`, its stdout and stderr going to a file (as a
 * deployed server's log goes to a file or a collector on another core): the
 * benchmark must not charge the server for reading its own log lines back on
 * this 2-core machine. Resolves once the startup line is in the file.
 */
async function spawnPinned(
  cpu: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<Child> {
  const out = await Deno.makeTempFile({ prefix: "load-server-", suffix: ".log" });
  const process = new Deno.Command("sh", {
    args: ["-c", `exec taskset -c ${cpu} "$@" > "${out}" 2>&1`, "sh", Deno.execPath(), ...args],
    stdout: "null",
    stderr: "null",
    env,
  }).spawn();
  let exited = false;
  process.status.then(() => exited = true);
  const started = Date.now();
  while (true) {
    const text = await Deno.readTextFile(out).catch(() => "");
    const m = /listening on (http:\/\/[\d.:]+)/.exec(text);
    if (m) {
      process.status.then(() => Deno.remove(out).catch(() => {}));
      return {
        url: m[1]!,
        process,
        async peakRss() {
          const status = await Deno.readTextFile(`/proc/${process.pid}/status`).catch(() => "");
          const hwm = /VmHWM:\s+(\d+) kB/.exec(status);
          return hwm ? Number(hwm[1]) * 1024 : 0;
        },
      };
    }
    if (exited || Date.now() - started > 60_000) {
      throw new Error(`exited or did not start: ${text}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface WrkResult {
  rps: number;
  p50: string;
  p99: string;
  transfer: string;
  mbps: number;
  /** Server CPU time (all its threads) per request, µs: what steal does not inflate. */
  cpuUs: number;
  /** Share of CPU 0's time the hypervisor took away during the run (steal). */
  steal: number;
}

/** User + system clock ticks of every thread of `pid` (/proc/<pid>/task/<tid>/stat). */
async function cpuTicks(pid: number): Promise<number> {
  let ticks = 0;
  for await (const task of Deno.readDir(`/proc/${pid}/task`)) {
    const stat = await Deno.readTextFile(`/proc/${pid}/task/${task.name}/stat`).catch(() => "");
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticks += Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
  }
  return ticks;
}

/** CPU 0's [steal, total] ticks from /proc/stat. */
async function cpu0(): Promise<[number, number]> {
  const line = (await Deno.readTextFile("/proc/stat")).split("\n").find((l) =>
    l.startsWith("cpu0 ")
  );
  const n = (line ?? "").trim().split(/\s+/).slice(1).map(Number);
  return [n[7] ?? 0, n.slice(0, 8).reduce((a, b) => a + b, 0)];
}

/** Clock ticks per second (USER_HZ): 100 on Linux. */
const HZ = 100;

async function wrk(
  url: string,
  pid: number,
  headers: Record<string, string> = {},
): Promise<WrkResult> {
  const args = ["-c", "1", "wrk", "-t1", `-c${CONNECTIONS}`, `-d${SECONDS}s`, "--latency"];
  for (const [k, v] of Object.entries(headers)) args.push("-H", `${k}: ${v}`);
  args.push(url);
  const [ticks0, [steal0, total0]] = [await cpuTicks(pid), await cpu0()];
  const out = new TextDecoder().decode(
    (await new Deno.Command("taskset", { args, stdout: "piped" }).output()).stdout,
  );
  const [ticks1, [steal1, total1]] = [await cpuTicks(pid), await cpu0()];
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const p50 = /\s50%\s+(\S+)/.exec(out)?.[1] ?? "?";
  const p99 = /\s99%\s+(\S+)/.exec(out)?.[1] ?? "?";
  const transfer = /Transfer\/sec:\s+(\S+)/.exec(out)?.[1] ?? "?";
  const tm = /([\d.]+)([KMG]?B)/.exec(transfer);
  const unit = { B: 1 / 1048576, KB: 1 / 1024, MB: 1, GB: 1024 }[tm?.[2] ?? "MB"] ?? 1;
  if (/Non-2xx or 3xx responses/.test(out)) throw new Error(`wrk saw errors for ${url}:\n${out}`);
  return {
    rps,
    p50,
    p99,
    transfer,
    mbps: Number(tm?.[1] ?? 0) * unit,
    cpuUs: (ticks1 - ticks0) * (1e6 / HZ) / requests,
    steal: (steal1 - steal0) / Math.max(1, total1 - total0),
  };
}

/** The median of numbers (the lower middle one of an even count). */
function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((x, y) => x - y);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/** One thing measured each round: a URL of a running server, and what it is compared with. */
interface Case {
  name: string;
  section: "references" | "registry" | "ops" | "hot" | "log" | "pages";
  url: string;
  pid: number;
  headers?: Record<string, string>;
  /** The case it is a share of, measured in the same round. */
  ref?: string;
  /** Compare MB/s rather than requests/s. */
  byMb?: boolean;
}

const lines: string[] = [];
const log = (s: string) => {
  lines.push(s);
  console.log(s);
};

const cpu = (await Deno.readTextFile("/proc/cpuinfo")).match(/model name\s*:\s*(.*)/)?.[1] ?? "?";
log(
  `Machine: ${navigator.hardwareConcurrency} CPUs (${cpu}), Deno ${Deno.version.deno}; wrk -t1 -c${CONNECTIONS} -d${SECONDS}s per case, ${ROUNDS} interleaved rounds; servers on CPU 0, wrk on CPU 1.`,
);
log("");

// Every server is started first and stays up: each round measures every case
// once, so a reference and what it is compared with are minutes apart at most
// and the ratio of each round is taken before the median (this machine's
// speed drifts by 2× within minutes).
const children: Child[] = [];
async function start(args: string[]): Promise<Child> {
  const child = await spawnPinned("0", args);
  children.push(child);
  return child;
}
const cases: Case[] = [];
for (
  const [mode, size] of HOT_ONLY ? [] : PAGES_ONLY ? [["hono", 300] as const] : [
    ["hono", 300],
    ["headers", 1200],
    ["file", 300],
    ["memory", 300],
    ["file", 10240],
    ["memory", 10240],
    ["file", 1048576],
    ["memory", 1048576],
    // The cost of headers alone: 300 bytes with 0, 6 and 12 more headers.
    ["extra-headers", 0],
    ["extra-headers", 6],
    ["extra-headers", 12],
  ] as const
) {
  const ref = await start([
    "run",
    "-A",
    here("./_reference.ts"),
    mode,
    String(size),
    `/tmp/ref-${mode}-${size}.bin`,
  ]);
  cases.push({
    name: `${mode}-${size}`,
    section: "references",
    url: ref.url + "/",
    pid: ref.process.pid,
  });
}

// The operations stack (bench/_ops_apps.ts): the same two routes bare and
// under the whole stack, each app on its own server, driven alike by wrk.
if (!HOT_ONLY && !PAGES_ONLY) {
  const bare = await start(["run", "-A", here("./_ops_server.ts"), "bare"]);
  const stack = await start(["run", "-A", here("./_ops_server.ts"), "stack"]);
  const probe = await fetch(`${bare.url}${CACHED_PATH}`);
  await probe.body?.cancel();
  const gzip = { "accept-encoding": "gzip, deflate, br" };
  const revalidate = { ...gzip, "if-none-match": probe.headers.get("etag")! };
  for (
    const [name, path, headers] of [["small JSON read", JSON_PATH, gzip], [
      "cached 304",
      CACHED_PATH,
      revalidate,
    ]] as const
  ) {
    cases.push(
      {
        name: `${name}, bare`,
        section: "ops",
        url: bare.url + path,
        pid: bare.process.pid,
        headers,
      },
      {
        name: `${name}, whole stack`,
        section: "ops",
        url: stack.url + path,
        pid: stack.process.pid,
        headers,
        ref: `${name}, bare`,
      },
    );
  }
}

// The registry.
const dir = await Deno.makeTempDir();
await Deno.writeTextFile(`${dir}/auth.json`, JSON.stringify({ "@bench": [] }));
const TOKEN = "bench-token";
const storage = values.storage === "fs"
  ? `fs:${dir}/store`
  : values.storage === "memory"
  ? "memory"
  : `kv:${dir}/registry.kv`;
/** The arguments of `deno` running the registry (main.ts on a free port) with `flags`. */
function registryArgs(flags: readonly string[], main = here("../main.ts")): string[] {
  return [
    "run",
    "-A",
    "--unstable-kv",
    main,
    "--port=0",
    "--host=127.0.0.1",
    ...flags,
  ];
}
/** The measured registry's flags over its store, with the request log on or off. */
function measuredFlags(logRequests: string): string[] {
  return [
    `--storage=${storage}`,
    `--token=${TOKEN}`,
    "--subject=bench",
    `--auth-config=${dir}/auth.json`,
    "--admin-token=bench-admin",
    // The limiter runs (its cost is measured) but never refuses the load.
    "--rate-limit=999999999",
    "--metadata-rate-limit=999999999",
    "--upload-rate-limit=0",
    `--log-requests=${logRequests}`,
  ];
}
const server = await start(registryArgs(["--init", ...measuredFlags(values["log-requests"])]));
const auth = { authorization: `Bearer ${TOKEN}` };
const key = await makeKey();
await fetch(`${server.url}/author-keys`, {
  method: "POST",
  headers: { ...auth, "content-type": "application/json" },
  body: JSON.stringify({ publicKeyBase64: key.publicKeyBase64 }),
}).then((r) => r.body?.cancel());
async function publishGadget(version: string, size: number): Promise<number> {
  const head = 'import React from "react";\nexport function useMap() { return React; }\n';
  const source = head + "/*" + "x".repeat(Math.max(0, size - head.length - 4)) + "*/";
  const body = JSON.stringify(await makeGadget(key, { manifest: { version }, source }));
  const t0 = performance.now();
  const res = await fetch(`${server.url}/publish`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body,
  });
  const ms = performance.now() - t0;
  if (res.status !== 201) throw new Error(`publish ${version}: ${res.status} ${await res.text()}`);
  await res.body?.cancel();
  return ms;
}
await publishGadget("1.0.0", 10 * 1024);
await publishGadget("2.0.0", 1024 * 1024);
const publishMs: number[] = [];
for (let i = 0; i < 200; i++) publishMs.push(await publishGadget(`3.0.${i}`, 1024));
publishMs.sort((a, b) => a - b);

const rackFile = "x".repeat(10 * 1024);
const archive = await makePackage({
  item: makeItem({
    namespace: "@bench",
    files: [{ path: "templates/big.txt", target: "big.txt", type: "registry:asset" }],
  }),
  files: { "templates/big.txt": rackFile },
});
const up = await fetch(uploadRequest(archive, { url: server.url, token: "bench-admin" }));
if (up.status !== 201) throw new Error(`rack upload: ${up.status} ${await up.text()}`);
await up.body?.cancel();
await hotReads();

const registry = (
  name: string,
  path: string,
  ref: string,
  headers?: Record<string, string>,
  byMb = false,
): Case => ({
  name,
  section: "registry",
  url: server.url + path,
  pid: server.process.pid,
  ref,
  byMb,
  ...(headers ? { headers } : {}),
});
cases.push(
  registry("GET /pkg/:scope/:name/:version", "/pkg/acme/map/1.0.0", "hono-300", auth),
  registry("bundle 10 KiB", "/bundles/private/@acme/map/1.0.0/bundle.js", "memory-10240", auth),
  registry(
    "bundle 1 MiB",
    "/bundles/private/@acme/map/2.0.0/bundle.js",
    "memory-1048576",
    auth,
    true,
  ),
  // Named apart from the hot reads' cases of the same paths (runs are kept by name).
  registry(
    "GET /registries/:ns/:path/versions",
    "/registries/@bench/quality/husky/versions",
    "hono-300",
  ),
  registry("GET /registries/:ns/:path (latest)", "/registries/@bench/quality/husky", "hono-300"),
  registry(
    "Rack 10 KiB template file",
    "/registries/@bench/quality/husky/1.0.0/files/templates/big.txt",
    "memory-10240",
  ),
);

if (HOT_ONLY) cases.splice(0, cases.length, ...cases.filter((c) => c.section !== "registry"));
if (PAGES_ONLY) cases.splice(0, cases.length, ...cases.filter((c) => c.section === "references"));
// The web pages: the package page of a JSR package with 10,000 versions and
// the home page, each beside a bare Deno.serve route sending the same bytes.
const PAGE_ACCEPT = { accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8" };
const pageBytes: [string, number][] = [];
if (!HOT_ONLY) {
  await Deno.writeTextFile(`${dir}/pages-auth.json`, JSON.stringify({ "@pages": [] }));
  const pagesArgs = (kv: string, main = here("../main.ts")) => [
    "run",
    "-A",
    "--unstable-kv",
    main,
    "--port=0",
    "--host=127.0.0.1",
    `--storage=kv:${kv}`,
    "--init",
    `--auth-config=${dir}/pages-auth.json`,
    "--admin-token=pages-admin",
    "--rate-limit=999999999",
    // Pages are metadata reads: that budget would refuse wrk's load.
    "--metadata-rate-limit=0",
    `--log-requests=${values["log-requests"]}`,
  ];
  const kv = `${dir}/pages.kv`;
  const seed = await spawnPinned("0", pagesArgs(kv));
  const publish = { token: "pages-admin", scope: "pages", count: 1 };
  await publishMany(seed.url, { ...publish, name: "many" });
  for (let i = 0; i < 30; i++) await publishMany(seed.url, { ...publish, name: `pkg-${i}` });
  seed.process.kill("SIGTERM");
  await seed.process.status;
  const grown = performance.now();
  await growVersions(kv, { namespace: "@pages", name: "many", count: 10_000 });
  console.error(`seeded 10,000 versions in ${((performance.now() - grown) / 1000).toFixed(0)} s`);
  const pages = await start(pagesArgs(kv));
  // Another checkout's server over the same store (before/after a change).
  const other = values.compare === undefined
    ? undefined
    : await start(pagesArgs(kv, `${values.compare}/main.ts`));
  for (
    const [name, path] of [
      ["package page, 10,000 versions", "/@pages/many"],
      ["home page", "/"],
    ] as const
  ) {
    const measured = await pageCases(pages, name, path, `${name}, same bytes bare`);
    const bytes = measured.bytes;
    pageBytes.push([name, bytes.byteLength]);
    const file = `${dir}/page-${pageBytes.length}.html`;
    await Deno.writeFile(file, bytes);
    const ref = await start(["run", "-A", here("./_reference.ts"), "page", "0", file]);
    cases.push({
      name: `${name}, same bytes bare`,
      section: "pages",
      url: ref.url + "/",
      pid: ref.process.pid,
    }, ...measured.cases);
    if (other) {
      const before = `${name} (${values.compare})`;
      cases.push(...(await pageCases(other, before, path, `${name}, same bytes bare`)).cases);
    }
  }
}

/**
 * A page's cases on `server`: the page beside `ref`, and its 304 to the ETag
 * it carries beside `hono-300`; and the page's bytes.
 */
async function pageCases(server: Child, name: string, path: string, ref: string) {
  const res = await fetch(server.url + path, { headers: PAGE_ACCEPT });
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
  const at = { section: "pages", url: server.url + path, pid: server.process.pid } as const;
  const measured: Case[] = [
    { name, ...at, headers: PAGE_ACCEPT, ref },
    {
      name: `${name}, 304`,
      ...at,
      headers: { ...PAGE_ACCEPT, "if-none-match": res.headers.get("etag")! },
      ref: "hono-300",
    },
  ];
  return { bytes, cases: measured };
}

const runs = new Map<string, WrkResult[]>(cases.map((c) => [c.name, []]));
if (runs.size !== cases.length) {
  const seen = new Set<string>();
  const twice = cases.filter((c) => seen.size === seen.add(c.name).size).map((c) => c.name);
  throw new Error(`load.ts: two cases share a name (${twice.join(", ")}); runs are kept by name`);
}
for (let round = 1; round <= ROUNDS; round++) {
  console.error(`round ${round} of ${ROUNDS} (${cases.length} cases, ${SECONDS} s each)…`);
  // Every other round backwards: each pair (a read and its reference, log on
  // and off) is measured back to back, first one then the other first, so the
  // machine's load drifts hit both alike.
  const order = round % 2 === 1 ? cases : [...cases].reverse();
  for (const c of order) runs.get(c.name)!.push(await wrk(c.url, c.pid, c.headers));
}
const serverRss = await server.peakRss();
for (const child of children) child.process.kill("SIGTERM");
await Promise.all(children.map((child) => child.process.status));

/** A table row: medians over the rounds, ratios taken per round first. */
function row(c: Case): string {
  const rs = runs.get(c.name)!;
  const mid = rs.indexOf([...rs].sort((x, y) => x.rps - y.rps)[Math.floor((rs.length - 1) / 2)]!);
  const m = rs[mid]!;
  let ratio = "";
  let byCpu = "";
  if (c.ref) {
    const refs = runs.get(c.ref)!;
    ratio = median(rs.map((r, i) => c.byMb ? r.mbps / refs[i]!.mbps : r.rps / refs[i]!.rps))
      .toFixed(2);
    // By CPU: the share of the reference's requests/s this case would keep were
    // both CPU-bound on the same core (byte references serve the same sizes).
    byCpu = median(rs.map((r, i) => refs[i]!.cpuUs / r.cpuUs)).toFixed(2);
  }
  const all = rs.map((r) => Math.round(r.rps).toLocaleString("en")).join(" / ");
  return `| ${c.name} | ${
    Math.round(median(rs.map((r) => r.rps))).toLocaleString("en")
  } | ${all} | ${m.p50} | ${m.p99} | ${median(rs.map((r) => r.mbps)).toFixed(1)} | ${
    median(rs.map((r) => r.cpuUs)).toFixed(1)
  } | ${Math.round(Math.max(...rs.map((r) => r.steal)) * 100)} % | ${ratio} | ${byCpu} |`;
}

const HEAD =
  "| req/s (median) | rounds | p50 | p99 | MB/s | CPU µs/req | steal (max) | ratio (req/s) | ratio (CPU) |";
const RULE = "|---|---|---|---|---|---|---|---|---|---|";
for (
  const [section, title] of [
    ["references", "References"],
    [
      "registry",
      `Registry (${values.storage} storage, request log ${
        values["log-requests"] === "false" ? "off" : "on"
      })`,
    ],
    [
      "ops",
      "Operations stack (bench/_ops_apps.ts; ratio = share of the bare app's requests/s kept)",
    ],
    [
      "hot",
      "Hot reads beside their same-bytes references (bench/_reference.ts same: a bare Deno.serve sending the captured response, prepared once; request log on)",
    ],
    ["log", "The request log's cost: the same reads, log on (default) and off"],
    [
      "pages",
      "Web pages (signed out, no compression; ratio = share of a bare Deno.serve route sending the same bytes)",
    ],
  ] as const
) {
  if (!cases.some((c) => c.section === section)) continue;
  log(`### ${title}`);
  log("");
  log(`| case ${HEAD}`);
  log(RULE);
  for (const c of cases) if (c.section === section) log(row(c));
  log("");
}
if (pageBytes.length > 0) {
  log(
    `Bytes per page (before compression): ${
      pageBytes.map(([name, n]) => `${name} ${(n / 1024).toFixed(1)} KiB`).join(", ")
    }.`,
  );
  log("");
}
if (!HOT_ONLY && !PAGES_ONLY) {
  const pkgRatios = runs.get("GET /pkg/:scope/:name/:version")!.map((r, i) =>
    r.rps / runs.get("headers-1200")![i]!.rps
  );
  log(
    `Version read against the same headers answered with no work (headers-1200): ${
      median(pkgRatios).toFixed(2)
    }.`,
  );
  log("");
}
log(
  `Publish (small gadget, sequential, 200 publishes): p50 ${publishMs[100]!.toFixed(2)} ms, p99 ${
    publishMs[198]!.toFixed(2)
  } ms. Server peak RSS during the read runs: ${(serverRss / 1048576).toFixed(0)} MiB.`,
);
log("");

// Rack upload latency and peak RSS, 1 MiB and 50 MiB packages, each on a fresh server.
const uploads: string[] = [];
for (const mib of HOT_ONLY || PAGES_ONLY ? [] : [1, 50]) {
  const s = await spawnPinned(
    "0",
    registryArgs([
      `--storage=kv:${dir}/up-${mib}.kv`,
      `--bundles=fs:${dir}/up-${mib}-bundles`,
      "--init",
      `--auth-config=${dir}/auth.json`,
      "--admin-token=bench-admin",
    ]),
  );
  const rnd = new Uint8Array(mib * 1024 * 1024);
  for (let i = 0; i < rnd.length; i += 65536) {
    crypto.getRandomValues(rnd.subarray(i, Math.min(i + 65536, rnd.length)));
  }
  const pkg = await makePackage({
    item: makeItem({
      namespace: "@bench",
      files: [{ path: "templates/blob.bin", target: "blob.bin", type: "registry:asset" }],
    }),
    files: { "templates/blob.bin": rnd },
  });
  const before = await s.peakRss();
  const t0 = performance.now();
  const r = await fetch(uploadRequest(pkg, { url: s.url, token: "bench-admin" }));
  const ms = performance.now() - t0;
  if (r.status !== 201) throw new Error(`upload ${mib} MiB: ${r.status} ${await r.text()}`);
  await r.body?.cancel();
  const peak = await s.peakRss();
  uploads.push(
    `| ${mib} MiB package (${(pkg.byteLength / 1048576).toFixed(1)} MiB gzip) | ${
      ms.toFixed(0)
    } ms | ${(peak / 1048576).toFixed(0)} MiB (idle ${
      (before / 1048576).toFixed(0)
    } MiB) | sha256 ${sha256Hex(pkg).slice(0, 12)}… |`,
  );
  s.process.kill("SIGTERM");
  await s.process.status;
}
await Deno.remove(dir, { recursive: true });

log("| Rack upload | latency | server peak RSS | |");
log("|---|---|---|---|");
for (const u of uploads) log(u);

/**
 * Each surface's hot reads against a same-bytes reference: every read's
 * response is captured once from the registry (status, every header, body)
 * and served by `_reference.ts same` from a response prepared once; each read
 * is measured right beside its reference. And the request log's cost: the
 * same reads from a second server over the same store with the log off.
 */
async function hotReads(): Promise<void> {
  // JSR: one package of the anonymous namespace @bench (public).
  const tarball = await makeTarball({
    "deno.json": JSON.stringify({ name: "@bench/greet", version: "1.0.0", exports: "./mod.ts" }),
    "mod.ts": "export const greet = (name: string) => `hello ${name}`;\n" + "//".repeat(600) + "\n",
  });
  const pub = await fetch(
    `${server.url}/api/scopes/bench/packages/greet/versions/1.0.0?config=%2Fdeno.json`,
    {
      method: "POST",
      headers: { "content-encoding": "gzip", authorization: "Bearer bench-admin" },
      body: tarball as BodyInit,
    },
  );
  const task = await pub.json();
  if (pub.status >= 300) throw new Error(`jsr publish: ${pub.status} ${JSON.stringify(task)}`);
  for (let i = 0; i < 500; i++) {
    const t = await (await fetch(`${server.url}/api/publish_status/${task.id}`)).json();
    if (t.status === "success") break;
    if (t.status === "failure") throw new Error(`jsr publish: ${JSON.stringify(t)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const reads: [string, string, Record<string, string>?][] = [
    ["ggui version", "/pkg/acme/map/1.0.0", auth],
    ["ggui listing", "/pkg/acme/map", auth],
    ["ggui bundle 10 KiB", "/bundles/private/@acme/map/1.0.0/bundle.js", auth],
    ["Rack version", "/registries/@bench/quality/husky/1.0.0"],
    ["Rack latest", "/registries/@bench/quality/husky"],
    ["Rack versions list", "/registries/@bench/quality/husky/versions"],
    ["Rack file 10 KiB", "/registries/@bench/quality/husky/1.0.0/files/templates/big.txt"],
    ["JSR meta.json", "/@bench/greet/meta.json"],
    ["JSR version metadata", "/@bench/greet/1.0.0_meta.json"],
    ["JSR file", "/@bench/greet/1.0.0/mod.ts"],
  ];
  const captured: Record<string, { status: number; headers: [string, string][]; body: string }> =
    {};
  for (const [name, path, headers] of reads) {
    const res = await fetch(server.url + path, { headers: headers ?? {} });
    if (res.status !== 200) throw new Error(`${name}: ${res.status} ${await res.text()}`);
    const body = new Uint8Array(await res.arrayBuffer());
    // What wrk receives, byte for byte (fetch has not decoded it: no Accept-Encoding sent).
    captured[path] = {
      status: res.status,
      // Deno.serve adds its own Date to both.
      headers: [...res.headers].filter(([k]) => k !== "date"),
      body: btoa(String.fromCharCode(...body)),
    };
  }
  const file = `${dir}/same.json`;
  await Deno.writeTextFile(file, JSON.stringify(captured));
  const ref = await start(["run", "-A", here("./_reference.ts"), "same", "0", file]);
  // The same store, the request log off.
  const quiet = await start(registryArgs(measuredFlags("false")));
  // Another checkout's server over the same store (before/after a change), log on.
  const other = values.compare === undefined
    ? undefined
    : await start(registryArgs(measuredFlags("true"), `${values.compare}/main.ts`));
  for (const [name, path, headers] of reads) {
    const h = headers ? { headers } : {};
    cases.push(
      { name: `${name} (reference)`, section: "hot", url: ref.url + path, pid: ref.process.pid },
      {
        name,
        section: "hot",
        url: server.url + path,
        pid: server.process.pid,
        ref: `${name} (reference)`,
        ...h,
      },
    );
    if (other === undefined) continue;
    cases.push({
      name: `${name} (${values.compare})`,
      section: "hot",
      url: other.url + path,
      pid: other.process.pid,
      ref: `${name} (reference)`,
      ...h,
    });
  }
  for (const [name, path, headers] of [reads[0]!, reads[6]!]) {
    const h = headers ? { headers } : {};
    cases.push(
      {
        name: `${name}, log off`,
        section: "log",
        url: quiet.url + path,
        pid: quiet.process.pid,
        ...h,
      },
      {
        name: `${name}, log on`,
        section: "log",
        url: server.url + path,
        pid: server.process.pid,
        ref: `${name}, log off`,
        ...h,
      },
    );
  }
}
