// A refused or failed upload leaves no blob it wrote, on every surface,
// unless the blob was stored before (another version refers to it).
import assert from "node:assert/strict";
import type { RegistryContext } from "../core/context.ts";
import { collectGarbage } from "../core/gc.ts";
import type { VersionRow } from "../core/rows.ts";
import type { BundleStorage } from "../storage/types.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import { makeAliceApp } from "./_app_fixtures.ts";
import {
  makeGadget,
  makeGguiApp,
  makeKey,
  publish,
  registerKey,
  TOKENS,
} from "./_ggui_fixtures.ts";
import {
  makeItem,
  makePackage,
  makeRackEnv,
  makeTarball,
  uploadRequest,
} from "./_rack_fixtures.ts";

async function blobs(bundles: BundleStorage): Promise<string[]> {
  return (await bundles.list({ limit: 1000 })).items.map((b) => b.sha256).sort();
}

/** Blobs no version refers to, whatever their age (a dry run: nothing is deleted). */
async function orphans(ctx: RegistryContext): Promise<number> {
  return (await collectGarbage(ctx, { dryRun: true, graceMs: 0 })).orphans.length;
}

Deno.test("a ggui publish that loses a race drops the blobs it stored and keeps the shared ones", async () => {
  const { app, bundles, storage } = makeGguiApp();
  const key = await makeKey();
  assert.equal((await registerKey(app, TOKENS.alice, key)).status, 201);
  const first = await publish(app, TOKENS.alice, await makeGadget(key));
  assert.equal(first.status, 201, await first.text());
  const before = await blobs(bundles);
  // The same bytes again: refused, and every blob belongs to 1.0.0, so all stay.
  const same = await publish(app, TOKENS.alice, await makeGadget(key));
  assert.equal(same.status, 409);
  assert.deepEqual(await blobs(bundles), before);
  // Two publishes of one new version at once, with other bundles: one wins,
  // the loser is refused after it stored its blobs, which go.
  const racing = async (n: number) => {
    const body = await makeGadget(key, {
      manifest: { version: "1.0.1" },
      source: `export function useMap() { return ${n}; }\n`,
    });
    const res = await publish(app, TOKENS.alice, body);
    await res.body?.cancel();
    return res.status;
  };
  assert.deepEqual((await Promise.all([racing(1), racing(2)])).sort(), [201, 409]);
  const winner = await storage.get<VersionRow>(["ver", "@acme", "map", "1.0.1"]);
  const kept = Object.values(winner!.value.files ?? {}).map((f) => f.sha256);
  assert.deepEqual(await blobs(bundles), [...new Set([...before, ...kept])].sort());
});

Deno.test("a Rack upload refused after its archive was stored leaves no blob", async () => {
  const env = makeRackEnv();
  const ok = await env.app.request(
    uploadRequest(await makePackage({ item: makeItem({ namespace: "@company" }) }), {
      token: "ci-token",
    }),
  );
  assert.equal(ok.status, 201, await ok.text());
  const before = await blobs(env.ctx.bundles);
  const refusals = [
    // Another namespace than the token's: refused once the archive is read.
    makePackage({ item: makeItem({ namespace: "@other", version: "2.0.0" }) }),
    // A schema failure.
    makePackage({ item: makeItem({ namespace: "@company", version: "2.0.0", type: 5 }) }),
    // The same version again, with other files: refused after its files were stored.
    makePackage({
      item: makeItem({ namespace: "@company" }),
      files: { "templates/.husky/commit-msg": "#!/bin/sh\necho other\n", "templates/setup.ts": "" },
    }),
  ];
  for (const archive of refusals) {
    const res = await env.app.request(uploadRequest(await archive, { token: "ci-token" }));
    assert.ok(res.status >= 400 && res.status < 500, `${res.status} ${await res.text()}`);
    assert.deepEqual(await blobs(env.ctx.bundles), before);
  }
  assert.equal(await orphans(env.ctx), 0);
});

Deno.test("a JSR publish that fails its checks or loses to an existing version leaves no blob", async () => {
  const storage = new MemoryRegistryStorage();
  const bundles = new MemoryBundleStorage();
  const app = makeAliceApp({ storage, bundles });
  const ctx = { storage, bundles, clock: () => new Date() };
  const send = async (files: Record<string, string>, version = "1.0.0") => {
    const res = await app.request(
      `/api/scopes/acme/packages/greet/versions/${version}?config=%2Fdeno.json`,
      {
        method: "POST",
        headers: { authorization: "Bearer tok-alice", "content-encoding": "gzip" },
        body: await makeTarball(files) as BodyInit,
      },
    );
    return await res.json() as { status?: string; code?: string };
  };
  const config = JSON.stringify({ name: "@acme/greet", version: "1.0.0", exports: "./mod.ts" });
  // Fails JSR's checks (the export points nowhere): a failed task, no blob.
  const failed = await send({ "deno.json": config, "other.ts": "export const x = 1;\n" });
  assert.equal(failed.status, "failure");
  assert.deepEqual(await blobs(bundles), []);
  const ok = await send({ "deno.json": config, "mod.ts": "export const x = 1;\n" });
  assert.equal(ok.status, "success");
  assert.equal(await orphans(ctx), 0, "after the first success");
  // Two publishes of one version at once, with other bytes: the loser's blobs go.
  const racing = (n: number) =>
    send({
      "deno.json": config.replace("1.0.0", "1.0.1"),
      "mod.ts": `export const x = ${n};\n`,
    }, "1.0.1");
  const results = await Promise.all([racing(1), racing(2)]);
  assert.deepEqual(results.map((r) => r.status ?? r.code).sort(), [
    "duplicateVersionPublish",
    "success",
  ]);
  assert.equal(await orphans(ctx), 0, "after the race");
});
