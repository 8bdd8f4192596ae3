// Bad input to every search surface: a clear 400 in that surface's format (or an
// ordinary answer where the input is merely odd), never a 500, never a scan.
import assert from "node:assert/strict";
import { sha256Hex } from "../base/digest.ts";
import { isRegistryError } from "../base/errors.ts";
import { SEARCH_INDEX_VERSION } from "../core/search_index.ts";
import { encodePosition, SEARCH_SCAN_BUDGET, searchPackages } from "../core/search.ts";
import { createRegistryApp } from "../routes/app.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import { CountingStorage, packageMutations } from "./_search_fixtures.ts";

/** 400 public ggui gadgets, committed in batches (more than one budget of rows). */
async function store(): Promise<{ inner: MemoryRegistryStorage; storage: CountingStorage }> {
  const inner = new MemoryRegistryStorage();
  for (let start = 0; start < 400; start += 10) {
    const mutations = Array.from({ length: 10 }, (_, k) =>
      packageMutations([{
        namespace: "@acme",
        name: `widget-${start + k}`,
        version: "1.0.0",
        format: "ggui.gadget" as const,
        description: "A widget",
        tags: ["ui"],
      }])).flat();
    assert.ok((await inner.commit({ checks: [], mutations })).ok);
  }
  return { inner, storage: new CountingStorage(inner) };
}

/** A cursor as the previous index layout made it: same payload, old check digest. */
function staleCursor(position: string[], binding: string): string {
  const current = encodePosition(position, binding);
  const payload = current.split(".")[0]!;
  const check = sha256Hex(`${SEARCH_INDEX_VERSION - 1}|${binding}|${payload}`).slice(0, 16);
  return `${payload}.${check}`;
}

const ODD_TEXT = [
  "%F0%9F%98%80%00%E2%80%AE", // emoji, NUL, right-to-left override
  "%ED%A0%80", // a lone surrogate's UTF-8 (invalid)
  "e%CC%81t%C3%A9", // combining accent and precomposed
  "%ZZ", // not percent-encoding
  "x".repeat(1000), // the longest accepted
  "%E4%B8%AD%E6%96%87%20%D8%B9%D8%B1%D8%A8%D9%8A", // CJK and Arabic
];

Deno.test("ggui /search answers odd text with a page and refuses oversized or absurd input with its 400, reading at most one budget", async () => {
  const { storage } = await store();
  const app = createRegistryApp({
    storage,
    bundles: new MemoryBundleStorage(),
    bundleHost: "http://127.0.0.1:1",
    registryHostname: "127.0.0.1:1",
    rateLimitPerMinute: 0,
    metadataRateLimitPerMinute: 0,
    queryRateLimitPerMinute: 0,
    tokenUploadRateLimitPerMinute: 0,
  });
  const get = async (query: string) => {
    storage.reads = 0;
    const res = await app.request(`http://127.0.0.1/search?${query}`);
    const body = await res.json();
    assert.ok(storage.reads <= SEARCH_SCAN_BUDGET + 10, `${query.slice(0, 40)}: ${storage.reads}`);
    return { status: res.status, body };
  };
  for (const q of ODD_TEXT) {
    const { status, body } = await get(`q=${q}`);
    assert.equal(status, 200, q.slice(0, 40));
    assert.ok(Array.isArray(body.results), q.slice(0, 40));
  }
  const first = await get("limit=2");
  const binding = JSON.stringify(["ggui", {}, null]);
  const refused: [string, string][] = [
    ["q=" + "x".repeat(1001), "`q` must have at most 1000 characters"],
    ["q=" + "é".repeat(100_000), "`q` must have at most 1000 characters"],
    [
      "q=" + Array.from({ length: 17 }, (_, i) => `w${i}`).join("+"),
      "`q` must have at most 16 words",
    ],
    ["kind=package", "`kind` must be one of: gadget, blueprint"],
    ["limit=99999999999999999999", "`limit` must be an integer in [1, 200]"],
    ["limit=-5", "`limit` must be an integer in [1, 200]"],
    ["limit=NaN", "`limit` must be an integer in [1, 200]"],
    ["sort=oldest", "`sort` must be one of: recent"],
    ["tool=%F0%9F%98%80", "`tool` must match ^[A-Za-z0-9_.-]{1,128}$"],
  ];
  const badCursor = "`cursor` is not a cursor of this search: start again without it";
  for (
    const cursor of [
      "x".repeat(100_000),
      "99999999999999999999",
      "301",
      "eyJhIjoxfQ.0000000000000000", // well-formed, forged check
      staleCursor(["@acme", "widget-1"], binding), // the previous index layout's
      `${first.body.nextCursor}%00`,
    ]
  ) refused.push([`limit=2&cursor=${cursor}`, badCursor]);
  for (const [query, message] of refused) {
    const { status, body } = await get(query);
    assert.equal(status, 400, query.slice(0, 60));
    assert.deepEqual(
      body,
      { error: "invalid_request", code: "invalid_request", message },
      query.slice(0, 60),
    );
  }
});

Deno.test("searchPackages() refuses unknown filters, wrong types, oversized text and stale cursors with invalid_input, before reading a row", async () => {
  const { storage } = await store();
  const first = await searchPackages(storage, { limit: 2 });
  const binding = JSON.stringify(["packages", [], [], undefined, undefined, "name"]);
  const refused: [Record<string, unknown>, RegExp][] = [
    [{ author: "alice" }, /Unknown search filter 'author'/],
    [{ q: 42 }, /Invalid search filter 'q'/],
    [{ limit: "20" }, /Invalid search filter 'limit'/],
    [{ q: "x".repeat(1001) }, /at most 1000 characters/],
    [{ format: "x".repeat(5000) }, /Invalid search filter 'format'/],
    [{ limit: 1e9 }, /page size/],
    [{ limit: Number.NaN }, /Invalid search filter 'limit'/],
    [{ cursor: "x".repeat(5000) }, /Invalid search filter 'cursor'/],
    [{ cursor: `${first.cursor}x` }, /not one of this search's cursors/],
    [{ cursor: staleCursor(["@acme", "widget-1"], binding) }, /not one of this search's cursors/],
  ];
  for (const [query, message] of refused) {
    storage.reads = 0;
    await assert.rejects(
      searchPackages(storage, query as never),
      (e) => isRegistryError(e) && e.code === "invalid_input" && message.test(e.message),
      JSON.stringify(query).slice(0, 60),
    );
    assert.equal(storage.reads, 0, JSON.stringify(query).slice(0, 60));
  }
  // Odd but valid text is a search like any other.
  for (const q of ["😀\u0000\u202e", "\ud800", "e\u0301té", "中文 عربي"]) {
    storage.reads = 0;
    assert.deepEqual((await searchPackages(storage, { q })).items, []);
    assert.ok(storage.reads <= SEARCH_SCAN_BUDGET);
  }
});
