import assert from "node:assert/strict";
import { Hono } from "hono";
import { canEncode, compress, isCompressible, negotiateEncoding } from "./_compress.ts";
import { respondWithBlob, respondWithJson } from "../shared/_blob_response.ts";
import { sha256Hex } from "../../base/digest.ts";

const BIG = {
  versions: Array.from({ length: 200 }, (_, i) => ({ version: `1.0.${i}`, yanked: false })),
};
const BIG_TEXT = JSON.stringify(BIG);
const BIG_SHA = sha256Hex(BIG_TEXT);
const PNG = new Uint8Array(4096).fill(7);

function compressedApp() {
  const app = new Hono();
  app.use(compress());
  app.get("/big", (c) =>
    respondWithJson(c, BIG, {
      cacheControl: "private, no-cache",
      headers: { vary: "Authorization" },
    }));
  app.get("/small", (c) => respondWithJson(c, { ok: true }, { cacheControl: "no-cache" }));
  app.get("/stream", () =>
    new Response(new Blob([BIG_TEXT]).stream(), {
      headers: { "content-type": "application/json; charset=utf-8" },
    }));
  app.get(
    "/png",
    () => new Response(PNG, { headers: { "content-type": "image/png", "content-length": "4096" } }),
  );
  app.get(
    "/octets",
    () => new Response(PNG, { headers: { "content-type": "application/octet-stream" } }),
  );
  app.get(
    "/encoded",
    () =>
      new Response(BIG_TEXT, {
        headers: { "content-type": "application/json", "content-encoding": "identity" },
      }),
  );
  app.get(
    "/no-transform",
    () =>
      new Response(BIG_TEXT, {
        headers: { "content-type": "text/plain", "cache-control": "no-transform" },
      }),
  );
  app.get("/blob", async (c) =>
    (await respondWithBlob(c, {
      open: (range) =>
        Promise.resolve({
          size: BIG_TEXT.length,
          sha256: BIG_SHA,
          stream: new Blob([BIG_TEXT.slice(range?.start ?? 0, range?.end)]).stream(),
        }),
      size: BIG_TEXT.length,
      sha256: BIG_SHA,
      contentType: "application/json",
      cacheControl: "public, max-age=60",
    }))!);
  return app;
}

async function decode(res: Response, format: CompressionFormat): Promise<string> {
  return await new Response(res.body!.pipeThrough(new DecompressionStream(format))).text();
}

Deno.test("compress gzips JSON over 1 KiB, sets the compressed Content-Length, merges Vary and weakens the ETag", async () => {
  const res = await compressedApp().request("/big", { headers: { "accept-encoding": "gzip" } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-encoding"), "gzip");
  const length = Number(res.headers.get("content-length"));
  assert.equal(length, (await res.clone().bytes()).byteLength);
  assert.ok(length < BIG_TEXT.length);
  assert.equal(res.headers.get("vary"), "Authorization, Accept-Encoding");
  assert.equal(res.headers.get("etag"), `W/"${BIG_SHA}"`);
  assert.equal(res.headers.get("cache-control"), "private, no-cache");
  assert.equal(await decode(res, "gzip"), BIG_TEXT);
});

Deno.test("compress picks br when the runtime has brotli and the client weighs it highest", async () => {
  const app = compressedApp();
  const br = await app.request("/big", { headers: { "accept-encoding": "gzip, deflate, br" } });
  if (canEncode("br")) {
    assert.equal(br.headers.get("content-encoding"), "br");
    assert.equal(await decode(br, "brotli" as CompressionFormat), BIG_TEXT);
  } else {
    assert.equal(br.headers.get("content-encoding"), "gzip");
    await br.body?.cancel();
  }
  const weighted = await app.request("/big", { headers: { "accept-encoding": "br;q=0.5, gzip" } });
  assert.equal(weighted.headers.get("content-encoding"), "gzip");
  await weighted.body?.cancel();
  const deflate = await app.request("/big", { headers: { "accept-encoding": "deflate, br;q=0" } });
  assert.equal(deflate.headers.get("content-encoding"), "deflate");
  assert.equal(await decode(deflate, "deflate"), BIG_TEXT);
});

Deno.test("compress compresses a JSON stream of unknown length", async () => {
  const res = await compressedApp().request("/stream", { headers: { "accept-encoding": "gzip" } });
  assert.equal(res.headers.get("content-encoding"), "gzip");
  assert.equal(await decode(res, "gzip"), BIG_TEXT);
});

Deno.test("compress leaves small, binary, encoded, no-transform and ranged responses alone", async () => {
  const app = compressedApp();
  const headers = { "accept-encoding": "gzip, br" };
  for (const path of ["/small", "/png", "/octets", "/encoded", "/no-transform"]) {
    const res = await app.request(path, { headers });
    assert.notEqual(res.headers.get("content-encoding"), "gzip", path);
    assert.notEqual(res.headers.get("content-encoding"), "br", path);
    await res.body?.cancel();
  }
  const ranged = await app.request("/blob", { headers: { ...headers, range: "bytes=0-9" } });
  assert.equal(ranged.status, 206);
  assert.equal(ranged.headers.get("content-encoding"), null);
  assert.equal(await ranged.text(), BIG_TEXT.slice(0, 10));
  const whole = await app.request("/blob", { headers });
  assert.ok(whole.headers.get("content-encoding"));
  assert.equal(whole.headers.get("accept-ranges"), null);
  await whole.body?.cancel();
});

Deno.test("compress answers a HEAD with the identity headers and the GET's Vary, and says Vary even to a client that accepts no coding", async () => {
  const app = compressedApp();
  const identity = await app.request("/big");
  await identity.body?.cancel();
  for (const encoding of ["gzip", "identity"]) {
    const headers = { "accept-encoding": encoding };
    const head = await app.request("/big", { method: "HEAD", headers });
    assert.equal(head.body, null);
    assert.deepEqual([...head.headers], [...identity.headers], encoding);
  }
  const head = await app.request("/big", { method: "HEAD" });
  assert.equal(head.headers.get("content-encoding"), null);
  assert.equal(head.headers.get("content-length"), String(BIG_TEXT.length));
  const plain = await app.request("/big");
  assert.equal(plain.headers.get("content-encoding"), null);
  assert.equal(plain.headers.get("vary"), "Authorization, Accept-Encoding");
  assert.equal(plain.headers.get("etag"), `"${BIG_SHA}"`);
  assert.equal(await plain.text(), BIG_TEXT);
});

Deno.test("a 304 for the weak compressed ETag echoes the weak form and has no body", async () => {
  const app = compressedApp();
  const first = await app.request("/big", { headers: { "accept-encoding": "gzip" } });
  const etag = first.headers.get("etag")!;
  await first.body?.cancel();
  const again = await app.request("/big", {
    headers: { "accept-encoding": "gzip", "if-none-match": etag },
  });
  assert.equal(again.status, 304);
  assert.equal(again.headers.get("etag"), etag);
  assert.equal(again.headers.get("content-encoding"), null);
  assert.equal(again.body, null);
  const strong = await app.request("/big", { headers: { "if-none-match": `"${BIG_SHA}"` } });
  assert.equal(strong.status, 304);
  assert.equal(strong.headers.get("etag"), `"${BIG_SHA}"`);
});

Deno.test("negotiateEncoding follows client weights, the star and our order", () => {
  const ours = ["br", "gzip", "deflate"] as const;
  assert.equal(negotiateEncoding(null, ours), null);
  assert.equal(negotiateEncoding("identity", ours), null);
  assert.equal(negotiateEncoding("gzip;q=0.2, deflate;q=0.9", ours), "deflate");
  assert.equal(negotiateEncoding("*", ours), "br");
  assert.equal(negotiateEncoding("*;q=0.1, gzip;q=0", ["gzip", "deflate"]), "deflate");
  assert.equal(negotiateEncoding("GZIP", ours), "gzip");
});

Deno.test("isCompressible accepts JSON, text and JavaScript and refuses binary types", () => {
  for (
    const t of [
      "application/json",
      "text/plain; charset=utf-8",
      "application/javascript",
      "application/manifest+json",
      "image/svg+xml",
    ]
  ) {
    assert.ok(isCompressible(t), t);
  }
  for (
    const t of [
      "image/png",
      "application/gzip",
      "application/octet-stream",
      "text/event-stream",
      "application/zip",
    ]
  ) {
    assert.ok(!isCompressible(t), t);
  }
  assert.ok(!isCompressible(null));
});

Deno.test("compress streams an NDJSON body of unknown length without waiting for its end", async () => {
  const app = new Hono();
  app.use(compress());
  let feed!: ReadableStreamDefaultController<Uint8Array>;
  app.get("/feed", () =>
    new Response(
      new ReadableStream<Uint8Array>({
        start(controller) {
          feed = controller;
        },
      }),
      { headers: { "content-type": "application/x-ndjson" } },
    ));
  // The response arrives while the body is still open: nothing was buffered.
  const res = await app.request("/feed", { headers: { "accept-encoding": "gzip" } });
  assert.equal(res.headers.get("content-encoding"), "gzip");
  for (let n = 1; n <= 3; n++) feed.enqueue(new TextEncoder().encode(`{"n":${n}}\n`));
  feed.close();
  assert.equal(await decode(res, "gzip"), '{"n":1}\n{"n":2}\n{"n":3}\n');
});
