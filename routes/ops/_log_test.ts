import assert from "node:assert/strict";
import { Hono } from "hono";
import { requestLog, type RequestLogLine } from "./_log.ts";
import type { OpsEnv } from "./_common.ts";
import { respondWithJson } from "../shared/_blob_response.ts";

function loggedApp() {
  const lines: string[] = [];
  const app = new Hono<OpsEnv>();
  app.use(requestLog({
    sink: (line) => lines.push(line),
    clock: () => new Date("2026-04-05T06:07:08.000Z"),
  }));
  app.get("/pkg/:scope/:name", (c) => {
    c.set("subject", "alice");
    return respondWithJson(c, { id: c.get("requestId") }, { cacheControl: "no-cache" });
  });
  app.get("/boom", () => {
    throw new Error("internal detail");
  });
  app.onError((_e, c) => c.json({ error: "server_error" }, 500));
  return { app, lines };
}

Deno.test("requestLog writes one JSON line with the route pattern, status, duration, bytes and subject", async () => {
  const { app, lines } = loggedApp();
  const res = await app.request("/pkg/acme/widget?x=1");
  const body = await res.json();
  const id = res.headers.get("x-request-id");
  assert.ok(id && /^[0-9a-f-]{36}$/.test(id));
  assert.equal(body.id, id);
  assert.equal(lines.length, 1);
  const line = JSON.parse(lines[0]!) as RequestLogLine;
  assert.deepEqual(Object.keys(line).sort(), [
    "bytes",
    "durationMs",
    "level",
    "method",
    "requestId",
    "route",
    "status",
    "subject",
    "time",
  ]);
  assert.equal(line.time, "2026-04-05T06:07:08.000Z");
  assert.equal(line.requestId, id);
  assert.equal(line.method, "GET");
  assert.equal(line.route, "/pkg/:scope/:name");
  assert.equal(line.status, 200);
  assert.equal(line.subject, "alice");
  assert.equal(line.bytes, JSON.stringify(body).length);
  assert.equal(typeof line.durationMs, "number");
  assert.equal(line.level, "info");
});

Deno.test("requestLog keeps a sane incoming request id and replaces an unsafe one", async () => {
  const { app, lines } = loggedApp();
  const kept = await app.request("/pkg/a/b", { headers: { "x-request-id": "abc.DEF_123-x" } });
  assert.equal(kept.headers.get("x-request-id"), "abc.DEF_123-x");
  for (const bad of ["has space", "x".repeat(129), "semi;colon", "ünï"]) {
    const res = await app.request("/pkg/a/b", { headers: { "x-request-id": bad } });
    assert.notEqual(res.headers.get("x-request-id"), bad);
    assert.match(res.headers.get("x-request-id")!, /^[A-Za-z0-9._-]{1,128}$/);
  }
  assert.equal(lines.length, 5);
  assert.ok(lines.every((l) => !l.includes("has space") && !l.includes("semi;colon")));
});

Deno.test("requestLog logs unmatched routes and errors without the raw path or the error text", async () => {
  const { app, lines } = loggedApp();
  await app.request("/nothing/here/secret-path-token");
  await app.request("/boom");
  const [missing, boom] = lines.map((l) => JSON.parse(l) as RequestLogLine);
  assert.equal(missing?.route, "unmatched");
  assert.equal(missing?.status, 404);
  assert.equal(boom?.route, "/boom");
  assert.equal(boom?.status, 500);
  assert.equal(boom?.level, "error");
  assert.ok(lines.every((l) => !l.includes("secret-path-token") && !l.includes("internal detail")));
});

Deno.test("a secret in any header or query never appears in a log line", async () => {
  const { app, lines } = loggedApp();
  const secret = "s3cr3t-TOKEN-value-0123456789";
  const res = await app.request(`/pkg/acme/widget?token=${secret}&access_token=${secret}`, {
    headers: {
      authorization: `Bearer ${secret}`,
      "x-registry-token": secret,
      cookie: `session=${secret}`,
      "proxy-authorization": `Basic ${secret}`,
      "x-api-key": secret,
      "user-agent": secret,
      referer: `https://example.com/?t=${secret}`,
    },
  });
  await res.body?.cancel();
  assert.equal(lines.length, 1);
  assert.ok(!lines[0]!.includes(secret), lines[0]);
  assert.ok(!lines[0]!.includes("s3cr3t"));
});

Deno.test("a throwing sink never breaks the response", async () => {
  const app = new Hono();
  app.use(requestLog({
    sink: () => {
      throw new Error("disk full");
    },
  }));
  app.get("/", (c) => c.text("fine"));
  const res = await app.request("/");
  assert.equal(await res.text(), "fine");
});
