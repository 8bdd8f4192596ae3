import assert from "node:assert/strict";
import type { Hono } from "hono";
import type { ScopeRow } from "../core/rows.ts";
import { updateRow } from "../core/store.ts";
import { createToken, storedTokenAuthenticator } from "../core/tokens.ts";
import { createGguiRoutes } from "../routes/ggui/mod.ts";
import { CLI_PRINCIPAL } from "../server/cli.ts";
import { scopeKey } from "../storage/keys.ts";
import {
  BUNDLE_HOST,
  makeGadget,
  makeGguiApp,
  makeKey,
  makePublicBlueprint,
  makePublicGadget,
  publish,
  registerKey,
  TOKENS,
} from "./_ggui_fixtures.ts";

async function ok(app: Hono, token: string, body: unknown): Promise<void> {
  const res = await publish(app, token, body);
  assert.equal(res.status, 201, await res.text());
}

// deno-lint-ignore no-explicit-any -- test bodies are inspected field by field
type Body = any;

async function search(app: Hono, query: string): Promise<{ status: number; body: Body }> {
  const res = await app.request(`/search${query}`);
  return { status: res.status, body: await res.json() };
}

function ids(body: { results: { artifactId: string }[] }): string[] {
  return body.results.map((r) => r.artifactId);
}

/** A registry with a small public catalogue, a private artifact and a Rack-like package. */
async function catalogue(options: { secret?: boolean } = {}) {
  const env = makeGguiApp({ publicLane: true });
  const { app } = env;
  await ok(
    app,
    TOKENS.alice,
    makePublicGadget({
      manifest: {
        name: "map",
        description: "Interactive map",
        tags: ["geo", "maps"],
        mcpTools: [{ server: "weather", tool: "forecast" }, { tool: "geocode" }],
      },
    }),
  );
  await ok(
    app,
    TOKENS.alice,
    makePublicGadget({
      manifest: {
        name: "chart",
        description: "Charts for data",
        tags: ["viz"],
        author: { name: "Grace Hopper" },
        exports: [{
          component: "BarChart",
          description: "Bars",
          usage: "Render it",
          example: null,
        }],
      },
      source: "export function BarChart() {}\n",
    }),
  );
  await ok(
    app,
    TOKENS.bob,
    makePublicBlueprint({
      manifest: {
        scope: "@bobco",
        name: "weather-card",
        description: "Shows weather",
        tags: ["geo"],
        contract: {
          propsSpec: {
            properties: { temp: { schema: { type: "number" }, sourceTool: "forecast" } },
          },
        },
      },
    }),
  );
  const key = await makeKey();
  await registerKey(app, TOKENS.alice, key);
  if (options.secret !== false) {
    await ok(app, TOKENS.alice, await makeGadget(key, { manifest: { name: "secret-map" } }));
  }
  return env;
}

Deno.test("search() lists public artifacts only, with the entry fields", async () => {
  const { app } = await catalogue();
  const { status, body } = await search(app, "");
  assert.equal(status, 200);
  assert.deepEqual(ids(body).sort(), ["@acme/chart", "@acme/map", "@bobco/weather-card"]);
  assert.equal(body.nextCursor, undefined);
  const map = body.results.find((r: { artifactId: string }) => r.artifactId === "@acme/map");
  assert.deepEqual(map, {
    artifactId: "@acme/map",
    latestVersion: "1.0.0",
    kind: "gadget",
    description: "Interactive map",
    tags: ["geo", "maps"],
    publishedAt: map.publishedAt,
    mcpTools: [{ server: "weather", tool: "forecast" }, { tool: "geocode" }],
    mcpToolsSource: "declared",
    scopeVerification: "unverified",
  });
  const card = body.results.find((r: { artifactId: string }) =>
    r.artifactId === "@bobco/weather-card"
  );
  assert.deepEqual(card.mcpTools, [{ tool: "forecast" }]);
  assert.equal(card.mcpToolsSource, "derived");
  assert.equal(card.kind, "blueprint");
});

Deno.test("search() AND-composes kind, q, tag, hook, author, tool and server filters", async () => {
  const { app } = await catalogue();
  const cases: [string, string[]][] = [
    ["?kind=gadget", ["@acme/chart", "@acme/map"]],
    ["?kind=blueprint", ["@bobco/weather-card"]],
    ["?q=MAP", ["@acme/map"]],
    ["?q=acme", []], // the scope is not searched
    ["?q=weather", ["@bobco/weather-card"]],
    ["?q=data", ["@acme/chart"]],
    ["?tag=geo", ["@acme/map", "@bobco/weather-card"]],
    ["?tag=GEO", []],
    ["?tag=geo&kind=gadget", ["@acme/map"]],
    ["?hook=useMap", ["@acme/map"]],
    ["?hook=BarChart", ["@acme/chart"]],
    ["?author=bob", ["@bobco/weather-card"]],
    ["?author=grace", ["@acme/chart"]],
    ["?author=alice&tag=viz", ["@acme/chart"]],
    ["?tool=forecast", ["@acme/map", "@bobco/weather-card"]],
    ["?server=weather", ["@acme/map"]],
    ["?tool=geocode&server=weather", []],
    ["?tool=forecast&server=weather", ["@acme/map"]],
    ["?tool=Forecast", []],
    ["?q=&kind=&tag=", ["@acme/chart", "@acme/map", "@bobco/weather-card"]],
  ];
  for (const [query, expected] of cases) {
    const { status, body } = await search(app, query);
    assert.equal(status, 200, query);
    assert.deepEqual(ids(body).sort(), expected, query);
  }
});

Deno.test("search() validates kind, limit, sort, tool and server in order", async () => {
  const { app } = await catalogue();
  const cases: [string, string][] = [
    ["?kind=widget&limit=0", "`kind` must be one of: gadget, blueprint"],
    ["?limit=0", "`limit` must be an integer in [1, 200]"],
    ["?limit=201", "`limit` must be an integer in [1, 200]"],
    ["?limit=abc", "`limit` must be an integer in [1, 200]"],
    ["?limit=-1", "`limit` must be an integer in [1, 200]"],
    ["?sort=popular", "`sort` must be one of: recent"],
    ["?tool=bad%20name", "`tool` must match ^[A-Za-z0-9_.-]{1,128}$"],
    ["?server=" + "x".repeat(129), "`server` must match ^[A-Za-z0-9_.-]{1,128}$"],
  ];
  for (const [query, message] of cases) {
    const { status, body } = await search(app, query);
    assert.equal(status, 400, query);
    assert.deepEqual(body, { error: "invalid_request", code: "invalid_request", message }, query);
  }
  // parseInt semantics are kept.
  assert.equal((await search(app, "?limit=5.5")).status, 200);
  assert.equal((await search(app, "?limit=2abc")).body.results.length, 2);
});

Deno.test("search() pages with an opaque cursor only while more rows remain", async () => {
  const env = makeGguiApp({ publicLane: true });
  const names = Array.from({ length: 7 }, (_, i) => `item-${String(i).padStart(2, "0")}`);
  for (const name of names) {
    await ok(env.app, TOKENS.alice, makePublicGadget({ manifest: { name } }));
  }
  const seen: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const { body }: { body: { results: { artifactId: string }[]; nextCursor?: string } } =
      await search(env.app, `?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    seen.push(...ids(body));
    cursor = body.nextCursor;
    if (cursor !== undefined) assert.equal(typeof cursor, "string");
    pages++;
  } while (cursor !== undefined);
  assert.equal(pages, 3);
  assert.deepEqual(seen, names.map((n) => `@acme/${n}`));
  // An exact last page sends no cursor.
  assert.equal((await search(env.app, "?limit=7")).body.nextCursor, undefined);
  // Garbage, negative and tampered cursors are a clear 400 (never a restart or a scan);
  // the original's decimal offsets work.
  const c1 = (await search(env.app, "?limit=2")).body.nextCursor as string;
  const tampered = c1.replace(/^./, (c) => c === "W" ? "X" : "W");
  const badCursor = {
    error: "invalid_request",
    code: "invalid_request",
    message: "`cursor` is not a cursor of this search: start again without it",
  };
  for (const bad of ["garbage", "-3", tampered, "999999999"]) {
    const res = await search(env.app, `?limit=2&cursor=${encodeURIComponent(bad)}`);
    assert.equal(res.status, 400, bad);
    assert.deepEqual(res.body, badCursor, bad);
  }
  assert.deepEqual(ids((await search(env.app, "?limit=2&cursor=4")).body), [
    "@acme/item-04",
    "@acme/item-05",
  ]);
  assert.deepEqual(ids((await search(env.app, "?limit=2&cursor=7")).body), []);
  // A cursor reused with other filters (or another sort) is refused too.
  const c2 = (await search(env.app, "?limit=2&kind=gadget")).body.nextCursor as string;
  assert.equal((await search(env.app, `?limit=2&cursor=${c2}`)).status, 400);
  assert.equal((await search(env.app, `?limit=2&sort=recent&cursor=${c1}`)).status, 400);
});

Deno.test("search() sorts by recency across the cursor chain with ties by id", async () => {
  const fixed = new Date("2026-11-22T01:00:00.000Z");
  let n = 0;
  // Every second publish gets the same time as the previous one.
  const env = makeGguiApp({
    publicLane: true,
    now: () => new Date(fixed.getTime() + Math.floor(n++ / 2) * 1000),
  });
  for (const name of ["aa", "bb", "cc", "dd", "ee"]) {
    await ok(env.app, TOKENS.alice, makePublicGadget({ manifest: { name } }));
  }
  const all: string[] = [];
  let cursor: string | undefined;
  do {
    const { body } = await search(
      env.app,
      `?sort=recent&limit=2${cursor ? `&cursor=${cursor}` : ""}`,
    );
    all.push(...ids(body));
    cursor = body.nextCursor;
  } while (cursor);
  const times = new Map<string, string>();
  for (const r of (await search(env.app, "?limit=200")).body.results) {
    times.set(r.artifactId, r.publishedAt);
  }
  const expected = [...times.keys()].sort((a, b) =>
    times.get(a)! !== times.get(b)! ? (times.get(a)! < times.get(b)! ? 1 : -1) : a < b ? -1 : 1
  );
  assert.deepEqual(all, expected);
  assert.notDeepEqual(all, [...all].sort()); // recency actually reordered
});

Deno.test("search() indexes the highest public version; a private release never hides it", async () => {
  const env = makeGguiApp({ publicLane: true });
  const key = await makeKey();
  await registerKey(env.app, TOKENS.alice, key);
  await ok(env.app, TOKENS.alice, makePublicGadget({ manifest: { version: "1.0.0" } }));
  await ok(env.app, TOKENS.alice, makePublicGadget({ manifest: { version: "1.1.0" } }));
  await ok(env.app, TOKENS.alice, makePublicGadget({ manifest: { version: "2.0.0-rc.1" } }));
  await ok(env.app, TOKENS.alice, await makeGadget(key, { manifest: { version: "3.0.0" } }));
  const { body } = await search(env.app, "");
  assert.equal(body.results.length, 1);
  assert.equal(body.results[0].latestVersion, "1.1.0");
});

Deno.test("search() adds verifiedDomain only for verified scopes", async () => {
  const { app, storage } = await catalogue();
  await updateRow<ScopeRow>(
    storage,
    scopeKey("@acme"),
    (row) => row && { ...row, verification: "verified", verifiedDomain: "acme.example" },
  );
  const { body } = await search(app, "");
  for (const r of body.results) {
    if (r.artifactId.startsWith("@acme/")) {
      assert.equal(r.scopeVerification, "verified");
      assert.equal(r.verifiedDomain, "acme.example");
    } else {
      assert.equal(r.scopeVerification, "unverified");
      assert.equal(r.verifiedDomain, undefined);
    }
  }
});

/** Every page of a search, following `nextCursor`, as one caller sees it. */
async function walkAll(app: Hono, query: string, token?: string): Promise<Body[]> {
  const pages: Body[] = [];
  let cursor: string | undefined;
  do {
    const sep = query.includes("?") ? "&" : "?";
    const url = `/search${query}${cursor ? `${sep}cursor=${encodeURIComponent(cursor)}` : ""}`;
    const res = await app.request(
      url,
      token ? { headers: { authorization: `Bearer ${token}` } } : {},
    );
    assert.equal(res.status, 200, url);
    const body = await res.json();
    pages.push(body);
    cursor = body.nextCursor;
  } while (cursor !== undefined);
  return pages;
}

const PRIVATE_QUERIES = [
  "",
  "?q=map",
  "?q=secret",
  "?sort=recent",
  "?limit=1",
  "?limit=1&sort=recent",
];

Deno.test("search() lists a private artifact to its scope's owner, never to a stranger or anonymous caller", async () => {
  const { app } = await catalogue();
  const mine = (await walkAll(app, "?q=map", TOKENS.alice)).flatMap(ids);
  assert.deepEqual(mine, ["@acme/map", "@acme/secret-map"]);
  for (const query of PRIVATE_QUERIES) {
    const all = (await walkAll(app, query, TOKENS.alice)).flatMap(ids);
    assert.ok(all.includes("@acme/secret-map"), query);
    assert.equal(new Set(all).size, all.length, `${query}: a result twice`);
    for (const who of [undefined, TOKENS.bob]) {
      const seen = (await walkAll(app, query, who)).flatMap(ids);
      assert.ok(!seen.includes("@acme/secret-map"), `${query} as ${who}`);
    }
  }
  const res = await app.request("/search?q=secret", {
    headers: { authorization: `Bearer ${TOKENS.alice}` },
  });
  assert.equal(res.headers.get("cache-control"), "private, no-cache");
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
  const anonymous = await app.request("/search?q=secret");
  assert.deepEqual(await anonymous.json(), { results: [] });
  assert.equal(anonymous.headers.get("cache-control"), null);
});

Deno.test("search() answers a stranger the same bytes whether or not a private artifact exists", async () => {
  const withSecret = await catalogue();
  const without = await catalogue({ secret: false });
  for (const query of PRIVATE_QUERIES) {
    for (const who of [undefined, TOKENS.bob]) {
      assert.deepEqual(
        await walkAll(withSecret.app, query, who),
        await walkAll(without.app, query, who),
        `${query} as ${who}`,
      );
    }
  }
});

Deno.test("search() lists a private artifact to an API token that may read its namespace, not to one of another namespace", async () => {
  const { ctx } = await catalogue();
  const app = createGguiRoutes({
    ctx,
    authenticator: storedTokenAuthenticator(ctx),
    bundleHost: BUNDLE_HOST,
    registryHostname: "127.0.0.1:9011",
  });
  const token = async (namespace: string) =>
    (await createToken(ctx, {
      subject: `ci-${namespace.slice(1)}`,
      grants: [{ namespace, actions: ["read"] }],
    }, CLI_PRINCIPAL)).secret;
  const reader = (await walkAll(app, "?q=map", await token("@acme"))).flatMap(ids);
  assert.deepEqual(reader, ["@acme/map", "@acme/secret-map"]);
  const other = (await walkAll(app, "?q=map", await token("@bobco"))).flatMap(ids);
  assert.deepEqual(other, ["@acme/map"]);
});
