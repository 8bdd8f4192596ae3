// `--help` and docs/configuration.md list the same flags and commands, and
// every flag the parser takes is in both.
import assert from "node:assert/strict";
import { KNOWN_FLAGS, USAGE } from "../server/config.ts";
import { COMMAND_NAMES } from "../server/cli.ts";

const docs = await Deno.readTextFile(new URL("../docs/configuration.md", import.meta.url));
const section = (title: string) => docs.split(`## ${title}\n`)[1]!.split("\n## ")[0]!;

Deno.test("--help lists every flag the server takes, and the docs' flag table the same ones", () => {
  const inHelp = new Set([...USAGE.matchAll(/^ {2}(?:-h, )?--([a-z0-9-]+)/gm)].map((m) => m[1]!));
  inHelp.delete("version");
  const inDocs = new Set(
    [...section("Flags").matchAll(/^\| `--([a-z0-9-]+)`/gm)].map((m) => m[1]!),
  );
  assert.deepEqual([...inHelp].sort(), [...KNOWN_FLAGS].sort());
  assert.deepEqual([...inDocs].sort(), [...KNOWN_FLAGS].sort());
});

Deno.test("--help and the docs list every command, and describe the three surfaces", () => {
  const commands = [...COMMAND_NAMES, "config", "mirror"].sort();
  const helpCommands = USAGE.split("Commands")[1]!.split("Options")[0]!;
  const inHelp = [...helpCommands.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]!);
  assert.deepEqual([...new Set(inHelp)].sort(), commands);
  const inDocs = [...section("Commands").matchAll(/^\| `([a-z][a-z-]*)/gm)].map((m) => m[1]!);
  assert.deepEqual(inDocs.sort(), commands);
  assert.match(USAGE, /three registry surfaces from one store: ggui .*Rack .*JSR/s);
});
