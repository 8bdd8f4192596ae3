// The home page's search and GET /api/packages on the search index, with a
// real KV file: a page reads as many rows with twice the packages (no scan of
// the package rows), cursor paging walks every result exactly once (in
// process and on the real server), and a stranger's pages are the same bytes
// whether or not a private package exists while its reader finds it.
import assert from "node:assert/strict";
import { SEARCH_SCAN_BUDGET } from "../core/search.ts";
import type { RegistryApp } from "../routes/app.ts";
import { KvRegistryStorage } from "../storage/kv.ts";
import { CountingRegistryStorage } from "./_counting_storage.ts";
import { startServer } from "./_server.ts";
import { ALICE, BROWSER, publishJsr, signIn, uiFixture, uiGet } from "./_ui_fixtures.ts";

/** The app over a counting wrapper of a KV file in a temp dir. */
async function kvFixture(dir: string) {
  const kv = await Deno.openKv(`${dir}/registry.kv`);
  const storage = new CountingRegistryStorage(new KvRegistryStorage(kv));
  const f = await uiFixture({ storage });
  return { ...f, counting: storage, [Symbol.dispose]: () => kv.close() };
}

/** Rows a request found in the store. */
async function rowsRead(
  counting: CountingRegistryStorage,
  run: () => Response | Promise<Response>,
) {
  counting.reads = [];
  const res = await run();
  assert.equal(res.status, 200);
  await res.body?.cancel();
  return counting.reads.reduce((n, r) => n + r.found, 0);
}

async function publishMany(app: RegistryApp, from: number, to: number, token: string) {
  for (let i = from; i < to; i++) {
    await publishJsr(app, `@pub/pkg${String(i).padStart(3, "0")}@1.0.0`, {}, token);
  }
}

Deno.test("the home page and /api/packages read no more rows with twice the packages", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ui-search-" });
  try {
    using f = await kvFixture(dir);
    const home = () => f.app.request("/", { headers: BROWSER });
    const api = () => f.app.request("/api/packages?limit=20");
    await publishMany(f.app, 0, 30, f.admin);
    const before = [await rowsRead(f.counting, home), await rowsRead(f.counting, api)];
    await publishMany(f.app, 30, 60, f.admin);
    const after = [await rowsRead(f.counting, home), await rowsRead(f.counting, api)];
    // The old pages walked every package row: 30 more packages, 30+ more rows.
    assert.ok(after[0]! <= before[0]! + 2, `home: ${before[0]} then ${after[0]} rows`);
    assert.ok(after[1]! <= before[1]! + 2, `api: ${before[1]} then ${after[1]} rows`);
    assert.ok(after[0]! <= SEARCH_SCAN_BUDGET, `home read ${after[0]} rows`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Every `href` of a rel link on a page (`&amp;` decoded). */
function relHref(html: string, rel: string): string | undefined {
  const m = new RegExp(`<a href="([^"]+)" rel="${rel}"`).exec(html);
  return m?.[1]?.replaceAll("&amp;", "&");
}

function packagesOn(html: string): string[] {
  return [...html.matchAll(/<li><a href="\/@pub\/(pkg\d+)"/g)].map((m) => m[1]!);
}

/** Walk the home page by its Next links, then back by Previous; the pages' package names. */
async function walkHome(get: (path: string) => Promise<string>) {
  const pages: { names: string[]; count: string; path: string }[] = [];
  let path: string | undefined = "/";
  while (path !== undefined) {
    const html = await get(path);
    const count = /<p class="muted" id="count">([^<]*)<\/p>/.exec(html)![1]!;
    pages.push({ names: packagesOn(html), count, path });
    path = relHref(html, "next");
    assert.ok(pages.length < 10, "the pages end");
  }
  // Previous from the last page goes back through the same pages.
  const back: string[][] = [];
  path = pages.at(-1)!.path;
  while (path !== undefined && back.length < 10) {
    const html = await get(path);
    back.push(packagesOn(html));
    path = path === "/" ? undefined : relHref(html, "prev");
  }
  return { pages, back };
}

function assertWalk(walk: Awaited<ReturnType<typeof walkHome>>, total: number) {
  const names = walk.pages.flatMap((p) => p.names);
  assert.equal(names.length, total);
  assert.equal(new Set(names).size, total);
  // Newest first: pkgNNN were published in order.
  assert.deepEqual(names, [...names].sort().reverse());
  assert.equal(walk.pages[0]!.count, "packages 1–20 · more follow");
  assert.equal(walk.pages[1]!.count, "packages 21–40 · more follow");
  assert.equal(walk.pages.at(-1)!.count.endsWith(`of ${total}`), true);
  assert.deepEqual(walk.back, walk.pages.map((p) => p.names).reverse());
}

Deno.test("the home page pages through every package by Next and back by Previous", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ui-search-" });
  try {
    using f = await kvFixture(dir);
    await publishMany(f.app, 0, 45, f.admin);
    const get = async (path: string) =>
      await (await f.app.request(path, { headers: BROWSER })).text();
    assertWalk(await walkHome(get), 45);
    // A cursor of another search is a clear page, never an error or a restart.
    const html = await get(`/?q=pkg001&cursor=${encodeURIComponent("20.bad.0123456789abcdef")}`);
    assert.match(html, /role="alert">The cursor is not one of this search&#39;s cursors/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a stranger's search is the same bytes with or without a private package; its reader finds it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ui-search-" });
  try {
    using f = await kvFixture(dir);
    await publishMany(f.app, 0, 3, f.admin);
    const paths = ["/", "/?q=hidden", "/api/packages", "/api/packages?query=hidden&limit=1"];
    const stranger = async () => {
      const out = [];
      for (const p of paths) out.push(await (await f.app.request(p, { headers: BROWSER })).text());
      return out;
    };
    const without = await stranger();
    await publishJsr(f.app, "@acme/hidden@1.0.0", {}, ALICE);
    assert.deepEqual(await stranger(), without);
    const api = await f.app.request("/api/packages?query=hidden", {
      headers: { authorization: `Bearer ${f.reader}` },
    });
    const body = await api.json();
    assert.deepEqual(body.items.map((i: { name: string }) => i.name), ["hidden"]);
    assert.equal(body.items[0].versionCount, 1);
    const { session } = await signIn(f.app, f.reader);
    const home = await uiGet(f.app, "/?q=hidden", session);
    assert.match(await home.text(), /href="\/@acme\/hidden"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("on the real server, the home page and /api/packages page through every package", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ui-search-e2e-" });
  try {
    await using server = await startServer([
      `--storage=kv:${dir}/registry.kv`,
      `--data-dir=${dir}`,
      "--token=tok-alice",
      "--subject=alice",
      "--jsr-visibility=public",
      "--log-requests=false",
      "--token-upload-rate-limit=0",
      "--query-rate-limit=0",
    ]);
    const remote = {
      request: (path: string, init?: RequestInit) => fetch(`${server.url}${path}`, init),
    } as unknown as RegistryApp;
    await publishMany(remote, 0, 45, ALICE);
    const get = async (path: string) =>
      await (await fetch(`${server.url}${path}`, { headers: BROWSER })).text();
    assertWalk(await walkHome(get), 45);
    const seen: string[] = [];
    let url = `${server.url}/api/packages?limit=20`;
    let total = 0;
    for (let pages = 0; pages < 10; pages++) {
      const body = await (await fetch(url)).json();
      seen.push(...body.items.map((i: { name: string }) => i.name));
      total = body.total;
      if (body.cursor === undefined) break;
      url = `${server.url}/api/packages?limit=20&cursor=${encodeURIComponent(body.cursor)}`;
    }
    assert.equal(new Set(seen).size, 45);
    assert.equal(total, 45);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
