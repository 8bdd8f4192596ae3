// The scale benchmark seeds stores through the storage seam (bench/_scale_seed.ts):
// this proves the rows and blobs it writes are the ones the publishes write
// through the HTTP surfaces, family by family, up to times, ids and digests
// of what is time-stamped.
import assert from "node:assert/strict";
import { createRegistryApp } from "../routes/app.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import {
  gadgetPublishBody,
  jsrFiles,
  Seeder,
  type SeedPackage,
  seedPackage,
} from "../bench/_scale_seed.ts";
import { testSigstoreVerifier } from "./_ggui_fixtures.ts";
import { makeTarball } from "./_rack_fixtures.ts";

const TOKEN = "tok-alice";

function makeApp() {
  const storage = new MemoryRegistryStorage();
  const bundles = new MemoryBundleStorage();
  const app = createRegistryApp({
    storage,
    bundles,
    clock: () => new Date(),
    authenticator: {
      authenticate: (t) => Promise.resolve(t === TOKEN ? { subject: "alice", admin: false } : null),
    },
    bundleHost: "http://127.0.0.1:9",
    registryHostname: "127.0.0.1:9",
    sigstore: testSigstoreVerifier,
    jsrVisibility: "public",
    rateLimitPerMinute: 0,
    metadataRateLimitPerMinute: 0,
    queryRateLimitPerMinute: 0,
    tokenUploadRateLimitPerMinute: 0,
    uploadRateLimitPerMinute: 0,
    authFailuresPerMinute: 0,
  });
  return { app, storage, bundles };
}

/** Every row as normalized text: times, ids, the client address and the JSR tarball's digest blanked. */
async function rows(storage: MemoryRegistryStorage): Promise<string[]> {
  const out: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await storage.list([], { limit: 1000, ...(cursor ? { cursor } : {}) });
    for (const e of page.items) {
      // Store-wide state, not a publish's rows (the GC row moves when a JSR publish drops its tarball).
      if (["rate", "health", "gc"].includes(String(e.key[0]))) continue;
      out.push(
        JSON.stringify([e.key, e.value])
          .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z(-[0-9a-f]{6}-[0-9a-f]{16})?/g, "T")
          .replace(/,"tarballSha256":"[0-9a-f]{64}","tarballSize":\d+/, "")
          .replace(/"ip":"[^"]*",/, "")
          .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, "ID"),
      );
    }
    cursor = page.cursor;
  } while (cursor);
  return out.sort();
}

const GADGET: SeedPackage = {
  namespace: "@big",
  name: "huge",
  format: "ggui.gadget",
  versions: ["1.0.0", "1.0.1", "1.1.0"],
  description: "A common needle",
  firstAt: Date.parse("2026-01-01T00:00:00.000Z"),
  publisher: "alice",
};
const JSR: SeedPackage = { ...GADGET, namespace: "@deno", name: "tool", format: "jsr" };

Deno.test("seeded ggui and JSR packages hold the rows and blobs their HTTP publishes write", async () => {
  const wire = makeApp();
  for (const version of GADGET.versions) {
    const res = await wire.app.request("/publish", {
      method: "POST",
      headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify(gadgetPublishBody(GADGET, version)),
    });
    assert.equal(res.status, 201, await res.text());
  }
  const tarballs: string[] = [];
  for (const version of JSR.versions) {
    const tarball = await makeTarball(jsrFiles(JSR, version));
    const res = await wire.app.request(
      `/api/scopes/deno/packages/tool/versions/${version}?config=%2Fdeno.json`,
      {
        method: "POST",
        headers: { "content-encoding": "gzip", authorization: `Bearer ${TOKEN}` },
        body: tarball as BodyInit,
      },
    );
    assert.equal(res.status, 200, await res.text());
    tarballs.push(...(await wire.bundles.list({ limit: 1000 })).items.map((b) => b.sha256));
  }
  const seeded = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage() };
  const seeder = new Seeder(seeded.storage, seeded.bundles);
  await seeder.add(seedPackage(GADGET, { claimScope: true }));
  await seeder.add(seedPackage(JSR, { claimScope: true }));
  await seeder.flush();
  assert.deepEqual(await rows(seeded.storage), await rows(wire.storage));
  const digests = async (b: MemoryBundleStorage) =>
    (await b.list({ limit: 1000 })).items.map((i) => i.sha256).sort();
  const seededBlobs = new Set(await digests(seeded.bundles));
  // The wire store may also hold the JSR tarballs (not referenced by any row).
  const extra = (await digests(wire.bundles)).filter((d) => !seededBlobs.has(d));
  assert.ok(extra.every((d) => tarballs.includes(d)), "only tarballs are extra");
  assert.ok(extra.length <= JSR.versions.length);
  for (const d of seededBlobs) assert.ok(await wire.bundles.stat(d), `wire store lacks ${d}`);
});
