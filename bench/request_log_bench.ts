/**
 * The request log's cost on a hot read: the same ggui version read (public,
 * answered at once from the read cache, as on a busy server) through two
 * registry apps that differ only in the request log: one writes a JSON line per
 * request through the server's own batched writer (`server/log_writer.ts`) into
 * a real file, the other logs nothing. In process via `app.fetch`, so the
 * figure is the stack's own work without a socket's (the strictest ratio: a
 * socket's cost would dilute it). `load.ts --hot-reads-only` measures the same
 * pair over sockets with wrk.
 *
 *   deno run -A --import-map=tests/import_map.json bench/request_log_bench.ts [rounds] [reads]
 *
 * @module
 */
import { createRegistryApp, type RegistryApp } from "../routes/app.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import { bufferedLineWriter } from "../server/log_writer.ts";
import {
  bearer,
  makePublicGadget,
  testSigstoreVerifier,
  tokenMapAuthenticator,
  TOKENS,
} from "../tests/_ggui_fixtures.ts";

const NOW = new Date("2026-11-22T03:00:30.000Z");
const READER = { remoteAddr: { hostname: "192.0.2.7", port: 4000, transport: "tcp" } };
const PATH = "/pkg/acme/globe/1.0.0";
const logFile = await Deno.makeTempFile({ prefix: "request-log-bench-", suffix: ".log" });
const file = await Deno.open(logFile, { write: true, append: true });
const writer = bufferedLineWriter({
  sink: (b) => file.write(b),
  syncSink: (b) => file.writeSync(b),
});

/** A registry app with the server's defaults for reads; `log` writes its request lines. */
async function app(log: ((line: string) => void) | undefined): Promise<RegistryApp> {
  const registry = createRegistryApp({
    storage: new MemoryRegistryStorage(),
    bundles: new MemoryBundleStorage(),
    clock: () => NOW,
    authenticator: tokenMapAuthenticator({ [TOKENS.alice]: "alice" }),
    sigstore: testSigstoreVerifier,
    bundleHost: "http://registry.test",
    registryHostname: "registry.test",
    uploadRateLimitPerMinute: 0,
    readCacheMs: 600_000,
    ...(log ? { requestLog: log } : {}),
  });
  const body = makePublicGadget({ manifest: { name: "globe" } });
  const res = await registry.fetch(
    new Request("http://registry.test/publish", {
      method: "POST",
      headers: bearer(TOKENS.alice),
      body: JSON.stringify(body),
    }),
    { remoteAddr: { hostname: "192.0.2.99", port: 4000, transport: "tcp" } },
  );
  if (res.status >= 300) throw new Error(`seeding failed: ${res.status} ${await res.text()}`);
  return registry;
}

const logged = await app((line) => writer.write(line));
const silent = await app(undefined);
const noop = await app(() => {});

async function read(registry: RegistryApp): Promise<void> {
  const res = await registry.fetch(new Request(`http://registry.test${PATH}`), READER);
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`Expected 200 from ${PATH} (got ${res.status})`);
}
// Warm both: the read cache holds the rows, the answer is prepared.
for (let i = 0; i < 200; i++) await Promise.all([read(logged), read(silent), read(noop)]);

// Interleaved rounds (each round runs the three in a rotated order), so a
// drift of the machine's speed or a GC lands on all three alike; the figure
// is the median over rounds of µs per read, and each ratio is taken per round.
const ROUNDS = Number(Deno.args[0] ?? 30);
const READS = Number(Deno.args[1] ?? 2000);
const cases: [string, RegistryApp][] = [
  ["request log off", silent],
  ["request log to a no-op sink", noop],
  ["request log on (batched to a file)", logged],
];
const perRound = cases.map(() => [] as number[]);
for (let round = 0; round < ROUNDS; round++) {
  for (let k = 0; k < cases.length; k++) {
    const i = (round + k) % cases.length;
    const start = performance.now();
    for (let n = 0; n < READS; n++) await read(cases[i]![1]);
    perRound[i]!.push(((performance.now() - start) * 1000) / READS);
  }
}
await writer.close();
file.close();
await Deno.remove(logFile);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`${ROUNDS} interleaved rounds of ${READS} reads of ${PATH}, in process`);
console.log("| case | µs per read (median) | ratio to log off (median of rounds) |");
console.log("|---|---|---|");
for (const [i, [name]] of cases.entries()) {
  const ratios = perRound[i]!.map((us, r) => us / perRound[0]![r]!);
  console.log(`| ${name} | ${median(perRound[i]!).toFixed(2)} | ${median(ratios).toFixed(3)} |`);
}
