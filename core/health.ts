/**
 * The health check every surface's health route runs: a real round trip
 * through both stores (a row written and read back, a blob put and stat).
 *
 * @module
 */
import type { RegistryContext } from "./context.ts";
import { healthKey } from "../storage/keys.ts";

/**
 * Throws (with the store's own reason, for logs only) when either store fails
 * its round trip.
 *
 * @example
 * ```ts
 * import { checkStoreHealth } from "./health.ts";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
 * await checkStoreHealth({ storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date() });
 * ```
 */
export async function checkStoreHealth(ctx: RegistryContext): Promise<void> {
  const probe = `${ctx.clock().toISOString()}-${crypto.randomUUID()}`;
  const res = await ctx.storage.commit({
    checks: [],
    mutations: [{ type: "set", key: healthKey(), value: probe }],
  });
  const back = await ctx.storage.get<string>(healthKey());
  if (!res.ok || back?.value !== probe) throw new Error("Row storage round trip failed");
  const sentinel = new TextEncoder().encode("health\n");
  const info = await ctx.bundles.put(sentinel);
  if ((await ctx.bundles.stat(info.sha256))?.size !== sentinel.byteLength) {
    throw new Error("Bundle storage round trip failed");
  }
}
