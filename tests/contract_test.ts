// The storage contracts, run against every built-in backend: one row each.
import { bundleStorageContract, registryStorageContract } from "../testing.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";

registryStorageContract("memory", () => new MemoryRegistryStorage());
bundleStorageContract("memory", () => new MemoryBundleStorage(), {
  tamper: (s, sha256) => {
    (s as MemoryBundleStorage).tamperForTest(sha256, new TextEncoder().encode("rot"));
    return Promise.resolve();
  },
});
