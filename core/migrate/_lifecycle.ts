/**
 * A storage view that writes a migrated version's lifecycle row as the
 * original had it (yanked) in the same commit as the version, since
 * `putVersionIfAbsent` always starts a version un-yanked.
 *
 * @module
 */
import * as keys from "../../storage/keys.ts";
import type { Commit, JsonValue, RegistryStorage } from "../../storage/types.ts";
import type { VersionRef } from "../../base/names.ts";

/** `storage`, whose commits set `yanked` on `ref`'s lifecycle row. */
export function withLifecycle(
  storage: RegistryStorage,
  ref: VersionRef,
  lifecycle: { yanked: boolean },
): RegistryStorage {
  if (!lifecycle.yanked) return storage;
  const key = JSON.stringify(keys.versionStateKey(ref));
  return {
    get: (k) => storage.get(k),
    getMany: (ks) => storage.getMany(ks),
    list: (prefix, options) => storage.list(prefix, options),
    close: () => storage.close(),
    commit(commit: Commit) {
      return storage.commit({
        checks: commit.checks,
        mutations: commit.mutations.map((m) =>
          m.type === "set" && JSON.stringify(m.key) === key
            ? { ...m, value: { ...(m.value as Record<string, JsonValue>), yanked: true } }
            : m
        ),
      });
    },
  };
}
