import assert from "node:assert/strict";
import { Hono } from "hono";
import { MemoryRegistryStorage } from "../../storage/memory.ts";
import { RateLimiter } from "../../core/rate_limit.ts";
import { createOpsCore } from "../ops/_stack.ts";
import { type FastAnswer, fastReads } from "./_prepared_reads.ts";
import { makeResponse } from "../ops/_common.ts";

function setup(
  answer: (path: string) => FastAnswer | null,
  limit = 100,
  encodedCacheBytes?: number,
) {
  const ctx = {
    storage: new MemoryRegistryStorage(),
    clock: () => new Date("2026-11-22T00:00:30Z"),
  };
  const general = new RateLimiter(ctx, { name: "ip", limit, mode: "local" });
  const log: string[] = [];
  const ops = createOpsCore({
    key: () => "c1",
    general,
    onLimited: () => new Response("limited", { status: 429 }),
    log: (line) => log.push(line),
  });
  const app = new Hono();
  app.use(ops.middleware);
  let fellBack = 0;
  app.get("/fast/:id", (c) => makeResponse(`hono ${c.req.param("id")}`, 200, {}));
  const fetch = fastReads({
    ops,
    clientKey: () => "c1",
    limits: true,
    match: (_req, path) =>
      path.startsWith("/fast/")
        ? { route: "/fast/:id", answer: () => Promise.resolve(answer(path)) }
        : null,
    ...(encodedCacheBytes === undefined ? {} : { encodedCacheBytes }),
    fallback: (req, env) => {
      fellBack++;
      return app.fetch(req, env);
    },
  });
  return { fetch, log, fellBack: () => fellBack };
}

const text = (body: string) => makeResponse(body, 200, { "content-length": String(body.length) });

Deno.test("fastReads() answers matched requests itself, with the stack's headers and log line", async () => {
  const s = setup((path) => ({ build: () => text(`fast ${path}`) }));
  const res = await s.fetch(new Request("http://x/fast/1", { headers: { "x-request-id": "r1" } }));
  assert.equal(await res.text(), "fast /fast/1");
  assert.equal(res.headers.get("x-ratelimit-remaining"), "99");
  assert.equal(res.headers.get("x-request-id"), "r1");
  assert.equal(s.fellBack(), 0);
  assert.equal(JSON.parse(s.log[0]!).route, "/fast/:id");
  const head = await s.fetch(new Request("http://x/fast/1", { method: "HEAD" }));
  assert.equal(head.body, null);
  assert.equal(head.headers.get("content-length"), "12");
  assert.equal(s.fellBack(), 0);
});

Deno.test("fastReads() hands declined, refused and unmatched requests to the app, counted once", async () => {
  const s = setup((path) => path.endsWith("/no") ? null : { build: () => text("fast") }, 3);
  const declined = await s.fetch(new Request("http://x/fast/no"));
  assert.equal(await declined.text(), "hono no");
  assert.equal(declined.headers.get("x-ratelimit-remaining"), "2", "one hit, not two");
  assert.equal(s.fellBack(), 1);
  const post = await s.fetch(new Request("http://x/fast/1", { method: "POST" }));
  assert.equal(post.status, 404);
  assert.equal(s.fellBack(), 2);
  const encoded = await s.fetch(new Request("http://x/fast/%31"));
  assert.equal(await encoded.text(), "hono 1", "paths that need decoding go to the app");
  const refused = await s.fetch(new Request("http://x/fast/1"));
  assert.equal(refused.status, 429);
  assert.equal(await refused.text(), "limited");
  assert.equal(s.fellBack(), 4);
  assert.equal(s.log.length, 4);
});

Deno.test("fastReads() compresses a keyed answer once for clients that accept it and adds Vary for those that do not", async () => {
  const body = JSON.stringify({ pad: "x".repeat(4000) });
  let built = 0;
  const s = setup(() => ({
    build: () => {
      built++;
      return makeResponse(body, 200, {
        "content-type": "application/json",
        "content-length": String(body.length),
        etag: '"abc"',
      });
    },
    key: "doc abc",
  }));
  for (let i = 0; i < 3; i++) {
    const res = await s.fetch(
      new Request("http://x/fast/1", { headers: { "accept-encoding": "gzip" } }),
    );
    assert.equal(res.headers.get("content-encoding"), "gzip");
    assert.equal(res.headers.get("etag"), 'W/"abc"');
    assert.equal(res.headers.get("vary"), "Accept-Encoding");
    assert.equal(res.headers.get("x-ratelimit-remaining"), String(99 - i));
    const plain = await new Response(res.body!.pipeThrough(new DecompressionStream("gzip"))).text();
    assert.equal(plain, body);
  }
  assert.equal(built, 1, "built and compressed once, then the kept response is cloned");
  const identity = await s.fetch(new Request("http://x/fast/1"));
  assert.equal(identity.headers.get("vary"), "Accept-Encoding");
  assert.equal(identity.headers.get("content-length"), String(body.length));
  assert.equal(await identity.text(), body);
  assert.equal(s.fellBack(), 0);
});

Deno.test("fastReads() keeps no more finished bodies than its byte budget allows", async () => {
  const body = JSON.stringify({ pad: "y".repeat(4000) });
  let built = 0;
  const s = setup(
    () => ({
      build: () => {
        built++;
        return makeResponse(body, 200, {
          "content-type": "application/json",
          "content-length": String(body.length),
        });
      },
      key: "big",
    }),
    100,
    1024,
  );
  for (let i = 0; i < 3; i++) {
    const res = await s.fetch(new Request("http://x/fast/1"));
    assert.equal(await res.text(), body);
    const gz = await s.fetch(
      new Request("http://x/fast/1", { headers: { "accept-encoding": "gzip" } }),
    );
    assert.equal(gz.headers.get("content-encoding"), "gzip");
    await gz.body?.cancel();
  }
  // The 4 KB identity body is over the 1 KiB budget: built for each of its three requests.
  // Its gzip form (a few dozen bytes) fits: built and compressed once, then kept.
  assert.equal(built, 4);
});
