import assert from "node:assert/strict";
import { httpRequestDuration, publishesTotal, rateLimitedTotal } from "../../core/metrics.ts";
import { MetricsRing, seriesOf } from "./_ops_metrics.tsx";

Deno.test("the ring keeps one sample a step, at most `size`, and plots increases", () => {
  const ring = new MetricsRing(3, 60_000);
  ring.tick(0);
  ring.tick(30_000); // within the step: no sample
  assert.equal(ring.samples().length, 1);
  httpRequestDuration.observe({ method: "GET", route: "/x", status_code: "200" }, 0.01);
  httpRequestDuration.observe({ method: "GET", route: "/x", status_code: "503" }, 0.01);
  publishesTotal.inc({ surface: "jsr", result: "created" });
  publishesTotal.inc({ surface: "jsr", result: "conflict" });
  rateLimitedTotal.inc({ limiter: "read" }, 3);
  ring.tick(60_000);
  const [point] = seriesOf(ring.samples(), "requests");
  assert.equal(point!.value, 2);
  assert.equal(seriesOf(ring.samples(), "errors")[0]!.value, 1);
  assert.equal(seriesOf(ring.samples(), "publishes")[0]!.value, 1);
  assert.equal(seriesOf(ring.samples(), "rateLimited")[0]!.value, 3);
  ring.tick(120_000);
  ring.tick(180_000);
  assert.equal(ring.samples().length, 3);
  assert.equal(ring.samples()[0]!.at, 60_000);
  ring.recordStorage(180_001, 42);
  assert.deepEqual(seriesOf(ring.samples(), "storageBytes"), [{ at: 180_000, value: 42 }]);
});
