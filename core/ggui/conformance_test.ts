import assert from "node:assert/strict";
import {
  checkConformance,
  checkConformanceAsync,
  checkConformanceRequest,
  MAX_BLUEPRINT_SOURCE_BYTES,
} from "./conformance.ts";
import { INLINE_PARSE_LIMIT, offThreadGates } from "./parse.ts";
import {
  GADGET_SOURCE,
  makeBlueprintManifest,
  makeGadgetManifest,
} from "../../tests/_ggui_fixtures.ts";

Deno.test("checkConformance() maps every schema issue to manifest_invalid with its zod code", () => {
  const r = checkConformance({ manifest: makeGadgetManifest({ name: "X", version: "1" }) });
  assert.equal(r.ok, false);
  assert.deepEqual(r.errors.map((e) => [e.code, e.path]), [["manifest_invalid", ["name"]], [
    "manifest_invalid",
    ["version"],
  ]]);
  assert.deepEqual(r.errors[0]?.detail, { zodCode: "invalid_format" });
});

Deno.test("checkConformance() requires gadget bundle text", () => {
  for (const bundle of [undefined, "", 42]) {
    const r = checkConformance({ manifest: makeGadgetManifest(), bundle });
    assert.deepEqual(r.errors.map((e) => e.code), ["bundle_parse_error"]);
  }
  assert.equal(
    checkConformance({ manifest: makeGadgetManifest(), bundle: GADGET_SOURCE }).ok,
    true,
  );
});

Deno.test("checkConformance() caps blueprint source at exactly 5 MiB of UTF-8", () => {
  const head = "export default 1;//";
  const exact = head + "x".repeat(MAX_BLUEPRINT_SOURCE_BYTES - head.length);
  assert.equal(checkConformance({ manifest: makeBlueprintManifest({ source: exact }) }).ok, true);
  // 'é' is two UTF-8 bytes: the limit counts bytes, not characters.
  const over = exact.slice(0, -1) + "é";
  const r = checkConformance({ manifest: makeBlueprintManifest({ source: over }) });
  assert.deepEqual(r.errors.map((e) => e.code), ["blueprint_source_too_large"]);
  assert.deepEqual(r.errors[0]?.detail, {
    sourceBytes: MAX_BLUEPRINT_SOURCE_BYTES + 1,
    maxBytes: MAX_BLUEPRINT_SOURCE_BYTES,
  });
});

Deno.test("checkConformance() checks fixture props against required propsSpec keys", () => {
  const contract = {
    propsSpec: {
      properties: { a: { schema: {}, required: true }, b: { schema: {}, required: false } },
    },
  };
  assert.equal(
    checkConformance({ manifest: makeBlueprintManifest({ contract, fixtureProps: { a: 1 } }) }).ok,
    true,
  );
  const missing = checkConformance({
    manifest: makeBlueprintManifest({ contract, fixtureProps: { b: 1 } }),
  });
  assert.deepEqual(missing.errors[0]?.detail, { missingKeys: ["a"] });
  for (
    const [fixtureProps, received] of [[null, "null"], [[1], "array"], ["s", "string"]] as const
  ) {
    const r = checkConformance({ manifest: makeBlueprintManifest({ contract, fixtureProps }) });
    assert.equal(r.errors[0]?.code, "fixture_props_shape_mismatch");
    assert.deepEqual(r.errors[0]?.detail, { received });
  }
  // Only when both the fixture and the propsSpec exist.
  assert.equal(
    checkConformance({ manifest: makeBlueprintManifest({ fixtureProps: null }) }).ok,
    true,
  );
});

Deno.test("checkConformance() runs pluggable code gates at their place in the sequence", () => {
  const seen: string[] = [];
  const codeGates = {
    gadget: (_m: unknown, bundle: string) => {
      seen.push(bundle);
      return [{
        code: "disallowed_import" as const,
        message: "no",
        detail: { source: "fs", line: 1, column: 1 },
      }];
    },
    blueprint: () => [{
      code: "blueprint_compile_error" as const,
      message: "syntax",
      detail: { line: 1, column: 2 },
    }],
  };
  const g = checkConformance({ manifest: makeGadgetManifest(), bundle: "x" }, { codeGates });
  assert.deepEqual(g.errors.map((e) => e.code), ["disallowed_import"]);
  assert.deepEqual(seen, ["x"]);
  // A missing bundle short-circuits before the code gates.
  checkConformance({ manifest: makeGadgetManifest() }, { codeGates });
  assert.equal(seen.length, 1);
  // A compile error short-circuits the fixture gate.
  const b = checkConformance({
    manifest: makeBlueprintManifest({
      fixtureProps: null,
      contract: { propsSpec: { properties: {} } },
    }),
  }, { codeGates });
  assert.deepEqual(b.errors.map((e) => e.code), ["blueprint_compile_error"]);
});

Deno.test("checkConformanceRequest() answers 200 with issues beside errors", async () => {
  const r = await checkConformanceRequest({}, { body: { manifest: makeGadgetManifest() } });
  assert.equal(r.status, 200);
  assert.equal(r.body.ok, false);
  assert.equal(r.body.issues, r.body.errors);
});

Deno.test("checkConformanceAsync() parses large inputs off the event loop with the same results", async () => {
  const pad = "//" + "x".repeat(INLINE_PARSE_LIMIT);
  const cases = [
    { manifest: makeGadgetManifest(), bundle: `import "evil";\nexport const other = 1;${pad}` },
    { manifest: makeGadgetManifest(), bundle: `export function useMap() {}\nconst = 1;${pad}` },
    { manifest: makeGadgetManifest(), bundle: GADGET_SOURCE + pad },
    { manifest: makeBlueprintManifest({ source: `const X = 1;\nexport { X };${pad}` }) },
    {
      manifest: makeBlueprintManifest({
        source: `export default (${pad}\n`,
        contract: { propsSpec: { properties: {} } },
        fixtureProps: 1,
      }),
    },
    { manifest: makeBlueprintManifest({ source: `export default 1;${pad}` }) },
  ];
  // The event loop keeps turning while a large input is parsed.
  let ticks = 0;
  const ticker = setInterval(() => ticks++, 1);
  try {
    for (const input of cases) {
      const sync = checkConformance(input);
      const async = await checkConformanceAsync(input);
      assert.deepEqual(async.errors, sync.errors);
      assert.equal(async.ok, sync.ok);
    }
  } finally {
    clearInterval(ticker);
  }
  assert.ok(ticks > 0);
});

Deno.test("offThreadGates() fails closed at its time limit", async () => {
  // ~4 MiB of statements: far more than 50 ms of parsing.
  const bundle = GADGET_SOURCE + "a = [1, 2, 3];\n".repeat(300_000);
  const errors = await offThreadGates(
    { kind: "gadget", manifest: makeGadgetManifest() as never, bundle },
    { timeoutMs: 50 },
  );
  assert.deepEqual(errors.map((e) => [e.code, e.message]), [[
    "bundle_parse_error",
    "parsing timed out",
  ]]);
});

Deno.test("the warm parser worker answers again after a timeout ended it", async () => {
  const errors = await offThreadGates({
    kind: "gadget",
    manifest: makeGadgetManifest() as never,
    bundle: 'import "evil";\nexport function useMap() {}',
  });
  assert.deepEqual(errors.map((e) => e.code), ["disallowed_import"]);
});
