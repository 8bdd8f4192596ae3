/**
 * The health check every surface's health route runs: a real round trip
 * through both stores (a row written and read back, a blob put and stat).
 *
 * @module
 */
import type { RegistryContext } from "./context.ts";
import { healthKey } from "../storage/keys.ts";

/** Checks under way, by row storage: concurrent health requests share one. */
const running = new WeakMap<object, Promise<void>>();

/**
 * Throws (with the store's own reason, for logs only) when either store fails
 * its round trip. Concurrent calls over one store share one round trip, and
 * each round trip writes its own probe row (and deletes it after), so
 * parallel probes — a load balancer's, or several instances' — never fail
 * each other.
 *
 * @example
 * ```ts
 * import { checkStoreHealth } from "./health.ts";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
 * await checkStoreHealth({ storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date() });
 * ```
 */
export function checkStoreHealth(ctx: RegistryContext): Promise<void> {
  const current = running.get(ctx.storage);
  if (current) return current;
  const check = roundTrip(ctx).finally(() => running.delete(ctx.storage));
  running.set(ctx.storage, check);
  return check;
}

async function roundTrip(ctx: RegistryContext): Promise<void> {
  const probe = `${ctx.clock().toISOString()}-${crypto.randomUUID()}`;
  const key = healthKey(probe);
  const res = await ctx.storage.commit({
    checks: [],
    mutations: [{ type: "set", key, value: probe }],
  });
  const back = await ctx.storage.get<string>(key);
  if (!res.ok || back?.value !== probe) throw new Error("Row storage round trip failed");
  await ctx.storage.commit({ checks: [], mutations: [{ type: "delete", key }] });
  const sentinel = new TextEncoder().encode("health\n");
  const info = await ctx.bundles.put(sentinel);
  if ((await ctx.bundles.stat(info.sha256))?.size !== sentinel.byteLength) {
    throw new Error("Bundle storage round trip failed");
  }
}

export { isDiskFull } from "../base/errors.ts";
