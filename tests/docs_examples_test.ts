// The docs' examples run as written: docs/access.md's command-line block on a
// fresh registry (the server started once with no flags in an empty folder,
// then each line, in order).
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
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
    assert.equal(await server.stop(), 0);
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
