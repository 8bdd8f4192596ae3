// The signed-out home and package pages on the prepared-read path
// (routes/ui/_prepared_pages.ts): they answer exactly as the full stack
// does, for every request shape a browser sends; once kept they answer at
// once (no store read, no session lookup, no render: a synchronous answer
// awaited nothing); concurrent requests at a read-cache expiry share one
// read; and the privacy rules hold: a cookie of any kind takes the full
// stack's session check, a signed-in page is never served to a stranger nor
// the stranger's page to the signed-in, and a private package answers the
// missing page's bytes.
import assert from "node:assert/strict";
import type { RegistryApp } from "../routes/app.ts";
import { MemoryRegistryStorage } from "../storage/memory.ts";
import type { Entry, ListOptions, Page, RowKey } from "../storage/types.ts";
import { ALICE, BROWSER, publishJsr, signIn, uiFixture } from "./_ui_fixtures.ts";
import { seenByClient } from "./_app_fixtures.ts";

const CONNECTION = { remoteAddr: { hostname: "192.0.2.7", port: 4000, transport: "tcp" } };
const PACKAGE_ROUTE = "/:scope{@[^/]+}/:pkg";

/** Rows in memory, every read counted. */
class CountingStorage extends MemoryRegistryStorage {
  reads = 0;
  override get<T = unknown>(key: RowKey): Promise<Entry<T> | null> {
    this.reads++;
    return super.get<T>(key);
  }
  override getMany<T = unknown>(keys: readonly RowKey[]): Promise<(Entry<T> | null)[]> {
    this.reads++;
    return super.getMany<T>(keys);
  }
  override list<T = unknown>(prefix: RowKey, options?: ListOptions): Promise<Page<Entry<T>>> {
    this.reads++;
    return super.list<T>(prefix, options);
  }
}

/** `@pub/greet` at three versions (the middle one yanked), and a private `@acme/secret`. */
async function seeded(readCacheMs: number) {
  const storage = new CountingStorage();
  const logs = { fast: [] as string[], slow: [] as string[] };
  const fixture = await uiFixture({
    storage,
    readCacheMs,
    requestLog: (line) => logs.fast.push(line),
  });
  const app = fixture.app;
  for (const v of ["1.0.0", "1.1.0", "1.2.0"]) {
    const readme = `# Greet ${v}\n\nHello.\n`;
    await publishJsr(app, `@pub/greet@${v}`, { "README.md": readme }, fixture.admin);
  }
  await publishJsr(app, "@acme/secret@1.0.0", { "README.md": "# Secret\n" }, ALICE);
  const yank = await app.request("/api/scopes/pub/packages/greet/versions/1.1.0", {
    method: "PATCH",
    headers: { authorization: `Bearer ${fixture.admin}`, "content-type": "application/json" },
    body: JSON.stringify({ yanked: true }),
  });
  assert.ok(yank.status < 300, `${yank.status} ${await yank.text()}`);
  // The same store through the full stack only (Hono's dispatch for every request).
  const slow = fixture.sibling({ fastReads: false, requestLog: (line) => logs.slow.push(line) });
  return { fixture, app, slow, storage, logs };
}

function request(path: string, headers: Record<string, string> = {}, method = "GET") {
  return new Request(`http://registry.test${path}`, {
    method,
    headers: { ...BROWSER, "x-request-id": "req-1", ...headers },
  });
}

/** The same request to both apps; both must agree. */
async function same(
  pair: { app: RegistryApp; slow: RegistryApp },
  path: string,
  headers: Record<string, string> = {},
  method = "GET",
) {
  const fast = await seenByClient(await pair.app.fetch(request(path, headers, method), CONNECTION));
  const slow = await seenByClient(
    await pair.slow.fetch(request(path, headers, method), CONNECTION),
  );
  assert.deepEqual(fast, slow, `${method} ${path} ${JSON.stringify(headers)}`);
  return fast;
}

const PATHS = [
  "/",
  "/?q=greet",
  "/?q=gr%C3%A9et+x&format=jsr",
  "/?format=nope&cursor=bogus&back=a,b",
  "/@pub/greet",
  "/@pub/greet@1.0.0",
  "/@pub/greet@1.1.0",
  "/@pub/greet?page=2",
  "/@pub/greet?page=0",
  "/@acme/secret",
  "/@acme/secret@1.0.0",
  "/@nobody/greet",
  "/@pub/greet@9.9.9",
];

for (const cache of [0, 600_000]) {
  const named = cache === 0 ? "" : ", kept rows answering at once";
  Deno.test(`signed-out pages answer on the prepared path exactly as the full stack${named}`, async () => {
    const pair = await seeded(cache);
    pair.logs.fast.length = 0;
    for (const path of PATHS) {
      const plain = await same(pair, path);
      await same(pair, path); // from what the first kept
      await same(pair, path, { "accept-encoding": "gzip, br" });
      await same(pair, path, { "accept-encoding": "gzip, br" });
      await same(pair, path, {}, "HEAD");
      const etag = plain.headers.find(([k]) => k === "etag")?.[1];
      if (etag) {
        assert.equal((await same(pair, path, { "if-none-match": etag })).status, 304, path);
        await same(pair, path, { "if-none-match": `W/${etag}, "other"` }, "HEAD");
        await same(pair, path, { "if-none-match": '"other"' });
      }
      // A stale session cookie: the full stack's session check, and the cookie cleared.
      const stale = await same(pair, path, { cookie: "registry_session=gone" });
      assert.ok(stale.headers.some(([k, v]) => k === "set-cookie" && v.includes("Max-Age=0")));
    }
    const secret = await same(pair, "/@acme/secret");
    assert.equal(secret.status, 404);
    assert.deepEqual(secret, await same(pair, "/@nobody/greet"), "private answers as missing");
    // The prepared path answered the signed-out requests: their log lines
    // carry the route table's row, where the full stack's read "unmatched".
    const routes = pair.logs.fast.map((line) => JSON.parse(line).route as string);
    assert.ok(routes.includes("/") && routes.includes(PACKAGE_ROUTE), routes.join(" "));
  });
}

Deno.test("a kept signed-out page answers at once: no store read, no session lookup, no render", async () => {
  const { app, storage, logs } = await seeded(600_000);
  for (const path of ["/", "/?q=greet", "/@pub/greet", "/@pub/greet@1.0.0?page=1"]) {
    const first = await app.fetch(request(path), CONNECTION);
    assert.equal(first.status, 200, path);
    const etag = first.headers.get("etag")!;
    await first.body?.cancel();
    const reads = storage.reads;
    // Kept: answered again and again without touching the store.
    const shapes: Record<string, string>[] = [
      {},
      { "if-none-match": etag },
      { "accept-encoding": "gzip" },
    ];
    for (const headers of shapes) {
      // (The first gzip request compresses the page, once; a search's, every time.)
      await (await app.fetch(request(path, headers), CONNECTION)).body?.cancel();
      const now = app.fetch(request(path, headers), CONNECTION);
      const atOnce = !(path.includes("?q=") && headers["accept-encoding"]);
      assert.equal(!(now instanceof Promise), atOnce, `${path} ${JSON.stringify(headers)}`);
      await (await now).body?.cancel();
    }
    assert.equal(storage.reads, reads, `${path}: no store read`);
    // Any session cookie goes to the full stack, which looks the session up.
    const cookie = app.fetch(request(path, { cookie: "registry_session=forged" }), CONNECTION);
    assert.ok(cookie instanceof Promise, `${path} with a cookie waits for its session check`);
    assert.equal((await cookie).status, 200);
  }
  const last = JSON.parse(logs.fast.at(-2)!);
  assert.equal(last.route, PACKAGE_ROUTE);
});

Deno.test("signed-out requests at a read-cache expiry share one read of the package", async () => {
  const { app, storage, fixture } = await seeded(600_000);
  const page = (path: string) =>
    Promise.resolve(app.fetch(request(path), CONNECTION)).then((r) => r.text());
  // A yank (a commit) replaces the package's rows: the next reads go to the store.
  const yank = async (yanked: boolean) => {
    const res = await app.request("/api/scopes/pub/packages/greet/versions/1.0.0", {
      method: "PATCH",
      headers: { authorization: `Bearer ${fixture.admin}`, "content-type": "application/json" },
      body: JSON.stringify({ yanked }),
    });
    assert.ok(res.status < 300, `${res.status} ${await res.text()}`);
  };
  const before = await page("/@pub/greet");
  await yank(true);
  let reads = storage.reads;
  const yanked = await page("/@pub/greet");
  const alone = storage.reads - reads;
  assert.ok(alone > 0, "the page read the store");
  assert.notEqual(yanked, before, "the yank shows");
  await yank(false);
  reads = storage.reads;
  const many = await Promise.all(Array.from({ length: 12 }, () => page("/@pub/greet")));
  assert.equal(storage.reads - reads, alone, "twelve requests read what one reads");
  assert.ok(many.every((html) => html === before), "the unyank shows");
});

Deno.test("a kept page shows this process's own publish at once, though rows are kept for minutes", async () => {
  const { app, fixture } = await seeded(600_000);
  const body = async (path: string) => await (await app.fetch(request(path), CONNECTION)).text();
  assert.match(await body("/@pub/greet"), /1\.2\.0/);
  assert.equal((await app.fetch(request("/@pub/greet@1.3.0"), CONNECTION)).status, 404);
  await publishJsr(app, "@pub/greet@1.3.0", {}, fixture.admin);
  const after = await body("/@pub/greet");
  assert.match(after, /<code>1\.3\.0<\/code>/, "the new latest is shown");
  assert.equal((await app.fetch(request("/@pub/greet@1.3.0"), CONNECTION)).status, 200);
  assert.match(await body("/"), /@pub\/greet/);
});

Deno.test("a signed-in reader's page is never a stranger's, nor the stranger's theirs", async () => {
  const { app, fixture } = await seeded(600_000);
  const { session } = await signIn(app, fixture.reader);
  assert.ok(session);
  const as = async (path: string, who?: string) => {
    const res = await app.fetch(
      request(path, who ? { cookie: `registry_session=${who}` } : {}),
      CONNECTION,
    );
    return { status: res.status, html: await res.text() };
  };
  const missing = await as("/@nobody/greet");
  for (let round = 0; round < 2; round++) {
    // The reader sees the private package and their own name; strangers see neither.
    const mine = await as("/@acme/secret", session);
    assert.equal(mine.status, 200);
    assert.match(mine.html, /Secret/);
    assert.match(mine.html, /reader/);
    assert.deepEqual(await as("/@acme/secret"), missing);
    const home = await as("/");
    assert.doesNotMatch(home.html, /secret|reader|sign-out/);
    assert.match((await as("/", session)).html, /@acme\/secret/);
    assert.doesNotMatch((await as("/@pub/greet")).html, /reader|sign-out/);
    assert.match((await as("/@pub/greet", session)).html, /sign-out/);
  }
});

Deno.test("the lazily mounted pages hold a prepared row for every prepared page of the table", async () => {
  const { uiRouteTable } = await import("../routes/ui/mod.ts");
  const { PREPARED_PAGE_PATHS } = await import("../routes/ui/lazy.ts");
  const { table } = uiRouteTable({ docRunner: null } as never);
  const prepared = table.filter((r) => r.prepared !== undefined).map((r) => r.path);
  assert.deepEqual(prepared, [...PREPARED_PAGE_PATHS]);
});
