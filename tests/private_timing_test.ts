// A stranger's request for a private thing and for a missing one must do the
// same work against the same caches, or repeating it times the difference (an
// existence oracle: issue 15, item 3). Timing itself is measured by
// bench/oracle_bench.ts (docs/operations.md); here each pair of requests runs
// on a fresh app over a store that logs every read the app asks of it, and
// the two logs must be the same read for read: the same operations on the
// same kinds of keys, served by the store or by the read cache alike.
import assert from "node:assert/strict";
import { parseAuthConfig } from "../core/rack/auth.ts";
import { createRegistryApp, type RegistryApp } from "../routes/app.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import type { RowKey } from "../storage/types.ts";
import { CountingRegistryStorage, type StoreRead } from "./_counting_storage.ts";
import { makeGadget, makeKey, tokenMapAuthenticator } from "./_ggui_fixtures.ts";
import { makeTarball } from "./_rack_fixtures.ts";

const ALICE = "tok-alice";
const BOB = "tok-bob";
const ROOT = "tok-root";

function appOver(
  storage: MemoryRegistryStorage | CountingRegistryStorage,
  bundles: MemoryBundleStorage,
): RegistryApp {
  return createRegistryApp({
    storage,
    bundles,
    authenticator: tokenMapAuthenticator({ [ALICE]: "alice", [BOB]: "bob" }),
    rackAuth: () => Promise.resolve(parseAuthConfig('{"@pub": []}', { adminToken: ROOT }).auth),
    bundleHost: "http://127.0.0.1:9",
    registryHostname: "127.0.0.1:9",
    rateLimitPerMinute: 0,
    metadataRateLimitPerMinute: 0,
    queryRateLimitPerMinute: 0,
    uploadRateLimitPerMinute: 0,
    tokenUploadRateLimitPerMinute: 0,
    authFailuresPerMinute: 0,
    // Long enough that every repeat below falls within it.
    readCacheMs: 60_000,
  });
}

async function send(app: RegistryApp, path: string, init: RequestInit = {}): Promise<Response> {
  return await app.request(path, init);
}

async function publishGadget(app: RegistryApp, token: string, manifest: Record<string, unknown>) {
  const key = await makeKey();
  const auth = { authorization: `Bearer ${token}`, "content-type": "application/json" };
  const reg = await send(app, "/author-keys", {
    method: "POST",
    headers: auth,
    body: JSON.stringify({ publicKeyBase64: key.publicKeyBase64 }),
  });
  assert.equal(reg.status, 201, await reg.text());
  const res = await send(app, "/publish", {
    method: "POST",
    headers: auth,
    body: JSON.stringify(await makeGadget(key, { manifest })),
  });
  assert.equal(res.status, 201, await res.text());
}

async function publishJsr(app: RegistryApp, scope: string, name: string, version: string) {
  const files = {
    "deno.json": JSON.stringify({ name: `@${scope}/${name}`, version, exports: "./mod.ts" }),
    "mod.ts": "export const x = 1;\n",
  };
  const res = await send(
    app,
    `/api/scopes/${scope}/packages/${name}/versions/${version}?config=%2Fdeno.json`,
    {
      method: "POST",
      headers: { "content-encoding": "gzip", authorization: `Bearer ${ALICE}` },
      body: await makeTarball(files) as BodyInit,
    },
  );
  const body = await res.json();
  assert.equal(body.status, "success", JSON.stringify(body));
}

/**
 * A store holding: alice's private gadget `@acme/secret@1.0.0` (claiming
 * `@acme`), her private JSR package `@jsrco/greet@1.0.0` (JSR's default
 * visibility), and the Rack admin's private gadget `@pub/hidden@1.0.0` in the
 * anonymous Rack namespace `@pub`.
 */
async function seeded(): Promise<{ store: MemoryRegistryStorage; bundles: MemoryBundleStorage }> {
  const store = new MemoryRegistryStorage();
  const bundles = new MemoryBundleStorage();
  const app = appOver(store, bundles);
  await publishGadget(app, ALICE, { scope: "@acme", name: "secret", version: "1.0.0" });
  await publishJsr(app, "jsrco", "greet", "1.0.0");
  await publishGadget(app, ROOT, { scope: "@pub", name: "hidden", version: "1.0.0" });
  // They exist: their publishers read them.
  for (
    const [path, token] of [
      ["/pkg/acme/secret/1.0.0", ALICE],
      ["/@jsrco/greet/meta.json", ALICE],
      ["/pkg/pub/hidden/1.0.0", ROOT],
    ]
  ) {
    const res = await send(app, path!, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200, path);
    await res.body?.cancel();
  }
  return { store, bundles };
}

/** A read with the probed value named `<x>`, so two probes compare. */
function shape(read: StoreRead, probed: string, withFound: boolean): string {
  const keys = read.keys.map((k: RowKey) => k.map((part) => part === probed ? "<x>" : part));
  return `${read.op} ${JSON.stringify(keys)}${withFound ? ` found=${read.found}` : ""}`;
}

const REPEATS = 4;

/**
 * The store reads of `REPEATS` identical requests on a fresh app, one list
 * per request: the first by shape only (it reads what exists), the repeats
 * with how many rows each read found.
 */
async function traceOf(
  seed: { store: MemoryRegistryStorage; bundles: MemoryBundleStorage },
  path: string,
  probed: string,
  token?: string,
): Promise<{ traces: string[][]; statuses: number[] }> {
  const counting = new CountingRegistryStorage(seed.store);
  const app = appOver(counting, seed.bundles);
  // The app's own start-up reads (webhook subscriptions) are not the request's.
  await new Promise((r) => setTimeout(r, 20));
  const traces: string[][] = [];
  const statuses: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    counting.reads = [];
    const res = await send(
      app,
      path,
      token ? { headers: { authorization: `Bearer ${token}` } } : {},
    );
    await res.body?.cancel();
    statuses.push(res.status);
    traces.push(counting.reads.map((r) => shape(r, probed, i > 0)));
  }
  return { traces, statuses };
}

interface Probe {
  /** What is probed. */
  name: string;
  /** The URL, with `{}` where the probed value goes. */
  path: string;
  /** The value naming the private thing, and the one naming nothing. */
  values: [string, string];
  /** A stranger's token (default: anonymous). */
  token?: string;
}

const PROBES: Probe[] = [
  { name: "ggui version", path: "/pkg/acme/{}/1.0.0", values: ["secret", "nosuch"] },
  {
    name: "ggui version (version probed)",
    path: "/pkg/acme/secret/{}",
    values: ["1.0.0", "9.9.9"],
  },
  { name: "ggui listing", path: "/pkg/acme/{}", values: ["secret", "nosuch"] },
  {
    name: "ggui public bundle",
    path: "/bundles/public/acme/{}/1.0.0/bundle.js",
    values: ["secret", "nosuch"],
  },
  {
    name: "ggui private bundle, another user",
    path: "/bundles/private/acme/{}/1.0.0/bundle.js",
    values: ["secret", "nosuch"],
    token: BOB,
  },
  {
    name: "ggui version, another user",
    path: "/pkg/acme/{}/1.0.0",
    values: ["secret", "nosuch"],
    token: BOB,
  },
  {
    name: "ggui listing, another user",
    path: "/pkg/acme/{}",
    values: ["secret", "nosuch"],
    token: BOB,
  },
  { name: "JSR meta.json", path: "/@jsrco/{}/meta.json", values: ["greet", "nosuch"] },
  {
    name: "JSR version meta",
    path: "/@jsrco/{}/1.0.0_meta.json",
    values: ["greet", "nosuch"],
  },
  { name: "JSR file", path: "/@jsrco/{}/1.0.0/mod.ts", values: ["greet", "nosuch"] },
  { name: "JSR API package", path: "/api/scopes/jsrco/packages/{}", values: ["greet", "nosuch"] },
  {
    name: "JSR API versions",
    path: "/api/scopes/jsrco/packages/{}/versions",
    values: ["greet", "nosuch"],
  },
  {
    name: "JSR API version",
    path: "/api/scopes/jsrco/packages/{}/versions/1.0.0",
    values: ["greet", "nosuch"],
  },
  {
    name: "JSR version, another user",
    path: "/@jsrco/{}/1.0.0_meta.json",
    values: ["greet", "nosuch"],
    token: BOB,
  },
  {
    name: "JSR meta.json, another user",
    path: "/@jsrco/{}/meta.json",
    values: ["greet", "nosuch"],
    token: BOB,
  },
  {
    name: "Rack version list",
    path: "/registries/@pub/{}/versions",
    values: ["hidden", "nosuch"],
  },
  { name: "Rack latest", path: "/registries/@pub/{}", values: ["hidden", "nosuch"] },
  {
    name: "Rack versioned",
    path: "/registries/@pub/{}/1.0.0",
    values: ["hidden", "nosuch"],
  },
  {
    name: "Rack file",
    path: "/registries/@pub/{}/1.0.0/files/manifest.json",
    values: ["hidden", "nosuch"],
  },
];

for (const probe of PROBES) {
  Deno.test(`a stranger's read of a private and of a missing ${probe.name} does the same store reads`, async () => {
    const seed = await seeded();
    const [hidden, missing] = await Promise.all(
      probe.values.map((v) => traceOf(seed, probe.path.replace("{}", v), v, probe.token)),
    ) as [Awaited<ReturnType<typeof traceOf>>, Awaited<ReturnType<typeof traceOf>>];
    assert.deepEqual(hidden.statuses, missing.statuses, "the same answers");
    assert.ok(hidden.statuses.every((s) => s === 404), `a miss: ${hidden.statuses}`);
    assert.deepEqual(hidden.traces, missing.traces);
    // The repeats are served from memory, both of them (what the cache decides).
    assert.deepEqual(missing.traces.slice(1), Array(REPEATS - 1).fill([]));
  });
}

Deno.test("a cached miss ends with this process's own publish: the new version reads at once", async () => {
  const store = new MemoryRegistryStorage();
  const app = appOver(store, new MemoryBundleStorage());
  const auth = { headers: { authorization: `Bearer ${ALICE}` } };
  // Read (and cache) the misses first, within a 60 s read cache.
  for (const path of ["/pkg/acme/fresh/1.0.0", "/pkg/acme/fresh", "/@jsrco/fresh/meta.json"]) {
    const res = await send(app, path, auth);
    assert.equal(res.status, 404, path);
    await res.body?.cancel();
  }
  await publishGadget(app, ALICE, { scope: "@acme", name: "fresh", version: "1.0.0" });
  await publishJsr(app, "jsrco", "fresh", "1.0.0");
  for (const path of ["/pkg/acme/fresh/1.0.0", "/pkg/acme/fresh", "/@jsrco/fresh/meta.json"]) {
    const res = await send(app, path, auth);
    assert.equal(res.status, 200, path);
    await res.body?.cancel();
  }
});
