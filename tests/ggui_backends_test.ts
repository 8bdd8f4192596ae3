// The ggui surface over every storage backend: the same flows must hold on
// memory, on a KV file and on an fs directory (including the one-winner race
// and data surviving a reopen of the same store).
import assert from "node:assert/strict";
import type { Hono } from "hono";
import type { RegistryContext } from "../core/context.ts";
import { createGguiRoutes } from "../routes/ggui/mod.ts";
import { FsBundleStorage, FsRegistryStorage } from "../storage/fs.ts";
import { KvBundleStorage, KvRegistryStorage } from "../storage/kv.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import type { BundleStorage, RegistryStorage } from "../storage/types.ts";
import {
  bearer,
  BUNDLE_HOST,
  GADGET_SOURCE,
  makeGadget,
  makeKey,
  makePublicGadget,
  publish,
  registerKey,
  testSigstoreVerifier,
  tokenMapAuthenticator,
  TOKENS,
} from "./_ggui_fixtures.ts";

interface Store {
  storage: RegistryStorage;
  bundles: BundleStorage;
}

interface Backend {
  name: string;
  /** Open the store at `dir` (the same dir reopens the same data where persistent). */
  open(dir: string): Promise<Store>;
  persistent: boolean;
}

const BACKENDS: Backend[] = [
  {
    name: "memory",
    persistent: false,
    open: () =>
      Promise.resolve({ storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage() }),
  },
  {
    name: "kv",
    persistent: true,
    open: async (dir) => ({
      storage: await KvRegistryStorage.open(`${dir}/rows.kv`),
      bundles: await KvBundleStorage.open(`${dir}/blobs.kv`),
    }),
  },
  {
    name: "fs",
    persistent: true,
    open: async (dir) => ({
      storage: await FsRegistryStorage.open({ root: `${dir}/rows` }),
      bundles: await FsBundleStorage.open({ root: `${dir}/blobs` }),
    }),
  },
];

function appOver(store: Store): Hono {
  const ctx: RegistryContext = { ...store, clock: () => new Date() };
  return createGguiRoutes({
    ctx,
    authenticator: tokenMapAuthenticator({ [TOKENS.alice]: "alice", [TOKENS.bob]: "bob" }),
    bundleHost: BUNDLE_HOST,
    registryHostname: "127.0.0.1:9011",
    sigstore: testSigstoreVerifier,
  });
}

async function close(store: Store): Promise<void> {
  await store.storage.close();
  await store.bundles.close();
}

for (const backend of BACKENDS) {
  Deno.test(`the ggui surface on ${backend.name}: publish, read, list, search, bundles and isolation`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "ggui-backend-" });
    try {
      const store = await backend.open(dir);
      const key = await makeKey();
      try {
        const app = appOver(store);
        assert.equal((await registerKey(app, TOKENS.alice, key)).status, 201);
        assert.equal((await registerKey(app, TOKENS.alice, key)).status, 200);
        for (const version of ["1.0.0", "2.0.0-rc.1", "1.1.0"]) {
          const res = await publish(
            app,
            TOKENS.alice,
            await makeGadget(key, { manifest: { version } }),
          );
          assert.equal(res.status, 201, await res.text());
        }
        assert.equal(
          (await publish(app, TOKENS.alice, makePublicGadget({ manifest: { name: "pub" } })))
            .status,
          201,
        );
        // Twenty identical publishes at once: one winner.
        const body = JSON.stringify(await makeGadget(key, { manifest: { version: "3.0.0" } }));
        const statuses = (await Promise.all(
          Array.from({ length: 20 }, () => publish(app, TOKENS.alice, body)),
        )).map((r) => r.status).sort();
        assert.deepEqual(statuses, [201, ...Array(19).fill(409)]);

        const list = await (await app.request("/pkg/acme/map", { headers: bearer(TOKENS.alice) }))
          .json();
        assert.deepEqual(list.versions.map((v: { version: string }) => v.version), [
          "3.0.0",
          "2.0.0-rc.1",
          "1.1.0",
          "1.0.0",
        ]);
        assert.equal((await app.request("/pkg/acme/map")).status, 404);
        assert.equal(
          (await app.request("/pkg/acme/map", { headers: bearer(TOKENS.bob) })).status,
          404,
        );
        const blob = await app.request("/bundles/private/@acme/map/1.1.0/bundle.js", {
          headers: bearer(TOKENS.alice),
        });
        assert.equal(await blob.text(), GADGET_SOURCE);
        const pub = await app.request("/bundles/public/@acme/pub/1.0.0/bundle.js");
        assert.equal(await pub.text(), GADGET_SOURCE);
        const search = await (await app.request("/search")).json();
        assert.deepEqual(search.results.map((r: { artifactId: string }) => r.artifactId), [
          "@acme/pub",
        ]);
      } finally {
        await close(store);
      }
      if (!backend.persistent) return;
      // The same store reopened serves the same data.
      const again = await backend.open(dir);
      try {
        const app = appOver(again);
        const read = await app.request("/pkg/acme/map/3.0.0", { headers: bearer(TOKENS.alice) });
        assert.equal(read.status, 200);
        assert.equal((await read.json()).authorPublicKey, key.publicKeyBase64);
        assert.equal(
          (await publish(
            app,
            TOKENS.alice,
            await makeGadget(key, { manifest: { version: "3.0.0" } }),
          )).status,
          409,
        );
        const keys = await (await app.request("/author-keys", { headers: bearer(TOKENS.alice) }))
          .json();
        assert.equal(keys.keys.length, 1);
      } finally {
        await close(again);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
