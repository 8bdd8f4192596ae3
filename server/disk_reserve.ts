/**
 * The disk reserve: a file of real (not sparse) bytes beside the store, that
 * GC and a failed publish's cleanup delete first when the disk is full, so
 * that the rows they must write (the GC lease) still fit and the deletions
 * can commit. Taken back after, as far as the disk allows.
 *
 * @module
 */
import type { DiskReserve } from "../core/context.ts";

/** The default size of the reserve: 8 MiB. */
export const DEFAULT_RESERVE_BYTES = 8 * 1024 * 1024;

/** Whether an error means the disk is full (a file write or SQLite's). */
function noSpace(err: unknown): boolean {
  return /No space left on device|os error 28|disk is full/i.test(String(err));
}

/** Write `bytes` zero bytes to `path` (a fresh file), then sync it. */
async function fill(path: string, bytes: number): Promise<void> {
  const file = await Deno.open(path, { write: true, createNew: true });
  try {
    const chunk = new Uint8Array(Math.min(bytes, 1024 * 1024));
    for (let left = bytes; left > 0;) {
      left -= await file.write(left >= chunk.byteLength ? chunk : chunk.subarray(0, left));
    }
    await file.sync();
  } finally {
    file.close();
  }
}

/**
 * A reserve file at `path` of `bytes` bytes. {@linkcode DiskReserve.restore}
 * (also called once at start) writes it when missing; on a full disk it
 * leaves it missing and tries again next time.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileReserve } from "./disk_reserve.ts";
 * const dir = await Deno.makeTempDir();
 * const reserve = fileReserve(`${dir}/disk-reserve`, 4096);
 * await reserve.restore();
 * assert.equal((await Deno.stat(`${dir}/disk-reserve`)).size, 4096);
 * await reserve.release();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function fileReserve(path: string, bytes = DEFAULT_RESERVE_BYTES): DiskReserve {
  return {
    async release() {
      await Deno.remove(path).catch((err) => {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      });
    },
    async restore() {
      const current = await Deno.stat(path).catch(() => null);
      if (current?.size === bytes) return;
      const tmp = `${path}.${crypto.randomUUID()}.part`;
      try {
        await fill(tmp, bytes);
        await Deno.rename(tmp, path);
      } catch (err) {
        await Deno.remove(tmp).catch(() => {});
        if (!noSpace(err)) throw err;
      }
    },
  };
}
