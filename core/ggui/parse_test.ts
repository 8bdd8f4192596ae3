import assert from "node:assert/strict";
import { checkConformance, MAX_BLUEPRINT_SOURCE_BYTES } from "./conformance.ts";
import {
  blueprintCodeGates,
  isGadgetImportAllowed,
  lineColumn,
  MAX_BUNDLE_TEXT_BYTES,
  readModule,
} from "./parse.ts";
import { makeBlueprintManifest, makeGadgetManifest } from "../../tests/_ggui_fixtures.ts";

function gadget(bundle: string, manifest: Record<string, unknown> = {}) {
  return checkConformance({ manifest: makeGadgetManifest(manifest), bundle });
}

function blueprint(source: string, manifest: Record<string, unknown> = {}) {
  return checkConformance({ manifest: makeBlueprintManifest({ source, ...manifest }) });
}

Deno.test("gadget gate: a syntax error is bundle_parse_error with 1-based line, column and offset", () => {
  const r = gadget("export function useMap() {}\nconst x = ;\n");
  assert.deepEqual(r.errors.map((e) => e.code), ["bundle_parse_error"]);
  assert.deepEqual(r.errors[0]?.detail, { line: 2, column: 11, offset: 38 });
  assert.match(r.errors[0]!.message, /Unexpected token/);
});

Deno.test("gadget gate: the bundle parses as an ES module (module-only syntax, strict mode)", () => {
  assert.equal(gadget("export function useMap() { return import.meta.url; }").ok, true);
  // `with` is a syntax error in module (strict) code.
  const r = gadget("export function useMap() {}\nwith (a) {}\n");
  assert.equal(r.errors[0]?.code, "bundle_parse_error");
  assert.equal((r.errors[0]?.detail as { line: number }).line, 2);
  // TypeScript is not JavaScript.
  assert.equal(
    gadget("export function useMap(a: number) {}").errors[0]?.code,
    "bundle_parse_error",
  );
});

Deno.test("gadget gate: every disallowed static import is collected with source, line and column", () => {
  const r = gadget(
    'import React from "react";\nimport fs from "node:fs";\n  import "lodash";\nexport function useMap() {}',
  );
  assert.deepEqual(r.errors.map((e) => [e.code, e.detail]), [
    ["disallowed_import", { source: "node:fs", line: 2, column: 1 }],
    ["disallowed_import", { source: "lodash", line: 3, column: 3 }],
  ]);
});

Deno.test("gadget gate: the fixed four, peerDeps keys and subpaths of peerDeps roots are allowed", () => {
  const bundle = [
    'import "react"; import "react-dom"; import "react/jsx-runtime"; import "@ggui-ai/gadgets";',
    'import "leaflet"; import "leaflet/dist/x.css"; import "@s/pkg"; import "@s/pkg/deep/x";',
    "export function useMap() {}",
  ].join("\n");
  const peerDeps = { leaflet: "^1", "@s/pkg": "^2" };
  assert.deepEqual(gadget(bundle, { peerDeps }).errors, []);
  const r = gadget('import "react-dom/server"; import "@s/pkgx"; export function useMap() {}', {
    peerDeps,
  });
  assert.deepEqual(r.errors.map((e) => (e.detail as { source: string }).source), [
    "react-dom/server",
    "@s/pkgx",
  ]);
  assert.equal(isGadgetImportAllowed("@s", new Set(["@s"])), true);
  assert.equal(isGadgetImportAllowed("leaflet/", new Set(["leaflet"])), true);
  assert.equal(isGadgetImportAllowed("/leaflet", new Set(["leaflet"])), false);
});

Deno.test("gadget gate: re-exports are imports too", () => {
  const r = gadget(
    'export * from "node:fs";\nexport { x } from "evil";\nexport function useMap() {}',
  );
  assert.deepEqual(r.errors.map((e) => (e.detail as { source: string }).source), [
    "node:fs",
    "evil",
  ]);
});

Deno.test("gadget gate: dynamic import() anywhere needs an allowed plain literal", () => {
  const lines = [
    "export function useMap() {",
    '  const a = () => import("react");',
    "  const b = () => import(`react-dom`);",
    '  if (x) { return import("node:child_process"); }',
    "  return [import(name), import(`re${'act'}`), import(\"re\\u0061ct\"), import('a' + 'b')];",
    "}",
  ];
  const r = gadget(lines.join("\n"));
  // Positions are those of each `import(` (1-based columns).
  const at = (line: number, nth: number) => {
    let i = -1;
    for (let k = 0; k <= nth; k++) i = lines[line - 1]!.indexOf("import(", i + 1);
    return { line, column: i + 1 };
  };
  assert.deepEqual(r.errors.map((e) => e.detail), [
    { source: "node:child_process", ...at(4, 0) },
    { source: "<dynamic-expression>", expression: "name", ...at(5, 0) },
    { source: "<dynamic-expression>", expression: "`re${'act'}`", ...at(5, 1) },
    { source: "<dynamic-expression>", expression: '"re\\u0061ct"', ...at(5, 2) },
    { source: "<dynamic-expression>", expression: "'a' + 'b'", ...at(5, 3) },
  ]);
  assert.ok(r.errors.every((e) => e.code === "disallowed_import"));
});

Deno.test("gadget gate: every manifest export must be a named export unless there is a default", () => {
  const exportsOf = (...names: string[]) =>
    names.map((n) => ({
      ...(n.startsWith("use") ? { hook: n } : { component: n }),
      description: "d",
      usage: "u",
      example: null,
    }));
  const manifest = { exports: exportsOf("useMap", "MapView", "useGeo") };
  const r = gadget("export function useMap() {}\nexport const { a, b: [MapView] } = x;", manifest);
  assert.deepEqual(r.errors.map((e) => [e.code, e.detail]), [
    ["missing_default_export", { expectedHook: "useGeo" }],
  ]);
  assert.equal(
    gadget("const q = 1; export { q as useGeo, q as MapView, q as useMap };", manifest).ok,
    true,
  );
  assert.equal(gadget("export default function () {}", manifest).ok, true);
  assert.equal(gadget("const a = 1; export { a as default };", manifest).ok, true);
  assert.equal(
    gadget('export * as useMap from "react";', { exports: exportsOf("useMap") }).ok,
    true,
  );
  // Imports and exports are reported together.
  const both = gadget('import "evil";\nexport const other = 1;');
  assert.deepEqual(both.errors.map((e) => e.code), ["disallowed_import", "missing_default_export"]);
});

Deno.test("gadget gate: bundle text over 5 MiB is refused without parsing", () => {
  const r = gadget("export function useMap() {}//" + "é".repeat(MAX_BUNDLE_TEXT_BYTES / 2));
  assert.deepEqual(r.errors.map((e) => e.code), ["bundle_parse_error"]);
  assert.deepEqual(r.errors[0]?.detail, { line: 1, column: 1, offset: 0 });
});

Deno.test("blueprint gate: exactly 5 MiB of valid source passes, one byte more does not", () => {
  const head = "export default function Card() { return null; }\n//";
  const exact = head + "x".repeat(MAX_BLUEPRINT_SOURCE_BYTES - head.length);
  assert.equal(blueprint(exact).ok, true);
  assert.deepEqual(blueprint(exact + "x").errors.map((e) => e.code), [
    "blueprint_source_too_large",
  ]);
});

Deno.test("blueprint gate: a TSX syntax error is blueprint_compile_error with line and column", () => {
  const r = blueprint("export default function Card() {\n  return <div>;\n}\n");
  assert.deepEqual(r.errors.map((e) => e.code), ["blueprint_compile_error"]);
  const d = r.errors[0]?.detail as { line: number; column: number };
  assert.equal(d.line, 2);
  assert.equal(typeof d.column, "number");
  // TypeScript and JSX both parse.
  assert.equal(
    blueprint("type P = { a?: number };\nexport default function C(p: P) { return <b>{p.a!}</b>; }")
      .ok,
    true,
  );
});

Deno.test("blueprint gate: only the four imports, static or dynamic, and no peerDeps channel", () => {
  const r = blueprint([
    'import React from "react";',
    'import { x } from "leaflet";',
    'import type { Y } from "zod";',
    'export * from "node:os";',
    "export default function C() { import(`react-dom`); import(p); return null; }",
  ].join("\n"));
  assert.deepEqual(r.errors.map((e) => [e.code, (e.detail as { source: string }).source]), [
    ["blueprint_disallowed_import", "leaflet"],
    ["blueprint_disallowed_import", "zod"],
    ["blueprint_disallowed_import", "node:os"],
    ["blueprint_disallowed_import", "<dynamic-expression>"],
  ]);
  assert.deepEqual(r.errors[0]?.detail, { source: "leaflet", line: 2, column: 1 });
});

Deno.test("blueprint gate: `export { X as default }` is a default export, `export { X }` is not", () => {
  assert.equal(blueprint("const X = () => null;\nexport { X as default };").ok, true);
  assert.equal(blueprint('export { default } from "react";').ok, true);
  const r = blueprint("const X = () => null;\nexport { X };");
  assert.deepEqual(r.errors.map((e) => e.code), ["blueprint_missing_default_export"]);
  assert.equal(r.errors[0]?.detail, undefined);
});

Deno.test("blueprint gate: imports, default export and fixture shape are reported together", () => {
  const r = blueprint('import "evil";\nexport const A = 1;', {
    contract: { propsSpec: { properties: { a: { schema: {}, required: true } } } },
    fixtureProps: {},
  });
  assert.deepEqual(r.errors.map((e) => e.code), [
    "blueprint_disallowed_import",
    "blueprint_missing_default_export",
    "fixture_props_shape_mismatch",
  ]);
  assert.deepEqual(r.errors[2]?.detail, { missingKeys: ["a"] });
  // A syntax error short-circuits everything after it.
  const s = blueprint("export default (", {
    contract: { propsSpec: { properties: {} } },
    fixtureProps: 1,
  });
  assert.deepEqual(s.errors.map((e) => e.code), ["blueprint_compile_error"]);
});

Deno.test("a deeply nested tree is a parse error, not a crash", () => {
  const depth = 200_000;
  const nested = "export default " + "(".repeat(depth) + "1" + ")".repeat(depth) + ";";
  const r = blueprint(nested);
  assert.deepEqual(r.errors.map((e) => e.code), ["blueprint_compile_error"]);
  assert.match(r.errors[0]!.message, /nests too deeply/);
  const g = gadget("export const useMap = " + "[".repeat(depth) + "]".repeat(depth) + ";");
  assert.deepEqual(g.errors.map((e) => e.code), ["bundle_parse_error"]);
  // A merely deep (but parseable) tree is walked without recursion.
  const deep = 150;
  const ok = readModule(
    "export default " + "[".repeat(deep) + 'import("x")' + "]".repeat(deep),
    { tsx: false },
  );
  assert.equal(ok.ok && ok.facts.imports[0]?.source, "x");
});

Deno.test("lineColumn() counts LF lines and 1-based columns", () => {
  assert.deepEqual(lineColumn("", 0), { line: 1, column: 1 });
  assert.deepEqual(lineColumn("ab\ncd\n", 4), { line: 2, column: 2 });
  assert.deepEqual(lineColumn("ab\ncd\n", 99), { line: 3, column: 1 });
});

Deno.test("blueprintCodeGates() reads a realistic TSX component", () => {
  const source = [
    'import React, { useState } from "react";',
    'import type { ReactNode } from "react";',
    "enum Tone { A = 'a' }",
    "export default function Card({ children }: { children?: ReactNode }) {",
    "  const [open] = useState<boolean>(false);",
    "  return <section className={open ? Tone.A : ''}>{children}<></></section>;",
    "}",
  ].join("\n");
  assert.deepEqual(blueprintCodeGates({ source } as never), []);
});
