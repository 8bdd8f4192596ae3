import assert from "node:assert/strict";
import { parseArgs } from "node:util";
import { FlagError, type FlagOptions, parseFlags } from "./flags.ts";

const SERVER: FlagOptions = {
  options: {
    port: { type: "string" },
    "log-requests": { type: "string" },
    help: { type: "boolean", short: "h" },
    init: { type: "boolean" },
  },
};
const CLI: FlagOptions = {
  allowPositionals: true,
  options: {
    grant: { type: "string", multiple: true },
    out: { type: "string", short: "o" },
    "dry-run": { type: "boolean", short: "n" },
    json: { type: "boolean", short: "j" },
    help: { type: "boolean", short: "h" },
  },
};

/** What a parser answers: its values and positionals, or the first line of its error. */
function outcome(run: () => { values: object; positionals: string[] }) {
  try {
    const { values, positionals } = run();
    return { values: { ...values }, positionals };
  } catch (err) {
    return { error: (err as Error).message.split("\n")[0] };
  }
}

const CASES: string[][] = [
  [],
  ["--port=8080"],
  ["--port", "8080"],
  ["--port="],
  ["--port", ""],
  ["--port=-1"],
  ["--port", "-1"],
  ["--port", "-"],
  ["--port", "--init"],
  ["--port"],
  ["--port=1", "--port=2"],
  ["--init"],
  ["--init=true"],
  ["--init=false"],
  ["--init", "x"],
  ["--no-init"],
  ["--log-requests=false"],
  ["--log-requests"],
  ["--no-log-requests"],
  ["-h"],
  ["--help=1"],
  ["-hh"],
  ["-hx"],
  ["-x"],
  ["-"],
  ["serve"],
  ["--", "--port=1"],
  ["--Port=1"],
  ["--prot=8080"],
  ["---port=1"],
  ["--=x"],
  ["--__proto__=1"],
  ["--constructor"],
  ["gc", "--dry-run"],
  ["--grant=a", "--grant", "b", "pos"],
  ["--grant"],
  ["--grant", "--json"],
  ["-o", "file"],
  ["-ofile"],
  ["-o"],
  ["-njo", "file"],
  ["-nj"],
  ["-jx"],
  ["--out=a=b"],
  ["-o", "-x"],
  ["--dry-run=1"],
  ["--nope"],
  ["a", "--", "-b", "--c"],
];

Deno.test("parseFlags() answers what node:util parseArgs answers, values and error lines alike", () => {
  for (const config of [SERVER, CLI]) {
    for (const args of CASES) {
      const ours = outcome(() => parseFlags(args, config));
      const node = outcome(() =>
        parseArgs({
          args,
          options: config.options,
          strict: true,
          allowPositionals: config.allowPositionals ?? false,
        })
      );
      assert.deepEqual(ours, node, JSON.stringify(args));
    }
  }
});

function caught(args: string[]): FlagError {
  try {
    parseFlags(args, SERVER);
  } catch (err) {
    if (err instanceof FlagError) return err;
    throw err;
  }
  throw new Error(`no error for ${args.join(" ")}`);
}

Deno.test("parseFlags() names an unknown flag without its dashes, for a did-you-mean", () => {
  for (const [arg, name] of [["--prot=1", "prot"], ["-x", "x"], ["---port", "port"]]) {
    assert.equal(caught([arg!]).unknown, name);
  }
  assert.equal(caught(["--port"]).unknown, undefined);
});

Deno.test("parseFlags() keeps values with a prototype's name as plain flags", () => {
  const { values } = parseFlags(["--toString=1"], {
    options: { toString: { type: "string" as const } },
  });
  assert.equal(values.toString, "1");
  assert.throws(() => parseFlags(["--hasOwnProperty"], SERVER), /Unknown option/);
});

Deno.test("every flag error is one line", () => {
  for (const args of CASES) {
    for (const config of [SERVER, CLI]) {
      try {
        parseFlags(args, config);
      } catch (err) {
        assert.ok(err instanceof FlagError);
        assert.ok(!err.message.includes("\n"), err.message);
      }
    }
  }
});
