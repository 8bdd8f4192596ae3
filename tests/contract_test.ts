// The storage contracts, run against every built-in backend: one row each.
import { bundleStorageContract, registryStorageContract } from "../testing.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import { FsBundleStorage, FsRegistryStorage } from "../storage/fs.ts";
import { KvBundleStorage, KvRegistryStorage } from "../storage/kv.ts";
import { S3BundleStorage } from "../storage/s3.ts";
import { S3RVER_KEY, startS3rver } from "./_s3rver.ts";

async function tempDir(prefix: string) {
  const root = await Deno.makeTempDir({ prefix });
  return { root, cleanup: () => Deno.remove(root, { recursive: true }) };
}

registryStorageContract("memory", () => new MemoryRegistryStorage());
bundleStorageContract("memory", () => new MemoryBundleStorage(), {
  tamper: (s, sha256) => {
    (s as MemoryBundleStorage).tamperForTest(sha256, new TextEncoder().encode("rot"));
    return Promise.resolve();
  },
});

registryStorageContract("fs (temp dir)", async () => {
  const { root, cleanup } = await tempDir("contract_fs_");
  return { storage: await FsRegistryStorage.open({ root }), cleanup };
});
// Leaves of two entries: every listing crosses index leaves, and writes split and drop them.
registryStorageContract("fs (temp dir, index leaves of 2)", async () => {
  const { root, cleanup } = await tempDir("contract_fs_");
  return { storage: await FsRegistryStorage.open({ root, indexLeafSize: 2 }), cleanup };
});
bundleStorageContract("fs (temp dir)", async () => {
  const { root, cleanup } = await tempDir("contract_fs_");
  return { storage: await FsBundleStorage.open({ root }), cleanup };
}, {
  tamper: (s, sha256) =>
    (s as FsBundleStorage).tamperForTest(sha256, new TextEncoder().encode("rot")),
});

registryStorageContract("kv (temp file)", async () => {
  const { root, cleanup } = await tempDir("contract_kv_");
  return { storage: await KvRegistryStorage.open(`${root}/rows.kv`), cleanup };
});
bundleStorageContract("kv (temp file)", async () => {
  const { root, cleanup } = await tempDir("contract_kv_");
  return { storage: await KvBundleStorage.open(`${root}/blobs.kv`), cleanup };
}, {
  tamper: (s, sha256) => (s as KvBundleStorage).tamperForTest(sha256),
});
bundleStorageContract("kv (consistent tamper: only the whole-blob digest can tell)", async () => {
  const { root, cleanup } = await tempDir("contract_kv_");
  return { storage: await KvBundleStorage.open(`${root}/blobs.kv`), cleanup };
}, {
  tamper: (s, sha256) => (s as KvBundleStorage).tamperForTest(sha256, { consistent: true }),
});

// S3: a real S3-protocol server (s3rver) on loopback, one bucket, a fresh
// prefix per case. Parts of 5 MiB (S3's minimum) so the 6 MiB case goes multipart.
const s3 = await startS3rver(["contract"]);
globalThis.addEventListener("unload", () => void s3.close());
bundleStorageContract("s3 (s3rver on loopback)", async () =>
  await S3BundleStorage.open({
    ...S3RVER_KEY,
    bucket: "contract",
    prefix: `case-${crypto.randomUUID()}/`,
    endpoint: s3.endpoint,
    partBytes: 5 * 1024 * 1024,
  }), {
  tamper: (s, sha256) =>
    (s as S3BundleStorage).tamperForTest(sha256, new TextEncoder().encode("rot")),
});
