// The house's import rules (docs/design.md, "What may import what"), read
// from the source itself: a rule broken anywhere fails here with the file and
// the import that broke it.
import assert from "node:assert/strict";
import {
  type ImportRule,
  importViolations,
  longFunctions,
  ROOT,
  sourceFiles,
  twoFileCircles,
} from "./_source_shape.ts";

/** The folders of `routes/` that are one wire surface each. */
const SURFACES = ["admin", "ggui", "jsr", "rack", "ui"];

const isTest = (f: string) => /_test\.tsx?$/.test(f);
const under = (dir: string) => (f: string) => f.startsWith(`${dir}/`);
const surfaceOf = (f: string) => SURFACES.find((s) => f.startsWith(`routes/${s}/`));

/** The rules, each over the files it binds. */
const RULES: ImportRule[] = [
  {
    name: "base/ stands on nothing of ours",
    from: under("base"),
    forbids: (t) => /^(core|storage|routes|server)\//.test(t) || t === "hono",
  },
  {
    name: "core/ imports no Hono and nothing from routes/ or server/",
    from: (f) => under("core")(f) && !isTest(f),
    forbids: (t) => t === "hono" || t.startsWith("hono/") || /^(routes|server)\//.test(t),
  },
  {
    name: "storage/ (its test suites aside) imports nothing from core/, routes/ or server/",
    from: (f) => under("storage")(f) && !isTest(f) && f !== "storage/contract.ts",
    forbids: (t) => /^(core|routes|server)\//.test(t) || t === "hono",
  },
  {
    name: "a surface of routes/ imports no other surface's folder",
    from: (f) => surfaceOf(f) !== undefined,
    forbids: (t, f) => {
      const other = surfaceOf(t);
      return other !== undefined && other !== surfaceOf(f);
    },
  },
  {
    name: "routes/ops/ and routes/shared/ import no surface and not the composition root",
    from: (f) => (under("routes/ops")(f) || under("routes/shared")(f)) && !isTest(f),
    forbids: (t) => surfaceOf(t) !== undefined || t === "routes/app.ts",
  },
  {
    name: "routes/ imports nothing from server/",
    from: (f) => under("routes")(f) && !isTest(f),
    forbids: (t) => t.startsWith("server/"),
  },
  {
    name: "no test of base/, core/, storage/ or routes/ imports server/",
    from: (f) => /^(base|core|storage|routes)\//.test(f) && isTest(f),
    forbids: (t) => t.startsWith("server/"),
  },
  {
    name:
      "server/ stands on routes/, core/, storage/ and base/: no entry point, no tests/ or bench/",
    from: (f) => under("server")(f) && !isTest(f),
    forbids: (t) => ["main.ts", "mod.ts", "testing.ts"].includes(t) || /^(tests|bench)\//.test(t),
  },
  {
    name: "server/ reaches routes/ through the app and the surfaces' entry modules only",
    from: (f) => under("server")(f) && !isTest(f),
    forbids: (t) =>
      t.startsWith("routes/") && t !== "routes/app.ts" && !/^routes\/[a-z]+\/mod\.ts$/.test(t),
  },
];

/** Every source file of the library, by path. */
function library(): Map<string, string> {
  const files = new Map<string, string>();
  for (const dir of ["base", "core", "storage", "routes", "server"]) {
    for (const f of sourceFiles(dir)) files.set(f, Deno.readTextFileSync(ROOT + f));
  }
  return files;
}

Deno.test("every import in base/, core/, storage/, routes/ and server/ keeps the house's rules", () => {
  assert.deepEqual(importViolations(library(), RULES), []);
});

Deno.test("no two files of the library import each other", () => {
  assert.deepEqual(twoFileCircles(library()), []);
});

Deno.test("no function in routes/ is over 80 lines", () => {
  const long = sourceFiles("routes")
    .filter((f) => !isTest(f))
    .flatMap((f) => longFunctions(f, Deno.readTextFileSync(ROOT + f), 80))
    .map((l) => `${l.where} ${l.name} (${l.lines} lines)`);
  assert.deepEqual(long, []);
});

Deno.test("the rules catch a broken import, a circle and a long function", () => {
  const broken = new Map([
    ["base/x.ts", 'import { a } from "../core/a.ts";'],
    ["core/a.ts", 'import { Hono } from "hono";\nexport { b } from "./b.ts";'],
    ["core/b.ts", 'import type { A } from "./a.ts";'],
    ["storage/s.ts", 'import { RegistryError } from "../core/errors.ts";'],
    ["storage/contract.ts", 'import { store } from "../core/store.ts";'],
    ["routes/rack/mod.ts", 'import { send } from "../ggui/mod.ts";'],
    ["routes/ops/_x.ts", 'const m = await import("../jsr/mod.ts");'],
    ["routes/ggui/mod.ts", 'import { q } from "../shared/_q.ts";\nimport "../ops/_x.ts";'],
    ["storage/s_test.ts", 'import { runCli } from "../server/cli.ts";'],
    [
      "server/x.ts",
      [
        'import "../main.ts";',
        'import { startServer } from "../tests/_server.ts";',
        'import { loadWebhookFile } from "../routes/rack/_auth_file.ts";',
        'import { createRegistryApp } from "../routes/app.ts";',
        'import { createRackRoutes } from "../routes/rack/mod.ts";',
        'import { openStores } from "./open.ts";',
      ].join("\n"),
    ],
  ]);
  assert.deepEqual(importViolations(broken, RULES), [
    "base/ stands on nothing of ours: base/x.ts -> ../core/a.ts",
    "core/ imports no Hono and nothing from routes/ or server/: core/a.ts -> hono",
    "storage/ (its test suites aside) imports nothing from core/, routes/ or server/: storage/s.ts -> ../core/errors.ts",
    "a surface of routes/ imports no other surface's folder: routes/rack/mod.ts -> ../ggui/mod.ts",
    "routes/ops/ and routes/shared/ import no surface and not the composition root: routes/ops/_x.ts -> ../jsr/mod.ts",
    "no test of base/, core/, storage/ or routes/ imports server/: storage/s_test.ts -> ../server/cli.ts",
    "server/ stands on routes/, core/, storage/ and base/: no entry point, no tests/ or bench/: server/x.ts -> ../main.ts",
    "server/ stands on routes/, core/, storage/ and base/: no entry point, no tests/ or bench/: server/x.ts -> ../tests/_server.ts",
    "server/ reaches routes/ through the app and the surfaces' entry modules only: server/x.ts -> ../routes/rack/_auth_file.ts",
  ]);
  assert.deepEqual(twoFileCircles(broken), ["core/a.ts <-> core/b.ts"]);
  const body = Array.from({ length: 81 }, (_, i) => `  const x${i} = ${i};`).join("\n");
  const long = longFunctions("routes/x.ts", `export function f() {\n${body}\n}\n`, 80);
  assert.deepEqual(long.map((l) => [l.name, l.lines]), [["f", 83]]);
});
