// Hot-read probe: server CPU per request of the hot reads, one server beside
// another, interleaved, over one seeded KV store. A quicker loop than
// bench/load.ts for bisecting the per-request cost of the read path.
//
//   deno run -A bench/hot_probe.ts [--seconds=3] [--rounds=3] [--only=<substr>]
//                                  [--main=<main.ts>]... [--env=NAME=VALUE]...
//
// Each `--main` (default this checkout's main.ts) is one server on the same
// store (log on, the read cache on: defaults); `--env=K=V` sets K=V for the
// servers. Beside them runs the same-bytes reference (bench/_reference.ts
// same). Servers run on CPU 0, wrk (-t1 -c32) on CPU 1; server CPU is read
// from /proc/<pid>/task/*/stat before and after each run.
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { makeGadget, makeKey } from "../tests/_ggui_fixtures.ts";
import { makeItem, makePackage, uploadRequest } from "../tests/_rack_fixtures.ts";

const args = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string", default: "3" },
    rounds: { type: "string", default: "3" },
    only: { type: "string" },
    main: { type: "string", multiple: true },
    env: { type: "string", multiple: true },
  },
}).values;
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const mains = args.main?.length ? args.main : [here("../main.ts")];
const env = Object.fromEntries((args.env ?? []).map((kv) => kv.split(/=(.*)/s).slice(0, 2)));
const dir = await Deno.makeTempDir({ prefix: "hot-probe-" });
await Deno.writeTextFile(`${dir}/auth.json`, JSON.stringify({ "@bench": [] }));
const TOKEN = "bench-token";
const auth = { authorization: `Bearer ${TOKEN}` };

interface Child {
  url: string;
  pid: number;
  process: Deno.ChildProcess;
}
const children: Child[] = [];

async function spawnPinned(argv: string[], extraEnv: Record<string, string> = {}): Promise<Child> {
  const out = await Deno.makeTempFile({ dir, suffix: ".log" });
  const process = new Deno.Command("sh", {
    args: ["-c", `exec taskset -c 0 "$@" > "${out}" 2>&1`, "sh", Deno.execPath(), ...argv],
    stdout: "null",
    stderr: "null",
    env: extraEnv,
  }).spawn();
  const started = Date.now();
  while (true) {
    const text = await Deno.readTextFile(out).catch(() => "");
    const m = /listening on (http:\/\/[\d.:]+)/.exec(text);
    if (m) {
      const child = { url: m[1]!, pid: process.pid, process };
      children.push(child);
      return child;
    }
    if (Date.now() - started > 60_000) throw new Error(`did not start: ${text}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * `main` is a main.ts path, then (after spaces) flags of that server only;
 * leading `NAME=VALUE` words set environment variables of that server only.
 */
function registry(main: string, init = false): Promise<Child> {
  const words = main.split(" ").filter((w) => w !== "");
  const ownEnv: Record<string, string> = {};
  while (/^[A-Z_]+=/.test(words[0] ?? "")) {
    const [k, v] = words.shift()!.split(/=(.*)/s);
    ownEnv[k!] = v!;
  }
  const [path, ...own] = words;
  return spawnPinned([
    "run",
    "-A",
    "--unstable-kv",
    path!,
    "--port=0",
    "--host=127.0.0.1",
    ...(init ? ["--init"] : []),
    `--storage=kv:${dir}/registry.kv`,
    `--token=${TOKEN}`,
    "--subject=bench",
    `--auth-config=${dir}/auth.json`,
    "--admin-token=bench-admin",
    "--rate-limit=999999999",
    "--metadata-rate-limit=999999999",
    "--upload-rate-limit=0",
    ...own,
  ], { ...env, ...ownEnv });
}

async function seed(url: string): Promise<void> {
  const key = await makeKey();
  await fetch(`${url}/author-keys`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({ publicKeyBase64: key.publicKeyBase64 }),
  }).then((r) => r.body?.cancel());
  const head = 'import React from "react";\nexport function useMap() { return React; }\n';
  const source = head + "/*" + "x".repeat(10 * 1024 - head.length - 4) + "*/";
  const gadget = await makeGadget(key, { manifest: { version: "1.0.0" }, source });
  const res = await fetch(`${url}/publish`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify(gadget),
  });
  if (res.status !== 201) throw new Error(`publish: ${res.status} ${await res.text()}`);
  await res.body?.cancel();
  const archive = await makePackage({
    item: makeItem({
      namespace: "@bench",
      files: [{ path: "templates/big.txt", target: "big.txt", type: "registry:asset" }],
    }),
    files: { "templates/big.txt": "x".repeat(10 * 1024) },
  });
  const up = await fetch(uploadRequest(archive, { url, token: "bench-admin" }));
  if (up.status !== 201) throw new Error(`rack upload: ${up.status} ${await up.text()}`);
  await up.body?.cancel();
}

type Read = [name: string, path: string, headers?: Record<string, string>];
const READS = ([
  ["ggui version", "/pkg/acme/map/1.0.0", auth],
  ["ggui listing", "/pkg/acme/map", auth],
  ["ggui bundle", "/bundles/private/@acme/map/1.0.0/bundle.js", auth],
  ["Rack version", "/registries/@bench/quality/husky/1.0.0"],
  ["Rack latest", "/registries/@bench/quality/husky"],
  ["Rack list", "/registries/@bench/quality/husky/versions"],
  ["Rack file", "/registries/@bench/quality/husky/1.0.0/files/templates/big.txt"],
] as Read[]).filter(([name]) => args.only === undefined || name.includes(args.only));

/** User + system ticks of every thread of `pid`. */
async function cpuTicks(pid: number): Promise<number> {
  let ticks = 0;
  for await (const task of Deno.readDir(`/proc/${pid}/task`)) {
    const stat = await Deno.readTextFile(`/proc/${pid}/task/${task.name}/stat`).catch(() => "");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticks += Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
  }
  return ticks;
}

async function wrk(url: string, pid: number, headers: Record<string, string> = {}) {
  const argv = ["-c", "1", "wrk", "-t1", "-c32", `-d${args.seconds}s`];
  for (const [k, v] of Object.entries(headers)) argv.push("-H", `${k}: ${v}`);
  argv.push(url);
  const t0 = await cpuTicks(pid);
  const out = new TextDecoder().decode(
    (await new Deno.Command("taskset", { args: argv, stdout: "piped" }).output()).stdout,
  );
  const t1 = await cpuTicks(pid);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
  if (/Non-2xx/.test(out)) throw new Error(`non-2xx from ${url}\n${out}`);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]),
    cpuUs: (t1 - t0) * 1e4 / requests,
  };
}

const first = await registry(mains[0]!, true);
await seed(first.url);
const servers: { label: string; child: Child }[] = [{ label: mains[0]!, child: first }];
for (const main of mains.slice(1)) servers.push({ label: main, child: await registry(main) });
// The same-bytes reference: every read captured from the first server.
const captured: Record<string, unknown> = {};
for (const [, path, headers] of READS) {
  const res = await fetch(first.url + path, { headers: headers ?? {} });
  const body = new Uint8Array(await res.arrayBuffer());
  if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
  captured[path] = {
    status: res.status,
    headers: [...res.headers].filter(([k]) => k !== "date"),
    body: btoa(String.fromCharCode(...body)),
  };
}
await Deno.writeTextFile(`${dir}/same.json`, JSON.stringify(captured));
const ref = await spawnPinned([
  "run",
  "-A",
  here("./_reference.ts"),
  "same",
  "0",
  `${dir}/same.json`,
]);
const all = [{ label: "reference", child: ref }, ...servers];
const load = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
console.log(`load ${load}; ${args.rounds} rounds of ${args.seconds}s, CPU µs/req (req/s)`);
const results = new Map<string, { cpu: number[]; rps: number[] }>();
for (let round = 0; round < Number(args.rounds); round++) {
  for (const [name, path, headers] of READS) {
    const order = round % 2 === 0 ? all : [...all].reverse();
    for (const { label, child } of order) {
      const r = await wrk(child.url + path, child.pid, headers);
      const k = `${name}\t${label}`;
      const entry = results.get(k) ?? { cpu: [], rps: [] };
      entry.cpu.push(r.cpuUs);
      entry.rps.push(r.rps);
      results.set(k, entry);
    }
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
for (const [name] of READS) {
  const refEntry = results.get(`${name}\treference`)!;
  const parts = all.map(({ label }) => {
    const e = results.get(`${name}\t${label}`)!;
    const share = label === "reference"
      ? ""
      : ` ${(median(e.rps) / median(refEntry.rps)).toFixed(2)}x`;
    return `${label.replace(/.*\/(wt|tmp)\//, "")}: ${median(e.cpu).toFixed(0)} µs (${
      median(e.rps).toFixed(0)
    }/s${share})`;
  });
  console.log(`${name.padEnd(14)} ${parts.join(" | ")}`);
}
const end = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
console.log(`load at end ${end}`);
for (const c of children) {
  try {
    c.process.kill("SIGTERM");
  } catch { /* gone */ }
  await c.process.status;
}
await Deno.remove(dir, { recursive: true });
