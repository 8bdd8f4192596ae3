import assert from "node:assert/strict";
import {
  builtinSchemaBytes,
  MAX_REPORT_CHARS,
  MAX_REPORTED_PROBLEMS,
  RACK_SCHEMA_FILES,
  reportRegistryItem,
  validatePreset,
  validateRegistryItem,
} from "./schema.ts";

const ITEM = {
  $schema: "https://registry.example/schemas/registry-item.json",
  name: "my-tool",
  namespace: "@company",
  type: "registry:feature",
  version: "1.0.0-beta.1",
  priority: 0,
  path: "features/my-tool",
  tags: ["cli"],
  homepage: "https://example.com",
  conflicts: ["@rack/quality/husky@1.0.0:ts", "build/vite", "eslint@9.0.0"],
  registryDependencies: ["@rack/runtimes/node", "quality/prettier"],
  dependencies: { zod: "^4.0.0" },
  files: [
    { path: "./src/index.ts", target: "src/index.ts", type: "registry:entry", executable: false },
    {
      content: "x",
      target: "x.txt",
      type: "registry:asset",
      mergeStrategy: { type: "builtin", strategy: "json" },
    },
    {
      path: "cfg.json",
      target: "cfg.json",
      type: "registry:config",
      mergeStrategy: { type: "custom", script: "scripts/merge.js" },
    },
  ],
  languages: { ts: { devDependencies: { typescript: "^5" }, files: [] } },
  defaultLanguage: "ts",
};

Deno.test("await validateRegistryItem() accepts a full valid item", async () => {
  assert.deepEqual(await validateRegistryItem(ITEM), []);
});

Deno.test("await validateRegistryItem() reports every error with its keyword", async () => {
  const bad = {
    ...ITEM,
    priority: -1,
    type: "registry:other",
    version: "v1",
    homepage: "not a uri",
    extra: true,
    files: [
      { target: "x", type: "registry:entry" },
      { path: "../x", target: "x", type: "registry:entry" },
      {
        path: "a",
        target: "",
        type: "registry:entry",
        mergeStrategy: { type: "builtin", strategy: "nope" },
      },
    ],
    languages: { py: {} },
  };
  const problems = await validateRegistryItem(bad);
  const keywords = new Set(problems.map((p) => p.keyword));
  for (
    const k of [
      "minimum",
      "enum",
      "pattern",
      "format",
      "additionalProperties",
      "anyOf",
      "minLength",
      "oneOf",
    ]
  ) {
    assert.ok(keywords.has(k), `missing ${k}: ${JSON.stringify(problems)}`);
  }
  const required = (await validateRegistryItem({ name: "x" })).filter((p) =>
    p.keyword === "required"
  );
  assert.deepEqual(required.map((p) => p.params.missingProperty).sort(), [
    "namespace",
    "priority",
    "type",
    "version",
  ]);
});

Deno.test("await validateRegistryItem() applies the file-path rule to paths and custom merge scripts", async () => {
  for (
    const path of ["/abs", "a/../b", "./../b", "a/./b", "a\\b", "a%20b", "a?b", "a#b", "", "a//b"]
  ) {
    const item = { ...ITEM, files: [{ path, target: "t", type: "registry:entry" }] };
    assert.notDeepEqual(await validateRegistryItem(item), [], path);
    const merge = {
      ...ITEM,
      files: [{
        content: "",
        target: "t",
        type: "registry:entry",
        mergeStrategy: { type: "custom", script: path },
      }],
    };
    assert.notDeepEqual(await validateRegistryItem(merge), [], `script ${path}`);
  }
  for (const path of ["./a/b.ts", ".husky/pre-commit", "a/@scope+x~/b"]) {
    const item = { ...ITEM, files: [{ path, target: "t", type: "registry:entry" }] };
    assert.equal((await validateRegistryItem(item)).length === 0, !path.includes("~"), path);
  }
});

Deno.test("await validatePreset() requires name, version and at least one registry identifier", async () => {
  assert.deepEqual(
    await validatePreset({
      name: "react-app",
      version: "1.0.0",
      registries: ["frameworks/react", "@rack/build/vite@5.0.0"],
    }),
    [],
  );
  assert.notDeepEqual(
    await validatePreset({ name: "react-app", version: "1.0.0", registries: [] }),
    [],
  );
  assert.notDeepEqual(
    await validatePreset({ name: "React", version: "1.0.0", registries: ["x"] }),
    [],
  );
  assert.notDeepEqual(
    await validatePreset({ name: "a", version: "1.0.0", registries: ["@bad ns/x"] }),
    [],
  );
  assert.notDeepEqual(
    await validatePreset({ name: "a", version: "1.0.0", registries: ["x"], more: 1 }),
    [],
  );
});

Deno.test("builtinSchemaBytes() serves each of the three schemas as 2020-12 JSON", () => {
  for (const file of RACK_SCHEMA_FILES) {
    const doc = JSON.parse(new TextDecoder().decode(builtinSchemaBytes(file)));
    assert.equal(doc.$schema, "https://json-schema.org/draft/2020-12/schema");
  }
});

Deno.test("await reportRegistryItem() lists at most 20 problems with short strings and counts the rest", async () => {
  assert.deepEqual(await reportRegistryItem(ITEM), { problems: [], omitted: 0 });
  const few = await reportRegistryItem({ ...ITEM, priority: -1 });
  assert.deepEqual(few.problems, await validateRegistryItem({ ...ITEM, priority: -1 }));
  assert.equal(few.omitted, 0);
  const long = "k".repeat(100_000);
  const report = await reportRegistryItem({ ...ITEM, tags: Array(500).fill(""), [long]: 1 });
  assert.equal(report.problems.length, MAX_REPORTED_PROBLEMS);
  assert.equal(report.omitted, 501 - MAX_REPORTED_PROBLEMS);
  assert.ok(JSON.stringify(report.problems).length <= MAX_REPORT_CHARS);
  const extra = report.problems.find((p) => p.keyword === "additionalProperties");
  assert.ok(extra, JSON.stringify(report.problems));
  const name = String(extra.params.additionalProperty);
  assert.ok(name.length < 200 && name.endsWith("…"), name);
});

Deno.test("await reportRegistryItem() reports the first problem of a huge document in bounded memory", async () => {
  const item = { ...ITEM, tags: Array(340_000).fill("") };
  const heap = () => Deno.memoryUsage().heapUsed;
  const before = heap();
  const report = await reportRegistryItem(item);
  const grown = heap() - before;
  assert.equal(report.omitted, undefined);
  assert.deepEqual(report.problems.map((p) => p.instancePath), ["/tags/0"]);
  // Collecting every error took ~70 MB here (one object per bad tag).
  assert.ok(grown < 24 * 1024 * 1024, `heap grew by ${grown} bytes`);
  // A huge VALID document still passes.
  assert.deepEqual(await reportRegistryItem({ ...ITEM, tags: Array(340_000).fill("t") }), {
    problems: [],
    omitted: 0,
  });
});
