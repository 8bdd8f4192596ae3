import assert from "node:assert/strict";
import { parseServerArgs } from "./config.ts";

function parse(...args: string[]) {
  return parseServerArgs(["--storage=memory", ...args], {});
}

Deno.test("the JSR upstream is jsr.io by default, off with --jsr-upstream=off", () => {
  const on = parse();
  assert.ok(on.ok && on.config.jsrUpstream?.url === "https://jsr.io/");
  const off = parse("--jsr-upstream=off");
  assert.ok(off.ok && off.config.jsrUpstream === undefined);
  const env = parseServerArgs(["--storage=memory"], { JSR_UPSTREAM: "http://10.0.0.5:8000/jsr" });
  assert.ok(env.ok && env.config.jsrUpstream?.url === "http://10.0.0.5:8000/jsr/");
});

Deno.test("upstream flags refuse bad values with a message naming the flag", () => {
  const cases: [string, RegExp][] = [
    ["--jsr-upstream=ftp://x", /--jsr-upstream must be an http\(s\) URL or off/],
    ["--jsr-upstream=https://jsr.io/?a=1", /--jsr-upstream must be/],
    ["--jsr-upstream-deny=@Acme", /--jsr-upstream-deny takes comma-separated namespaces/],
    ["--jsr-upstream-allow=@a/b", /--jsr-upstream-allow takes/],
    ["--jsr-upstream-timeout-ms=0", /--jsr-upstream-timeout-ms must be a whole number/],
    ["--jsr-upstream-fresh-ms=soon", /--jsr-upstream-fresh-ms must be a whole number/],
    ["--ggui-upstream=nope", /--ggui-upstream must be an http\(s\) URL/],
  ];
  for (const [flag, message] of cases) {
    const r = parse(flag);
    assert.ok(!r.ok && !r.help, flag);
    assert.match(r.error, message, flag);
  }
});

Deno.test("the ggui upstream is off unless set, and shares the timeout and freshness", () => {
  const none = parse();
  assert.ok(none.ok && none.config.gguiUpstream === undefined);
  const set = parse(
    "--ggui-upstream=https://ggui.example",
    "--ggui-upstream-deny=@acme",
    "--jsr-upstream-timeout-ms=2000",
  );
  assert.ok(set.ok);
  assert.deepEqual(set.config.gguiUpstream, {
    url: "https://ggui.example/",
    deny: ["@acme"],
    timeoutMs: 2000,
  });
});
