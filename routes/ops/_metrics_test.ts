import assert from "node:assert/strict";
import { Hono } from "hono";
import { httpMetrics, metricsHandler } from "./_metrics.ts";
import { routePattern } from "./_common.ts";
import {
  HTTP_DURATION_BUCKETS,
  MetricsRegistry,
  publicMetrics,
  publishesTotal,
} from "../../core/metrics.ts";
import { parsePrometheusText, sampleValue } from "../../tests/_prometheus.ts";

/** An app whose HTTP metrics go to a registry of its own, exposed at /metrics. */
function meteredApp(options: { token?: string } = {}) {
  const registry = new MetricsRegistry();
  const duration = registry.histogram({
    name: "http_request_duration_seconds",
    help: "Duration of HTTP requests in seconds",
    labelNames: ["method", "route", "status_code"],
    buckets: HTTP_DURATION_BUCKETS,
  });
  const bytes = registry.counter({
    name: "http_response_bytes_total",
    help: "Bytes.",
    labelNames: ["route"],
  });
  const app = new Hono();
  app.use(httpMetrics({ duration, bytes }));
  app.get("/metrics", metricsHandler({ registry, ...options }));
  app.get("/pkg/:scope/:name", (c) => c.json({ scope: c.req.param("scope") }));
  app.get("/sized", () => new Response("12345", { headers: { "content-length": "5" } }));
  app.get("/stream", () =>
    new Response(
      new ReadableStream({
        start(controller) {
          controller.enqueue(new Uint8Array(700));
          controller.enqueue(new Uint8Array(300));
          controller.close();
        },
      }),
    ));
  // A sub-app with its own error handler: Hono wraps its handlers in (c, next).
  const sub = new Hono();
  sub.get("/items/:id", (c) => c.text(c.req.param("id")));
  sub.onError((_e, c) => c.text("sub error", 500));
  app.route("/sub", sub);
  return { app, registry, duration, bytes };
}

Deno.test("httpMetrics labels requests with the matched route pattern, never the raw path", async () => {
  const { app, duration } = meteredApp();
  await (await app.request("/pkg/acme/widget")).body?.cancel();
  await (await app.request("/pkg/acme/other")).body?.cancel();
  await (await app.request("/sub/items/42")).body?.cancel();
  await (await app.request("/no/such/path/9f8e7d")).body?.cancel();
  await app.request("/pkg/acme/widget", { method: "HEAD" });
  await (await app.request("/pkg/acme/widget", { method: "BREW" })).body?.cancel();
  assert.equal(
    duration.count({ method: "GET", route: "/pkg/:scope/:name", status_code: "200" }),
    2,
  );
  assert.equal(duration.count({ method: "GET", route: "/sub/items/:id", status_code: "200" }), 1);
  assert.equal(duration.count({ method: "GET", route: "unmatched", status_code: "404" }), 1);
  assert.equal(
    duration.count({ method: "HEAD", route: "/pkg/:scope/:name", status_code: "200" }),
    1,
  );
  assert.equal(duration.count({ method: "OTHER", route: "unmatched", status_code: "404" }), 1);
});

Deno.test("httpMetrics counts bytes from Content-Length or as a body of unknown length streams out", async () => {
  const { app, bytes } = meteredApp();
  assert.equal(await (await app.request("/sized")).text(), "12345");
  assert.equal(bytes.get({ route: "/sized" }), 5);
  const streamed = await app.request("/stream");
  assert.equal((await streamed.arrayBuffer()).byteLength, 1000);
  assert.equal(bytes.get({ route: "/stream" }), 1000);
  await app.request("/sized", { method: "HEAD" });
  assert.equal(bytes.get({ route: "/sized" }), 5);
});

Deno.test("/metrics parses as Prometheus text and its counters move as requests are served", async () => {
  const { app } = meteredApp();
  const first = await app.request("/metrics");
  assert.equal(first.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  assert.equal(first.headers.get("cache-control"), "no-store");
  parsePrometheusText(await first.text());
  for (let i = 0; i < 3; i++) await (await app.request("/pkg/a/b")).body?.cancel();
  const samples = parsePrometheusText(await (await app.request("/metrics")).text());
  const labels = { method: "GET", route: "/pkg/:scope/:name", status_code: "200" };
  assert.equal(sampleValue(samples, "http_request_duration_seconds_count", labels), 3);
  assert.equal(
    sampleValue(samples, "http_request_duration_seconds_bucket", { ...labels, le: "+Inf" }),
    3,
  );
  assert.equal(
    sampleValue(samples, "http_request_duration_seconds_count", { route: "/metrics" }),
    1,
  );
  for (const le of ["0.001", "0.005", "0.01", "0.05", "0.1", "0.5", "1", "5", "10", "+Inf"]) {
    assert.ok(
      sampleValue(samples, "http_request_duration_seconds_bucket", { ...labels, le }) !== undefined,
      le,
    );
  }
  assert.ok((sampleValue(samples, "process_resident_memory_bytes") ?? 0) > 0);
  assert.ok((sampleValue(samples, "deno_heap_used_bytes") ?? 0) > 0);
  assert.ok((sampleValue(samples, "process_uptime_seconds") ?? -1) >= 0);
});

Deno.test("the default /metrics shows public activity only; the token shows the operator counters", async () => {
  const app = new Hono();
  app.get("/metrics", metricsHandler());
  const closed = new Hono();
  closed.get("/metrics", metricsHandler({ token: "m" }));
  const read = async (from: Hono, headers: Record<string, string> = {}) =>
    sampleValue(
      parsePrometheusText(await (await from.request("/metrics", { headers })).text()),
      "registry_publishes_total",
      { surface: "rack", result: "created" },
    ) ?? 0;
  const full = () => read(closed, { authorization: "Bearer m" });
  const [open0, full0] = [await read(app), await full()];
  // A private publish counts only in the operator's view.
  publishesTotal.inc({ surface: "rack", result: "created" });
  assert.equal(await read(app), open0);
  assert.equal(await full(), full0 + 1);
  // A public one counts in both.
  publishesTotal.inc({ surface: "rack", result: "created" });
  publicMetrics.publishesTotal.inc({ surface: "rack", result: "created" });
  assert.equal(await read(app), open0 + 1);
  assert.equal(await full(), full0 + 2);
});

Deno.test("/metrics with a token refuses a missing or wrong bearer and serves the right one", async () => {
  const { app } = meteredApp({ token: "metrics-secret" });
  const none = await app.request("/metrics");
  assert.equal(none.status, 401);
  assert.equal(none.headers.get("www-authenticate"), 'Bearer realm="metrics"');
  await none.body?.cancel();
  for (
    const auth of [
      "Bearer wrong",
      "Bearer metrics-secre",
      "Basic metrics-secret",
      "Bearer metrics-secretx",
    ]
  ) {
    const res = await app.request("/metrics", { headers: { authorization: auth } });
    assert.equal(res.status, 401, auth);
    await res.body?.cancel();
  }
  const ok = await app.request("/metrics", { headers: { authorization: "Bearer metrics-secret" } });
  assert.equal(ok.status, 200);
  parsePrometheusText(await ok.text());
});

Deno.test("routePattern skips middleware and catch-alls", async () => {
  const app = new Hono();
  const seen: string[] = [];
  app.use("/a/*", async (c, next) => {
    await next();
    seen.push(routePattern(c));
  });
  app.get("/a/:x", (c) => c.text("x"));
  app.all("*", (c) => {
    seen.push(routePattern(c));
    return c.text("fallback", 404);
  });
  await app.request("/a/1");
  await app.request("/b");
  assert.deepEqual(seen, ["/a/:x", "unmatched"]);
});
