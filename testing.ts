/**
 * Test helpers for anyone writing a custom storage backend: contract suites
 * that prove it behaves like the built-in memory, filesystem and Deno KV ones.
 *
 * @example Run the contracts against the memory backends
 * ```ts ignore
 * import { bundleStorageContract, registryStorageContract } from "@x/registry/testing";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "@x/registry";
 *
 * registryStorageContract("memory", () => new MemoryRegistryStorage());
 * bundleStorageContract("memory", () => new MemoryBundleStorage());
 * ```
 *
 * @module
 */
export {
  type BundleContractOptions,
  bundleStorageContract,
  type Factory,
  registryStorageContract,
  type Subject,
} from "./storage/contract.ts";
