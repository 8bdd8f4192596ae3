// Small file helpers shared by the filesystem backend and its level index.
import { join } from "node:path";

/** Whether an error is a missing file or directory. */
export function isNotFound(err: unknown): boolean {
  return err instanceof Deno.errors.NotFound;
}

/** `bytes` random bytes as lowercase hex. */
export function randomHex(bytes: number): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(bytes)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
}

/**
 * `fn` over every item, at most `limit` at a time, answers in the items'
 * order: independent file operations (distinct paths) overlap instead of
 * each waiting for the last one's round trip to the blocking pool. The first
 * failure is thrown once every started item has settled.
 */
export async function inParallel<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const failures: unknown[] = [];
  const worker = async () => {
    // After a failure no new item starts; the ones in flight finish first, so
    // nothing is still writing once this answers (a commit then unlocks).
    while (next < items.length && failures.length === 0) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!);
      } catch (err) {
        failures.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failures.length > 0) throw failures[0];
  return out;
}

/** Write all of `bytes` to a new temp file in `tmpDir`; answers its path. */
export async function writeTemp(
  tmpDir: string,
  bytes: Uint8Array,
  sync: boolean,
): Promise<string> {
  const path = join(tmpDir, `${randomHex(12)}.tmp`);
  // One operation when nothing needs syncing (the common case, and the hot one).
  if (!sync) {
    await Deno.writeFile(path, bytes, { createNew: true });
    return path;
  }
  using file = await Deno.open(path, { write: true, createNew: true });
  let offset = 0;
  while (offset < bytes.byteLength) offset += await file.write(bytes.subarray(offset));
  if (sync) await file.sync();
  return path;
}

/** fsync a directory (its entries), where the platform allows it. */
export async function syncDir(path: string): Promise<void> {
  try {
    using dir = await Deno.open(path, { read: true });
    await dir.sync();
  } catch (err) {
    // Windows cannot open a directory as a file; its renames are durable enough.
    if (Deno.build.os !== "windows") throw err;
  }
}

/** Read and parse a JSON file, or `null` when it does not exist. */
export async function readJsonFile<T>(path: string): Promise<T | null> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}

/** Remove a file or an empty directory; `false` when it was missing or (a directory) not empty. */
export async function removeQuietly(path: string): Promise<boolean> {
  try {
    await Deno.remove(path);
    return true;
  } catch {
    return false;
  }
}
