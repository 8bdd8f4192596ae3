// The prepared reads of the Rack and JSR route tables (`prepared` rows of
// routes/rack/mod.ts and routes/jsr/mod.ts) against the full stack: two
// registry apps over equal stores, one answering through the prepared-read
// path and one through Hono only, must give every client the same status,
// headers and body bytes, for a public read, a private one as a stranger and
// as a reader, a missing one and a yanked one, plain, conditional, ranged and
// compressed; and the prepared path must really answer (no hand-off).
import assert from "node:assert/strict";
import { fixedRackAuth, parseAuthConfig } from "../core/rack/auth.ts";
import { CachingRegistryStorage } from "../core/read_cache.ts";
import { Hono } from "hono";
import { createRegistryApp, type RegistryApp } from "../routes/app.ts";
import { createRackRoutes, rackRouteTable } from "../routes/rack/mod.ts";
import { createJsrRoutes, jsrRouteTable } from "../routes/jsr/mod.ts";
import { preparedMatcher } from "../routes/shared/_route_table.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import { makeItem, makePackage, makeTarball, uploadRequest } from "./_rack_fixtures.ts";
import { everyShapeFromBoth, sameFromBoth, seenByClient } from "./_app_fixtures.ts";

const NOW = new Date("2026-11-22T03:00:30.000Z");
const CONNECTION = { remoteAddr: { hostname: "192.0.2.7", port: 4000, transport: "tcp" } };
const ADMIN = "admin-secret";
const ALICE = "tok-alice";
const AUTH_JSON = JSON.stringify({
  "@rack": [],
  "@pub": [],
  "@company": [{ token: "ci-token", publish: true }, { token: "dev-token" }],
});
/** A file large enough to be compressed (over 1 KiB). */
const BIG = "export const words = [\n" + '  "registry",\n'.repeat(200) + "];\n";

interface Pair {
  fast: RegistryApp;
  slow: RegistryApp;
  logs: { fast: string[]; slow: string[] };
}

/** Who the tokens are, known at once (as configured tokens are). */
const AUTHENTICATOR = {
  authenticate: (t: string) =>
    Promise.resolve(t === ALICE ? { subject: "alice", admin: false } : null),
  authenticateNow: (t: string) => t === ALICE ? { subject: "alice", admin: false } : null,
};

/**
 * Two apps over equal stores. `readCacheMs` above 0 lets reads answer at once
 * from the read cache (the prepared path's synchronous answers).
 */
function apps(readCacheMs = 0): Pair {
  const logs = { fast: [] as string[], slow: [] as string[] };
  const make = (fast: boolean) =>
    createRegistryApp({
      storage: new MemoryRegistryStorage(),
      bundles: new MemoryBundleStorage(),
      clock: () => NOW,
      authenticator: AUTHENTICATOR,
      rackAuth: fixedRackAuth(parseAuthConfig(AUTH_JSON, { adminToken: ADMIN }).auth),
      bundleHost: "http://registry.test",
      registryHostname: "registry.test",
      rateLimitPerMinute: 1000,
      metadataRateLimitPerMinute: 1000,
      readRateLimitPerMinute: 1000,
      authFailuresPerMinute: 1000,
      uploadRateLimitPerMinute: 0,
      tokenUploadRateLimitPerMinute: 0,
      readCacheMs,
      fastReads: fast,
      requestLog: (line: string) => logs[fast ? "fast" : "slow"].push(line),
    });
  return { fast: make(true), slow: make(false), logs };
}

async function seedRack(app: RegistryApp, yanking = true) {
  for (
    const [ns, version] of [["@rack", "1.0.0"], ["@rack", "1.1.0"], ["@company", "1.0.0"]] as const
  ) {
    const archive = await makePackage({
      item: makeItem({ namespace: ns, version }),
      files: { "templates/.husky/commit-msg": "#!/bin/sh\n", "templates/setup.ts": BIG },
    });
    const res = await app.fetch(uploadRequest(archive, { token: ADMIN }), CONNECTION);
    assert.ok(res.status < 300, `${res.status} ${await res.text()}`);
  }
  if (!yanking) return;
  const yank = await app.request("/admin/packages/@rack/quality/husky/versions/1.1.0/yank", {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}` },
  });
  assert.equal(yank.status, 200, await yank.text());
}

async function seedJsr(app: RegistryApp) {
  for (
    const [scope, version] of [["@pub", "1.0.0"], ["@pub", "1.1.0"], ["@acme", "1.0.0"]] as const
  ) {
    const name = `${scope}/greet`;
    const tarball = await makeTarball({
      "deno.json": JSON.stringify({ name, version, exports: { ".": "./mod.ts" } }),
      "mod.ts": `export const version = "${version}";\n`,
      "big.ts": BIG,
    });
    const res = await app.request(
      `/api/scopes/${scope.slice(1)}/packages/greet/versions/${version}?config=%2Fdeno.json`,
      {
        method: "POST",
        headers: { "content-encoding": "gzip", authorization: `Bearer ${ADMIN}` },
        body: tarball as BodyInit,
      },
    );
    const task = await res.json();
    assert.ok(res.status < 300, `${res.status} ${JSON.stringify(task)}`);
    // Publishing is a task: wait for it to finish.
    for (let i = 0; i < 200; i++) {
      const t = await (await app.request(`/api/publish_status/${task.id}`)).json();
      if (t.status === "success") break;
      assert.notEqual(t.status, "failure", JSON.stringify(t));
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  const yank = await app.request("/api/scopes/pub/packages/greet/versions/1.1.0", {
    method: "PATCH",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: JSON.stringify({ yanked: true }),
  });
  assert.ok(yank.status < 300, `${yank.status} ${await yank.text()}`);
}

/** The routes of the log lines of requests the prepared path answered without a hand-off. */
function routes(log: string[]): string[] {
  return log.map((line) => JSON.parse(line).route as string);
}

for (const cache of [0, 600_000]) {
  const named = cache === 0 ? "" : ", answered at once from the read cache";
  Deno.test(`Rack's prepared reads answer exactly as the full stack: public, private, missing, yanked${named}`, async () => {
    const pair = apps(cache);
    await seedRack(pair.fast);
    await seedRack(pair.slow);
    pair.logs.fast.length = pair.logs.slow.length = 0;
    const reader = { authorization: "Bearer dev-token" };
    const paths = {
      versions: "/registries/@rack/quality/husky/versions",
      latest: "/registries/@rack/quality/husky",
      version: "/registries/@rack/quality/husky/1.0.0",
      yanked: "/registries/@rack/quality/husky/1.1.0",
      file: "/registries/@rack/quality/husky/1.0.0/files/templates/setup.ts",
      private: "/registries/@company/quality/husky/1.0.0",
      privateFile: "/registries/@company/quality/husky/1.0.0/files/templates/setup.ts",
      privateList: "/registries/@company/quality/husky/versions",
      missing: "/registries/@rack/quality/nothing/1.0.0",
      missingFile: "/registries/@rack/quality/husky/1.0.0/files/none.ts",
    };
    for (const path of Object.values(paths)) {
      await everyShapeFromBoth(pair, path);
      await everyShapeFromBoth(pair, path, reader);
    }
    await everyShapeFromBoth(pair, paths.private, { authorization: "Bearer not-a-token" });
    assert.equal((await sameFromBoth(pair, paths.private)).status, 401, "a stranger is refused");
    assert.equal((await sameFromBoth(pair, paths.private, reader)).status, 200);
    assert.equal(
      (await sameFromBoth(pair, paths.yanked)).status,
      200,
      "a yanked version is still read",
    );
    assert.equal(
      JSON.parse(new TextDecoder().decode(
        new Uint8Array(
          (await sameFromBoth(pair, paths.latest)).body.match(/../g)!.map((h) => parseInt(h, 16)),
        ),
      )).version,
      "1.0.0",
      "latest skips the yanked version",
    );
    assert.deepEqual(routes(pair.logs.fast), routes(pair.logs.slow));
    // The prepared path answered: the stack's route label is the table's row.
    assert.ok(routes(pair.logs.fast).every((r) => r === "/registries/*"));
  });

  Deno.test(`JSR's prepared reads answer exactly as the full stack: public, private, missing, yanked${named}`, async () => {
    const pair = apps(cache);
    await seedJsr(pair.fast);
    await seedJsr(pair.slow);
    const reader = { authorization: `Bearer ${ALICE}` };
    const admin = { authorization: `Bearer ${ADMIN}` };
    const paths = [
      "/@pub/greet/meta.json",
      "/@pub/greet/1.0.0_meta.json",
      "/@pub/greet/1.1.0_meta.json",
      "/@pub/greet/1.0.0/mod.ts",
      "/@pub/greet/1.0.0/big.ts",
      "/@pub/greet/1.1.0/big.ts",
      "/@acme/greet/meta.json",
      "/@acme/greet/1.0.0_meta.json",
      "/@acme/greet/1.0.0/big.ts",
      "/@nobody/greet/meta.json",
      "/@pub/greet/9.9.9_meta.json",
      "/@pub/greet/1.0.0/none.ts",
    ];
    for (const path of paths) {
      for (const who of [{}, reader, admin, { authorization: "Bearer nope" }]) {
        await everyShapeFromBoth(pair, path, who);
      }
    }
    const privateAsStranger = await sameFromBoth(pair, "/@acme/greet/1.0.0/big.ts");
    const missing = await sameFromBoth(pair, "/@nobody/greet/1.0.0/big.ts");
    assert.equal(privateAsStranger.status, missing.status, "private answers as missing");
    assert.equal((await sameFromBoth(pair, "/@acme/greet/1.0.0/big.ts", admin)).status, 200);
    assert.equal(
      (await sameFromBoth(pair, "/@pub/greet/1.1.0/big.ts")).status,
      200,
      "yanked files stay",
    );
    assert.deepEqual(routes(pair.logs.fast), routes(pair.logs.slow));
  });
}

/**
 * The Rack and JSR route tables over one seeded store, mounted on a Hono app,
 * and their prepared matcher. `atOnce`: a read cache, and an auth.json and
 * tokens known without waiting (what lets reads answer at once).
 */
async function seededTables(atOnce: boolean) {
  const memory = new MemoryRegistryStorage();
  const ctx = {
    storage: atOnce ? new CachingRegistryStorage(memory, { ttlMs: 600_000 }) : memory,
    bundles: new MemoryBundleStorage(),
    clock: () => NOW,
    reservedScopes: [],
    declaredNamespace: (ns: string) =>
      Promise.resolve(ns === "@pub" ? { anonymous: true } : undefined),
    defaultVisibility: "private" as const,
  };
  const parsed = parseAuthConfig(AUTH_JSON, { adminToken: ADMIN }).auth;
  const auth = atOnce ? fixedRackAuth(parsed) : () => Promise.resolve(parsed);
  const principal = (t: string) =>
    t === ALICE
      ? { subject: "alice", admin: false }
      : t === ADMIN
      ? { subject: "ops", admin: true }
      : null;
  const authenticator = {
    authenticate: (t: string) => Promise.resolve(principal(t)),
    ...(atOnce ? { authenticateNow: principal } : {}),
  };
  const rack = rackRouteTable({ ctx, auth });
  const jsr = jsrRouteTable({ ctx, authenticator });
  const app = new Hono().route("/", createRackRoutes(rack.deps.options, rack))
    .route("/", createJsrRoutes({ ctx, authenticator }, jsr));
  const registry = { request: app.request, fetch: app.fetch } as unknown as RegistryApp;
  await seedRack(registry, false);
  await seedJsr(registry);
  return { app, match: preparedMatcher([jsr, rack]) };
}

Deno.test("the hot reads of Rack and JSR are prepared rows of their route tables, and answer there", async () => {
  const { app, match } = await seededTables(false);
  const hot = [
    "/registries/@rack/quality/husky/versions",
    "/registries/@rack/quality/husky",
    "/registries/@rack/quality/husky/1.0.0",
    "/registries/@rack/quality/husky/1.0.0/files/templates/setup.ts",
    "/@pub/greet/meta.json",
    "/@pub/greet/1.0.0_meta.json",
    "/@pub/greet/1.0.0/big.ts",
  ];
  for (const path of hot) {
    const req = new Request(`http://registry.test${path}`);
    const answer = await match(req, path)?.answer();
    assert.ok(answer, `${path} has a prepared read that answers`);
    const prepared = await seenByClient(await answer.build());
    assert.equal(prepared.status, 200, path);
    assert.deepEqual(prepared, await seenByClient(await app.request(path)), path);
  }
  assert.equal(match(new Request("http://x/namespaces"), "/namespaces"), null);
});

Deno.test("hot reads whose rows are in the read cache answer at once; a stranger's private read and a missing one both wait", async () => {
  const { app, match } = await seededTables(true);
  const answerOf = (path: string, headers: Record<string, string> = {}) =>
    match(new Request(`http://registry.test${path}`, { headers }), path)!.answer();
  const dev = { authorization: "Bearer dev-token" };
  const ops = { authorization: `Bearer ${ADMIN}` };
  const hot: [string, Record<string, string>][] = [
    ["/registries/@rack/quality/husky/versions", {}],
    ["/registries/@rack/quality/husky", {}],
    ["/registries/@rack/quality/husky/1.0.0", {}],
    ["/registries/@rack/quality/husky/1.0.0/files/templates/setup.ts", {}],
    ["/registries/@company/quality/husky/1.0.0", dev],
    ["/@pub/greet/meta.json", {}],
    ["/@pub/greet/1.0.0_meta.json", {}],
    ["/@pub/greet/1.0.0/big.ts", {}],
    ["/@acme/greet/meta.json", ops],
    ["/@acme/greet/1.0.0/big.ts", ops],
  ];
  for (const [path, who] of hot) {
    // The first read fills the read cache; the second answers at once.
    const first = await answerOf(path, who);
    assert.ok(first, path);
    await first.build();
    const now = answerOf(path, who);
    assert.ok(now !== null && !(now instanceof Promise), `${path} answers at once`);
    const prepared = await seenByClient(await now.build());
    assert.equal(prepared.status, 200, path);
    assert.deepEqual(prepared, await seenByClient(await app.request(path, { headers: who })), path);
  }
  // Refused at once, before any row: the Rack authorization still runs.
  assert.throws(() => answerOf("/registries/@company/quality/husky/1.0.0"));
  // A stranger's read of a private thing and of a missing one take the same
  // (waiting) path, and both decline to the full stack.
  const hidden = [
    "/@acme/greet/meta.json",
    "/@nobody/greet/meta.json",
    "/@acme/greet/1.0.0_meta.json",
    "/@nobody/greet/1.0.0_meta.json",
    "/@acme/greet/1.0.0/big.ts",
    "/@nobody/greet/1.0.0/big.ts",
  ];
  for (const path of hidden) await Promise.resolve(answerOf(path)).then(() => {}, () => {});
  for (const path of hidden) {
    const answer = answerOf(path);
    assert.ok(answer instanceof Promise, `${path} waits`);
    await assert.rejects(answer as Promise<unknown>, path);
  }
});
