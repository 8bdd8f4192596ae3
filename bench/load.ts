// Load benchmark: main.ts on 127.0.0.1 pinned to CPU 0 (its output to a file), wrk pinned to CPU 1,
// each figure beside references measured in the same run (a bare Hono route
// answering 300 bytes of JSON, the same bytes from a file and from memory,
// and a bare Hono route answering a /pkg-sized JSON with the headers a /pkg
// read carries: the floor those headers set).
//
//   deno run -A bench/load.ts [--seconds=10] [--connections=32] [--storage=kv]
//
// Needs `wrk` and `taskset` (Debian: apt-get install wrk util-linux).
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { sha256Hex } from "../core/digest.ts";
import { makeGadget, makeKey } from "../tests/_ggui_fixtures.ts";
import { makeItem, makePackage, uploadRequest } from "../tests/_rack_fixtures.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    seconds: { type: "string", default: "10" },
    connections: { type: "string", default: "32" },
    storage: { type: "string", default: "kv" },
    "log-requests": { type: "string", default: "true" },
  },
});
const SECONDS = Number(values.seconds);
const CONNECTIONS = Number(values.connections);
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
}

async function wrk(url: string, headers: Record<string, string> = {}): Promise<WrkResult> {
  const args = ["-c", "1", "wrk", "-t1", `-c${CONNECTIONS}`, `-d${SECONDS}s`, "--latency"];
  for (const [k, v] of Object.entries(headers)) args.push("-H", `${k}: ${v}`);
  args.push(url);
  const out = new TextDecoder().decode(
    (await new Deno.Command("taskset", { args, stdout: "piped" }).output()).stdout,
  );
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const p50 = /\s50%\s+(\S+)/.exec(out)?.[1] ?? "?";
  const p99 = /\s99%\s+(\S+)/.exec(out)?.[1] ?? "?";
  const transfer = /Transfer\/sec:\s+(\S+)/.exec(out)?.[1] ?? "?";
  const tm = /([\d.]+)([KMG]?B)/.exec(transfer);
  const unit = { B: 1 / 1048576, KB: 1 / 1024, MB: 1, GB: 1024 }[tm?.[2] ?? "MB"] ?? 1;
  if (/Non-2xx or 3xx responses/.test(out)) throw new Error(`wrk saw errors for ${url}:\n${out}`);
  return { rps, p50, p99, transfer, mbps: Number(tm?.[1] ?? 0) * unit };
}

function row(name: string, r: WrkResult, ref?: WrkResult, byMb = false): string {
  const ratio = ref ? (byMb ? r.mbps / ref.mbps : r.rps / ref.rps).toFixed(2) : "";
  return `| ${name} | ${Math.round(r.rps).toLocaleString("en")} | ${r.p50} | ${r.p99} | ${
    r.mbps.toFixed(1)
  } | ${ratio} |`;
}

const lines: string[] = [];
const log = (s: string) => {
  lines.push(s);
  console.log(s);
};

const cpu = (await Deno.readTextFile("/proc/cpuinfo")).match(/model name\s*:\s*(.*)/)?.[1] ?? "?";
log(
  `Machine: ${navigator.hardwareConcurrency} CPUs (${cpu}), Deno ${Deno.version.deno}; wrk -t1 -c${CONNECTIONS} -d${SECONDS}s; server on CPU 0, wrk on CPU 1.`,
);
log("");

// References.
const refs: Record<string, WrkResult> = {};
for (
  const [mode, size] of [
    ["hono", 300],
    ["headers", 1200],
    ["file", 300],
    ["memory", 300],
    ["file", 10240],
    ["memory", 10240],
    ["file", 1048576],
    ["memory", 1048576],
  ] as const
) {
  const ref = await spawnPinned("0", [
    "run",
    "-A",
    here("./_reference.ts"),
    mode,
    String(size),
    `/tmp/ref-${mode}-${size}.bin`,
  ]);
  refs[`${mode}-${size}`] = await wrk(ref.url + "/");
  ref.process.kill("SIGKILL");
  await ref.process.status;
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
const server = await spawnPinned("0", [
  "run",
  "-A",
  "--unstable-kv",
  here("../main.ts"),
  "--port=0",
  "--host=127.0.0.1",
  `--storage=${storage}`,
  `--token=${TOKEN}`,
  "--subject=bench",
  `--auth-config=${dir}/auth.json`,
  "--admin-token=bench-admin",
  // The limiter runs (its cost is measured) but never refuses the load.
  "--rate-limit=999999999",
  "--upload-rate-limit=0",
  `--log-requests=${values["log-requests"]}`,
]);
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

const results: [string, WrkResult, WrkResult, boolean][] = [
  [
    "GET /pkg/:scope/:name/:version",
    await wrk(`${server.url}/pkg/acme/map/1.0.0`, auth),
    refs["hono-300"]!,
    false,
  ],
  [
    "bundle 10 KiB",
    await wrk(`${server.url}/bundles/private/@acme/map/1.0.0/bundle.js`, auth),
    refs["memory-10240"]!,
    false,
  ],
  [
    "bundle 1 MiB",
    await wrk(`${server.url}/bundles/private/@acme/map/2.0.0/bundle.js`, auth),
    refs["memory-1048576"]!,
    true,
  ],
  [
    "Rack versions list",
    await wrk(`${server.url}/registries/@bench/quality/husky/versions`),
    refs["hono-300"]!,
    false,
  ],
  [
    "Rack latest",
    await wrk(`${server.url}/registries/@bench/quality/husky`),
    refs["hono-300"]!,
    false,
  ],
  [
    "Rack 10 KiB template file",
    await wrk(`${server.url}/registries/@bench/quality/husky/1.0.0/files/templates/big.txt`),
    refs["memory-10240"]!,
    false,
  ],
];
const serverRss = await server.peakRss();
server.process.kill("SIGTERM");
await server.process.status;

// Rack upload latency and peak RSS, 1 MiB and 50 MiB packages, each on a fresh server.
const uploads: string[] = [];
for (const mib of [1, 50]) {
  const s = await spawnPinned("0", [
    "run",
    "-A",
    "--unstable-kv",
    here("../main.ts"),
    "--port=0",
    "--host=127.0.0.1",
    `--storage=kv:${dir}/up-${mib}.kv`,
    `--bundles=fs:${dir}/up-${mib}-bundles`,
    `--auth-config=${dir}/auth.json`,
    "--admin-token=bench-admin",
  ]);
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

log(`### References (same run)`);
log("");
log("| reference | req/s | p50 | p99 | MB/s | |");
log("|---|---|---|---|---|---|");
for (const [name, r] of Object.entries(refs)) log(row(name, r));
log("");
log(`### Registry (${values.storage} storage)`);
log("");
log("| route | req/s | p50 | p99 | MB/s | ratio to reference |");
log("|---|---|---|---|---|---|");
for (const [name, r, ref, byMb] of results) log(row(name, r, ref, byMb));
log("");
log(
  `Version read against the bare route answering the same headers (headers-1200): ${
    (results[0]![1].rps / refs["headers-1200"]!.rps).toFixed(2)
  }.`,
);
log("");
log(
  `Publish (small gadget, sequential, 200 publishes): p50 ${publishMs[100]!.toFixed(2)} ms, p99 ${
    publishMs[198]!.toFixed(2)
  } ms. Server peak RSS during the read runs: ${(serverRss / 1048576).toFixed(0)} MiB.`,
);
log("");
log("| Rack upload | latency | server peak RSS | |");
log("|---|---|---|---|");
for (const u of uploads) log(u);
