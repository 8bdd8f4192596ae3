// JSR's three hot reads (`meta.json`, `<version>_meta.json`, a file) in the
// server's default configuration, a JSR upstream in front (`--jsr-upstream`
// defaults to jsr.io): for a package this registry holds they are answered by
// the prepared-read path, at once, byte for byte and header for header as the
// full stack answers them; everything the prepared path does not find at once
// (a stranger's private read, a missing one, a namespace we do not own) goes
// on to the full stack, so the upstream's semantics are unchanged.
import assert from "node:assert/strict";
import { fixedRackAuth, parseAuthConfig } from "../core/rack/auth.ts";
import { CachingRegistryStorage } from "../core/read_cache.ts";
import type { RegistryApp } from "../routes/app.ts";
import { createJsrRoutes, jsrRouteTable } from "../routes/jsr/mod.ts";
import { preparedMatcher } from "../routes/shared/_route_table.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import { publish, registry, startUpstream, TOKEN } from "./_jsr_upstream_fixtures.ts";
import { everyShapeFromBoth, seenByClient } from "./_app_fixtures.ts";

const NOW = new Date("2026-11-22T03:00:30.000Z");
const CONNECTION = { remoteAddr: { hostname: "192.0.2.7", port: 4000, transport: "tcp" } };
const ALICE = "tok-alice";
/** `@pub` is declared public in auth.json; other namespaces are private (the default). */
const AUTH_JSON = JSON.stringify({ "@pub": [] });
/** A file large enough to be compressed (over 1 KiB). */
const BIG = "export const words = [\n" + '  "registry",\n'.repeat(200) + "];\n";

/** Who the tokens are, known at once (as configured tokens are). */
function principal(token: string) {
  return token === TOKEN
    ? { subject: "root", admin: true }
    : token === ALICE
    ? { subject: "alice", admin: false }
    : null;
}

interface Pair {
  fast: RegistryApp;
  slow: RegistryApp;
}

/** Two registries over equal stores in front of one upstream: prepared reads on, and off. */
async function pairOver(upstream: string): Promise<Pair> {
  const make = async (fast: boolean) => {
    const { app } = registry({
      clock: () => NOW,
      upstream,
      extra: {
        jsrVisibility: "private",
        rackAuth: fixedRackAuth(parseAuthConfig(AUTH_JSON, { adminToken: "admin" }).auth),
        authenticator: {
          authenticate: (t: string) => Promise.resolve(principal(t)),
          authenticateNow: principal,
        },
        // A long TTL: rows stay in memory for the whole test, as on a busy server.
        readCacheMs: 600_000,
        blobCacheBytes: 1024 * 1024,
        fastReads: fast,
      },
    });
    await publish(app, "pub/greet/1.0.0", { "big.ts": BIG });
    await publish(app, "acme/greet/1.0.0", { "big.ts": BIG });
    return app;
  };
  return { fast: await make(true), slow: await make(false) };
}

function request(path: string, headers: Record<string, string> = {}, method = "GET") {
  return new Request(`http://registry.test${path}`, {
    method,
    headers: { "x-request-id": "req-1", ...headers },
  });
}

const ROOT = { authorization: `Bearer ${TOKEN}` };
const READER = { authorization: `Bearer ${ALICE}` };

/** The three hot reads of a package, with who reads them. */
const HOT: [string, Record<string, string>][] = [
  ["/@pub/greet/meta.json", {}],
  ["/@pub/greet/1.0.0_meta.json", {}],
  ["/@pub/greet/1.0.0/mod.ts", {}],
  ["/@pub/greet/1.0.0/big.ts", {}],
  ["/@pub/greet/1.0.0/big.ts", READER],
  ["/@acme/greet/meta.json", ROOT],
  ["/@acme/greet/1.0.0_meta.json", ROOT],
  ["/@acme/greet/1.0.0/big.ts", ROOT],
];

Deno.test("with a JSR upstream in front, the three hot JSR reads of a package we hold answer at once from the prepared path, as the full stack does", async () => {
  await using upstream = startUpstream();
  const pair = await pairOver(upstream.url);
  for (const [path, who] of HOT) {
    const plain = await everyShapeFromBoth(pair, path, who);
    assert.equal(plain.status, 200, path);
  }
  for (const [path, who] of HOT) {
    for (const shape of [{}, { "accept-encoding": "gzip, br" }] as Record<string, string>[]) {
      const headers = { ...who, ...shape };
      // Rows and the answer prepared: no promise, no hand-off to Hono.
      const res = pair.fast.fetch(request(path, headers), CONNECTION);
      assert.ok(res instanceof Response, `${path} ${JSON.stringify(headers)} answers at once`);
      const slow = await pair.slow.fetch(request(path, headers), CONNECTION);
      assert.deepEqual(await seenByClient(res), await seenByClient(slow), path);
    }
  }
  assert.equal(upstream.seen.join(" "), "", "nothing we hold is asked of the upstream");
});

Deno.test("with a JSR upstream in front, what the prepared path does not hold goes on: a stranger's private read as a missing one, other namespaces to the upstream", async () => {
  await using upstream = startUpstream();
  await publish(upstream.app, "std/assert/1.0.0");
  const pair = await pairOver(upstream.url);
  const hidden = [
    ["/@acme/greet/meta.json", "/@acme/nothing/meta.json"],
    ["/@acme/greet/1.0.0_meta.json", "/@acme/greet/9.9.9_meta.json"],
    ["/@acme/greet/1.0.0/big.ts", "/@acme/greet/9.9.9/big.ts"],
    ["/@pub/greet/1.0.0/none.ts", "/@pub/greet/9.9.9/none.ts"],
  ];
  for (const [secret, missing] of hidden) {
    for (const who of [{}, READER, { authorization: "Bearer nope" }]) {
      await everyShapeFromBoth(pair, secret!, who);
      await everyShapeFromBoth(pair, missing!, who);
    }
    // Warm or not, a stranger's private read waits as a missing one does, and answers as it.
    const a = pair.fast.fetch(request(secret!), CONNECTION);
    const b = pair.fast.fetch(request(missing!), CONNECTION);
    assert.ok(a instanceof Promise && b instanceof Promise, `${secret} and ${missing} go on alike`);
    assert.equal((await a).status, 404);
    assert.equal((await b).status, 404);
    // The same requests to the full stack: both keep equal rate-limit counts.
    for (const path of [secret!, missing!]) await pair.slow.fetch(request(path), CONNECTION);
  }
  assert.equal(upstream.seen.join(" "), "", "namespaces we own are never asked of the upstream");
  // A namespace we do not own: the upstream's package, as before.
  for (const path of ["/@std/assert/meta.json", "/@std/assert/1.0.0_meta.json"]) {
    assert.equal((await everyShapeFromBoth(pair, path)).status, 200, path);
  }
  assert.equal((await everyShapeFromBoth(pair, "/@std/assert/1.0.0/mod.ts")).status, 200);
  assert.equal((await everyShapeFromBoth(pair, "/@std/nothing/meta.json")).status, 404);
  assert.ok(upstream.seen.includes("/@std/assert/meta.json"), upstream.seen.join(" "));
  assert.ok(upstream.seen.includes("/@std/nothing/meta.json"), upstream.seen.join(" "));
});

/**
 * The JSR table over a seeded store, behind an upstream, whose tokens only the
 * store knows (as stored tokens are: `authenticateNow` cannot tell).
 */
async function tableWithStoredTokens() {
  const ctx = {
    storage: new CachingRegistryStorage(new MemoryRegistryStorage(), { ttlMs: 600_000 }),
    bundles: new MemoryBundleStorage(),
    clock: () => NOW,
    reservedScopes: [],
    declaredNamespace: (ns: string) =>
      Promise.resolve(ns === "@pub" ? { anonymous: true } : undefined),
    defaultVisibility: "private" as const,
  };
  const authenticator = {
    authenticate: (t: string) => Promise.resolve(principal(t)),
    authenticateNow: (t: string) => principal(t) === null ? null : undefined,
  };
  const options = { ctx, authenticator, upstreamInFront: true };
  const bound = jsrRouteTable(options);
  const app = createJsrRoutes(options, bound);
  const registry = { request: app.request, fetch: app.fetch } as unknown as RegistryApp;
  await publish(registry, "pub/greet/1.0.0", { "big.ts": BIG });
  await publish(registry, "acme/greet/1.0.0", { "big.ts": BIG });
  return { app, match: preparedMatcher([bound]) };
}

Deno.test("with a JSR upstream in front, a read whose token only the store knows is answered by the prepared path after the wait; a miss goes on", async () => {
  const { app, match } = await tableWithStoredTokens();
  const answerOf = (path: string, headers: Record<string, string>) =>
    match(new Request(`http://registry.test${path}`, { headers }), path)!.answer();
  for (const [path, who] of HOT) {
    const headers = who.authorization ? ROOT : who;
    for (let i = 0; i < 2; i++) {
      const answer = await answerOf(path, headers);
      assert.ok(answer, `${path} is answered by the prepared read`);
      const prepared = await seenByClient(await answer.build());
      assert.equal(prepared.status, 200, path);
      assert.deepEqual(prepared, await seenByClient(await app.request(path, { headers })), path);
    }
  }
  // A reader's private read and a missing one go on to the full stack alike.
  for (const path of ["/@acme/greet/1.0.0/big.ts", "/@acme/greet/9.9.9/big.ts"]) {
    for (const who of [{}, READER]) assert.equal(await answerOf(path, who), null, path);
  }
  await assert.rejects(async () => await answerOf(HOT[0]![0], { authorization: "Bearer nope" }));
});
