// A full disk is told as it is, on every surface: 507 in the surface's own
// error format with a message the client can act on, and nothing stored.
// The disk here is a store whose writes fail as a full volume's do (the
// runtime's ENOSPC text, SQLite's "database or disk is full");
// tests/disk_full_test.ts fills a real tmpfs for the end-to-end case.
import assert from "node:assert/strict";
import { isRegistryError, STORAGE_FULL_MESSAGE, storeFault } from "../base/errors.ts";
import type { BundleStorage, RegistryStorage } from "../storage/types.ts";
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

const ENOSPC = () => new Error("No space left on device (os error 28)");

/** From now on, every blob write fails as on a full volume. */
function fillBundles(bundles: BundleStorage): void {
  bundles.put = () => Promise.reject(ENOSPC());
}

/** From now on, every commit fails as SQLite's does on a full volume. */
function fillRows(storage: RegistryStorage): void {
  storage.commit = () => Promise.reject(new TypeError("database or disk is full"));
}

Deno.test("storeFault: a full disk anywhere in the cause chain is storage_full; other errors pass", () => {
  const wrapped = new Error("write failed", { cause: ENOSPC() });
  assert.ok(isRegistryError(storeFault(wrapped), "storage_full"));
  assert.ok(isRegistryError(storeFault(new TypeError("database or disk is full")), "storage_full"));
  const other = new Error("connection refused");
  assert.equal(storeFault(other), other);
});

Deno.test("ggui: a publish on a full disk is 507 storage_full and stores no version", async () => {
  const { app, bundles, storage } = makeGguiApp();
  const key = await makeKey();
  assert.equal((await registerKey(app, TOKENS.alice, key)).status, 201);
  fillBundles(bundles);
  const res = await publish(app, TOKENS.alice, await makeGadget(key));
  assert.equal(res.status, 507);
  const body = await res.json();
  assert.equal(body.error, "storage_full");
  assert.equal(body.message, STORAGE_FULL_MESSAGE);
  assert.equal(await storage.get(["ver", "@acme", "map", "1.0.0"]), null);
});

Deno.test("Rack: an upload on a full disk is 507 INSUFFICIENT_STORAGE and stores no version", async () => {
  const env = makeRackEnv();
  fillBundles(env.ctx.bundles);
  const res = await env.app.request(
    uploadRequest(await makePackage({ item: makeItem({ namespace: "@company" }) }), {
      token: "ci-token",
    }),
  );
  assert.equal(res.status, 507);
  const body = await res.json();
  assert.equal(body.code, "INSUFFICIENT_STORAGE");
  assert.equal(body.message, STORAGE_FULL_MESSAGE);
  const versions = await env.app.request("/registries/@company/test-registry/versions", {
    headers: { authorization: "Bearer ci-token" },
  });
  assert.equal(versions.status, 404);
});

Deno.test("JSR: a publish on a full disk is 507 insufficientStorage and no version exists", async () => {
  const storage = new MemoryRegistryStorage();
  const bundles = new MemoryBundleStorage();
  const app = makeAliceApp({ storage, bundles }, { admin: true });
  fillBundles(bundles);
  const config = JSON.stringify({ name: "@acme/greet", version: "1.0.0", exports: "./mod.ts" });
  const res = await app.request(
    "/api/scopes/acme/packages/greet/versions/1.0.0?config=%2Fdeno.json",
    {
      method: "POST",
      headers: { authorization: "Bearer tok-alice", "content-encoding": "gzip" },
      body: await makeTarball({
        "deno.json": config,
        "mod.ts": "export const x = 1;\n",
      }) as BodyInit,
    },
  );
  assert.equal(res.status, 507);
  assert.deepEqual(await res.json(), {
    code: "insufficientStorage",
    message: STORAGE_FULL_MESSAGE,
  });
  const meta = await app.request("/@acme/greet/1.0.0_meta.json");
  await meta.body?.cancel();
  assert.equal(meta.status, 404);
});

Deno.test("admin: creating a token on a full disk is 507 storage_full", async () => {
  const storage = new MemoryRegistryStorage();
  const app = makeAliceApp({ storage, bundles: new MemoryBundleStorage() }, { admin: true });
  fillRows(storage);
  const res = await app.request("/admin/tokens", {
    method: "POST",
    headers: { authorization: "Bearer tok-alice", "content-type": "application/json" },
    body: JSON.stringify({ subject: "ci" }),
  });
  assert.equal(res.status, 507);
  assert.deepEqual(await res.json(), { code: "storage_full", message: STORAGE_FULL_MESSAGE });
});
