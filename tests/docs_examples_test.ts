// The docs' examples run as written: docs/access.md's command-line block on a
// fresh registry (the server started once with no flags in an empty folder,
// then each line, in order), and docs/embedding.md's account of what answers
// under a mount prefix.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { Hono } from "hono";
import { createRegistryApp } from "../mod.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import { runCli } from "../server/cli.ts";
import { startServer } from "./_server.ts";

const DOCS = fileURLToPath(new URL("../docs/", import.meta.url));

/** The lines of the first `sh` block after `heading` in a doc. */
async function shBlock(doc: string, heading: string): Promise<string[]> {
  const text = await Deno.readTextFile(`${DOCS}${doc}`);
  const after = text.slice(text.indexOf(heading));
  const block = /```sh\n([\s\S]*?)```/.exec(after);
  assert.ok(block, `no sh block after '${heading}' in ${doc}`);
  return block[1]!.trim().split("\n");
}

/** A command line's words, as a shell splits this simple form (double quotes removed). */
function words(line: string): string[] {
  return line.trim().split(/\s+/).map((w) => w.replaceAll('"', ""));
}

Deno.test("docs/access.md's command-line example works on a fresh registry as written", async () => {
  const dir = await Deno.makeTempDir({ prefix: "docs-access-" });
  try {
    // "start the server once first": no store flags, in an empty folder.
    const server = await startServer([], { cwd: dir, init: false });
    await server.stop();
    const store = [`--data-dir=${dir}/registry-data`];
    let id = "";
    for (const line of await shBlock("access.md", "## Command line")) {
      assert.match(line, /^deno task start /);
      const args = words(line.slice("deno task start ".length)).map((w) => w === "tok_…" ? id : w);
      const out: string[] = [];
      const err: string[] = [];
      const code = await runCli([...args, ...store], {}, {
        out: (l) => void out.push(l),
        err: (l) => void err.push(l),
      });
      assert.equal(code, 0, `${line}\n${err.join("\n")}`);
      if (args[0] === "token" && args[1] === "create") {
        id = JSON.parse(out.join("\n")).token.id;
        assert.match(id, /^tok_/);
      }
    }
    // The revoke line revoked the token the create line made.
    const listed: string[] = [];
    await runCli(["token", "list", "--json", ...store], {}, {
      out: (l) => void listed.push(l),
      err: () => {},
    });
    const tokens = JSON.parse(listed.join("\n")) as { id: string; revokedAt?: string }[];
    assert.ok(tokens.find((t) => t.id === id)?.revokedAt, listed.join("\n"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("docs/embedding.md: under a prefix the ggui and Rack surfaces and the admin API answer, and the web pages link to root paths", async () => {
  const mounted = (ui: boolean) => {
    const host = new Hono();
    const registry = createRegistryApp({
      storage: new MemoryRegistryStorage(),
      bundles: new MemoryBundleStorage(),
      bundleHost: "http://example.test/registry",
      registryHostname: "example.test",
      ui,
      rateLimitPerMinute: 0,
    });
    host.mount("/registry", registry.fetch);
    return host;
  };
  const host = mounted(false);
  const json = async (path: string) => {
    const res = await host.request(`http://example.test/registry${path}`);
    return { status: res.status, body: await res.json() };
  };
  assert.deepEqual(await json("/search"), { status: 200, body: { results: [] } }); // ggui
  assert.deepEqual(await json("/namespaces"), { status: 200, body: { namespaces: [] } }); // Rack
  assert.equal((await json("/admin/tokens")).status, 401); // the admin API, asking for a token
  assert.equal((await json("/healthz")).status, 200);
  // With the pages on, they link to root paths: what the doc says to turn off under a prefix.
  const page = await mounted(true).request("http://example.test/registry/", {
    headers: { accept: "text/html" },
  });
  const html = await page.text();
  assert.match(html, /href="\/ui\//);
});
