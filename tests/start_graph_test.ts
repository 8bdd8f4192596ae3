// What a start loads and downloads, read from `deno info --json`: test-only
// npm packages never enter the graph of main.ts or mod.ts (what
// `deno run -A main.ts` and `deno run -A jsr:@x/registry` fetch), nor
// deno.json and deno.lock (what `deno task start` installs before it runs),
// and the server's static graph (what it evaluates before its first answer)
// holds only the npm packages every request needs; the rest loads on first use.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { graphOf, localModules, nodeModulesReached, npmReached } from "./_module_graph.ts";
import { RegExpRouter } from "hono/router/reg-exp-router";
import { createRegistryApp } from "../routes/app.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

/** The npm packages the server evaluates before its first answer (docs/bench.md, start-up). */
const AT_START = ["hono"];

/**
 * The `node:` modules still evaluated before the first answer, and who
 * imports them. Any one of them loads Deno's Node compatibility layer (about
 * 45 ms of CPU: docs/bench.md, start-up); node:util (flags, now
 * server/flags.ts) and node:url (the API docs page) are gone, and these
 * three are to go next: node:crypto's synchronous SHA-256 by Web Crypto where
 * callers can await, node:zlib's chunk CRC and node:path with them.
 */
const NODE_AT_START: Record<string, string> = {
  "node:crypto": "base/digest.ts",
  "node:path": "storage/_fs_index.ts",
  "node:zlib": "storage/kv.ts",
};

/** The web pages' modules a start may evaluate: what every request needs (routes/ui/lazy.ts). */
const UI_AT_START = ["routes/ui/lazy.ts", "routes/ui/_http.ts", "routes/ui/_ops_metrics.tsx"];

/** Serving code loaded by URL (a worker, a sandboxed child), so outside main.ts's graph. */
const BY_URL = [
  "core/ggui/_compile_worker.ts",
  "core/ggui/_parse_worker.ts",
  "server/_probe_runner.ts",
];

type Imports = Record<string, string>;

async function importsOf(path: string): Promise<Imports> {
  return JSON.parse(await Deno.readTextFile(`${ROOT}${path}`)).imports;
}

function npmNames(imports: Imports): string[] {
  return Object.entries(imports).filter(([, target]) => target.startsWith("npm:"))
    .map(([name]) => name);
}

/** Every npm package serving code can load: the whole graph, imports on first use included. */
async function servingPackages(): Promise<Map<string, string>> {
  const serving = new Map<string, string>();
  for (const entry of ["main.ts", "mod.ts", ...BY_URL]) {
    for (const [name, via] of npmReached(await graphOf(`${ROOT}${entry}`), false)) {
      if (!serving.has(name)) serving.set(name, via);
    }
  }
  return serving;
}

/** A deno.lock key, `react-dom@19.3.1_react@19.3.1` → `react-dom`. */
function lockPackageName(key: string): string {
  return key.slice(0, key.indexOf("@", 1));
}

Deno.test("no test-only npm package is in what deno run main.ts or deno run jsr:@x/registry loads", async () => {
  const serving = await servingPackages();
  const root = await importsOf("deno.json");
  const tests = await importsOf("tests/import_map.json");
  // The tests' import map is deno.json's plus the packages only tests use.
  const differing = Object.keys(root).filter((name) => tests[name] !== root[name]);
  assert.deepEqual(
    differing,
    [],
    "deno.json imports missing or different in tests/import_map.json",
  );
  const leaked = npmNames(tests).filter((name) => !(name in root) && serving.has(name))
    .map((name) => `${name} (via ${serving.get(name)})`);
  assert.deepEqual(
    leaked,
    [],
    "test-only packages reached from serving code: add them to deno.json",
  );
  const notServing = npmNames(root)
    .filter((name) => !serving.has(name) && !name.startsWith("@types/"));
  assert.deepEqual(
    notServing,
    [],
    "deno.json names packages no serving code loads: keep them in tests/import_map.json only",
  );
});

Deno.test("deno task start installs only what serving can load: deno.lock holds no test-only package", async () => {
  // Deno's task runner installs every package of deno.json's imports and of
  // deno.lock before any task runs (Deno 2.9, npm-lazy-caching or not).
  const serving = await servingPackages();
  const lock = JSON.parse(await Deno.readTextFile(`${ROOT}deno.lock`));
  const extra = Object.keys(lock.npm ?? {}).map(lockPackageName)
    .filter((name) => !serving.has(name) && !name.startsWith("@types/"));
  assert.deepEqual(
    [...new Set(extra)],
    [],
    "deno.lock holds packages no serving code loads (a test run without tests/deno.lock resolved them): run tests with `deno task test`",
  );
  // The test tasks read the tests' configuration; start does not.
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  const flags = "--import-map=tests/import_map.json --lock=tests/deno.lock";
  for (const task of ["test", "check", "bench"]) {
    assert.ok(config.tasks[task].includes(flags), task);
  }
  assert.ok(!config.tasks.start.includes("tests/"));
});

Deno.test("the server's start evaluates only hono from npm; the rest loads on first use", async () => {
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

Deno.test("the server's start evaluates no node: module beyond the three left, and no web page", async () => {
  const graph = await graphOf(`${ROOT}main.ts`);
  assert.deepEqual(
    Object.fromEntries(nodeModulesReached(graph, true)),
    NODE_AT_START,
    "node: modules evaluated before the first answer: each loads the Node compatibility layer; use a web API or load it on first use",
  );
  const pages = [...localModules(graph, true)]
    .map((m) => m.replace(`file://${ROOT}`, ""))
    .filter((m) => m.startsWith("routes/ui/") && !UI_AT_START.includes(m));
  assert.deepEqual(
    pages,
    [],
    "web page modules evaluated at start: load them through routes/ui/lazy.ts",
  );
});

Deno.test("the app's first request builds only the router it answers with", async () => {
  // Hono's default router builds a RegExpRouter over every route, gives up on
  // ours, then builds the TrieRouter it keeps: wasted work before the first answer.
  const add = RegExpRouter.prototype.add;
  let added = 0;
  RegExpRouter.prototype.add = function (...args) {
    added++;
    return add.apply(this, args);
  };
  try {
    const app = createRegistryApp({
      storage: new MemoryRegistryStorage(),
      bundles: new MemoryBundleStorage(),
      bundleHost: "http://registry.test",
      registryHostname: "registry.test",
    });
    const res = await app.fetch(new Request("http://registry.test/healthz"));
    assert.equal(res.status, 200);
    await res.body?.cancel();
    assert.equal(added, 0, "routes added to a RegExpRouter");
    // The pages load with the first one asked for (two at once here), and answer as before.
    const ask = () =>
      app.fetch(new Request("http://registry.test/", { headers: { accept: "text/html" } }));
    const pages = await Promise.all([ask(), ask()]);
    const texts = await Promise.all(pages.map((p) => p.text()));
    assert.deepEqual(pages.map((p) => p.status), [200, 200]);
    assert.match(texts[0]!, /<html/);
    assert.equal(texts[1], texts[0]);
  } finally {
    RegExpRouter.prototype.add = add;
  }
});
