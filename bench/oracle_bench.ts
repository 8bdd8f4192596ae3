// The private-existence timing oracle, measured as an attacker would: main.ts
// on 127.0.0.1 with a real KV file, seeded with private ggui versions and
// private JSR packages, and an anonymous client timing GETs of each private
// path and of as many missing paths beside them (same shapes, same scope),
// interleaved in a shuffled order on one keep-alive connection.
//
// It reports the two latency distributions, a Mann-Whitney test statistic
// (z: how far the private samples rank from the missing ones; |z| < 2 is what
// no difference looks like), and the accuracy of the attack's classifier: per
// path, the median of its first `--per-path` samples, and the faster half
// named private (and, for a difference the other way, the slower half); 50%
// is a coin toss, and the attack scored 100%.
//
//   deno run -A bench/oracle_bench.ts [--samples=300] [--per-path=30] [--paths=8]
//                                     [--cold] [--root=<checkout>]
//
// --cold runs the server with --read-cache-ms=20 and pauses 30 ms between
// rounds, so every sample is a cache miss (what one request per TTL costs).
// --root runs another checkout's main.ts (e.g. `git archive <commit>` into a
// temp folder), to measure the code before a change with the same client.
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { makeGadget, makeKey } from "../tests/_ggui_fixtures.ts";
import { makeTarball } from "../tests/_rack_fixtures.ts";

const USAGE = `usage: deno run -A bench/oracle_bench.ts [--samples=300] [--per-path=30] [--paths=8]
                                          [--cold] [--root=<checkout>]`;

function options() {
  try {
    return parseArgs({
      args: Deno.args,
      options: {
        samples: { type: "string", default: "300" },
        "per-path": { type: "string", default: "30" },
        paths: { type: "string", default: "8" },
        cold: { type: "boolean", default: false },
        root: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    }).values;
  } catch (err) {
    console.error(`oracle_bench.ts: ${(err as Error).message}\n${USAGE}`);
    Deno.exit(2);
  }
}

const values = options();
if (values.help) {
  console.log(USAGE);
  Deno.exit(0);
}
const SAMPLES = Number(values.samples);
const PER_PATH = Number(values["per-path"]);
const PATHS = Number(values.paths);
for (const [name, n] of [["samples", SAMPLES], ["per-path", PER_PATH], ["paths", PATHS]]) {
  if (!Number.isInteger(n) || (n as number) < 1 || (n as number) > 10_000) {
    console.error(`oracle_bench.ts: --${name} must be an integer from 1 to 10000\n${USAGE}`);
    Deno.exit(2);
  }
}
const ROOT = values.root ?? fileURLToPath(new URL("..", import.meta.url));
const TOKEN = "oracle-bench-token";

/** Start main.ts from ROOT on a free port; resolves once it listens. */
async function startServer(dir: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--unstable-kv",
      `${ROOT}/main.ts`,
      "--port=0",
      "--host=127.0.0.1",
      `--storage=kv:${dir}/registry.kv`,
      `--data-dir=${dir}`,
      `--token=${TOKEN}`,
      "--subject=alice",
      "--log-requests=false",
      "--rate-limit=0",
      "--upload-rate-limit=0",
      ...(values.cold ? ["--read-cache-ms=20"] : []),
    ],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${text}`)), 60_000);
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream) {
        text += decoder.decode(chunk, { stream: true });
        const m = /listening on (http:\/\/\S+)/.exec(text);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      }
    };
    pump(child.stdout);
    pump(child.stderr);
  });
  return {
    url,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

const auth = { authorization: `Bearer ${TOKEN}` };

/** Publish the private things: ggui gadgets `@acme/secret-<i>` and JSR packages `@jsrco/pkg-<i>`. */
async function seed(url: string): Promise<void> {
  const key = await makeKey();
  const reg = await fetch(`${url}/author-keys`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({ publicKeyBase64: key.publicKeyBase64 }),
  });
  if (reg.status !== 201) throw new Error(`author key: ${reg.status} ${await reg.text()}`);
  for (let i = 0; i < PATHS; i++) {
    const body = await makeGadget(key, {
      manifest: { scope: "@acme", name: `secret-${i}`, version: "1.0.0", visibility: "private" },
    });
    const res = await fetch(`${url}/publish`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (res.status !== 201) throw new Error(`ggui publish: ${res.status} ${await res.text()}`);
    const files = {
      "deno.json": JSON.stringify({
        name: `@jsrco/pkg-${i}`,
        version: "1.0.0",
        exports: "./mod.ts",
      }),
      "mod.ts": `export const n = ${i};\n`,
    };
    const jsr = await fetch(
      `${url}/api/scopes/jsrco/packages/pkg-${i}/versions/1.0.0?config=%2Fdeno.json`,
      {
        method: "POST",
        headers: { ...auth, "content-encoding": "gzip" },
        body: await makeTarball(files) as BodyInit,
      },
    );
    const task = await jsr.json();
    if (task.status !== "success") throw new Error(`JSR publish: ${JSON.stringify(task)}`);
  }
}

interface Probe {
  surface: string;
  path: string;
  private: boolean;
}

function probes(): Probe[] {
  const out: Probe[] = [];
  for (let i = 0; i < PATHS; i++) {
    for (const [name, hidden] of [[`secret-${i}`, true], [`absent-${i}`, false]] as const) {
      out.push({ surface: "ggui version", path: `/pkg/acme/${name}/1.0.0`, private: hidden });
      out.push({ surface: "ggui listing", path: `/pkg/acme/${name}`, private: hidden });
    }
    for (const [name, hidden] of [[`pkg-${i}`, true], [`nop-${i}`, false]] as const) {
      out.push({ surface: "JSR meta.json", path: `/@jsrco/${name}/meta.json`, private: hidden });
      out.push({
        surface: "JSR version meta",
        path: `/@jsrco/${name}/1.0.0_meta.json`,
        private: hidden,
      });
    }
  }
  return out;
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** Microseconds of one anonymous GET, body read. */
async function timeGet(url: string): Promise<number> {
  const start = performance.now();
  const res = await fetch(url);
  await res.arrayBuffer();
  const us = (performance.now() - start) * 1000;
  if (res.status !== 404) throw new Error(`${url}: expected 404, got ${res.status}`);
  return us;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function median(xs: number[]): number {
  return quantile([...xs].sort((a, b) => a - b), 0.5);
}

/** Mann-Whitney U as a z-score (positive: the private samples rank slower). */
function mannWhitneyZ(a: number[], b: number[]): number {
  const all = [...a.map((v) => ({ v, a: true })), ...b.map((v) => ({ v, a: false }))]
    .sort((x, y) => x.v - y.v);
  let rankSum = 0;
  for (let i = 0; i < all.length;) {
    let j = i;
    while (j < all.length && all[j]!.v === all[i]!.v) j++;
    const rank = (i + j + 1) / 2; // mean rank of ties (1-based)
    for (let k = i; k < j; k++) if (all[k]!.a) rankSum += rank;
    i = j;
  }
  const n1 = a.length, n2 = b.length;
  const u = rankSum - (n1 * (n1 + 1)) / 2;
  const mean = (n1 * n2) / 2;
  const sd = Math.sqrt((n1 * n2 * (n1 + n2 + 1)) / 12);
  return (u - mean) / sd;
}

function describe(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const mean = xs.reduce((t, x) => t + x, 0) / xs.length;
  const f = (n: number) => n.toFixed(0).padStart(5);
  return `p10 ${f(quantile(s, 0.1))}  p50 ${f(quantile(s, 0.5))}  p90 ${f(quantile(s, 0.9))}  ` +
    `mean ${f(mean)} µs  (n=${xs.length})`;
}

/** The attack: per path, the median of its first PER_PATH samples; the faster half is "private". */
function classify(
  list: Probe[],
  samples: Map<string, number[]>,
  perPath: number,
): { right: number; total: number } {
  const medians = list.map((p) => ({ p, m: median(samples.get(p.path)!.slice(0, perPath)) }));
  const cut = median(medians.map((x) => x.m));
  let right = 0;
  for (const { p, m } of medians) if ((m < cut) === p.private) right++;
  return { right, total: medians.length };
}

const dir = await Deno.makeTempDir({ prefix: "oracle-bench-" });
const server = await startServer(dir);
try {
  await seed(server.url);
  const list = probes();
  const samples = new Map(list.map((p) => [p.path, [] as number[]]));
  // Warm-up: every path a few times (the JIT, the connection, the caches).
  for (let i = 0; i < 5; i++) for (const p of list) await timeGet(server.url + p.path);
  for (let round = 0; round < SAMPLES; round++) {
    for (const p of shuffle([...list])) {
      samples.get(p.path)!.push(await timeGet(server.url + p.path));
    }
    if (values.cold) await new Promise((r) => setTimeout(r, 30));
  }
  console.log(
    `root ${ROOT}\n${values.cold ? "cold (every read misses the read cache)" : "warm"}: ` +
      `${SAMPLES} samples per path, ${PATHS} private and ${PATHS} missing paths per surface`,
  );
  const surfaces = [...new Set(list.map((p) => p.surface))];
  for (const surface of [...surfaces, "all"]) {
    const of = list.filter((p) => surface === "all" || p.surface === surface);
    const hidden = of.filter((p) => p.private).flatMap((p) => samples.get(p.path)!);
    const missing = of.filter((p) => !p.private).flatMap((p) => samples.get(p.path)!);
    // The classifier cuts each surface at its own median (their latencies differ).
    const score = (perPath: number) => {
      const scored = (surface === "all" ? surfaces : [surface]).map((s) =>
        classify(of.filter((p) => p.surface === s), samples, perPath)
      );
      const right = scored.reduce((t, x) => t + x.right, 0);
      const total = scored.reduce((t, x) => t + x.total, 0);
      return `${right}/${total} right calling the faster half private, ` +
        `${total - right}/${total} calling the slower half`;
    };
    console.log(`\n${surface}`);
    console.log(`  private  ${describe(hidden)}`);
    console.log(`  missing  ${describe(missing)}`);
    console.log(`  Mann-Whitney z ${mannWhitneyZ(hidden, missing).toFixed(2)}`);
    console.log(`  classifier, ${PER_PATH} samples per path: ${score(PER_PATH)}`);
    console.log(`  classifier, ${SAMPLES} samples per path: ${score(SAMPLES)}`);
  }
} finally {
  await server.stop();
  await Deno.remove(dir, { recursive: true });
}
