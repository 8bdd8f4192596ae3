// Journey 2, Deno Deploy: main.ts run the way Deploy runs it — no CLI flags,
// configuration from the environment, DENO_DEPLOYMENT_ID set, the default KV
// database (`DENO_KV_REQUIRES_DISTRIBUTED_DATABASE=warn`: in memory here), and
// no permission to write to the file system — passes publish and read end to end.
import assert from "node:assert/strict";
import { GADGET_SOURCE, makeGadget, makeKey } from "./_ggui_fixtures.ts";
import { startServer } from "./_server.ts";

const DEPLOY_FLAGS = ["--unstable-kv", "--allow-net", "--allow-env", "--allow-read"];

Deno.test("the server runs as on Deno Deploy: no flags, no disk writes, KV only", async () => {
  const cwd = await Deno.makeTempDir();
  try {
    await using server = await startServer([], {
      noFlags: true,
      denoFlags: DEPLOY_FLAGS,
      cwd,
      env: {
        DENO_DEPLOYMENT_ID: "local-test",
        DENO_KV_REQUIRES_DISTRIBUTED_DATABASE: "warn",
        GGUI_REGISTRY_TOKEN: "deploy-token",
        PORT: "0",
        HOST: "127.0.0.1",
      },
    });
    const h = { authorization: "Bearer deploy-token", "content-type": "application/json" };
    assert.deepEqual(await (await fetch(`${server.url}/healthz`)).json(), { ok: true });
    const key = await makeKey();
    const name = `map-${crypto.randomUUID().slice(0, 8)}`;
    const reg = await fetch(`${server.url}/author-keys`, {
      method: "POST",
      headers: h,
      body: JSON.stringify({ publicKeyBase64: key.publicKeyBase64 }),
    });
    assert.equal(reg.status, 201);
    const pub = await fetch(`${server.url}/publish`, {
      method: "POST",
      headers: h,
      // The default database may outlive this test run: a fresh name each time.
      body: JSON.stringify(await makeGadget(key, { manifest: { scope: "@deploy", name } })),
    });
    assert.equal(pub.status, 201, await pub.text());
    const read = await (await fetch(`${server.url}/pkg/deploy/${name}/1.0.0`, { headers: h }))
      .json();
    const bundle = await fetch(`${server.url}${new URL(read.bundleUrl).pathname}`, { headers: h });
    assert.equal(await bundle.text(), GADGET_SOURCE, "bundles live in KV");
    const anon = await fetch(`${server.url}/publish`, { method: "POST", body: "{}" });
    assert.equal(anon.status, 401);
    await anon.body?.cancel();
    assert.deepEqual(
      [...Deno.readDirSync(cwd)],
      [],
      "nothing was written to the working directory",
    );
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});

Deno.test("on Deploy with no token at all every write is refused and nothing is written", async () => {
  const cwd = await Deno.makeTempDir();
  try {
    await using server = await startServer([], {
      noFlags: true,
      denoFlags: DEPLOY_FLAGS,
      cwd,
      env: {
        DENO_DEPLOYMENT_ID: "local-test",
        DENO_KV_REQUIRES_DISTRIBUTED_DATABASE: "warn",
        PORT: "0",
        HOST: "127.0.0.1",
      },
    });
    assert.match(server.output(), /every write is refused/);
    const res = await fetch(`${server.url}/author-keys`, {
      method: "POST",
      headers: { authorization: "Bearer anything", "content-type": "application/json" },
      body: "{}",
    });
    assert.equal(res.status, 401);
    await res.body?.cancel();
    assert.deepEqual([...Deno.readDirSync(cwd)], []);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});
