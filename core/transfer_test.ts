import assert from "node:assert/strict";
import { FsBundleStorage, FsRegistryStorage } from "../storage/fs.ts";
import { KvBundleStorage, KvRegistryStorage } from "../storage/kv.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import { createToken } from "./tokens.ts";
import { listTokenPage } from "./token_pages.ts";
import type { RegistryContext } from "./context.ts";
import { isRegistryError } from "../base/errors.ts";
import { storeFile } from "./files.ts";
import { nextPackageRow } from "./packages.ts";
import { putVersionIfAbsent } from "./store.ts";
import { exportStore, importStore, verifyExport } from "./transfer.ts";
import { sha256Hex } from "../base/digest.ts";

async function* lines(text: string): AsyncGenerator<string> {
  for (const l of text.split("\n")) if (l !== "") yield l;
}

async function collect(ctx: RegistryContext): Promise<string> {
  let out = "";
  for await (const l of exportStore(ctx)) out += l;
  return out;
}

/** Everything but the header's date: what a round trip must preserve. */
function content(exported: string): string[] {
  return exported.split("\n").filter((l) =>
    l !== "" && !l.startsWith('{"t":"header"') && !l.startsWith('{"t":"end"')
  );
}

Deno.test("a store of 1,000 versions moves fs → KV → fs byte-exact, with integrity checks", async () => {
  const dir = await Deno.makeTempDir();
  const now = () => new Date("2026-11-22T00:00:00Z");
  const fs: RegistryContext = {
    storage: await FsRegistryStorage.open({ root: `${dir}/fs1` }),
    bundles: await FsBundleStorage.open({ root: `${dir}/fs1` }),
    clock: now,
  };
  const kv = await Deno.openKv(`${dir}/kv.sqlite`);
  const kvCtx: RegistryContext = {
    storage: new KvRegistryStorage(kv),
    bundles: new KvBundleStorage(kv),
    clock: now,
  };
  const back: RegistryContext = {
    storage: await FsRegistryStorage.open({ root: `${dir}/fs2` }),
    bundles: await FsBundleStorage.open({ root: `${dir}/fs2` }),
    clock: now,
  };
  try {
    const big = new Uint8Array(300_000).map((_, i) => (i * 7) & 0xff);
    for (let i = 0; i < 1000; i++) {
      const ref = { namespace: "@acme", name: `pkg${i % 10}` };
      const file = await storeFile(
        fs,
        i % 250 === 0 ? big : new TextEncoder().encode(`file ${i}\n`),
        "text/plain",
      );
      const result = await putVersionIfAbsent(fs.storage, {
        row: {
          ...ref,
          version: `1.0.${i}`,
          format: "rack.registry",
          visibility: i % 3 ? "public" : "private",
          files: { "a.txt": file },
          facts: { n: i, note: "é✓" },
          publishedAt: now().toISOString(),
          publishedBy: "ci",
        },
        updatePackage: (cur, st) => nextPackageRow(cur, st, { ref }),
      });
      assert.equal(result.result, "created");
    }
    const first = await collect(fs);
    const counted = await verifyExport(lines(first));
    assert.equal(
      counted.rows,
      1000 * 3 + 10 * 2,
      "version, state and precedence rows; a package row and its precedence mark each",
    );
    assert.equal(counted.blobs, 1000 - 3);
    await importStore(kvCtx, lines(first));
    const second = await collect(kvCtx);
    assert.deepEqual(content(second), content(first), "KV holds exactly what fs held");
    await importStore(back, lines(second));
    const third = await collect(back);
    assert.deepEqual(content(third), content(first), "and back to fs, byte-exact");
    assert.equal(sha256Hex(content(third).join("\n")), sha256Hex(content(first).join("\n")));
  } finally {
    for (const c of [fs, back]) {
      await c.storage.close();
      await c.bundles.close();
    }
    kv.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an edited, truncated or foreign export is refused before anything is written", async () => {
  const dir = await Deno.makeTempDir();
  const ctx: RegistryContext = {
    storage: await FsRegistryStorage.open({ root: dir }),
    bundles: await FsBundleStorage.open({ root: dir }),
    clock: () => new Date(),
  };
  try {
    const f = await storeFile(ctx, new TextEncoder().encode("hello"), "text/plain");
    await ctx.storage.commit({
      checks: [],
      mutations: [{ type: "set", key: ["config", "x", "y"], value: f as never }],
    });
    const good = await collect(ctx);
    await verifyExport(lines(good));
    const edited = good.replace('"y"', '"z"');
    await assert.rejects(
      verifyExport(lines(edited)),
      (e) => isRegistryError(e, "invalid_input") && /digest/.test(e.message),
    );
    const truncated = good.split("\n").slice(0, -2).join("\n");
    await assert.rejects(verifyExport(lines(truncated)), /truncated/);
    await assert.rejects(
      verifyExport(lines('{"t":"header","format":"other"}\n')),
      /not an x-registry export/,
    );
    // A blob whose bytes do not match its digest never lands, even when imported unverified.
    const chunk = good.split("\n").find((l) => l.startsWith('{"t":"chunk"'))!;
    const rotten = good.replace(chunk, JSON.stringify({ t: "chunk", d: btoa("jello") }));
    const other: RegistryContext = {
      storage: await FsRegistryStorage.open({ root: `${dir}/other` }),
      bundles: await FsBundleStorage.open({ root: `${dir}/other` }),
      clock: () => new Date(),
    };
    await assert.rejects(
      importStore(other, lines(rotten)),
      (e) => isRegistryError(e, "digest_mismatch"),
    );
    assert.equal((await other.bundles.list()).items.length, 0);
    await other.storage.close();
    await other.bundles.close();
  } finally {
    await ctx.storage.close();
    await ctx.bundles.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an import with skipExisting into a store whose token list is indexed lists the imported tokens", async () => {
  const store = (): RegistryContext => ({
    storage: new MemoryRegistryStorage(),
    bundles: new MemoryBundleStorage(),
    clock: () => new Date(),
  });
  const admin = { subject: "root", admin: true };
  const [from, to] = [store(), store()];
  await createToken(from, { subject: "ci", grants: [] }, admin);
  await createToken(to, { subject: "ops", grants: [] }, admin);
  // The target's token list is indexed (its first listing did it).
  assert.deepEqual((await listTokenPage(to)).items.map((t) => t.subject), ["ops"]);
  await importStore(to, lines(await collect(from)), { skipExisting: true });
  const listed = (await listTokenPage(to)).items.map((t) => t.subject).sort();
  assert.deepEqual(listed, ["ci", "ops"]);
  assert.deepEqual((await listTokenPage(to, { subject: "ci" })).items.length, 1);
});
