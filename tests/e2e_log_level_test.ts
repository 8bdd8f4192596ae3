// --log-level filters the server's own log lines (the request log is info);
// --log-format writes them as JSON or as one readable line.
import assert from "node:assert/strict";
import { startServer } from "./_server.ts";

async function withAuthJson(fn: (path: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "registry_log_" });
  try {
    // "bad" is not a namespace: the server warns about it at start.
    await Deno.writeTextFile(`${dir}/auth.json`, JSON.stringify({ "@acme": [], bad: [] }));
    await fn(`${dir}/auth.json`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function outputAfterOneRequest(args: string[]): Promise<string> {
  await using server = await startServer(["--storage=memory", "--token=t", ...args]);
  await (await fetch(`${server.url}/healthz`)).body?.cancel();
  await server.stop();
  return server.output();
}

Deno.test("--log-level=error drops warnings and the request log; info keeps both", async () => {
  await withAuthJson(async (auth) => {
    const quiet = await outputAfterOneRequest([`--auth-config=${auth}`, "--log-level=error"]);
    assert.doesNotMatch(quiet, /namespace rejected/);
    assert.doesNotMatch(quiet, /"path":"\/healthz"/);
    const info = await outputAfterOneRequest([`--auth-config=${auth}`, "--log-format=json"]);
    const warning = info.split("\n").find((l) => l.includes("namespace rejected"));
    assert.ok(warning, info);
    assert.equal(JSON.parse(warning).level, "warn");
    assert.equal(JSON.parse(warning).namespace, "bad");
    assert.match(info, /"\/healthz"/);
  });
});

Deno.test("--log-format=pretty writes one readable line per record, LOG_LEVEL=warn keeps warnings", async () => {
  await withAuthJson(async (auth) => {
    await using server = await startServer([
      `--auth-config=${auth}`,
      "--storage=memory",
      "--token=t",
      "--log-format=pretty",
    ], {
      env: { LOG_LEVEL: "warn" },
    });
    await server.stop();
    assert.match(
      server.output(),
      /^\d{4}-\d\d-\d\dT[\d:.]+Z WARN {2}auth\.json namespace rejected namespace=bad reason="key is not a valid namespace"$/m,
    );
  });
});
