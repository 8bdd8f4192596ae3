// What a start loads and downloads, read from `deno info --json`: test-only
// npm packages never enter the graph of main.ts or mod.ts (what
// `deno run -A main.ts` and `deno run -A jsr:@x/registry` fetch), and the
// server's static graph (what it evaluates before its first answer) holds
// only the npm packages every request needs; the rest loads on first use.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { graphOf, npmReached } from "./_module_graph.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** Import-map packages only tests use: never in what serving loads. */
const TEST_ONLY = ["puppeteer-core", "axe-core", "s3rver", "@sigstore/mock", "@sigstore/sign"];

/** The npm packages the server evaluates before its first answer (docs/bench.md, start-up). */
const AT_START = ["hono", "modern-tar"];

/** Serving code loaded by URL (a worker, a sandboxed child), so outside main.ts's graph. */
const BY_URL = [
  "core/ggui/_compile_worker.ts",
  "core/ggui/_parse_worker.ts",
  "server/_probe_runner.ts",
];

async function importMapPackages(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  return Object.entries(config.imports as Record<string, string>)
    .filter(([, target]) => target.startsWith("npm:"))
    .map(([name]) => name);
}

Deno.test("no test-only npm package is in what deno run main.ts or deno run jsr:@x/registry loads", async () => {
  const serving = new Map<string, string>();
  for (const entry of ["main.ts", "mod.ts", ...BY_URL]) {
    for (const [name, via] of npmReached(await graphOf(`${ROOT}${entry}`), false)) {
      if (!serving.has(name)) serving.set(name, via);
    }
  }
  const leaked = TEST_ONLY.filter((name) => serving.has(name))
    .map((name) => `${name} (via ${serving.get(name)})`);
  assert.deepEqual(leaked, [], "test-only packages reached from serving code");
  // The list stays honest: every import-map package is serving, test-only or types.
  const unclassified = (await importMapPackages())
    .filter((name) =>
      !serving.has(name) && !TEST_ONLY.includes(name) && !name.startsWith("@types/")
    );
  assert.deepEqual(
    unclassified,
    [],
    "import-map packages no serving code loads: add them to TEST_ONLY in tests/start_graph_test.ts",
  );
});

Deno.test("the server's start evaluates only hono and modern-tar from npm; the rest loads on first use", async () => {
  const atStart = npmReached(await graphOf(`${ROOT}main.ts`), true);
  const extra = [...atStart].filter(([name]) => !AT_START.includes(name))
    .map(([name, via]) => `${name} (imported by ${via})`);
  assert.deepEqual(
    extra,
    [],
    "npm packages evaluated before the first answer: load them with lazily() (base/lazy.ts) where first needed",
  );
  // Without these, a start builds the graph of every dynamic import and a first
  // `deno run` downloads every package of the lockfile.
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  assert.ok(config.unstable.includes("lazy-dynamic-imports"));
  assert.ok(config.unstable.includes("npm-lazy-caching"));
});
