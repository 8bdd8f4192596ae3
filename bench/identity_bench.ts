// Costs of the identity model on a real KV file: a stored-token lookup (paid
// on every request bearing an `xr_` token), a yank + unyank (two lifecycle
// commits with package-row recompute, audit and outbox rows), and a GC dry run
// over 100 versions and 1 000 blobs.
import { authenticateStoredToken, createToken } from "../core/tokens.ts";
import { unyankVersion, yankVersion } from "../core/lifecycle.ts";
import { collectGarbage } from "../core/gc.ts";
import { nextPackageRow } from "../core/packages.ts";
import { putVersionIfAbsent } from "../core/store.ts";
import type { RegistryContext } from "../core/context.ts";
import { KvBundleStorage, KvRegistryStorage } from "../storage/kv.ts";

const dir = await Deno.makeTempDir();
const kv = await Deno.openKv(`${dir}/bench.kv`);
const ctx: RegistryContext = {
  storage: new KvRegistryStorage(kv),
  bundles: new KvBundleStorage(kv),
  clock: () => new Date(),
};
const { secret } = await createToken(ctx, {
  subject: "ci",
  grants: [{ namespace: "@acme", actions: ["publish"] }],
}, { subject: "bench", admin: true });

const ref = { namespace: "@acme", name: "pkg" };
const enc = new TextEncoder();
for (let v = 0; v < 100; v++) {
  const files: Record<string, { sha256: string; size: number; type: string }> = {};
  for (let f = 0; f < 5; f++) {
    const info = await ctx.bundles.put(enc.encode(`version ${v} file ${f}`));
    files[`f${f}`] = { sha256: info.sha256, size: info.size, type: "text/plain" };
  }
  await putVersionIfAbsent(ctx.storage, {
    row: {
      ...ref,
      version: `1.${v}.0`,
      format: "rack.registry",
      visibility: "public",
      files,
      facts: {},
      publishedAt: new Date().toISOString(),
      publishedBy: "ci",
    },
    updatePackage: (cur, st) => nextPackageRow(cur, st, { ref }),
  });
}
for (let i = 0; i < 500; i++) await ctx.bundles.put(enc.encode(`orphan ${i}`));

Deno.bench("stored token lookup (KV file)", async () => {
  await authenticateStoredToken(ctx, secret);
});

Deno.bench("yank + unyank of one of 100 versions (KV file)", async () => {
  await yankVersion(ctx, { ...ref, version: "1.50.0", actor: "bench" });
  await unyankVersion(ctx, { ...ref, version: "1.50.0", actor: "bench" });
});

Deno.bench("GC dry run: 100 versions, 1 000 blobs (KV file)", { n: 20 }, async () => {
  await collectGarbage(ctx, { dryRun: true, graceMs: 0 });
});

globalThis.addEventListener("unload", () => {
  kv.close();
  Deno.removeSync(dir, { recursive: true });
});
