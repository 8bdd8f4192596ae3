// Rows read and CPU per request of the home page and GET /api/packages as the
// store grows (docs/bench.md, "Web UI search"): the pages search the index,
// so the rows stay flat. In process, a KV file behind a counting wrapper.
//   deno run -A bench/ui_search_rows.ts [--sizes=200,2000]
import { parseArgs } from "node:util";
import { createRegistryApp } from "../routes/app.ts";
import { cpuUsage } from "node:process";
import { KvRegistryStorage } from "../storage/kv.ts";
import { MemoryBundleStorage } from "../storage/memory.ts";
import { CountingRegistryStorage } from "../tests/_counting_storage.ts";
import { packageMutations } from "../tests/_search_fixtures.ts";

const { values } = parseArgs({ args: Deno.args, options: { sizes: { type: "string" } } });
const sizes = (values.sizes ?? "200,2000").split(",").map(Number);
const dir = await Deno.makeTempDir({ prefix: "ui-search-rows-" });
const kv = await Deno.openKv(`${dir}/rows.kv`);
const inner = new KvRegistryStorage(kv);
const storage = new CountingRegistryStorage(inner);
const app = createRegistryApp({
  storage,
  bundles: new MemoryBundleStorage(),
  bundleHost: "http://127.0.0.1:9",
  registryHostname: "127.0.0.1:9",
  rateLimitPerMinute: 0,
  metadataRateLimitPerMinute: 0,
  queryRateLimitPerMinute: 0,
  readCacheMs: 0,
});
const cases = [
  ["home page", "/", { accept: "text/html" }],
  ["GET /api/packages?limit=20", "/api/packages?limit=20", {}],
  ["home page, q=pkg1", "/?q=pkg1", { accept: "text/html" }],
] as const;
let seeded = 0;
console.log(`load: ${Deno.loadavg().map((l) => l.toFixed(1)).join(" ")}`);
console.log("| packages | request | rows read | µs CPU per request (median of 20) |");
console.log("|---|---|---|---|");
for (const size of sizes) {
  for (; seeded < size; seeded++) {
    const at = new Date(Date.UTC(2026, 0, 1) + seeded * 1000).toISOString();
    const name = `pkg${seeded}`;
    const v = { namespace: "@bench", name, version: "1.0.0", format: "jsr" as const };
    const mutations = packageMutations([{ ...v, publishedAt: at }]);
    await inner.commit({ checks: [], mutations });
  }
  for (const [label, path, headers] of cases) {
    storage.reads = [];
    await (await app.request(path, { headers })).arrayBuffer();
    const rows = storage.reads.reduce((n, r) => n + r.found, 0);
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = cpuUsage();
      await (await app.request(path, { headers })).arrayBuffer();
      const t = cpuUsage(t0);
      times.push(t.user + t.system);
    }
    times.sort((a, b) => a - b);
    console.log(`| ${size} | ${label} | ${rows} | ${times[10]!.toFixed(0)} |`);
  }
}
kv.close();
await Deno.remove(dir, { recursive: true });
