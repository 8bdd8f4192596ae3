// Journey 1: `deno run -A jsr:@x/registry` with our package served in JSR's
// read layout from 127.0.0.1 (Deno honours JSR_URL). The package's deno.json is
// not honoured when run from JSR, so Deno KV is missing until the entry point
// re-executes itself with --unstable-kv; the test then publishes and reads.
import assert from "node:assert/strict";
import { GADGET_SOURCE, makeGadget, makeKey } from "./_ggui_fixtures.ts";
import { serveJsrLayout } from "./_jsr_layout.ts";

Deno.test("deno run -A jsr:@x/registry starts a registry that publishes and reads", async () => {
  const jsr = await serveJsrLayout();
  const dir = await Deno.makeTempDir();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--no-config",
      "jsr:@x/registry",
      "--port=0",
      "--host=127.0.0.1",
      `--storage=kv:${dir}/registry.kv`,
      "--token=jsr-token",
    ],
    cwd: dir,
    env: { JSR_URL: jsr.url, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const pump = async (s: ReadableStream<Uint8Array>) => {
    for await (const c of s.pipeThrough(new TextDecoderStream())) text += c;
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  let exited = false;
  child.status.then(() => exited = true);
  try {
    const start = Date.now();
    while (!/listening on http/.test(text)) {
      if (exited || Date.now() - start > 120_000) throw new Error(`did not start:\n${text}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const url = /listening on (http:\/\/\S+)/.exec(text)![1]!;
    const h = { authorization: "Bearer jsr-token", "content-type": "application/json" };
    const key = await makeKey();
    const reg = await fetch(`${url}/author-keys`, {
      method: "POST",
      headers: h,
      body: JSON.stringify({ publicKeyBase64: key.publicKeyBase64 }),
    });
    assert.equal(reg.status, 201);
    const pub = await fetch(`${url}/publish`, {
      method: "POST",
      headers: h,
      body: JSON.stringify(await makeGadget(key)),
    });
    assert.equal(pub.status, 201, await pub.text());
    const read = await (await fetch(`${url}/pkg/acme/map/1.0.0`, { headers: h })).json();
    const bundle = await fetch(`${url}${new URL(read.bundleUrl).pathname}`, { headers: h });
    assert.equal(await bundle.text(), GADGET_SOURCE);
    await Deno.stat(`${dir}/registry.kv`); // the KV file exists: the re-exec got --unstable-kv
  } finally {
    try {
      child.kill("SIGTERM");
    } catch { /* gone */ }
    const status = await child.status;
    await pumps;
    await jsr.close();
    await Deno.remove(dir, { recursive: true });
    assert.equal(status.code, 0, text);
  }
});
