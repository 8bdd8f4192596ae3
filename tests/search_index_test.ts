import assert from "node:assert/strict";
import type { RegistryContext } from "../core/context.ts";
import { isRegistryError } from "../base/errors.ts";
import { searchArtifacts } from "../core/ggui/search.ts";
import { deleteVersion, unyankVersion, yankVersion } from "../core/lifecycle.ts";
import type { PackageRow } from "../core/rows.ts";
import { SEARCH_SCAN_BUDGET, searchPackages } from "../core/search.ts";
import {
  ensureSearchIndex,
  indexRowsOf,
  privateDocOf,
  privateRowsOf,
  rebuildSearchIndex,
  searchDocOf,
} from "../core/search_index.ts";
import { staticTokenAuthenticator } from "../core/auth.ts";
import { claimScope } from "../core/store.ts";
import { parseAuthConfig } from "../core/rack/auth.ts";
import { createRegistryApp } from "../routes/app.ts";
import { runCli } from "../server/cli.ts";
import * as keys from "../storage/keys.ts";
import { KvRegistryStorage } from "../storage/kv.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import type { JsonValue, Mutation, RegistryStorage, RowKey } from "../storage/types.ts";
import {
  CountingStorage,
  packageMutations,
  publishSeed,
  type SeedVersion,
  snapshot,
} from "./_search_fixtures.ts";
import { ADMIN, makeItem, makePackage, uploadRequest } from "./_rack_fixtures.ts";
import { startServer } from "./_server.ts";

const INDEX_FAMILIES = ["search_doc", "search_by_term", "search_by_recent"];

function ctxOf(storage: RegistryStorage): RegistryContext {
  let tick = Date.parse("2026-11-23T00:00:00.000Z");
  return { storage, bundles: new MemoryBundleStorage(), clock: () => new Date(tick += 1000) };
}

/** The index rows the package rows imply, exactly: nothing more, nothing less. */
async function assertConsistent(storage: RegistryStorage): Promise<void> {
  const want = new Map<string, string>();
  const pkgs = await snapshot(storage, ["pkg"]);
  for (const value of pkgs.values()) {
    const pkg = JSON.parse(value) as PackageRow;
    for (
      const [id, row] of [...indexRowsOf(searchDocOf(pkg)), ...privateRowsOf(privateDocOf(pkg))]
    ) {
      want.set(id, JSON.stringify(row.value));
    }
  }
  assert.deepEqual(await snapshot(storage, [...INDEX_FAMILIES, "search_private"]), want);
}

async function seedBatched(storage: RegistryStorage, versions: SeedVersion[][]): Promise<void> {
  let batch: ReturnType<typeof packageMutations> = [];
  for (const pkg of versions) {
    batch.push(...packageMutations(pkg));
    if (batch.length > 800) {
      assert.ok((await storage.commit({ checks: [], mutations: batch })).ok);
      batch = [];
    }
  }
  if (batch.length) assert.ok((await storage.commit({ checks: [], mutations: batch })).ok);
}

/** `n` public gadgets, three of which mention a needle. */
function catalogue(n: number): SeedVersion[][] {
  return Array.from({ length: n }, (_, i) => {
    const name = `gadget-${String(i).padStart(5, "0")}`;
    const needle = i % Math.floor(n / 3) === 1;
    return [{
      namespace: "@acme",
      name,
      version: "1.0.0",
      format: "ggui.gadget" as const,
      description: needle ? "Finds the needle" : "A widget for dashboards",
      tags: ["ui"],
      publishedAt: new Date(Date.parse("2026-01-01T00:00:00.000Z") + i * 60_000).toISOString(),
    }];
  });
}

Deno.test("ggui search reads as many rows in a store of 3,000 packages as in one of 300", async () => {
  const queries = [
    "",
    "?q=needle",
    "?kind=gadget&tag=ui",
    "?sort=recent&limit=20",
    "?q=zzz",
    // A recency query whose tag list is too long to sort and whose author matches nothing.
    "?sort=recent&tag=ui&author=nobody",
  ];
  const reads: Record<string, number[]> = {};
  for (const n of [300, 3000]) {
    const inner = new MemoryRegistryStorage();
    await seedBatched(inner, catalogue(n));
    const storage = new CountingStorage(inner);
    const ctx = { ...ctxOf(storage), bundleHost: "http://x", registryHostname: "x" };
    for (const query of queries) {
      storage.reads = 0;
      const params = Object.fromEntries(new URLSearchParams(query));
      const res = await searchArtifacts(ctx, { query: params });
      assert.equal(res.status, 200);
      if (query === "?q=needle") {
        assert.equal((res.body as { results: unknown[] }).results.length, 3);
      }
      (reads[query] ??= []).push(storage.reads);
    }
    // A deep cursor: the tenth page costs what the first does.
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      storage.reads = 0;
      const res = await searchArtifacts(ctx, {
        query: { limit: "20", ...(cursor ? { cursor } : {}) },
      });
      cursor = (res.body as { nextCursor?: string }).nextCursor;
    }
    (reads["page 10"] ??= []).push(storage.reads);
  }
  for (const [query, [small, large]] of Object.entries(reads)) {
    assert.equal(large, small, `${query}: ${small} rows at 300, ${large} at 3,000`);
    assert.ok(large! <= SEARCH_SCAN_BUDGET + 10, `${query}: ${large} rows`);
  }
});

Deno.test("a sparse query stops at the scan budget and continues by cursor", async () => {
  // The budget docs/search.md promises: each such page costs at most 100 rows.
  assert.equal(SEARCH_SCAN_BUDGET, 100);
  const storage = new CountingStorage(new MemoryRegistryStorage());
  await seedBatched(storage, catalogue(1200));
  const ctx = { ...ctxOf(storage), bundleHost: "http://x", registryHostname: "x" };
  // `author` is checked on each doc: no index narrows it.
  const found: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    storage.reads = 0;
    const res = await searchArtifacts(ctx, {
      query: { author: "nobody-but-0", limit: "5", ...(cursor ? { cursor } : {}) },
    });
    assert.ok(storage.reads <= 100 + 10, `${storage.reads} rows`);
    const body = res.body as { results: { artifactId: string }[]; nextCursor?: string };
    found.push(...body.results.map((r) => r.artifactId));
    cursor = body.nextCursor;
    pages++;
  } while (cursor);
  assert.deepEqual(found, []);
  // Each page stops at the budget: 1,200 entries take at least 1,200 / budget pages.
  assert.ok(pages >= 1200 / 100, `${pages} pages`);
});

const FORMATS = ["ggui.gadget", "rack.registry", "jsr"] as const;

Deno.test("the index follows publish, yank, unyank, private publishes and delete on every format", async () => {
  for (const format of FORMATS) {
    const storage = new MemoryRegistryStorage();
    const ctx = ctxOf(storage);
    const name = format === "rack.registry" ? "blocks/card" : "card";
    const ref = { namespace: "@acme", name };
    const v = (version: string, visibility: "public" | "private" = "public"): SeedVersion => ({
      ...ref,
      version,
      format,
      visibility,
      description: `Card ${version}`,
      publishedAt: `2026-11-22T01:00:0${version[0]}.000Z`,
    });
    const latest = async () =>
      (await searchPackages(storage, { q: "card" })).items.map((h) => h.version);
    const actor = { actor: "ops" };
    await publishSeed(storage, v("1.0.0"));
    await publishSeed(storage, v("2.0.0"));
    await assertConsistent(storage);
    assert.deepEqual(await latest(), ["2.0.0"], format);
    await yankVersion(ctx, { ...ref, version: "2.0.0", ...actor });
    await assertConsistent(storage);
    assert.deepEqual(await latest(), ["1.0.0"], format);
    await unyankVersion(ctx, { ...ref, version: "2.0.0", ...actor });
    assert.deepEqual(await latest(), ["2.0.0"], format);
    await publishSeed(storage, v("3.0.0", "private"));
    await assertConsistent(storage);
    assert.deepEqual(await latest(), ["2.0.0"], format);
    const rows = [...(await snapshot(storage, INDEX_FAMILIES)).values()].join();
    assert.ok(!rows.includes("3.0.0"), `${format}: a private version reached the index`);
    await deleteVersion(ctx, { ...ref, version: "2.0.0", ...actor });
    await assertConsistent(storage);
    assert.deepEqual(await latest(), ["1.0.0"], format);
    await yankVersion(ctx, { ...ref, version: "1.0.0", ...actor });
    // Only a private version is left: the package leaves the index entirely.
    assert.equal((await snapshot(storage, INDEX_FAMILIES)).size, 0, format);
    assert.deepEqual(await latest(), [], format);
  }
});

Deno.test("a package with only private versions never enters the index", async () => {
  const storage = new MemoryRegistryStorage();
  for (const format of FORMATS) {
    for (const version of ["1.0.0", "2.0.0"]) {
      await publishSeed(storage, {
        namespace: "@secret",
        name: format === "rack.registry" ? "x/hidden" : `hidden-${format.replace(".", "-")}`,
        version,
        format,
        visibility: "private",
        description: "hidden thing",
      });
    }
  }
  assert.equal((await snapshot(storage, INDEX_FAMILIES)).size, 0);
  assert.deepEqual((await searchPackages(storage, { q: "hidden" })).items, []);
  assert.deepEqual((await searchPackages(storage, { namespace: "@secret" })).items, []);
});

Deno.test("searchPackages() pages every format by cursor, filters, and refuses foreign cursors", async () => {
  const storage = new MemoryRegistryStorage();
  const versions: SeedVersion[][] = [];
  for (let i = 0; i < 30; i++) {
    const format = FORMATS[i % 3]!;
    versions.push([{
      namespace: `@team${i % 4}`,
      name: format === "rack.registry" ? `kit/tool-${i}` : `tool-${i}`,
      version: "1.0.0",
      format,
      description: i % 5 === 0 ? "Weather station" : "Plain tool",
      tags: format === "ggui.gadget" ? ["geo"] : undefined,
      publishedAt: new Date(Date.parse("2026-03-01T00:00:00.000Z") + (i % 10) * 1000)
        .toISOString(),
    }]);
  }
  await seedBatched(storage, versions);
  const walk = async (query: Record<string, string | number>) => {
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await searchPackages(storage, {
        ...query,
        limit: 4,
        ...(cursor ? { cursor } : {}),
      });
      assert.ok(page.items.length <= 4);
      seen.push(...page.items.map((h) => `${h.namespace}/${h.name}`));
      cursor = page.cursor;
    } while (cursor);
    return seen;
  };
  const all = await walk({});
  assert.equal(all.length, 30);
  assert.deepEqual(all, [...all].sort());
  assert.equal((await walk({ format: "rack" })).length, 10);
  assert.deepEqual(await walk({ q: "weath" }), await walk({ q: "WEATHER station" }));
  // JSR packages carry no description: 4 of the 6 weather stations are ggui or Rack.
  assert.equal((await walk({ q: "weather" })).length, 4);
  assert.equal((await walk({ q: "@team1" })).length, 8);
  assert.equal((await walk({ tag: "geo", namespace: "@team0" })).length, 3);
  const recent = await walk({ sort: "recent" });
  assert.equal(new Set(recent).size, 30);
  const byTime = await walk({ sort: "recent", q: "tool" });
  assert.deepEqual(byTime, recent.filter((id) => byTime.includes(id)));

  const first = await searchPackages(storage, { limit: 4 });
  const refused = [
    { cursor: "garbage" },
    { cursor: first.cursor!.replace(/.$/, (c) => (c === "0" ? "1" : "0")) },
    { cursor: first.cursor!, format: "jsr" }, // another query's cursor
    { cursor: first.cursor!, sort: "recent" },
    { limit: 0 },
    { limit: 201 },
    { limit: 1.5 },
    { format: "npm" },
    { kind: "widget" },
    { namespace: "acme" },
    { q: Array.from({ length: 17 }, (_, i) => `w${i}`).join(" ") },
  ];
  for (const query of refused) {
    await assert.rejects(
      searchPackages(storage, { limit: 4, ...query }),
      (e) => isRegistryError(e) && e.code === "invalid_input",
      JSON.stringify(query),
    );
  }
});

Deno.test("ensureSearchIndex() builds the index of a store written before it, once", async () => {
  const storage = new MemoryRegistryStorage();
  const old = catalogue(40).map(packageMutations).flat()
    .filter((m) => !String(m.key[0]).startsWith("search_"));
  await storage.commit({ checks: [], mutations: old });
  assert.deepEqual((await searchPackages(storage, { q: "needle" })).items, []);
  const report = await ensureSearchIndex(storage);
  assert.deepEqual(report, { packages: 40, repaired: 40, removed: 0 });
  await assertConsistent(storage);
  assert.equal((await searchPackages(storage, { q: "needle" })).items.length, 3);
  assert.equal(await ensureSearchIndex(storage), null);
  // A package row changed behind the index's back (a writer that predates it): a rebuild repairs it.
  const key = keys.packageKey({ namespace: "@acme", name: "gadget-00001" });
  const pkg = (await storage.get<PackageRow>(key))!.value;
  const hidden = { ...pkg };
  delete hidden.publicSummary;
  await storage.commit({
    checks: [],
    mutations: [{ type: "set", key, value: hidden as unknown as JsonValue }],
  });
  assert.deepEqual(await rebuildSearchIndex(storage), { packages: 40, repaired: 1, removed: 0 });
  await assertConsistent(storage);
  assert.equal((await searchPackages(storage, { q: "needle" })).items.length, 2);
});

Deno.test("`main.ts reindex` rebuilds the search index of a KV store", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/r.kv`;
    await Deno.mkdir(`${dir}/bundles`);
    const storage = new KvRegistryStorage(await Deno.openKv(path));
    await storage.commit({
      checks: [],
      mutations: catalogue(6).map(packageMutations).flat()
        .filter((m) => !String(m.key[0]).startsWith("search_")),
    });
    await storage.close();
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
    const code = await runCli(["reindex", `--storage=kv:${path}`, `--data-dir=${dir}`], {}, io);
    assert.equal(code, 0, err.join("\n"));
    assert.deepEqual(JSON.parse(out.join("")), { packages: 6, repaired: 6, removed: 0 });
    const after = new KvRegistryStorage(await Deno.openKv(path));
    try {
      await assertConsistent(after);
      assert.equal((await searchPackages(after, { q: "widget" })).items.length, 3);
    } finally {
      await after.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("seeding by batched mutations writes exactly the rows publishes write", async () => {
  const versions = ["1.0.0", "1.1.0", "2.0.0-rc.1"].map((version, i) => ({
    namespace: "@acme",
    name: "card",
    version,
    format: "ggui.gadget" as const,
    description: `v${i}`,
    publishedAt: `2026-01-0${i + 1}T00:00:00.000Z`,
  }));
  const published = new MemoryRegistryStorage();
  for (const v of versions) await publishSeed(published, v);
  const batched = new MemoryRegistryStorage();
  await batched.commit({ checks: [], mutations: packageMutations(versions) });
  const families = ["pkg", "ver", "vstate", ...INDEX_FAMILIES];
  assert.deepEqual(await snapshot(batched, families), await snapshot(published, families));
});

Deno.test("Rack uploads and the admin lifecycle routes keep the index in step; a gated upload never enters it", async () => {
  const storage = new MemoryRegistryStorage();
  const bundles = new MemoryBundleStorage();
  const { auth } = parseAuthConfig(
    JSON.stringify({ "@rack": [], "@gated": [{ token: "gate-secret", mark: "CI" }] }),
    { adminToken: ADMIN },
  );
  const app = createRegistryApp({
    storage,
    bundles,
    authenticator: staticTokenAuthenticator({ token: "ops-token", subject: "ops" }),
    bundleHost: "http://registry.test",
    registryHostname: "registry.test",
    rackAuth: () => Promise.resolve(auth),
    rateLimitPerMinute: 0,
    uploadRateLimitPerMinute: 0,
    authFailuresPerMinute: 0,
    readCacheMs: 0,
  });
  const admin = (method: string, path: string) =>
    app.request(`/admin${path}`, { method, headers: { authorization: "Bearer ops-token" } });
  for (const version of ["1.0.0", "1.1.0"]) {
    const res = await app.request(
      uploadRequest(await makePackage({ item: makeItem({ version }) }), { token: ADMIN }),
    );
    assert.equal(res.status, 201, await res.text());
  }
  const gated = await app.request(
    uploadRequest(
      await makePackage({
        item: makeItem({ namespace: "@gated", name: "husky-secret", description: "Git hooks" }),
      }),
      { token: ADMIN },
    ),
  );
  assert.equal(gated.status, 201, await gated.text());
  const hits = async () =>
    (await searchPackages(storage, { q: "git hooks" })).items.map((h) =>
      `${h.namespace}/${h.name}@${h.version}`
    );
  assert.deepEqual(await hits(), ["@rack/quality/husky@1.1.0"]);
  await assertConsistent(storage);
  const base = "/packages/@rack/quality/husky/versions";
  assert.equal((await admin("POST", `${base}/1.1.0/yank`)).status, 200);
  assert.deepEqual(await hits(), ["@rack/quality/husky@1.0.0"]);
  assert.equal((await admin("POST", `${base}/1.1.0/unyank`)).status, 200);
  assert.deepEqual(await hits(), ["@rack/quality/husky@1.1.0"]);
  assert.equal((await admin("DELETE", `${base}/1.1.0`)).status, 200);
  assert.equal((await admin("DELETE", `${base}/1.0.0`)).status, 200);
  await assertConsistent(storage);
  assert.deepEqual(await hits(), []);
  const rows = [...(await snapshot(storage, INDEX_FAMILIES)).keys()].join();
  assert.ok(!rows.includes("@gated"), "a gated (private) package reached the index");
});

Deno.test("main.ts builds the index of a store written before it, before serving its first search", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/registry.kv`;
    const storage = new KvRegistryStorage(await Deno.openKv(path));
    await storage.commit({
      checks: [],
      mutations: catalogue(6).map(packageMutations).flat()
        .filter((m) => !String(m.key[0]).startsWith("search_")),
    });
    await storage.close();
    await using server = await startServer([
      `--storage=kv:${path}`,
      `--data-dir=${dir}`,
      "--token=e2e-secret",
    ]);
    assert.match(server.output(), /built the search index \(6 packages\)/);
    const res = await fetch(`${server.url}/search?q=needle`);
    const body = await res.json();
    assert.deepEqual(body.results.map((r: { artifactId: string }) => r.artifactId), [
      "@acme/gadget-00001",
      "@acme/gadget-00003",
      "@acme/gadget-00005",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("word postings carry their entry, so a page of matches reads no entry by pointer; a large entry stays a pointer and is still found", async () => {
  const inner = new MemoryRegistryStorage();
  const storage = new CountingStorage(inner);
  for (let i = 0; i < 30; i++) {
    await publishSeed(inner, {
      namespace: "@acme",
      name: `card-${i}`,
      version: "1.0.0",
      format: "ggui.gadget",
      description: "A common card",
    });
  }
  // ~3 KB of description: too large to copy into each of its postings.
  const long = Array.from({ length: 400 }, (_, i) => `w${i}x`).join(" ");
  await publishSeed(inner, {
    namespace: "@acme",
    name: "big",
    version: "1.0.0",
    format: "rack.registry",
    description: `Bulky ${long}`,
  });
  storage.reads = 0;
  const page = await searchPackages(storage, { q: "common", limit: 20 });
  assert.equal(page.items.length, 20);
  assert.ok(storage.reads <= 22, `${storage.reads} rows for a page of 20`);
  const terms = await inner.list(keys.searchTermPrefix("bulky"));
  assert.deepEqual(terms.items.map((e) => e.value), ["rack.registry"]);
  assert.deepEqual((await searchPackages(storage, { q: "bulky w12x" })).items.map((h) => h.name), [
    "big",
  ]);
  await assertConsistent(inner);
});

/** Every hit of a search, page by page (small pages: the merge crosses cursors). */
async function allHits(storage: RegistryStorage, query: Parameters<typeof searchPackages>[1]) {
  const pages = [];
  let cursor: string | undefined;
  do {
    const page = await searchPackages(storage, { ...query, ...(cursor ? { cursor } : {}) });
    pages.push(page);
    cursor = page.cursor;
  } while (cursor !== undefined);
  return pages;
}

/** A store with public packages in three namespaces and, optionally, private ones in `@acme`. */
async function readerStore(secrets: boolean): Promise<MemoryRegistryStorage> {
  const storage = new MemoryRegistryStorage();
  let t = 0;
  const at = () => new Date(Date.parse("2026-11-22T00:00:00.000Z") + (t += 1000)).toISOString();
  for (const ns of ["@acme", "@beta", "@zeta"]) {
    for (const [i, format] of FORMATS.entries()) {
      await publishSeed(storage, {
        namespace: ns,
        name: format === "rack.registry" ? `kit/tool-${i}` : `tool-${i}`,
        version: "1.0.0",
        format,
        description: "A handy tool",
        publishedAt: at(),
      });
    }
  }
  if (secrets) {
    for (const [i, format] of FORMATS.entries()) {
      const name = format === "rack.registry" ? `kit/hidden-${i}` : `hidden-${i}`;
      await publishSeed(storage, {
        namespace: "@acme",
        name,
        version: "1.0.0",
        format,
        visibility: "private",
        description: "A hidden tool",
        publishedAt: at(),
      });
    }
    // A private 2.0.0 above a public 1.0.0: readers see 2.0.0, others 1.0.0.
    await publishSeed(storage, {
      namespace: "@acme",
      name: "tool-0",
      version: "2.0.0",
      format: "ggui.gadget",
      visibility: "private",
      description: "A handy tool, secretly improved",
      publishedAt: at(),
    });
  }
  return storage;
}

/** Queries, and how many of `@acme`'s three private packages each finds for a reader. */
const READER_QUERIES: [Parameters<typeof searchPackages>[1], number][] = [
  [{ q: "tool" }, 2], // the JSR one has no description: only its name is searched
  [{ q: "tool", sort: "recent" }, 2],
  [{ limit: 2 }, 3],
  [{ limit: 2, sort: "recent" }, 3],
  [{ q: "hidden" }, 3],
  [{ q: "@ac", limit: 1 }, 3],
  [{ namespace: "@acme", sort: "recent", limit: 3 }, 3],
  [{ format: "rack", limit: 1 }, 1],
];

Deno.test("searchPackages() lists private packages to the namespace's readers, in order across pages, and nothing to others", async () => {
  const storage = await readerStore(true);
  const plain = await readerStore(false);
  const reader = { subject: "ci", grants: [{ namespace: "@acme", actions: ["read" as const] }] };
  const stranger = {
    subject: "eve",
    grants: [{ namespace: "@beta", actions: ["publish" as const] }],
  };
  for (const [query, hidden] of READER_QUERIES) {
    const label = JSON.stringify(query);
    // Strangers: the same pages, cursors included, as a store without the private packages.
    for (const viewer of [undefined, null, stranger]) {
      assert.deepEqual(
        await allHits(storage, { ...query, viewer }),
        await allHits(plain, { ...query, viewer }),
        label,
      );
    }
    const seen = (await allHits(storage, { ...query, viewer: reader })).flatMap((p) => p.items);
    const ids = seen.map((h) => `${h.namespace}/${h.name}@${h.version}`);
    assert.equal(new Set(seen.map((h) => h.name + h.namespace)).size, ids.length, label);
    // The one-page answer, sorted as the order says, is what the pages add up to.
    const whole = (await searchPackages(storage, { ...query, limit: 200, viewer: reader })).items;
    assert.deepEqual(ids, whole.map((h) => `${h.namespace}/${h.name}@${h.version}`), label);
    const publicOnly = (await allHits(plain, query)).flatMap((p) => p.items);
    assert.equal(ids.filter((id) => id.includes("hidden")).length, hidden, label);
    const improved = query.q !== "hidden" && query.format !== "rack";
    assert.equal(ids.includes("@acme/tool-0@2.0.0"), improved, label);
    assert.ok(!ids.includes("@acme/tool-0@1.0.0"), label);
    assert.equal(ids.length, publicOnly.length + hidden, label);
  }
  const recent = (await searchPackages(storage, { sort: "recent", viewer: reader })).items;
  assert.equal(`${recent[0]!.namespace}/${recent[0]!.name}`, "@acme/tool-0");
});

Deno.test("a namespace's owner searches its private packages; a yank or a public release moves the reader entry", async () => {
  const storage = new MemoryRegistryStorage();
  const ctx = ctxOf(storage);
  await claimScope(storage, {
    scope: "@acme",
    ownerSubject: "alice",
    claimedAt: "2026-11-22T00:00:00.000Z",
    verification: "unverified",
  });
  const v = (version: string, visibility: "public" | "private") => ({
    namespace: "@acme",
    name: "card",
    version,
    format: "jsr" as const,
    visibility,
    publishedAt: `2026-11-22T01:00:0${version[0]}.000Z`,
  });
  const versions = async (viewer: { subject: string } | null) =>
    (await searchPackages(storage, { q: "card", viewer })).items.map((h) => h.version);
  await publishSeed(storage, v("1.0.0", "private"));
  assert.deepEqual(await versions({ subject: "alice" }), ["1.0.0"]);
  assert.deepEqual(await versions({ subject: "bob" }), []);
  assert.deepEqual(await versions(null), []);
  await publishSeed(storage, v("2.0.0", "public"));
  assert.deepEqual(await versions({ subject: "alice" }), ["2.0.0"]);
  await publishSeed(storage, v("3.0.0", "private"));
  assert.deepEqual(await versions({ subject: "alice" }), ["3.0.0"]);
  assert.deepEqual(await versions(null), ["2.0.0"]);
  await yankVersion(ctx, { namespace: "@acme", name: "card", version: "3.0.0", actor: "ops" });
  assert.deepEqual(await versions({ subject: "alice" }), ["2.0.0"]);
  await assertConsistent(storage);
  // A rebuild from the package rows writes the same rows (the owner's pointer included).
  const before = await snapshot(storage, [...INDEX_FAMILIES, "search_private", "search_owner"]);
  await rebuildSearchIndex(storage);
  assert.deepEqual(
    await snapshot(storage, [...INDEX_FAMILIES, "search_private", "search_owner"]),
    before,
  );
});

Deno.test("a reader's recency pages stay exact when packages of several namespaces share one publish time", async () => {
  const storage = new MemoryRegistryStorage();
  const at = "2026-11-22T00:00:00.000Z";
  for (const ns of ["@a", "@b", "@c"]) {
    for (const visibility of ["public", "private"] as const) {
      await publishSeed(storage, {
        namespace: ns,
        name: `${visibility}-card`,
        version: "1.0.0",
        format: "ggui.gadget",
        visibility,
        description: "A card",
        publishedAt: at,
      });
    }
  }
  const reader = {
    subject: "ci",
    grants: [
      { namespace: "@a", actions: ["read" as const] },
      { namespace: "@c", actions: ["publish" as const] },
    ],
  };
  const id = (h: { namespace: string; name: string }) => `${h.namespace}/${h.name}`;
  for (const sort of ["recent", "name"]) {
    const paged = (await allHits(storage, { sort, limit: 1, viewer: reader }))
      .flatMap((p) => p.items).map(id);
    const whole = (await searchPackages(storage, { sort, viewer: reader })).items.map(id);
    assert.deepEqual(paged, whole, sort);
    assert.deepEqual([...whole].sort(), [
      "@a/private-card",
      "@a/public-card",
      "@b/public-card",
      "@c/private-card",
      "@c/public-card",
    ]);
  }
});

/** 500 packages in 25 namespaces, one publish a minute; every fifth a gadget tagged `ui`. */
function mixedCatalogue(): SeedVersion[][] {
  return Array.from({ length: 500 }, (_, i) => [{
    namespace: `@team${i % 25}`,
    name: `item-${i}`,
    version: "1.0.0",
    format: i % 5 === 0
      ? "ggui.gadget" as const
      : i % 5 < 3
      ? "rack.registry" as const
      : "jsr" as const,
    description: i % 16 === 0 ? "A common item, rare" : "A common item",
    ...(i % 5 === 0 ? { tags: ["ui"] } : {}),
    publishedAt: new Date(Date.parse("2026-01-01T00:00:00.000Z") + i * 60_000).toISOString(),
  }]);
}

Deno.test("a recency query with an exact filter walks that filter's own recency list: a full page for the rows of a page", async () => {
  const inner = new MemoryRegistryStorage();
  await seedBatched(inner, mixedCatalogue());
  const storage = new CountingStorage(inner);
  const id = (h: { namespace: string; name: string }) => `${h.namespace}/${h.name}`;
  const newest = (keep: (i: number) => boolean) =>
    Array.from({ length: 500 }, (_, i) => 499 - i).filter(keep).slice(0, 20)
      .map((i) => `@team${i % 25}/item-${i}`);
  const cases: [Parameters<typeof searchPackages>[1], string[]][] = [
    // One package in five carries the tag, one in 25 is in the namespace: the old
    // plan probed 50 postings in name order, threw them away and walked every
    // package's recency list until the budget ran out.
    [{ tag: "ui", sort: "recent", limit: 20 }, newest((i) => i % 5 === 0)],
    [{ q: "@team7", sort: "recent", limit: 20 }, newest((i) => i % 25 === 7)],
    [{ namespace: "@team3", sort: "recent", limit: 20 }, newest((i) => i % 25 === 3)],
    [{ kind: "gadget", sort: "recent", limit: 20 }, newest((i) => i % 5 === 0)],
  ];
  for (const [query, want] of cases) {
    storage.reads = 0;
    const page = await searchPackages(storage, query);
    assert.deepEqual(page.items.map(id), want, JSON.stringify(query));
    // The page's 20 entries and the one that shows more follow; nothing thrown away.
    assert.ok(storage.reads <= 21, `${JSON.stringify(query)}: ${storage.reads} rows`);
  }
  // The ggui wire: the tag's recency list and the scope owners' rows, no probe.
  const ctx = { ...ctxOf(storage), bundleHost: "http://x", registryHostname: "x" };
  storage.reads = 0;
  const res = await searchArtifacts(ctx, { query: { sort: "recent", tag: "ui", limit: "20" } });
  const body = res.body as { results: { artifactId: string }[] };
  assert.deepEqual(body.results.map((r) => r.artifactId), newest((i) => i % 5 === 0));
  assert.ok(storage.reads <= 21 + 5, `${storage.reads} rows`);
});

/** A store whose index is what layout 2 wrote: term recency lists absent, group ones present. */
async function layout2Store(marker: boolean): Promise<MemoryRegistryStorage> {
  const storage = new MemoryRegistryStorage();
  await seedBatched(storage, mixedCatalogue().slice(0, 50));
  const all = await snapshot(storage, ["search_by_recent"]);
  const layout2: Mutation[] = [];
  for (const id of all.keys()) {
    const key = JSON.parse(id) as RowKey;
    if (key[1] !== "*") layout2.push({ type: "delete", key });
  }
  for (const e of (await storage.list(keys.searchRecentPrefix("*"))).items) {
    const group = String((e.value as { format: string }).format).split(".")[0]!;
    const key = ["search_by_recent", group, ...e.key.slice(2)];
    layout2.push({ type: "set", key, value: e.value as JsonValue });
  }
  if (marker) {
    layout2.push({
      type: "set",
      key: keys.searchMetaKey(),
      value: { version: 2, builtAt: "2026-12-01T00:00:00.000Z" },
    });
  }
  await storage.commit({ checks: [], mutations: layout2 });
  return storage;
}

Deno.test("a store indexed by layout 2 (recency by format group only) is rebuilt to the term recency lists on start, with or without its marker", async () => {
  // Without a marker (a store seeded around the server) the layout of its rows is unknown:
  // they are wiped too, not diffed as if they were this layout's.
  for (const marker of [true, false]) {
    const storage = await layout2Store(marker);
    assert.deepEqual(await ensureSearchIndex(storage), { packages: 50, repaired: 50, removed: 0 });
    await assertConsistent(storage);
    assert.equal((await storage.list(keys.searchRecentPrefix("ggui"))).items.length, 0);
    const page = await searchPackages(storage, { tag: "ui", sort: "recent" });
    assert.deepEqual(
      page.items.map((h) => h.name),
      [45, 40, 35, 30, 25, 20, 15, 10, 5, 0].map((i) => `item-${i}`),
      `marker: ${marker}`,
    );
  }
});

Deno.test("a recency query with words walks by recency first when its word is dense, collects when it is sparse, and pages the same either way", async () => {
  const inner = new MemoryRegistryStorage();
  await seedBatched(inner, mixedCatalogue());
  const storage = new CountingStorage(inner);
  const id = (h: { namespace: string; name: string }) => `${h.namespace}/${h.name}`;
  // JSR package rows carry no description: only ggui and Rack ones are found by it.
  const newest = (word: string) =>
    Array.from({ length: 500 }, (_, i) => 499 - i)
      .filter((i) => i % 5 < 3 && (word === "common" || i % 16 === 0))
      .map((i) => `@team${i % 25}/item-${i}`);
  // 300 matches: the page fills from the recency walk after a 10-posting probe
  // (the old plan probed 50 postings, threw them away, then walked to the budget).
  storage.reads = 0;
  const dense = await searchPackages(storage, { q: "common", sort: "recent", limit: 20 });
  assert.deepEqual(dense.items.map(id), newest("common").slice(0, 20));
  assert.ok(storage.reads <= 50, `${storage.reads} rows`);
  // 20 matches among 500: the whole list is collected and sorted.
  storage.reads = 0;
  const sparse = await searchPackages(storage, { q: "rare", sort: "recent", limit: 10 });
  assert.deepEqual(sparse.items.map(id), newest("rare").slice(0, 10));
  assert.ok(storage.reads <= SEARCH_SCAN_BUDGET, `${storage.reads} rows`);
  for (const q of ["common", "rare"]) {
    const paged = (await allHits(storage, { q, sort: "recent", limit: 7 })).flatMap((p) => p.items);
    assert.deepEqual(paged.map(id), newest(q), q);
  }
});
