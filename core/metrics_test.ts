import assert from "node:assert/strict";
import {
  Counter,
  defaultRegistry,
  escapeLabelValue,
  instrumentStorage,
  MetricsRegistry,
  publishesTotal,
  storageOperationDuration,
} from "./metrics.ts";
import { MemoryRegistryStorage } from "../storage/memory.ts";
import { parsePrometheusText, sampleValue } from "../tests/_prometheus.ts";

Deno.test("expose() writes HELP, TYPE and samples that parse as Prometheus text", () => {
  const r = new MetricsRegistry();
  const c = r.counter({
    name: "jobs_total",
    help: "Jobs done.\nSecond line \\ slash",
    labelNames: ["kind"],
  });
  const g = r.gauge({ name: "queue_depth", help: "Depth." });
  const h = r.histogram({
    name: "latency_seconds",
    help: "Latency.",
    labelNames: ["route"],
    buckets: [0.1, 1, 5],
  });
  c.inc({ kind: 'a "quoted"\nvalue\\x' });
  c.inc({ kind: "plain" }, 2.5);
  g.set(undefined, -3);
  h.observe({ route: "/x/:id" }, 0.05);
  h.observe({ route: "/x/:id" }, 0.5);
  h.observe({ route: "/x/:id" }, 50);
  const samples = parsePrometheusText(r.expose());
  assert.equal(sampleValue(samples, "jobs_total", { kind: 'a "quoted"\nvalue\\x' }), 1);
  assert.equal(sampleValue(samples, "jobs_total", { kind: "plain" }), 2.5);
  assert.equal(sampleValue(samples, "queue_depth"), -3);
  assert.equal(sampleValue(samples, "latency_seconds_bucket", { le: "0.1" }), 1);
  assert.equal(sampleValue(samples, "latency_seconds_bucket", { le: "1" }), 2);
  assert.equal(sampleValue(samples, "latency_seconds_bucket", { le: "5" }), 2);
  assert.equal(sampleValue(samples, "latency_seconds_bucket", { le: "+Inf" }), 3);
  assert.equal(sampleValue(samples, "latency_seconds_count"), 3);
  assert.equal(sampleValue(samples, "latency_seconds_sum"), 50.55);
  assert.ok(r.expose().includes("# HELP jobs_total Jobs done.\\nSecond line \\\\ slash\n"));
});

Deno.test("the test parser refuses text that is not Prometheus text", () => {
  assert.throws(() => parsePrometheusText("no_type 1\n"));
  assert.throws(() => parsePrometheusText('# TYPE a counter\na{x="unterminated} 1\n'));
  assert.throws(() => parsePrometheusText("# TYPE a counter\na 1 2 3\n"));
  assert.throws(() => parsePrometheusText('# TYPE h histogram\nh_bucket{le="1"} 2\nh_count 2\n'));
  assert.throws(() => parsePrometheusText("# TYPE a counter\na 1"));
});

Deno.test("label values are escaped for backslash, quote and line feed", () => {
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
});

Deno.test("counters move and refuse to go down", () => {
  const c = new Counter({ name: "c_total", help: "C.", labelNames: ["a"] });
  c.inc({ a: "x" });
  c.inc({ a: "x" }, 4);
  assert.equal(c.get({ a: "x" }), 5);
  assert.equal(c.get({ a: "y" }), 0);
  assert.throws(() => c.inc({ a: "x" }, -1), RangeError);
});

Deno.test("a metric stops adding series at its cap instead of growing without bound", () => {
  const r = new MetricsRegistry();
  const c = r.counter({ name: "capped_total", help: "C.", labelNames: ["k"], maxSeries: 3 });
  for (let i = 0; i < 10; i++) c.inc({ k: String(i) });
  assert.equal(parsePrometheusText(r.expose()).length, 3);
  c.inc({ k: "0" });
  assert.equal(c.get({ k: "0" }), 2);
});

Deno.test("a gauge with collect is read fresh at every exposition", () => {
  const r = new MetricsRegistry();
  let n = 0;
  r.gauge({ name: "ticks", help: "T.", collect: (g) => g.set(undefined, ++n) });
  assert.equal(sampleValue(parsePrometheusText(r.expose()), "ticks"), 1);
  assert.equal(sampleValue(parsePrometheusText(r.expose()), "ticks"), 2);
});

Deno.test("the registry refuses bad names, duplicate names and bad buckets", () => {
  const r = new MetricsRegistry();
  r.counter({ name: "a_total", help: "A." });
  assert.throws(() => r.counter({ name: "a_total", help: "A." }), TypeError);
  assert.throws(() => r.counter({ name: "1bad", help: "B." }), TypeError);
  assert.throws(() => r.counter({ name: "ok", help: "B.", labelNames: ["le"] }), TypeError);
  assert.throws(() => r.histogram({ name: "h", help: "H.", buckets: [1, 1] }), RangeError);
});

Deno.test("instrumentStorage times every operation and tells conflicts from successes", async () => {
  const r = new MetricsRegistry();
  const h = r.histogram({
    name: "storage_seconds",
    help: "S.",
    labelNames: ["operation", "outcome"],
    buckets: [0.001, 1],
  });
  const inner = new MemoryRegistryStorage();
  const storage = instrumentStorage(inner, { storageOperationDuration: h });
  try {
    await storage.commit({
      checks: [{ key: ["k"], stamp: null }],
      mutations: [{ type: "set", key: ["k"], value: 1 }],
    });
    await storage.commit({ checks: [{ key: ["k"], stamp: null }], mutations: [] });
    assert.equal((await storage.get<number>(["k"]))?.value, 1);
    await storage.getMany([["k"], ["j"]]);
    await storage.list(["k"]);
    assert.equal(h.count({ operation: "commit", outcome: "ok" }), 1);
    assert.equal(h.count({ operation: "commit", outcome: "conflict" }), 1);
    assert.equal(h.count({ operation: "get", outcome: "ok" }), 1);
    assert.equal(h.count({ operation: "getMany", outcome: "ok" }), 1);
    assert.equal(h.count({ operation: "list", outcome: "ok" }), 1);
  } finally {
    await storage.close();
  }
  await assert.rejects(() => storage.get(["k"]));
  assert.equal(h.count({ operation: "get", outcome: "error" }), 1);
});

Deno.test("the default registry holds the operator metrics and its text parses", () => {
  const before = storageOperationDuration.count({ operation: "probe", outcome: "ok" });
  storageOperationDuration.observe({ operation: "probe", outcome: "ok" }, 0.002);
  publishesTotal.inc({ surface: "test", result: "created" });
  const samples = parsePrometheusText(defaultRegistry.expose());
  assert.equal(
    sampleValue(samples, "registry_storage_operation_duration_seconds_count", {
      operation: "probe",
    }),
    before + 1,
  );
  assert.ok((sampleValue(samples, "registry_publishes_total", { surface: "test" }) ?? 0) >= 1);
  for (
    const name of [
      "http_request_duration_seconds",
      "http_response_bytes_total",
      "registry_publishes_total",
      "registry_version_conflicts_total",
      "registry_rate_limited_total",
      "registry_auth_failures_total",
      "registry_webhook_deliveries_total",
      "registry_storage_operation_duration_seconds",
    ]
  ) assert.ok(defaultRegistry.expose().includes(`# TYPE ${name} `), name);
});
