// Journey: publish @x/registry itself to a running registry with stock
// `deno publish`, then start a second registry from it with
// `deno run -A jsr:@x/registry` (Deno honours JSR_URL, and DENO_AUTH_TOKENS
// for the private package). The package's deno.json is not honoured when run
// from JSR, so Deno KV is missing until the entry point re-executes itself
// with --unstable-kv; the second registry then publishes and reads.
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { GADGET_SOURCE, makeGadget, makeKey } from "./_ggui_fixtures.ts";
import { startServer } from "./_server.ts";
import { deno } from "./_deno_cli.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

Deno.test("@x/registry published to the registry runs as a second registry with deno run -A jsr:@x/registry", async () => {
  const dir = await Deno.makeTempDir({ prefix: "jsr-self-" });
  try {
    // What is committed, as a user's checkout would be.
    const src = `${dir}/src`;
    const clone = await new Deno.Command("git", {
      args: ["clone", "--quiet", "--no-hardlinks", ROOT, src],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(clone.code, 0, new TextDecoder().decode(clone.stderr));
    const config = JSON.parse(await Deno.readTextFile(`${src}/deno.json`));

    await using first = await startServer([
      `--storage=kv:${dir}/first.kv`,
      `--data-dir=${dir}`,
      "--token=tok-x",
      "--subject=x-team",
      "--log-requests=false",
    ]);
    const env = { JSR_URL: `${first.url}/` };
    const published = await deno(["publish", "--token", "tok-x"], { cwd: src, env });
    assert.equal(published.code, 0, published.out);
    assert.match(
      published.out,
      new RegExp(`Successfully published ${config.name}@${config.version}`),
    );

    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--no-config",
        "jsr:@x/registry",
        "--port=0",
        "--host=127.0.0.1",
        `--storage=kv:${dir}/second.kv`,
        "--init",
        "--token=jsr-token",
      ],
      cwd: dir,
      env: {
        ...env,
        // @x/registry is private by default: the reader needs the token.
        DENO_AUTH_TOKENS: `tok-x@${new URL(first.url).host}`,
        NO_COLOR: "1",
      },
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
      await Deno.stat(`${dir}/second.kv`); // the KV file exists: the re-exec got --unstable-kv
    } finally {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      const status = await child.status;
      await pumps;
      assert.equal(status.code, 0, text);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
