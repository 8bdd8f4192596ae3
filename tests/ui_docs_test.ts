// API docs pages: `deno doc --json` over a published JSR version, run once
// by the server's own deno (a real subprocess), stored, and read back; a
// dependency on another package of this registry resolved from the registry
// itself; a failure stored with its reason; no runner (Deno Deploy) says the
// docs are not generated; a private version's docs are the missing page.
import assert from "node:assert/strict";
import { denoDocRunner, type DocRunner } from "../routes/ui/_api_docs.ts";
import { listAll } from "../core/store.ts";
import { ALICE, BROWSER, publishJsr, uiFixture } from "./_ui_fixtures.ts";

const MOD = `/**
 * Greetings.
 * @module
 */
import { shout } from "dep";

/**
 * Say hello to someone.
 *
 * @example
 * \`\`\`ts
 * greet("Ada", 2);
 * \`\`\`
 */
export function greet(name: string, times = 1): string {
  return shout(name).repeat(times);
}

/** A point on the map. */
export interface Point<T = number> {
  /** Horizontal. */
  x: T;
  y?: T;
}

/** @deprecated Use {@linkcode greet}. */
export const hello: (name: string) => string = (n) => greet(n);

/** Holds one value. */
export class Box<T> {
  constructor(readonly value: T) {}
  /** Take it out. */
  get(): T {
    return this.value;
  }
}

export type Id = string | number;
`;

/** A runner that counts its runs (the real deno doc underneath). */
function counting(): DocRunner & { runs: number } {
  const real = denoDocRunner({ timeoutMs: 60_000 });
  const runner = {
    runs: 0,
    run: (dir: string, o: { entrypoints: string[]; origin?: string; config?: string }) => {
      runner.runs++;
      return real.run(dir, o);
    },
  };
  return runner;
}

async function serve(docRunner: DocRunner | null) {
  // No configured public URL: deno doc imports from the loopback origin of the request.
  const f = await uiFixture({ docRunner, hostFromRequest: ["bundleHost", "registryHostname"] });
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    (req) => f.app.fetch(req),
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  return { f, base, [Symbol.asyncDispose]: () => server.shutdown() };
}

Deno.test("a JSR version's API docs come from deno doc once, with a dependency from this registry", async () => {
  const runner = counting();
  await using s = await serve(runner);
  const { f, base } = s;
  await publishJsr(f.app, "@pub/dep@1.0.0", {
    "mod.ts":
      "/** Loud. */\nexport function shout(s: string): string {\n  return s.toUpperCase();\n}\n",
  }, f.admin);
  // Its deno.json maps the bare import: of the config, only imports and scopes reach deno doc.
  await publishJsr(f.app, "@pub/greet@1.0.0", {
    "mod.ts": MOD,
    "deno.json": JSON.stringify({
      name: "@pub/greet",
      version: "1.0.0",
      exports: { ".": "./mod.ts" },
      imports: { dep: "jsr:@pub/dep@^1.0.0" },
      importMap: "http://127.0.0.1:9/import_map.json",
      tasks: { evil: "rm -rf /" },
    }),
  }, f.admin);
  const res = await fetch(`${base}/ui/doc/@pub/greet@1.0.0`, { headers: BROWSER });
  assert.equal(res.status, 200);
  const html = await res.text();
  assert.doesNotMatch(
    html,
    /docs-state/,
    html.slice(html.indexOf("<main>"), html.indexOf("</main>")),
  );
  // Signatures (highlighted: the names sit between spans) and doc comments.
  const text = html.replace(/<[^>]+>/g, "");
  assert.match(text, /function greet\(name: string, times\?: number\): string/);
  assert.match(text, /interface Point&lt;T = number&gt;/);
  assert.match(text, /class Box&lt;T&gt;/);
  assert.match(text, /type Id = string \| number/);
  assert.match(text, /Say hello to someone\./);
  assert.match(text, /greet\(&quot;Ada&quot;, 2\);/);
  assert.match(text, /Deprecated: Use greet\./);
  assert.match(text, /x: T\s*Horizontal\./);
  assert.match(text, /get\(\): T/);
  assert.equal(runner.runs, 1);
  // Stored: another view, and another process over the same store, read it back.
  const again = await fetch(`${base}/ui/doc/@pub/greet@1.0.0`, { headers: BROWSER });
  assert.equal(await again.text(), html);
  const sibling = f.sibling({ docRunner: null });
  const there = await sibling.request("http://127.0.0.1/ui/doc/@pub/greet", { headers: BROWSER });
  assert.match(await there.text(), /Say hello to someone\./);
  assert.equal(runner.runs, 1);
  let rows = 0;
  for await (const _ of listAll(f.storage, ["ui_api_docs"])) rows++;
  assert.equal(rows, 1);
  // The package page links to them.
  const pkg = await (await fetch(`${base}/@pub/greet`, { headers: BROWSER })).text();
  assert.match(pkg, /href="\/ui\/doc\/@pub\/greet@1\.0\.0"/);
});

Deno.test("a version deno doc cannot read stores the reason once; without deno the page says so", async () => {
  const runner = counting();
  await using s = await serve(runner);
  const { f, base } = s;
  await publishJsr(f.app, "@pub/broken@1.0.0", { "mod.ts": "export function (" }, f.admin);
  for (let i = 0; i < 2; i++) {
    const html = await (await fetch(`${base}/ui/doc/@pub/broken`, { headers: BROWSER })).text();
    assert.match(html, /could not be generated: [^<]*\S/);
    assert.doesNotMatch(html, /registry-doc-/, "no temporary path leaks");
  }
  assert.equal(runner.runs, 1);
  await publishJsr(f.app, "@pub/plain@1.0.0", {}, f.admin);
  const none = f.sibling({ docRunner: null });
  const html = await (await none.request("/ui/doc/@pub/plain", { headers: BROWSER })).text();
  assert.match(html, /API docs are not generated on this server/);
});

Deno.test("a private version's docs page is the missing page, and runs nothing", async () => {
  const runner = counting();
  await using s = await serve(runner);
  const { f } = s;
  await publishJsr(f.app, "@acme/secret@1.0.0", {}, ALICE);
  const a = await f.app.request("/ui/doc/@acme/secret@1.0.0", { headers: BROWSER });
  const b = await f.app.request("/ui/doc/@acme/nothing@1.0.0", { headers: BROWSER });
  assert.equal(a.status, 404);
  assert.deepEqual([...a.headers], [...b.headers]);
  assert.equal(await a.text(), await b.text());
  assert.equal(runner.runs, 0);
});
