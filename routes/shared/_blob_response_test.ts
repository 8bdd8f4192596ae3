import assert from "node:assert/strict";
import { Hono } from "hono";
import {
  decideRange,
  noneMatchHits,
  parseEntityTags,
  respondWithBlob,
  respondWithJson,
} from "./_blob_response.ts";
import { MemoryBundleStorage } from "../../storage/memory.ts";
import { sha256Hex } from "../../base/digest.ts";

const LAST_MODIFIED = new Date("2026-01-02T03:04:05Z");

/** An app serving one stored blob at `/blob`, counting how often it is opened. */
async function blobApp(bytes: Uint8Array, options: { lastModified?: Date } = {}) {
  const bundles = new MemoryBundleStorage();
  const info = await bundles.put(bytes);
  let opened = 0;
  const app = new Hono();
  app.get("/blob", async (c) => {
    const res = await respondWithBlob(c, {
      open: (range) => {
        opened++;
        return bundles.get(info.sha256, range);
      },
      size: info.size,
      sha256: info.sha256,
      contentType: "application/octet-stream",
      cacheControl: "public, max-age=31536000, immutable",
      extraHeaders: { "access-control-allow-origin": "*" },
      ...options,
    });
    return res ?? c.text("gone", 404);
  });
  return {
    app,
    info,
    opened: () => opened,
    [Symbol.asyncDispose]: () => bundles.close(),
  };
}

const BYTES = new TextEncoder().encode("0123456789abcdefghij"); // 20 bytes

Deno.test("respondWithBlob serves the whole blob with a strong digest ETag and Accept-Ranges", async () => {
  await using t = await blobApp(BYTES);
  const res = await t.app.request("/blob");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("etag"), `"${t.info.sha256}"`);
  assert.equal(res.headers.get("accept-ranges"), "bytes");
  assert.equal(res.headers.get("content-length"), "20");
  assert.equal(res.headers.get("cache-control"), "public, max-age=31536000, immutable");
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
  assert.equal(await res.text(), "0123456789abcdefghij");
});

Deno.test("respondWithBlob answers 304 for a matching If-None-Match, lists, weak tags and a star", async () => {
  await using t = await blobApp(BYTES);
  for (
    const inm of [
      `"${t.info.sha256}"`,
      `"other", W/"${t.info.sha256}"`,
      `W/"${t.info.sha256}"`,
      "*",
    ]
  ) {
    const res = await t.app.request("/blob", { headers: { "if-none-match": inm } });
    assert.equal(res.status, 304, inm);
    assert.equal(res.headers.get("etag"), `"${t.info.sha256}"`);
    assert.equal(res.headers.get("cache-control"), "public, max-age=31536000, immutable");
    assert.equal(res.body, null);
  }
  const miss = await t.app.request("/blob", { headers: { "if-none-match": '"nope"' } });
  assert.equal(miss.status, 200);
  await miss.body?.cancel();
  assert.equal(t.opened(), 1);
});

Deno.test("respondWithBlob honours If-Modified-Since only when no If-None-Match is sent", async () => {
  await using t = await blobApp(BYTES, { lastModified: LAST_MODIFIED });
  const same = await t.app.request("/blob", {
    headers: { "if-modified-since": LAST_MODIFIED.toUTCString() },
  });
  assert.equal(same.status, 304);
  assert.equal(same.headers.get("last-modified"), LAST_MODIFIED.toUTCString());
  const older = await t.app.request("/blob", {
    headers: { "if-modified-since": new Date(LAST_MODIFIED.getTime() - 1000).toUTCString() },
  });
  assert.equal(older.status, 200);
  await older.body?.cancel();
  const both = await t.app.request("/blob", {
    headers: { "if-modified-since": LAST_MODIFIED.toUTCString(), "if-none-match": '"nope"' },
  });
  assert.equal(both.status, 200);
  await both.body?.cancel();
  const garbage = await t.app.request("/blob", { headers: { "if-modified-since": "yesterday" } });
  assert.equal(garbage.status, 200);
  await garbage.body?.cancel();
});

Deno.test("respondWithBlob serves 206 for bytes=a-b, bytes=a- and bytes=-n", async () => {
  await using t = await blobApp(BYTES);
  const cases: [string, string, string][] = [
    ["bytes=2-5", "bytes 2-5/20", "2345"],
    ["bytes=15-", "bytes 15-19/20", "fghij"],
    ["bytes=-3", "bytes 17-19/20", "hij"],
    ["bytes=18-100", "bytes 18-19/20", "ij"],
    ["bytes=-50", "bytes 0-19/20", "0123456789abcdefghij"],
  ];
  for (const [range, contentRange, body] of cases) {
    const res = await t.app.request("/blob", { headers: { range } });
    assert.equal(res.status, 206, range);
    assert.equal(res.headers.get("content-range"), contentRange);
    assert.equal(res.headers.get("content-length"), String(body.length));
    assert.equal(res.headers.get("etag"), `"${t.info.sha256}"`);
    assert.equal(await res.text(), body);
  }
});

Deno.test("respondWithBlob answers 416 with bytes */size for an unsatisfiable range", async () => {
  await using t = await blobApp(BYTES);
  for (const range of ["bytes=20-", "bytes=99-100", "bytes=-0"]) {
    const res = await t.app.request("/blob", { headers: { range } });
    assert.equal(res.status, 416, range);
    assert.equal(res.headers.get("content-range"), "bytes */20");
    assert.equal(await res.text(), "");
  }
  assert.equal(t.opened(), 0);
});

Deno.test("respondWithBlob serves the whole blob for several ranges, other units or bad syntax", async () => {
  await using t = await blobApp(BYTES);
  for (const range of ["bytes=0-1,4-5", "items=0-1", "bytes=5-2", "bytes=abc", "bytes=-"]) {
    const res = await t.app.request("/blob", { headers: { range } });
    assert.equal(res.status, 200, range);
    assert.equal(res.headers.get("content-range"), null);
    assert.equal((await res.text()).length, 20);
  }
});

Deno.test("respondWithBlob applies a range only while If-Range still matches", async () => {
  await using t = await blobApp(BYTES, { lastModified: LAST_MODIFIED });
  const strong = await t.app.request("/blob", {
    headers: { range: "bytes=0-1", "if-range": `"${t.info.sha256}"` },
  });
  assert.equal(strong.status, 206);
  assert.equal(await strong.text(), "01");
  const date = await t.app.request("/blob", {
    headers: { range: "bytes=0-1", "if-range": LAST_MODIFIED.toUTCString() },
  });
  assert.equal(date.status, 206);
  await date.body?.cancel();
  for (const ifRange of ['"stale"', `W/"${t.info.sha256}"`, "Sat, 01 Jan 2000 00:00:00 GMT"]) {
    const res = await t.app.request("/blob", {
      headers: { range: "bytes=0-1", "if-range": ifRange },
    });
    assert.equal(res.status, 200, ifRange);
    assert.equal((await res.text()).length, 20);
  }
});

Deno.test("respondWithBlob answers HEAD with the same headers, no body, and never opens the blob", async () => {
  await using t = await blobApp(BYTES);
  const res = await t.app.request("/blob", { method: "HEAD", headers: { range: "bytes=0-1" } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-length"), "20");
  assert.equal(res.headers.get("etag"), `"${t.info.sha256}"`);
  assert.equal(res.headers.get("accept-ranges"), "bytes");
  assert.equal(res.body, null);
  assert.equal(t.opened(), 0);
});

Deno.test("respondWithBlob answers null when the bytes vanished between stat and open", async () => {
  const bundles = new MemoryBundleStorage();
  try {
    const info = await bundles.put(BYTES);
    await bundles.delete(info.sha256);
    const app = new Hono();
    app.get("/blob", async (c) =>
      (await respondWithBlob(c, {
        open: (range) => bundles.get(info.sha256, range),
        size: info.size,
        sha256: info.sha256,
        contentType: "text/plain",
        cacheControl: "no-cache",
      })) ?? c.text("gone", 404));
    assert.equal((await app.request("/blob")).status, 404);
  } finally {
    await bundles.close();
  }
});

Deno.test("respondWithJson sets a strong ETag from the exact bytes and answers 304 on a match", async () => {
  const app = new Hono();
  const value = { name: "@acme/widget", versions: ["1.0.0"] };
  app.get("/json", (c) => respondWithJson(c, value, { cacheControl: "public, max-age=60" }));
  app.get("/created", (c) => respondWithJson(c, value, { cacheControl: "no-store", status: 201 }));
  const res = await app.request("/json");
  const text = await res.text();
  assert.equal(res.status, 200);
  assert.equal(text, JSON.stringify(value));
  assert.equal(res.headers.get("etag"), `"${sha256Hex(text)}"`);
  assert.equal(res.headers.get("content-length"), String(new TextEncoder().encode(text).length));
  assert.equal(res.headers.get("content-type"), "application/json");
  const again = await app.request("/json", {
    headers: { "if-none-match": res.headers.get("etag")! },
  });
  assert.equal(again.status, 304);
  assert.equal(again.headers.get("etag"), res.headers.get("etag"));
  assert.equal(again.headers.get("cache-control"), "public, max-age=60");
  const head = await app.request("/json", { method: "HEAD" });
  assert.equal(head.headers.get("content-length"), res.headers.get("content-length"));
  assert.equal(head.body, null);
  const created = await app.request("/created", { headers: { "if-none-match": "*" } });
  assert.equal(created.status, 201);
  assert.equal(created.headers.get("etag"), null);
});

Deno.test("entity tag lists parse per RFC 9110 and malformed ones match nothing", () => {
  assert.deepEqual(parseEntityTags(' "a" , W/"b",""'), [
    { weak: false, opaque: "a" },
    { weak: true, opaque: "b" },
    { weak: false, opaque: "" },
  ]);
  assert.equal(parseEntityTags("*"), "*");
  assert.equal(parseEntityTags("a, b"), null);
  assert.equal(noneMatchHits("abc", "abc"), false);
  assert.equal(noneMatchHits('W/"abc"', "abc"), true);
});

Deno.test("decideRange reads one byte range and refuses nothing it cannot serve", () => {
  assert.deepEqual(decideRange("bytes=0-0", 1), { kind: "range", start: 0, end: 0 });
  assert.deepEqual(decideRange("bytes=0-", 0), { kind: "none" });
  assert.deepEqual(decideRange(null, 10), { kind: "none" });
  assert.deepEqual(decideRange("bytes=10-", 10), { kind: "unsatisfiable" });
  assert.deepEqual(decideRange("bytes=99999999999999999999-", 10), { kind: "none" });
});

Deno.test("over a real socket, streamed 200 and 206 keep their Content-Length and HEAD keeps its headers", async () => {
  await using t = await blobApp(BYTES);
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    t.app.fetch,
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  const whole = await fetch(`${base}/blob`);
  assert.equal(whole.headers.get("content-length"), "20");
  assert.equal(whole.headers.get("transfer-encoding"), null);
  assert.equal(await whole.text(), "0123456789abcdefghij");
  const part = await fetch(`${base}/blob`, { headers: { range: "bytes=-4" } });
  assert.equal(part.status, 206);
  assert.equal(part.headers.get("content-length"), "4");
  assert.equal(await part.text(), "ghij");
  const head = await fetch(`${base}/blob`, { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("content-length"), "20");
  assert.equal(head.headers.get("etag"), `"${t.info.sha256}"`);
  assert.equal(await head.text(), "");
  assert.equal(t.opened(), 2);
});

Deno.test("respondWithJson serializes and hashes a frozen value once, and every answer carries the same bytes", async () => {
  let serialized = 0;
  const value = Object.freeze({
    toJSON: () => (serialized++, { versions: { "1.0.0": {} } }),
  });
  const open = { toJSON: () => (serialized++, {}) };
  const app = new Hono();
  app.get("/json", (c) => respondWithJson(c, value, { cacheControl: "public, no-cache" }));
  app.get("/open", (c) => respondWithJson(c, open, { cacheControl: "no-cache" }));
  const first = await app.request("/json");
  const second = await app.request("/json");
  assert.equal(await first.text(), '{"versions":{"1.0.0":{}}}');
  assert.equal(await second.text(), '{"versions":{"1.0.0":{}}}');
  assert.equal(first.headers.get("etag"), second.headers.get("etag"));
  assert.equal(serialized, 1);
  // A value that is not frozen may change between answers: serialized each time.
  await (await app.request("/open")).text();
  await (await app.request("/open")).text();
  assert.equal(serialized, 3);
});
