// Start-up benchmark: CPU time from spawn to the first answered request, for
// the registry (memory store; the embedded KV default) beside a bare
// Deno.serve that answers the same request, in the same run, on a warm module
// cache. CPU is read from /proc the moment the first answer arrives, two ways:
// the live threads' schedstat (ns resolution; the figure compared) and the
// process's utime + stime (10 ms ticks, exited threads included). A loaded
// machine stretches the wall time but not these figures much.
//
//   deno run -A bench/startup.ts [--runs=5] [--against=<another checkout>]
//
// --against adds that checkout's main.ts (memory store, and KV default), started
// in turn with this one's in every round: a before/after in one run. --only=<word>
// keeps the cases whose name holds it (and the bare reference), e.g. --only=memory.
//
// Also reports, from `deno info --json`, the local modules and npm packages
// a start evaluates before its first answer (main.ts's static imports), and
// those of mod.ts's whole graph, imports loaded on first use included (what
// `deno run -A jsr:@x/registry` downloads up front; `deno run -A main.ts` in
// the checkout, with deno.json's npm-lazy-caching, only what it imports).
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { graphOf, localModules, npmReached } from "../tests/_module_graph.ts";

const USAGE =
  "usage: deno run -A bench/startup.ts [--runs=5] [--against=<another checkout>] [--only=<word>]";

const { values } = (() => {
  try {
    return parseArgs({
      args: Deno.args,
      options: {
        runs: { type: "string", default: "5" },
        against: { type: "string" },
        only: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : err}\n${USAGE}`);
    Deno.exit(2);
  }
})();
if (values.help) {
  console.log(USAGE);
  Deno.exit(0);
}
const runs = Number(values.runs);
if (!Number.isInteger(runs) || runs < 1) {
  console.error(`--runs must be a positive integer\n${USAGE}`);
  Deno.exit(2);
}

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));
const MOD = fileURLToPath(new URL("../mod.ts", import.meta.url));
const TICKS_PER_SECOND = 100; // USER_HZ on Linux

const BARE = `
const port = Number(Deno.args[0]);
Deno.serve({ port, hostname: "127.0.0.1", onListen() {} }, () =>
  new Response('{"ok":true}', { headers: { "content-type": "application/json" } }));
`;

/** CPU ms of a process from /proc/<pid>/stat (user + system, every thread, 10 ms ticks). */
function tickMs(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // Fields after the command name (which may hold spaces) start after ") ".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
  return (ticks * 1000) / TICKS_PER_SECOND;
}

/** CPU ms of a process's live threads from their schedstat (ns resolution). */
function schedMs(pid: number): number {
  let ns = 0;
  for (const task of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(Deno.readTextFileSync(`/proc/${pid}/task/${task.name}/schedstat`).split(" ")[0]);
    } catch {
      // the thread exited meanwhile
    }
  }
  return ns / 1e6;
}

/** Both readings, taken the moment the first answer arrives. */
function cpuMs(pid: number): [number, number] {
  return [tickMs(pid), schedMs(pid)];
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function once(args: string[], path: string, dir: string): Promise<[number, number]> {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: args.map((a) => a.replace("{port}", String(port))),
    cwd: dir,
    stdout: "null",
    stderr: "null",
    stdin: "null",
  }).spawn();
  try {
    for (let i = 0; i < 6000; i++) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}${path}`);
        await res.body?.cancel();
        if (res.ok) return cpuMs(child.pid);
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error(`no answer from ${args.join(" ")}`);
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
}

function loadAverage(): string {
  return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const dir = await Deno.makeTempDir({ prefix: "startup-bench-" });
try {
  await Deno.writeTextFile(`${dir}/bare.ts`, BARE);
  const cases: [string, string[], string][] = [
    ["bare Deno.serve", ["run", "-A", `${dir}/bare.ts`, "{port}"], "/"],
    [
      "registry, memory store",
      ["run", "-A", "--unstable-kv", MAIN, "--port={port}", "--host=127.0.0.1", "--storage=memory"],
      "/healthz",
    ],
    [
      "registry via mod.ts (jsr: entry)",
      ["run", "-A", "--unstable-kv", MOD, "--port={port}", "--host=127.0.0.1", "--storage=memory"],
      "/healthz",
    ],
    [
      "registry, embedded KV default",
      [
        "run",
        "-A",
        "--unstable-kv",
        MAIN,
        "--port={port}",
        "--host=127.0.0.1",
        `--data-dir=${dir}/data`,
        "--init",
      ],
      "/healthz",
    ],
  ];
  if (values.against !== undefined) {
    const other = `${values.against.replace(/\/$/, "")}/main.ts`;
    const memory = ["--port={port}", "--host=127.0.0.1", "--storage=memory"];
    const kv = ["--port={port}", "--host=127.0.0.1", `--data-dir=${dir}/data-against`, "--init"];
    cases.push(
      [`--against, memory store`, ["run", "-A", "--unstable-kv", other, ...memory], "/healthz"],
      [`--against, embedded KV default`, ["run", "-A", "--unstable-kv", other, ...kv], "/healthz"],
    );
  }
  if (values.only !== undefined) {
    // The bare reference always runs: every figure is read beside it.
    const keep = cases.filter(([name]) => name.startsWith("bare") || name.includes(values.only!));
    cases.splice(0, cases.length, ...keep);
  }
  // One warm-up start of each fills the module and code caches.
  for (const [, args, path] of cases) await once(args, path, dir);
  const results = new Map<string, [number, number][]>();
  for (let r = 0; r < runs; r++) {
    for (const [name, args, path] of cases) {
      const ms = await once(args, path, dir);
      results.set(name, [...(results.get(name) ?? []), ms]);
    }
  }
  const of = (name: string, i: 0 | 1) => median(results.get(name)!.map((m) => m[i]));
  const bare = of("bare Deno.serve", 1);
  console.log(
    `CPU to the first answered request (median of ${runs}; warm caches; load ${loadAverage()}):`,
  );
  console.log(`  ${"".padEnd(34)} schedstat   ticks`);
  for (const [name] of cases) {
    const [ticks, sched] = [of(name, 0), of(name, 1)];
    const extra = name.startsWith("bare") ? "" : `  (${(sched / bare).toFixed(1)}x bare)`;
    console.log(
      `  ${name.padEnd(34)} ${sched.toFixed(1).padStart(6)} ms ${
        String(Math.round(ticks)).padStart(5)
      } ms${extra}`,
    );
  }
  const start = await graphOf(MAIN);
  const atStart = [...npmReached(start, true).keys()];
  console.log(
    `Evaluated before the first answer (main.ts, static imports): ${
      localModules(start, true).size
    } local modules, ${atStart.length} npm packages (${atStart.join(", ")})`,
  );
  const whole = await graphOf(MOD);
  console.log(
    `Whole graph of mod.ts, every import included (what deno run -A jsr:@x/registry downloads): ${
      localModules(whole, false).size
    } local modules, ${npmReached(whole, false).size} npm packages`,
  );
} finally {
  await Deno.remove(dir, { recursive: true });
}
