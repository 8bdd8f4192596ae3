/**
 * Open the stores a {@linkcode ServerConfig} names. Called by `main.ts` (the
 * only place with side effects at import); returns one `close` for everything.
 *
 * @module
 */
import { FsBundleStorage, FsRegistryStorage } from "../storage/fs.ts";
import { KvBundleStorage, KvRegistryStorage, openKvRetrying } from "../storage/kv.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import type { BundleStorage, RegistryStorage } from "../storage/types.ts";
import { type ServerConfig, storeDir } from "./config.ts";
import { fileReserve } from "./disk_reserve.ts";
import type { DiskReserve } from "../core/context.ts";
import { randomHex } from "../base/digest.ts";

/** Opened stores. */
export interface OpenedStores {
  /** Row storage. */
  storage: RegistryStorage;
  /** Blob storage. */
  bundles: BundleStorage;
  /** Where rows and blobs live, for the startup log. */
  describe: string;
  /** Close everything (idempotent). */
  close(): Promise<void>;
}

/** Where a configuration keeps its rows, as messages name it (`kv:/srv/registry.kv`). */
export function describeRows(config: ServerConfig): string {
  const { storage } = config;
  if (storage.kind === "memory") return "memory";
  if (storage.kind === "fs") return `fs:${storage.path}`;
  return `kv:${storage.path ?? "(default database)"}`;
}

/** Where a configuration keeps its blobs, as messages name it. */
export function describeBundles(config: ServerConfig): string {
  const { storage, bundles } = config;
  if (bundles.kind === "memory") return "memory";
  if (bundles.kind === "fs") return `fs:${bundles.path}`;
  if (bundles.kind === "s3") {
    return `s3:${bundles.bucket}/${bundles.prefix} at ${bundles.endpoint ?? bundles.region}`;
  }
  return storage.kind === "kv" ? describeRows(config) : `kv:${config.dataDir}/bundles.kv`;
}

/** The directory of a file path (`.` for a bare name). */
export function parentDir(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? (i === 0 ? "/" : ".") : path.slice(0, i);
}

/**
 * Open rows and blobs. A local KV file's directory is created; `kv:` with no
 * path opens the default database (Deno Deploy's); `kv:https://…` a remote one
 * (credentials from `DENO_KV_ACCESS_TOKEN`).
 */
export async function openStores(config: ServerConfig): Promise<OpenedStores> {
  if (
    typeof Deno.openKv !== "function" &&
    (config.storage.kind === "kv" || config.bundles.kind === "kv")
  ) {
    throw new Error("Could not open Deno KV: run with --unstable-kv (deno task start does)");
  }
  let kv: Deno.Kv | undefined;
  let storage: RegistryStorage;
  const closers: (() => Promise<void> | void)[] = [];
  const openKv = async (path: string | undefined) => {
    if (kv) return kv;
    if (path !== undefined && !/^https?:\/\//.test(path) && path !== ":memory:") {
      await Deno.mkdir(parentDir(path), { recursive: true });
    }
    kv = await openKvRetrying(path);
    closers.push(() => kv!.close());
    return kv;
  };
  switch (config.storage.kind) {
    case "memory":
      storage = new MemoryRegistryStorage();
      break;
    case "fs":
      storage = await FsRegistryStorage.open({ root: config.storage.path });
      break;
    case "kv":
      storage = new KvRegistryStorage(await openKv(config.storage.path));
      break;
  }
  let bundles: BundleStorage;
  const closeRows = async () => {
    // The rows opened already: close them rather than leave a KV handle open.
    for (const close of closers) await close();
  };
  switch (config.bundles.kind) {
    case "memory":
      bundles = new MemoryBundleStorage();
      break;
    case "fs":
      try {
        bundles = await FsBundleStorage.open({ root: config.bundles.path });
      } catch (err) {
        await closeRows();
        throw err;
      }
      break;
    case "kv":
      bundles = new KvBundleStorage(
        await openKv(
          config.storage.kind === "kv" ? config.storage.path : `${config.dataDir}/bundles.kv`,
        ),
      );
      break;
    case "s3": {
      const { kind: _, ...s3 } = config.bundles;
      try {
        // Loaded only for an S3 bucket: aws4fetch stays out of every other start.
        const { S3BundleStorage } = await import("../storage/s3.ts");
        bundles = await S3BundleStorage.open(s3);
      } catch (err) {
        await closeRows();
        throw err;
      }
      break;
    }
  }
  let closed = false;
  return {
    storage,
    bundles,
    describe: `rows ${describeRows(config)}, bundles ${describeBundles(config)}`,
    async close() {
      if (closed) return;
      closed = true;
      await storage.close();
      await bundles.close();
      for (const c of closers) await c();
    },
  };
}

/**
 * The disk reserve of a local store (`disk-reserve` beside its KV file or in
 * its fs folder), written now as far as the disk allows; `undefined` for
 * memory or remote storage, or a size of 0.
 */
export async function openDiskReserve(
  config: Pick<ServerConfig, "storage" | "diskReserveBytes">,
): Promise<DiskReserve | undefined> {
  const dir = storeDir(config.storage);
  if (dir === undefined || config.diskReserveBytes === 0) return undefined;
  const reserve = fileReserve(`${dir}/disk-reserve`, config.diskReserveBytes);
  await reserve.restore();
  return reserve;
}

/**
 * Where the generated admin token of a store is kept: beside the store it
 * guards (the directory of a local KV file or of the fs store, where bundles
 * default to as well), else in `<dataDir>` (a remote KV). `undefined` for
 * memory storage.
 */
export function adminTokenPath(
  config: Pick<ServerConfig, "storage" | "dataDir">,
): string | undefined {
  if (config.storage.kind === "memory") return undefined;
  return `${storeDir(config.storage) ?? config.dataDir}/admin-token`;
}

/**
 * The admin token of a server started with no token at all: read from
 * {@linkcode adminTokenPath}, or generated there on first start (mode 0600).
 * Memory storage gets a fresh token in a private temporary file.
 */
export async function ensureAdminToken(
  config: ServerConfig,
): Promise<{ token: string; path: string; created: boolean }> {
  const kept = adminTokenPath(config);
  const path = kept ?? await Deno.makeTempFile({ prefix: "registry-admin-token-" });
  if (config.storage.kind !== "memory") {
    try {
      const token = (await Deno.readTextFile(path)).trim();
      if (token.length >= 32) return { token, path, created: false };
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")) || "/", { recursive: true });
  }
  const token = `xr_admin_${randomHex(32)}`;
  try {
    // Exclusive create: two servers starting at once on one data directory agree on one token.
    await Deno.writeTextFile(path, token + "\n", {
      mode: 0o600,
      createNew: config.storage.kind !== "memory",
    });
  } catch (err) {
    if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
    return { token: (await Deno.readTextFile(path)).trim(), path, created: false };
  }
  await Deno.chmod(path, 0o600);
  return { token, path, created: true };
}
