// GET /api/packages?query=: the pages' search as JSON in JSR's API shape
// (jsr-io/jsr api/src/api/types.rs ApiList<ApiPackage>), under the same
// privacy rules, and any query parameters an answer, never an error.
import assert from "node:assert/strict";
import { ALICE, publishJsr, uiFixture } from "./_ui_fixtures.ts";

/** JSR's ApiPackage field names (serde camelCase), plus our `format`. */
const JSR_FIELDS = [
  "createdAt",
  "dependencyCount",
  "dependentCount",
  "description",
  "format",
  "githubRepository",
  "isArchived",
  "latestVersion",
  "name",
  "readmeSource",
  "runtimeCompat",
  "scope",
  "score",
  "updatedAt",
  "versionCount",
  "whenFeatured",
];

async function seeded() {
  const f = await uiFixture();
  await publishJsr(f.app, "@pub/greet@1.0.0", {}, f.admin);
  await publishJsr(f.app, "@pub/greet@1.1.0", {}, f.admin);
  await publishJsr(f.app, "@pub/other@1.0.0", {}, f.admin);
  await publishJsr(f.app, "@acme/greet-secret@1.0.0", {}, ALICE);
  return f;
}

async function search(f: Awaited<ReturnType<typeof seeded>>, qs: string, token?: string) {
  const res = await f.app.request(`/api/packages${qs}`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return { status: res.status, type: res.headers.get("content-type"), body: await res.json() };
}

Deno.test("GET /api/packages answers JSR's {items, total} with JSR's field names", async () => {
  const f = await seeded();
  const { status, type, body } = await search(f, "?query=greet");
  assert.equal(status, 200);
  assert.equal(type, "application/json");
  assert.deepEqual(Object.keys(body).sort(), ["items", "total"]);
  assert.equal(body.total, 1);
  const [item] = body.items;
  assert.deepEqual(Object.keys(item).sort(), JSR_FIELDS);
  assert.equal(item.scope, "pub");
  assert.equal(item.name, "greet");
  assert.equal(item.latestVersion, "1.1.0");
  assert.equal(item.versionCount, 2);
  assert.equal(item.format, "jsr");
  assert.ok(Date.parse(item.createdAt) <= Date.parse(item.updatedAt));
  // `@pub` names the scope, as on jsr.io; `@pub/greet` its package.
  assert.equal((await search(f, "?query=@pub")).body.total, 2);
  assert.equal((await search(f, "?query=@pub/greet")).body.items[0].name, "greet");
  // limit and cursor walk the results; total counts up to the end of each
  // page, and one more while a cursor follows.
  const first = await search(f, "?limit=1");
  assert.equal(first.body.items.length, 1);
  assert.equal(first.body.total, 2);
  assert.equal(typeof first.body.cursor, "string");
  const second = await search(f, `?limit=1&cursor=${encodeURIComponent(first.body.cursor)}`);
  assert.ok(second.body.total >= 2);
  assert.notEqual(first.body.items[0].name, second.body.items[0].name);
  // A cursor of another search is JSR's 400, never a restart or a scan.
  const foreign = await search(f, `?query=greet&cursor=${encodeURIComponent(first.body.cursor)}`);
  assert.equal(foreign.status, 400);
  assert.equal(foreign.body.code, "malformedRequest");
  assert.equal((await search(f, "?cursor=garbage")).status, 400);
});

Deno.test("GET /api/packages never shows a package the caller may not read, not even in total", async () => {
  const f = await seeded();
  for (const token of [undefined, "tok-bob"]) {
    const { body } = await search(f, "?query=greet", token);
    assert.equal(body.total, 1);
    assert.ok(!JSON.stringify(body).includes("secret"));
  }
  const reader = await search(f, "?query=greet", f.reader);
  assert.equal(reader.body.total, 2);
  assert.ok(reader.body.items.some((i: { name: string }) => i.name === "greet-secret"));
  // A token that is not one is JSR's 401, not an anonymous answer.
  const bad = await search(f, "?query=greet", "not-a-token");
  assert.equal(bad.status, 401);
  assert.equal(bad.body.code, "invalidBearerToken");
});

Deno.test("GET /api/packages answers any query parameters with a page, never an error", async () => {
  const f = await seeded();
  for (
    const qs of [
      "?query=" + "x".repeat(100_000),
      "?query=%F0%9F%98%80%00%E2%80%AE%ED%A0%80",
      "?page=999999999999999999999&limit=-5",
      "?page=abc&limit=1e3&format=nope",
      "?limit=100000",
      "?query=%ZZ",
    ]
  ) {
    const { status, body } = await search(f, qs);
    assert.equal(status, 200, qs.slice(0, 40));
    assert.ok(Array.isArray(body.items) && Number.isInteger(body.total), qs.slice(0, 40));
    assert.ok(body.items.length <= 100);
  }
  assert.equal((await search(f, "?format=rack")).body.total, 0);
});

Deno.test("GET /api/packages pages by JSR's page number, as a tool counting to total does", async () => {
  const f = await seeded();
  for (let i = 0; i < 6; i++) await publishJsr(f.app, `@pub/many-${i}@1.0.0`, {}, f.admin);
  const names = (body: { items: { scope: string; name: string }[] }) =>
    body.items.map((i) => `${i.scope}/${i.name}`);
  const all = names((await search(f, "?limit=100")).body);
  assert.equal(all.length, 8, "six more, greet and other (never the private one)");
  // A tool paging by number until it has `total` packages gets every one, in order.
  const seen: string[] = [];
  let last;
  for (let page = 1; page <= 10; page++) {
    last = await search(f, `?limit=3&page=${page}`);
    assert.equal(last.status, 200);
    seen.push(...names(last.body));
    if (seen.length >= last.body.total) break;
  }
  assert.deepEqual(seen, all);
  assert.equal(last!.body.total, 8);
  assert.equal(last!.body.cursor, undefined);
  // Page n is what n-1 cursors lead to.
  const byCursor = await search(
    f,
    `?limit=3&cursor=${
      encodeURIComponent(
        (await search(f, "?limit=3")).body.cursor,
      )
    }`,
  );
  assert.deepEqual((await search(f, "?limit=3&page=2")).body, byCursor.body);
  // Past the end: no packages, and how many there are.
  assert.deepEqual((await search(f, "?limit=3&page=9")).body, { items: [], total: 8 });
  // A private package is in no page and no total of a stranger's walk; its reader finds it.
  const reader = await search(f, "?limit=5&page=2", f.reader);
  assert.ok(names(reader.body).includes("acme/greet-secret"));
  assert.equal(reader.body.total, 9);
  // Refused clearly, in JSR's error shape: a page too deep, a page with a cursor.
  for (
    const qs of [
      "?limit=100&page=12",
      "?limit=1&page=1002",
      `?limit=3&page=2&cursor=${encodeURIComponent(byCursor.body.cursor ?? "x")}`,
    ]
  ) {
    const { status, body } = await search(f, qs);
    assert.equal(status, 400, qs);
    assert.equal(body.code, "malformedRequest", qs);
    assert.match(body.message, /cursor/, qs);
  }
  // Page 1, 0, negative or absurd numbers are the first page.
  const firstPage = (await search(f, "?limit=3")).body;
  for (const page of ["1", "0", "-4", "abc", "99999999999999999999"]) {
    assert.deepEqual((await search(f, `?limit=3&page=${page}`)).body, firstPage, page);
  }
});
