import assert from "node:assert/strict";
import { Hono } from "hono";
import { appendVary, isDocumentType, settleDocumentLength } from "./_common.ts";
import { utf8Length } from "../../storage/_common.ts";

Deno.test("utf8Length agrees with TextEncoder on ASCII, accents, CJK, emoji and lone surrogates", () => {
  for (
    const s of [
      "",
      "plain",
      "é",
      "naïve café",
      "漢字テキスト",
      "👩‍💻 ok",
      "\ud800",
      "a\udc00b",
      "\ud83d",
    ]
  ) {
    assert.equal(utf8Length(s), new TextEncoder().encode(s).byteLength, JSON.stringify(s));
  }
});

Deno.test("settleDocumentLength gives c.json and c.text responses their exact Content-Length", async () => {
  const app = new Hono();
  const seen: (number | null)[] = [];
  app.use(async (c, next) => {
    await next();
    seen.push(await settleDocumentLength(c));
  });
  app.get("/json", (c) => c.json({ word: "naïve 漢字 👍" }));
  app.get("/text", (c) => c.text("héllo"));
  app.get(
    "/ndjson",
    () =>
      new Response(new Blob(['{"a":1}\n']).stream(), {
        headers: { "content-type": "application/x-ndjson" },
      }),
  );
  app.get(
    "/octets",
    () =>
      new Response(new Uint8Array(3), { headers: { "content-type": "application/octet-stream" } }),
  );
  const json = await app.request("/json");
  const jsonBytes = new Uint8Array(await json.arrayBuffer());
  assert.equal(json.headers.get("content-length"), String(jsonBytes.byteLength));
  assert.equal(new TextDecoder().decode(jsonBytes), JSON.stringify({ word: "naïve 漢字 👍" }));
  const text = await app.request("/text");
  assert.equal(text.headers.get("content-length"), "6");
  assert.equal(await text.text(), "héllo");
  const ndjson = await app.request("/ndjson");
  assert.equal(ndjson.headers.get("content-length"), null);
  assert.equal(await ndjson.text(), '{"a":1}\n');
  await (await app.request("/octets")).body?.cancel();
  assert.deepEqual(seen, [jsonBytes.byteLength, 6, null, null]);
});

Deno.test("settleDocumentLength keeps the status, its text and every header, several Set-Cookie included", async () => {
  const app = new Hono();
  app.use(async (c, next) => {
    await next();
    await settleDocumentLength(c);
  });
  app.get("/", (c) => {
    c.header("set-cookie", "a=1");
    c.header("set-cookie", "b=2", { append: true });
    c.header("x-extra", "yes");
    return c.json({ created: true }, 201);
  });
  const res = await app.request("/");
  assert.equal(res.status, 201);
  assert.deepEqual(res.headers.getSetCookie(), ["a=1", "b=2"]);
  assert.equal(res.headers.get("x-extra"), "yes");
  assert.equal(res.headers.get("content-length"), String('{"created":true}'.length));
  assert.deepEqual(await res.json(), { created: true });
});

Deno.test("isDocumentType tells whole documents from open-ended streams", () => {
  assert.ok(isDocumentType("application/json; charset=utf-8"));
  assert.ok(isDocumentType("application/vnd.api+json"));
  assert.ok(isDocumentType("text/html"));
  assert.ok(!isDocumentType("text/event-stream"));
  assert.ok(!isDocumentType("application/x-ndjson"));
  assert.ok(!isDocumentType("application/jsonl"));
  assert.ok(!isDocumentType(null));
});

Deno.test("appendVary merges tokens once and respects a star", () => {
  const h = new Headers();
  appendVary(h, "Accept-Encoding");
  appendVary(h, "accept-encoding");
  assert.equal(h.get("vary"), "Accept-Encoding");
  appendVary(h, "Authorization");
  assert.equal(h.get("vary"), "Accept-Encoding, Authorization");
  const star = new Headers({ vary: "*" });
  appendVary(star, "Accept-Encoding");
  assert.equal(star.get("vary"), "*");
});
