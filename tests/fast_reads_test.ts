// The prepared-read path for hot reads (routes/shared/_prepared_reads.ts, the ggui rows' `prepared` in routes/ggui/_prepared.ts)
// against the Hono routes it bypasses: two registry apps over the same store,
// one with the fast path and one without, must answer every request the same
// way (status, every header, body bytes), count the same rate-limit budgets,
// record the same metrics and write the same log lines.
import assert from "node:assert/strict";
import { createRegistryApp, type RegistryApp } from "../routes/app.ts";
import type { Authenticator } from "../core/auth.ts";
import type { RegistryContext } from "../core/context.ts";
import { httpRequestDuration, httpResponseBytes } from "../core/metrics.ts";
import { updateRow } from "../core/store.ts";
import type { VersionState } from "../core/rows.ts";
import { versionStateKey } from "../storage/keys.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import { pathOf } from "../routes/shared/_prepared_reads.ts";
import {
  bearer,
  makeGadget,
  makeKey,
  makePublicGadget,
  testSigstoreVerifier,
  tokenMapAuthenticator,
  TOKENS,
} from "./_ggui_fixtures.ts";
import { seenByClient } from "./_app_fixtures.ts";

const NOW = new Date("2026-11-22T03:00:30.000Z");
const CONNECTION = { remoteAddr: { hostname: "192.0.2.7", port: 4000, transport: "tcp" } };
/** The publisher's connection: its requests spend another client's budget. */
const SEEDER = { remoteAddr: { hostname: "192.0.2.99", port: 4000, transport: "tcp" } };

const HOOKS = ["useMap", "useLayers", "useMarkers", "useTiles", "useClusters"];
/** A source large enough to be compressed (over 1 KiB). */
const BIG_SOURCE = 'import React from "react";\n' +
  HOOKS.map((h) => `export function ${h}() { return React; }\n`).join("") + "/*" +
  "abcdefghij".repeat(1024) + "*/\n";
/** A manifest large enough that its read body is over 1 KiB. */
const LONG = {
  description: "An interactive map with layers, markers, clustering and offline tiles.",
  exports: HOOKS.map((hook) => ({
    hook,
    description: `The ${hook} hook of the interactive map, with every option documented at length.`,
    usage: `Call ${hook}() in a gadget`,
    example: { call: `${hook}()` },
  })),
};

/** alice's and bob's tokens, answered at once too (as a configured token is). */
const TOKEN_MAP: Authenticator = (() => {
  const tokens: Record<string, string> = { [TOKENS.alice]: "alice", [TOKENS.bob]: "bob" };
  const map = tokenMapAuthenticator(tokens);
  return {
    authenticate: map.authenticate,
    authenticateNow: (token: string) =>
      Object.hasOwn(tokens, token) ? { subject: tokens[token]!, admin: false } : null,
  };
})();

interface Pair {
  fast: RegistryApp;
  slow: RegistryApp;
  logs: { fast: string[]; slow: string[] };
  stores: RegistryContext[];
}

/**
 * Two apps, with and without the fast path, each over its own store (rate
 * limits fold their counts into the store, so a shared one would mix them).
 */
function apps(
  options: {
    readRateLimitPerMinute?: number;
    authFailuresPerMinute?: number;
    readCacheMs?: number;
  } = {},
  over?: Pair,
): Pair {
  const logs = { fast: [] as string[], slow: [] as string[] };
  const stores: RegistryContext[] = [];
  const make = (fast: boolean) => {
    const ctx: RegistryContext = over?.stores[stores.length] ?? {
      storage: new MemoryRegistryStorage(),
      bundles: new MemoryBundleStorage(),
      clock: () => NOW,
    };
    stores.push(ctx);
    return createRegistryApp({
      storage: ctx.storage,
      bundles: ctx.bundles,
      clock: () => NOW,
      authenticator: TOKEN_MAP,
      sigstore: testSigstoreVerifier,
      bundleHost: "http://registry.test",
      registryHostname: "registry.test",
      // Version reads and bundles are immutable reads: off by default, on here to compare both paths.
      readRateLimitPerMinute: options.readRateLimitPerMinute ?? 1000,
      authFailuresPerMinute: options.authFailuresPerMinute ?? 1000,
      uploadRateLimitPerMinute: 0,
      readCacheMs: options.readCacheMs ?? 0,
      fastReads: fast,
      requestLog: (line: string) => logs[fast ? "fast" : "slow"].push(line),
    });
  };
  return { fast: make(true), slow: make(false), logs, stores };
}

/** The same publishes, by the same key, in both stores; 1.1.0 yanked. */
async function seed(pair: Pair): Promise<void> {
  const key = await makeKey();
  const bodies = [
    await makeGadget(key, { manifest: { ...LONG }, source: BIG_SOURCE }),
    await makeGadget(key, { manifest: { version: "1.1.0" } }),
    makePublicGadget({ manifest: { name: "globe", ...LONG }, source: BIG_SOURCE }),
  ];
  for (const [i, app] of [pair.fast, pair.slow].entries()) {
    const ok = async (res: Response | Promise<Response>) => {
      const r = await res;
      assert.ok(r.status < 300, `${r.status} ${await r.text()}`);
    };
    const post = (path: string, body: unknown) =>
      app.fetch(
        new Request(`http://registry.test${path}`, {
          method: "POST",
          headers: bearer(TOKENS.alice),
          body: JSON.stringify(body),
        }),
        SEEDER,
      );
    await ok(post("/author-keys", { publicKeyBase64: key.publicKeyBase64 }));
    for (const body of bodies) await ok(post("/publish", body));
    await updateRow<VersionState>(
      pair.stores[i]!.storage,
      versionStateKey({ namespace: "@acme", name: "map", version: "1.1.0" }),
      (s) => s && { ...s, yanked: true, yankedAt: "2026-11-22T02:00:00.000Z" },
    );
  }
}

/** Send the same request to both apps; answer what the fast one said, after asserting both agree. */
async function same(
  pair: Pair,
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<Response> {
  const request = () =>
    new Request(`http://registry.test${path}`, {
      method,
      headers: { "x-request-id": "req-1", ...headers },
    });
  const fast = await pair.fast.fetch(request(), CONNECTION);
  const slow = await pair.slow.fetch(request(), CONNECTION);
  const a = await seenByClient(fast.clone());
  const b = await seenByClient(slow);
  assert.deepEqual(a, b, `${method} ${path} ${JSON.stringify(headers)}`);
  return fast;
}

const ALICE = { authorization: `Bearer ${TOKENS.alice}` };
const BOB = { authorization: `Bearer ${TOKENS.bob}` };

Deno.test("pathOf() answers the path of a URL, and null when it needs decoding", () => {
  assert.equal(pathOf("http://registry.test/pkg/acme/map/1.0.0"), "/pkg/acme/map/1.0.0");
  assert.equal(pathOf("http://[::1]:8080/pkg/acme/map?x=1#y"), "/pkg/acme/map");
  assert.equal(pathOf("http://registry.test/pkg/%40acme/map"), null);
  assert.equal(pathOf("http://registry.test"), null);
  // A `%` in the query or the fragment is not the path's.
  assert.equal(pathOf("http://registry.test/a/b?q=%40x"), "/a/b");
  assert.equal(pathOf("http://registry.test/a/b#%40?x"), "/a/b");
  assert.equal(pathOf("http://registry.test/a/b#frag?q=1"), "/a/b");
});

Deno.test("the fast path answers version reads exactly as the Hono routes do", async () => {
  const pair = apps();
  await seed(pair);
  const read = await same(pair, "GET", "/pkg/acme/map/1.0.0", ALICE);
  assert.equal(read.status, 200);
  assert.ok(
    Number(read.headers.get("content-length")) > 1024,
    "the body is large enough to compress",
  );
  assert.equal(read.headers.get("vary"), "Authorization, Accept-Encoding");
  assert.equal(read.headers.get("x-request-id"), "req-1");
  assert.equal(read.headers.get("x-ratelimit-limit"), "1000");
  // Again: now answered from the finished responses kept for it.
  await same(pair, "GET", "/pkg/acme/map/1.0.0", ALICE);
  await same(pair, "GET", "/pkg/@acme/map/1.0.0", ALICE);
  await same(pair, "GET", "/pkg/acme/map/1.0.0?ignored=1", ALICE);
  // A stranger's private read is the same 404 as a miss.
  const stranger = await same(pair, "GET", "/pkg/acme/map/1.0.0", BOB);
  assert.equal(stranger.status, 404);
  const anonymous = await same(pair, "GET", "/pkg/acme/map/1.0.0");
  assert.equal(anonymous.status, 404);
  await same(pair, "GET", "/pkg/acme/nothing/1.0.0", ALICE);
  await same(pair, "GET", "/pkg/acme/map/not-a-version", ALICE);
  // Yanked: 410 with the body.
  assert.equal((await same(pair, "GET", "/pkg/acme/map/1.1.0", ALICE)).status, 410);
  // Public, anonymous.
  assert.equal((await same(pair, "GET", "/pkg/acme/globe/1.0.0")).status, 200);
  // Listings.
  assert.equal((await same(pair, "GET", "/pkg/acme/map", ALICE)).status, 200);
  await same(pair, "GET", "/pkg/acme/map", BOB);
  // HEAD: the same headers, no body.
  const head = await same(pair, "HEAD", "/pkg/acme/map/1.0.0", ALICE);
  assert.equal(head.body, null);
  assert.equal(head.headers.get("content-length"), read.headers.get("content-length"));
  // Conditional: strong and weak forms of the ETag.
  const etag = read.headers.get("etag")!;
  assert.equal(
    (await same(pair, "GET", "/pkg/acme/map/1.0.0", { ...ALICE, "if-none-match": etag })).status,
    304,
  );
  const weak = await same(pair, "GET", "/pkg/acme/map/1.0.0", {
    ...ALICE,
    "if-none-match": `W/${etag}`,
  });
  assert.equal(weak.status, 304);
  assert.equal(weak.headers.get("etag"), `W/${etag}`);
  await same(pair, "GET", "/pkg/acme/map/1.0.0", { ...ALICE, "if-none-match": '"other"' });
  // Paths the fast path leaves to Hono.
  await same(pair, "GET", "/pkg/acme/map/1.0.0/", ALICE);
  await same(pair, "GET", "/pkg/acme//1.0.0", ALICE);
  await same(pair, "GET", "/pkg/%61cme/map/1.0.0", ALICE);
});

Deno.test("the fast path compresses for clients that accept it, exactly as the Hono routes do", async () => {
  const pair = apps();
  await seed(pair);
  for (const encoding of ["gzip", "br", "deflate, gzip;q=0.5"]) {
    for (let i = 0; i < 2; i++) {
      const read = await same(pair, "GET", "/pkg/acme/map/1.0.0", {
        ...ALICE,
        "accept-encoding": encoding,
      });
      assert.equal(read.headers.get("content-encoding"), encoding.split(",")[0]);
      assert.match(read.headers.get("etag")!, /^W\/"/);
      const bundle = await same(pair, "GET", "/bundles/public/@acme/globe/1.0.0/bundle.js", {
        "accept-encoding": encoding,
      });
      assert.equal(bundle.headers.get("content-encoding"), encoding.split(",")[0]);
      assert.equal(bundle.headers.get("accept-ranges"), null);
    }
  }
  const gz = await same(pair, "GET", "/bundles/private/@acme/map/1.0.0/bundle.js", {
    ...ALICE,
    "accept-encoding": "gzip",
  });
  const text = await new Response(gz.body!.pipeThrough(new DecompressionStream("gzip"))).text();
  assert.equal(text, BIG_SOURCE);
  // Small bodies and ranges are never compressed.
  await same(pair, "GET", "/pkg/acme/map/1.1.0", { ...ALICE, "accept-encoding": "gzip" });
  await same(pair, "GET", "/bundles/public/@acme/globe/1.0.0/bundle.js", {
    "accept-encoding": "gzip",
    range: "bytes=0-99",
  });
});

Deno.test("on both paths a HEAD carries the identity GET's headers, a 304 its 200's Vary, and a 410 ignores If-None-Match", async () => {
  const pair = apps();
  await seed(pair);
  // Every header but the budget left, which each request spends.
  const headersOf = (r: Response) =>
    [...r.headers].filter(([k]) => k !== "x-ratelimit-remaining").sort();
  const reads: [string, Record<string, string>][] = [
    ["/pkg/acme/map/1.0.0", ALICE],
    ["/pkg/acme/map", ALICE],
    ["/pkg/acme/globe/1.0.0", {}],
    ["/bundles/public/@acme/globe/1.0.0/bundle.js", {}],
    ["/bundles/private/@acme/map/1.0.0/bundle.js", ALICE],
    ["/bundles/public/@acme/globe/1.0.0/manifest.json", {}],
    ["/search?q=globe", {}],
    ["/healthz", {}],
  ];
  let compressedHeads = 0;
  for (const [path, auth] of reads) {
    for (const encoding of [undefined, "gzip", "br"]) {
      const h = { ...auth, ...(encoding ? { "accept-encoding": encoding } : {}) };
      const get = await same(pair, "GET", path, h);
      await get.body?.cancel();
      const identity = await same(pair, "GET", path, auth);
      await identity.body?.cancel();
      // A HEAD describes the identity representation whatever the client
      // accepts: its exact length, and the Vary every GET carries. (A
      // compressed length is known only by compressing, and a HEAD without a
      // length goes out from Deno.serve as `Content-Length: 0`.)
      const head = await same(pair, "HEAD", path, h);
      const what = `${path} ${encoding ?? "identity"}`;
      assert.equal(head.body, null, what);
      assert.deepEqual(headersOf(head), headersOf(identity), what);
      assert.equal(head.headers.get("vary"), get.headers.get("vary"), what);
      assert.ok(Number(head.headers.get("content-length")) > 0, what);
      if (get.headers.has("content-encoding")) {
        compressedHeads++;
        assert.ok(Number(get.headers.get("content-length")) > 0, `${what}: compressed length`);
      }
      const etag = get.headers.get("etag");
      if (etag === null || get.status !== 200) continue;
      const notModified = await same(pair, "GET", path, { ...h, "if-none-match": etag });
      assert.equal(notModified.status, 304, what);
      assert.equal(notModified.headers.get("vary"), get.headers.get("vary"), what);
    }
  }
  assert.ok(compressedHeads >= 4, "some of the reads are large enough to compress");
  // A HEAD first leaves nothing a later GET would answer without its body.
  const fresh = apps();
  await seed(fresh);
  for (const [path, auth] of reads) {
    for (const encoding of [undefined, "gzip"]) {
      const h = { ...auth, ...(encoding ? { "accept-encoding": encoding } : {}) };
      await same(fresh, "HEAD", path, h);
      const get = await same(fresh, "GET", path, h);
      assert.ok((await get.bytes()).byteLength > 0, `${path} ${encoding ?? "identity"}`);
    }
  }
  const yanked = await same(pair, "GET", "/pkg/acme/map/1.1.0", ALICE);
  assert.equal(yanked.status, 410);
  for (const tag of [yanked.headers.get("etag")!, "*"]) {
    const again = await same(pair, "GET", "/pkg/acme/map/1.1.0", {
      ...ALICE,
      "if-none-match": tag,
    });
    assert.equal(again.status, 410, tag);
    assert.deepEqual(await again.json(), await yanked.clone().json());
  }
});

Deno.test("on both paths versions and their files are dated by their publication and answer If-Modified-Since", async () => {
  const pair = apps();
  await seed(pair);
  const dated = [
    ["/pkg/acme/map/1.0.0", ALICE],
    ["/bundles/private/@acme/map/1.0.0/bundle.js", ALICE],
    ["/bundles/public/@acme/globe/1.0.0/manifest.json", {}],
  ] as const;
  for (const [path, auth] of dated) {
    const read = await same(pair, "GET", path, auth);
    const lastModified = read.headers.get("last-modified")!;
    assert.equal(lastModified, NOW.toUTCString(), path);
    await read.body?.cancel();
    for (const [since, status] of [[NOW, 304], [new Date(NOW.getTime() - 1000), 200]] as const) {
      const res = await same(pair, "GET", path, {
        ...auth,
        "if-modified-since": since.toUTCString(),
      });
      assert.equal(res.status, status, `${path} since ${since.toUTCString()}`);
      await res.body?.cancel();
    }
    // If-None-Match wins over If-Modified-Since.
    const other = await same(pair, "GET", path, {
      ...auth,
      "if-none-match": '"other"',
      "if-modified-since": NOW.toUTCString(),
    });
    assert.equal(other.status, 200, path);
    await other.body?.cancel();
  }
  // Listings carry no date; a stranger's dated request is the same miss.
  const listing = await same(pair, "GET", "/pkg/acme/map", ALICE);
  assert.equal(listing.headers.get("last-modified"), null);
  await listing.body?.cancel();
  for (const path of ["/pkg/acme/map/1.0.0", "/bundles/private/@acme/map/1.0.0/bundle.js"]) {
    const stranger = await same(pair, "GET", path, {
      ...BOB,
      "if-modified-since": NOW.toUTCString(),
    });
    assert.equal(stranger.status, 404, path);
    assert.equal(stranger.headers.get("last-modified"), null, path);
    await stranger.body?.cancel();
  }
});

Deno.test("over a real socket a HEAD of a compressible read carries the identity length, never 0", async () => {
  const pair = apps();
  await seed(pair);
  for (const app of [pair.fast, pair.slow]) {
    await using server = Deno.serve(
      { port: 0, hostname: "127.0.0.1", onListen: () => {} },
      (req, info) => app.fetch(req, info),
    );
    const base = `http://127.0.0.1:${server.addr.port}`;
    for (
      const [path, auth] of [
        ["/pkg/acme/map/1.0.0", ALICE],
        ["/bundles/public/@acme/globe/1.0.0/bundle.js", {}],
      ] as const
    ) {
      const identity = await fetch(`${base}${path}`, { headers: auth });
      const length = (await identity.bytes()).byteLength;
      assert.ok(length > 1024, path);
      for (const encoding of ["gzip", "br"]) {
        const head = await fetch(`${base}${path}`, {
          method: "HEAD",
          headers: { ...auth, "accept-encoding": encoding },
        });
        await head.body?.cancel();
        assert.equal(head.headers.get("content-length"), String(length), `${path} ${encoding}`);
        assert.equal(head.headers.get("content-encoding"), null);
        assert.match(head.headers.get("vary") ?? "", /Accept-Encoding/);
      }
    }
  }
});

Deno.test("the fast path answers bundle files exactly as the Hono routes do", async () => {
  const pair = apps();
  await seed(pair);
  for (let i = 0; i < 2; i++) {
    const pub = await same(pair, "GET", "/bundles/public/@acme/globe/1.0.0/bundle.js");
    assert.equal(pub.status, 200);
    assert.equal(pub.headers.get("access-control-allow-origin"), "*");
    assert.equal(await pub.text(), BIG_SOURCE);
    const priv = await same(pair, "GET", "/bundles/private/@acme/map/1.0.0/bundle.js", ALICE);
    assert.equal(priv.headers.get("cache-control"), "private, max-age=31536000, immutable");
    assert.equal(priv.headers.get("access-control-allow-origin"), null);
  }
  await same(pair, "GET", "/bundles/public/@acme/globe/1.0.0/bundle.js.sig");
  await same(pair, "GET", "/bundles/public/@acme/globe/1.0.0/manifest.json");
  await same(pair, "GET", "/bundles/private/@acme/map/1.0.0/manifest.json", ALICE);
  // Misses, strangers, the wrong prefix, no token (401, counted as a failed authentication).
  await same(pair, "GET", "/bundles/public/@acme/map/1.0.0/bundle.js");
  await same(pair, "GET", "/bundles/private/@acme/map/1.0.0/bundle.js", BOB);
  await same(pair, "GET", "/bundles/private/@acme/globe/1.0.0/bundle.js", ALICE);
  assert.equal((await same(pair, "GET", "/bundles/private/@acme/map/1.0.0/bundle.js")).status, 401);
  await same(pair, "GET", "/bundles/public/@acme/globe/1.0.0/other.js");
  assert.equal(
    (await same(pair, "GET", "/bundles/public/@acme/globe/1.0.0/bundle.jsx")).status,
    404,
  );
  const sig = await same(pair, "GET", "/bundles/public/@acme/globe/1.0.0/bundle.js.sig");
  assert.equal(
    sig.headers.get("content-type"),
    "application/json",
    "the signature, not the bundle",
  );
  // HEAD, conditional, ranges.
  const head = await same(pair, "HEAD", "/bundles/public/@acme/globe/1.0.0/bundle.js");
  assert.equal(head.headers.get("content-length"), String(BIG_SOURCE.length));
  const etag = head.headers.get("etag")!;
  const cached = await same(pair, "GET", "/bundles/public/@acme/globe/1.0.0/bundle.js", {
    "if-none-match": etag,
  });
  assert.equal(cached.status, 304);
  const part = await same(pair, "GET", "/bundles/public/@acme/globe/1.0.0/bundle.js", {
    range: "bytes=10-19",
  });
  assert.equal(part.status, 206);
  assert.equal(await part.text(), BIG_SOURCE.slice(10, 20));
  await same(pair, "GET", "/bundles/public/@acme/globe/1.0.0/bundle.js", { range: "bytes=-5" });
  await same(pair, "GET", "/bundles/public/@acme/globe/1.0.0/bundle.js", {
    range: "bytes=999999-",
  });
  await same(pair, "GET", "/bundles/private/@acme/map/1.0.0/bundle.js", {
    ...ALICE,
    range: "bytes=0-0",
    "if-range": etag,
  });
});

Deno.test("the fast path spends the same rate-limit budgets and refuses with the same 429", async () => {
  const seeded = apps();
  await seed(seeded);
  // Fresh limiters over the seeded stores.
  const general = apps({ readRateLimitPerMinute: 2 }, seeded);
  assert.equal((await same(general, "GET", "/pkg/acme/map/1.0.0", ALICE)).status, 200);
  const last = await same(general, "GET", "/bundles/public/@acme/globe/1.0.0/bundle.js");
  assert.equal(last.headers.get("x-ratelimit-remaining"), "0");
  const refused = await same(general, "GET", "/pkg/acme/map/1.0.0", ALICE);
  assert.equal(refused.status, 429);
  assert.equal(refused.headers.get("retry-after"), "30");
  await same(general, "HEAD", "/bundles/public/@acme/globe/1.0.0/bundle.js");

  const failures = apps({ authFailuresPerMinute: 1 }, seeded);
  const denied = await same(failures, "GET", "/bundles/private/@acme/map/1.0.0/bundle.js");
  assert.equal(denied.status, 401);
  const after = await same(failures, "GET", "/pkg/acme/globe/1.0.0");
  assert.equal(after.status, 429, "one failed authentication spends the budget on both");
  assert.equal(after.headers.get("ratelimit-policy"), '"authfail";q=1;w=60');

  // A /pkg read with a bearer that is not valid answers as to anyone, and
  // spends the failed-authentication budget: reads cannot test tokens freely.
  const reseeded = apps();
  await seed(reseeded);
  const guesses = apps({ authFailuresPerMinute: 2 }, reseeded);
  for (const path of ["/pkg/acme/map/1.0.0", "/pkg/acme/map"]) {
    const guess = await same(guesses, "GET", path, { authorization: "Bearer guess" });
    assert.equal(guess.status, 404, path);
  }
  const locked = await same(guesses, "GET", "/pkg/acme/map/1.0.0", ALICE);
  assert.equal(locked.status, 429, "two wrong bearers lock the client out, valid token or not");
});

Deno.test("fast-path requests are recorded in the latency histogram, bytes served and the request log", async () => {
  const pair = apps();
  await seed(pair);
  pair.logs.fast.length = 0;
  pair.logs.slow.length = 0;
  const route = "/pkg/:scope/:name/:version";
  const labels = { method: "GET", route, status_code: "200" };
  const bundleRoute =
    "/bundles/public/:scope/:name/:version/:file{(?:bundle\\.js|bundle\\.js\\.sig|manifest\\.json)$}";
  const observed = () => httpRequestDuration.count(labels);
  const bytes = () => httpResponseBytes.get({ route });
  const bundleBytes = () => httpResponseBytes.get({ route: bundleRoute });
  const [count0, bytes0, bundle0] = [observed(), bytes(), bundleBytes()];
  const fast = await pair.fast.fetch(
    new Request("http://registry.test/pkg/acme/map/1.0.0", { headers: ALICE }),
    CONNECTION,
  );
  const length = Number(fast.headers.get("content-length"));
  assert.equal(observed(), count0 + 1);
  assert.equal(bytes(), bytes0 + length);
  await pair.slow.fetch(
    new Request("http://registry.test/pkg/acme/map/1.0.0", { headers: ALICE }),
    CONNECTION,
  );
  assert.equal(observed(), count0 + 2, "the Hono route records under the same labels");
  assert.equal(bytes(), bytes0 + 2 * length);
  for (const app of [pair.fast, pair.slow]) {
    await app.fetch(
      new Request("http://registry.test/bundles/public/@acme/globe/1.0.0/bundle.js"),
      CONNECTION,
    );
  }
  assert.equal(bundleBytes(), bundle0 + 2 * BIG_SOURCE.length);
  // Compressed answers count their compressed bytes, on both paths.
  const before = bytes();
  const gz = await same(pair, "GET", "/pkg/acme/map/1.0.0", {
    ...ALICE,
    "accept-encoding": "gzip",
  });
  const gzLength = (await gz.bytes()).byteLength;
  assert.ok(gzLength > 0 && gzLength < length);
  assert.equal(bytes(), before + 2 * gzLength);
  await same(pair, "HEAD", "/pkg/acme/map/1.0.0", ALICE);
  await same(pair, "GET", "/pkg/acme/map/1.0.0", { ...ALICE, "accept-encoding": "gzip" });
  await same(pair, "GET", "/bundles/private/@acme/map/1.0.0/bundle.js");
  const strip = (line: string) => {
    const { time, durationMs, requestId, ...rest } = JSON.parse(line);
    assert.match(time, /^\d{4}-\d\d-\d\dT/);
    assert.equal(typeof durationMs, "number");
    assert.equal(typeof requestId, "string");
    return rest;
  };
  assert.equal(pair.logs.fast.length, 6);
  assert.deepEqual(pair.logs.fast.map(strip), pair.logs.slow.map(strip));
  assert.deepEqual(strip(pair.logs.fast[0]!), {
    level: "info",
    method: "GET",
    route,
    status: 200,
    bytes: length,
    subject: "alice",
  });
  // The private bundle fetched without a token (a 401) names nobody; no line holds a token.
  assert.equal(strip(pair.logs.fast[5]!).subject, undefined);
  for (const line of [...pair.logs.fast, ...pair.logs.slow]) {
    assert.ok(!line.includes(ALICE.authorization!.slice("Bearer ".length)), line);
  }
});

Deno.test("with rows in the read cache, hot reads are answered without a promise and still identically", async () => {
  // A long read-cache TTL: rows stay in memory for the whole test, as on a busy server.
  const pair = apps({ readCacheMs: 60_000 });
  await seed(pair);
  const cases: [string, string, Record<string, string>][] = [
    ["GET", "/pkg/acme/map/1.0.0", ALICE],
    ["GET", "/pkg/acme/map/1.0.0", BOB],
    ["GET", "/pkg/acme/map/1.1.0", ALICE],
    ["GET", "/pkg/acme/globe/1.0.0", {}],
    ["GET", "/pkg/acme/map/1.0.0", { ...ALICE, "accept-encoding": "gzip" }],
    ["HEAD", "/pkg/acme/map/1.0.0", ALICE],
    ["GET", "/bundles/private/@acme/map/1.0.0/bundle.js", ALICE],
    ["GET", "/bundles/private/@acme/map/1.0.0/bundle.js", { ...ALICE, "accept-encoding": "br" }],
    ["GET", "/bundles/public/@acme/globe/1.0.0/bundle.js", {}],
    ["GET", "/bundles/public/@acme/globe/1.0.0/bundle.js", { range: "bytes=0-9" }],
    // The listing: a reader, a stranger to the private package, a missing one.
    ["GET", "/pkg/acme/map", ALICE],
    ["GET", "/pkg/acme/map", BOB],
    ["GET", "/pkg/acme/map", {}],
    ["GET", "/pkg/acme/nothing", {}],
    ["GET", "/pkg/acme/globe", {}],
    ["GET", "/pkg/acme/globe", { "accept-encoding": "gzip" }],
    ["HEAD", "/pkg/acme/map", ALICE],
  ];
  for (let round = 0; round < 3; round++) {
    for (const [method, path, headers] of cases) await same(pair, method, path, headers);
  }
  // Warm now: a version read and a bundle come back as responses, not promises.
  const direct = (path: string, headers: Record<string, string>) =>
    pair.fast.fetch(
      new Request(`http://registry.test${path}`, { headers: { "x-request-id": "r", ...headers } }),
      CONNECTION,
    );
  const read = direct("/pkg/acme/map/1.0.0", ALICE);
  assert.ok(read instanceof Response, "a version read answered at once");
  assert.equal(read.status, 200);
  const bundle = direct("/bundles/private/@acme/map/1.0.0/bundle.js", ALICE);
  assert.ok(bundle instanceof Response, "a bundle answered at once");
  assert.equal(await bundle.text(), BIG_SOURCE);
  const stranger = await direct("/pkg/acme/map/1.0.0", BOB);
  assert.equal(stranger.status, 404);
  const listing = direct("/pkg/acme/map", ALICE);
  assert.ok(listing instanceof Response, "a reader's listing answered at once");
  assert.equal(listing.status, 200);
  // A stranger's private listing and a missing one answer alike, by the same path.
  const hidden = await direct("/pkg/acme/map", BOB);
  const missing = await direct("/pkg/acme/nothing", BOB);
  assert.equal(hidden.status, 404);
  assert.equal(missing.status, hidden.status);
  assert.equal(
    (await hidden.text()).replaceAll("map", "X"),
    (await missing.text()).replaceAll("nothing", "X"),
  );
});

/** GET `path` on a kept-alive connection; the status line and the body (by Content-Length). */
async function rawGet(
  conn: Deno.TcpConn,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: string; body: string }> {
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
  await conn.write(new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nHost: x\r\n${lines}\r\n`));
  const buf = new Uint8Array(65536);
  let text = "";
  while (true) {
    const end = text.indexOf("\r\n\r\n");
    const length = Number(/content-length: (\d+)/i.exec(text)?.[1] ?? NaN);
    if (end >= 0 && text.length - end - 4 >= length) {
      return { status: text.slice(0, text.indexOf("\r\n")), body: text.slice(end + 4) };
    }
    const n = await conn.read(buf);
    if (n === null) throw new Error(`closed after: ${text}`);
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
}

Deno.test("over a real socket, warm hot reads never make the request's Headers", async () => {
  const pair = apps({ readCacheMs: 60_000 });
  await seed(pair);
  await using server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    (req, info) => pair.fast.fetch(req, info),
  );
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  const reads: [string, Record<string, string>][] = [
    ["/pkg/acme/map/1.0.0", ALICE],
    ["/pkg/acme/map", ALICE],
    ["/bundles/private/@acme/map/1.0.0/bundle.js", ALICE],
    ["/bundles/public/@acme/globe/1.0.0/bundle.js", {}],
  ];
  // The runtime makes a request's Headers (and copies every header of it)
  // once anything reads `req.headers`: count the reads.
  const getter = Object.getOwnPropertyDescriptor(Request.prototype, "headers")!.get!;
  let made = 0;
  try {
    const first: string[] = [];
    for (const [path, headers] of reads) {
      const res = await rawGet(conn, path, headers);
      assert.match(res.status, / 200 /, path);
      first.push(res.body);
    }
    Object.defineProperty(Request.prototype, "headers", {
      get() {
        made++;
        return getter.call(this);
      },
      configurable: true,
    });
    for (let round = 0; round < 5; round++) {
      for (const [i, [path, headers]] of reads.entries()) {
        const res = await rawGet(conn, path, headers);
        assert.match(res.status, / 200 /, path);
        assert.equal(res.body, first[i], path);
      }
    }
  } finally {
    Object.defineProperty(Request.prototype, "headers", { get: getter, configurable: true });
    conn.close();
  }
  assert.equal(made, 0, `req.headers read ${made} times over 20 warm reads`);
});
