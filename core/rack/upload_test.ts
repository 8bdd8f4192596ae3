import assert from "node:assert/strict";
import type { RegistryContext } from "../context.ts";
import { sha256Hex } from "../../base/digest.ts";
import { isRegistryError } from "../../base/errors.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../../storage/memory.ts";
import { makeItem, makePackage, makeTarball } from "../../tests/_rack_fixtures.ts";
import { identifyCaller, parseAuthConfig } from "./auth.ts";
import { rackCodeOf } from "./errors.ts";
import { jsonDocument, readVersionsJson, resolveLatest, resolveRackFile } from "./read.ts";
import { assertFitsInRow, declaredPaths, publishRackArchive, storeArchive } from "./upload.ts";

function memoryCtx(): RegistryContext {
  return {
    storage: new MemoryRegistryStorage(),
    bundles: new MemoryBundleStorage(),
    clock: () => new Date("2026-05-01T00:00:00Z"),
  };
}

const { auth } = parseAuthConfig('{"@rack":[]}', { adminToken: "root" });
const caller = identifyCaller(auth, "root");

async function publish(ctx: RegistryContext, archive: Uint8Array) {
  const stored = await storeArchive(ctx, new Blob([archive as BlobPart]).stream());
  return await publishRackArchive(ctx, {
    archive: stored,
    checksum: sha256Hex(archive),
    auth,
    caller,
  });
}

Deno.test("publishRackArchive() publishes without HTTP and the reads derive versions and latest", async () => {
  const ctx = memoryCtx();
  for (const version of ["1.0.0", "1.10.0", "1.2.0", "2.0.0-rc.1"]) {
    const result = await publish(ctx, await makePackage({ item: makeItem({ version }) }));
    assert.equal(result.path, `@rack/quality/husky/${version}`);
  }
  const ref = { namespace: "@rack", segments: ["quality", "husky"] };
  const doc = await readVersionsJson(ctx, ref);
  assert.deepEqual(doc, jsonDocument({ versions: ["2.0.0-rc.1", "1.10.0", "1.2.0", "1.0.0"] }));
  assert.equal((await resolveLatest(ctx, ref)).version, "1.10.0");
  const file = await resolveRackFile(ctx, { ...ref, version: "1.2.0", path: "templates/setup.ts" });
  assert.equal(file.contentType, "text/typescript");
  assert.equal(file.entry.type, "text/typescript");
});

Deno.test("storeArchive() refuses an archive over its cap with FST_REQ_FILE_TOO_LARGE", async () => {
  const ctx = memoryCtx();
  await assert.rejects(
    () => storeArchive(ctx, new Blob([new Uint8Array(2048)]).stream(), { maxBytes: 1024 }),
    (err) => isRegistryError(err, "too_large") && rackCodeOf(err) === "FST_REQ_FILE_TOO_LARGE",
  );
});

Deno.test("declaredPaths() collects files, language files and custom merge scripts", () => {
  const paths = declaredPaths({
    files: [
      { path: "a.ts", mergeStrategy: { type: "custom", script: "m.js" } },
      { content: "x", mergeStrategy: { type: "builtin", strategy: "json" } },
    ],
    languages: { js: { files: [{ path: "b.js" }] }, ts: {} },
  });
  assert.deepEqual(paths, ["a.ts", "m.js", "b.js"]);
});

Deno.test("assertFitsInRow() refuses a record over the store's row limit with UPLOAD_FAILED", () => {
  assertFitsInRow({ description: "x".repeat(1000) }, "The version record");
  assert.throws(
    () => assertFitsInRow({ description: "x".repeat(70_000) }, "The version record"),
    (err) =>
      isRegistryError(err, "invalid_input") && rackCodeOf(err) === "UPLOAD_FAILED" &&
      /^The version record would take 7\d{4} bytes, over the store's limit of 61440 bytes per record/
        .test(err.message),
  );
});

Deno.test("publishRackArchive() refuses two archive entries on one path and stores none of its files", async () => {
  const ctx = memoryCtx();
  const archive = await makeTarball([
    { path: "registry.json", content: JSON.stringify(makeItem()) },
    { path: "templates/.husky/commit-msg", content: "hook" },
    { path: "templates/setup.ts", content: "FIRST" },
    { path: "./templates//setup.ts", content: "SECOND" },
  ]);
  await assert.rejects(
    () => publish(ctx, archive),
    (err) =>
      isRegistryError(err) && rackCodeOf(err) === "INVALID_ARCHIVE" &&
      err.message === "The archive holds templates/setup.ts twice",
  );
  assert.equal((await ctx.bundles.list()).items.length, 1, "only the archive");
  assert.deepEqual((await ctx.storage.list(["ver"])).items, []);
});
