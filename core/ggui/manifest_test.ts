import assert from "node:assert/strict";
import {
  canonicalJson,
  checkCatalogProjection,
  type GadgetManifest,
  parseManifest,
  resolveMcpToolBindings,
  searchFactsOf,
} from "./manifest.ts";
import { makeBlueprintManifest, makeGadgetManifest } from "../../tests/_ggui_fixtures.ts";

function issuesOf(value: unknown) {
  const r = parseManifest(value);
  assert.equal(r.ok, false);
  return r.ok ? [] : r.issues;
}

Deno.test("parseManifest() accepts the minimal gadget and blueprint", () => {
  assert.equal(parseManifest(makeGadgetManifest()).ok, true);
  assert.equal(parseManifest(makeBlueprintManifest()).ok, true);
});

Deno.test("parseManifest() rejects unknown keys at the root and in nested strict objects", () => {
  assert.equal(issuesOf(makeGadgetManifest({ surprise: 1 }))[0]?.code, "unrecognized_keys");
  assert.equal(
    issuesOf(makeGadgetManifest({ author: { name: "A", twitter: "@a" } }))[0]?.code,
    "unrecognized_keys",
  );
  assert.ok(
    issuesOf(makeGadgetManifest({
      exports: [{ hook: "useX", description: "d", usage: "u", example: 1, extra: true }],
    })).length > 0,
  );
  assert.equal(
    issuesOf(makeBlueprintManifest({ variance: { mood: "x" } }))[0]?.code,
    "unrecognized_keys",
  );
  // The contract is passthrough at its top level.
  assert.equal(parseManifest(makeBlueprintManifest({ contract: { futureField: 1 } })).ok, true);
});

Deno.test("parseManifest() enforces the scope, name and version grammars", () => {
  for (const scope of ["@a", "@-acme", "@acme-", "acme", "@Acme", "@ac_me", "@" + "a".repeat(65)]) {
    assert.deepEqual(issuesOf(makeGadgetManifest({ scope }))[0]?.path, ["scope"], scope);
  }
  for (const scope of ["@ab", "@a-b", "@" + "a".repeat(64)]) {
    assert.equal(parseManifest(makeGadgetManifest({ scope })).ok, true, scope);
  }
  for (const name of ["a", "-ab", "ab-", "a_b", "AB", "@ab"]) {
    assert.deepEqual(issuesOf(makeGadgetManifest({ name }))[0]?.path, ["name"], name);
  }
  for (const version of ["1.0", "v1.0.0", "01.0.0", "1.0.0-", "1.0.0+", "1.0.0-01"]) {
    const issue = issuesOf(makeGadgetManifest({ version }))[0];
    assert.deepEqual(issue?.path, ["version"], version);
    assert.equal(
      issue?.message,
      "version must be valid semver (MAJOR.MINOR.PATCH with optional `-pre` / `+build`).",
    );
  }
  for (const version of ["0.0.0", "1.2.3-rc.1", "1.2.3-alpha-1+build.5", "10.20.30"]) {
    assert.equal(parseManifest(makeGadgetManifest({ version })).ok, true, version);
  }
});

Deno.test("parseManifest() checks gadget exports, tags, mcpTools and the kind discriminator", () => {
  assert.equal(
    issuesOf(makeGadgetManifest({ exports: [] }))[0]?.message,
    "a gadget package must declare at least one export.",
  );
  assert.ok(
    issuesOf(
      makeGadgetManifest({ exports: [{ hook: "map", description: "d", usage: "u", example: 1 }] }),
    ).length > 0,
  );
  assert.equal(
    parseManifest(
      makeGadgetManifest({
        exports: [{ component: "MapView", description: "d", usage: "u", example: null }],
      }),
    ).ok,
    true,
  );
  assert.equal(
    issuesOf(makeGadgetManifest({ tags: Array(21).fill("a") }))[0]?.message,
    "at most 20 tags per artifact",
  );
  assert.equal(
    issuesOf(makeGadgetManifest({ mcpTools: [{ tool: "a" }, { tool: "a" }] }))[0]?.message,
    "duplicate `(server, tool)` binding pairs are not allowed.",
  );
  assert.equal(
    parseManifest(makeGadgetManifest({ mcpTools: [{ tool: "a" }, { server: "s", tool: "a" }] })).ok,
    true,
  );
  assert.deepEqual(issuesOf({ kind: "widget" })[0]?.path, ["kind"]);
  assert.deepEqual(issuesOf(null)[0]?.code, "invalid_type");
  assert.ok(
    issuesOf(makeGadgetManifest({ description: undefined })).some((i) =>
      i.path[0] === "description"
    ),
  );
  assert.equal(parseManifest(makeBlueprintManifest({ description: undefined })).ok, true);
});

Deno.test("canonicalJson() sorts keys recursively by code unit and keeps array order", () => {
  assert.equal(
    canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null }, B: 0 }),
    '{"B":0,"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}',
  );
  assert.equal(canonicalJson("x"), '"x"');
});

Deno.test("resolveMcpToolBindings() prefers declared bindings, else derives from the contract", () => {
  const declared = parseManifest(makeBlueprintManifest({
    mcpTools: [{ tool: "declared" }],
    contract: { propsSpec: { properties: { a: { schema: {}, sourceTool: "derived" } } } },
  }));
  assert.ok(declared.ok);
  assert.deepEqual(resolveMcpToolBindings(declared.manifest), {
    source: "declared",
    bindings: [{ tool: "declared" }],
  });
  const derived = parseManifest(makeBlueprintManifest({
    contract: {
      propsSpec: {
        properties: {
          a: { schema: {}, sourceTool: "one" },
          b: { schema: {}, sourceTool: "bad name" },
          c: { schema: {}, sourceTool: "one" },
        },
      },
      streamSpec: { s: { schema: {}, source: { tool: "two" } } },
    },
  }));
  assert.ok(derived.ok);
  assert.deepEqual(resolveMcpToolBindings(derived.manifest), {
    source: "derived",
    bindings: [{ tool: "one" }, { tool: "two" }],
  });
  const many = parseManifest(makeBlueprintManifest({
    contract: {
      propsSpec: {
        properties: Object.fromEntries(
          Array.from({ length: 20 }, (_, i) => [`p${i}`, { schema: {}, sourceTool: `t${i}` }]),
        ),
      },
    },
  }));
  assert.ok(many.ok);
  assert.equal(resolveMcpToolBindings(many.manifest)?.bindings.length, 16);
  const gadget = parseManifest(makeGadgetManifest());
  assert.ok(gadget.ok);
  assert.equal(resolveMcpToolBindings(gadget.manifest), undefined);
});

Deno.test("searchFactsOf() projects hook, author name and omits absent fields", () => {
  const g = parseManifest(makeGadgetManifest({ tags: undefined, author: undefined }));
  assert.ok(g.ok);
  assert.deepEqual(searchFactsOf(g.manifest), {
    kind: "gadget",
    description: "An interactive map",
    hook: "useMap",
  });
  const b = parseManifest(makeBlueprintManifest({ author: { name: "Ada" } }));
  assert.ok(b.ok);
  assert.deepEqual(searchFactsOf(b.manifest), {
    kind: "blueprint",
    description: "A card blueprint",
    tags: ["ui"],
    authorName: "Ada",
  });
});

Deno.test("checkCatalogProjection() requires full URLs in connect and a catalog-grade version", () => {
  const sri = "sha384-" + "A".repeat(64);
  const parse = (o: Record<string, unknown>) => {
    const r = parseManifest(makeGadgetManifest(o));
    assert.ok(r.ok);
    return r.manifest as GadgetManifest;
  };
  assert.deepEqual(checkCatalogProjection(parse({ connect: ["https://tiles.example.com"] }), sri), {
    ok: true,
  });
  const bad = checkCatalogProjection(parse({ connect: ["tiles.example.com"] }), sri);
  assert.equal(bad.ok, false);
  if (!bad.ok) assert.equal(bad.path, "connect.0");
  const pre = checkCatalogProjection(parse({ version: "1.0.0-rc-1" }), sri);
  assert.equal(pre.ok ? "" : pre.path, "version");
  assert.deepEqual(checkCatalogProjection(parse({ version: "1.0.0-rc.1" }), sri), { ok: true });
});
