/**
 * In-process backends: rows and blobs in Maps, lost on exit. For tests, local
 * development and `--storage=memory`. They enforce the same limits and
 * semantics as the persistent backends.
 *
 * @module
 */
import { RegistryError } from "../base/errors.ts";
import { assertSha256, isSha256 } from "../base/names.ts";
import { incrementalHash } from "../base/digest.ts";
import {
  assertCommit,
  assertKey,
  collectBytes,
  compareKeys,
  encodeValue,
  hasPrefix,
  pageLimit,
  pageOf,
} from "./_common.ts";
import type {
  BlobBody,
  BlobInfo,
  BundleStorage,
  ByteRange,
  Commit,
  CommitResult,
  Entry,
  ListOptions,
  Page,
  PutBlobOptions,
  PutBlobResult,
  RegistryStorage,
  RowKey,
} from "./types.ts";

interface StoredRow {
  key: RowKey;
  json: string;
  stamp: string;
}

/**
 * Rows in a Map. Commits are applied synchronously, so they are atomic within
 * the process.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryRegistryStorage } from "./memory.ts";
 * const rows = new MemoryRegistryStorage();
 * const r = await rows.commit({ checks: [{ key: ["a"], stamp: null }], mutations: [{ type: "set", key: ["a"], value: 1 }] });
 * assert.ok(r.ok);
 * assert.ok((await rows.get(["a"]))?.value === 1);
 * ```
 */
export class MemoryRegistryStorage implements RegistryStorage {
  #rows = new Map<string, StoredRow>();
  #counter = 0;
  #closed = false;

  #id(key: RowKey): string {
    return JSON.stringify(key);
  }

  #entry<T>(row: StoredRow | undefined): Entry<T> | null {
    return row ? { key: row.key, value: JSON.parse(row.json) as T, stamp: row.stamp } : null;
  }

  #open(): void {
    if (this.#closed) throw new TypeError("Cannot use a closed MemoryRegistryStorage");
  }

  // deno-lint-ignore require-await
  async get<T = unknown>(key: RowKey): Promise<Entry<T> | null> {
    this.#open();
    assertKey(key);
    return this.#entry<T>(this.#rows.get(this.#id(key)));
  }

  // deno-lint-ignore require-await
  async getMany<T = unknown>(keys: readonly RowKey[]): Promise<(Entry<T> | null)[]> {
    this.#open();
    if (keys.length > 10) throw new RangeError("Cannot read more than 10 keys at once");
    keys.forEach(assertKey);
    return keys.map((k) => this.#entry<T>(this.#rows.get(this.#id(k))));
  }

  // deno-lint-ignore require-await
  async list<T = unknown>(prefix: RowKey, options?: ListOptions): Promise<Page<Entry<T>>> {
    this.#open();
    pageLimit(options);
    const rows = [...this.#rows.values()]
      .filter((r) => hasPrefix(r.key, prefix))
      .sort((a, b) => compareKeys(a.key, b.key));
    const page = pageOf(rows, options);
    const items = page.items.map((r) => this.#entry<T>(r)!);
    return page.cursor === undefined ? { items } : { items, cursor: page.cursor };
  }

  // deno-lint-ignore require-await
  async commit(commit: Commit): Promise<CommitResult> {
    this.#open();
    assertCommit(commit);
    for (const check of commit.checks) {
      const row = this.#rows.get(this.#id(check.key));
      if ((row?.stamp ?? null) !== check.stamp) return { ok: false };
    }
    const stamp = String(++this.#counter).padStart(20, "0");
    for (const m of commit.mutations) {
      const id = this.#id(m.key);
      if (m.type === "set") {
        this.#rows.set(id, { key: [...m.key], json: encodeValue(m.value), stamp });
      } else this.#rows.delete(id);
    }
    return { ok: true, stamp };
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}

interface StoredBlob {
  bytes: Uint8Array;
  sha256: string;
  touchedAt: string;
}

/** The `too_large` error every bundle backend raises. */
export function tooLarge(maxBytes: number): RegistryError {
  return new RegistryError("too_large", `Blob exceeds the limit of ${maxBytes} bytes`, {
    detail: { maxBytes },
  });
}

/** The `digest_mismatch` error every bundle backend raises. */
export function digestMismatch(expected: string, actual: string): RegistryError {
  return new RegistryError("digest_mismatch", "Blob digest does not match the expected sha256", {
    detail: { expected, actual },
  });
}

/** The `blob_corrupt` error raised when stored bytes fail their digest. */
export function blobCorrupt(sha256: string): RegistryError {
  return new RegistryError("blob_corrupt", `Stored blob '${sha256}' failed its digest check`);
}

/** Check a range against a size; a bad range is a programmer error (routes answer 416 first). */
export function assertRange(range: ByteRange | undefined, size: number): void {
  if (range === undefined) return;
  if (
    !Number.isInteger(range.start) || !Number.isInteger(range.end) || range.start < 0 ||
    range.end > size || range.start >= range.end
  ) {
    throw new RangeError(`Cannot read range ${range.start}-${range.end} of ${size} bytes`);
  }
}

/**
 * Blobs in a Map, checked against their digest on every read.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryBundleStorage } from "./memory.ts";
 * const blobs = new MemoryBundleStorage();
 * const info = await blobs.put(new TextEncoder().encode("hi"));
 * const body = await blobs.get(info.sha256);
 * assert.ok(body?.size === 2);
 * ```
 */
export class MemoryBundleStorage implements BundleStorage {
  #blobs = new Map<string, StoredBlob>();
  #now: () => Date;

  /** `now` dates `touchedAt` (injected for GC tests). */
  constructor(options: { now?: () => Date } = {}) {
    this.#now = options.now ?? (() => new Date());
  }

  async put(
    body: ReadableStream<Uint8Array> | Uint8Array,
    options: PutBlobOptions = {},
  ): Promise<PutBlobResult> {
    const max = options.maxBytes ?? Number.MAX_SAFE_INTEGER;
    const bytes = await collectBytes(body, max, () => tooLarge(max));
    const hash = incrementalHash();
    hash.update(bytes);
    const sha256 = hash.hex();
    if (options.expectedSha256 !== undefined && options.expectedSha256 !== sha256) {
      throw digestMismatch(options.expectedSha256, sha256);
    }
    const touchedAt = this.#now().toISOString();
    const existing = this.#blobs.get(sha256);
    if (existing) existing.touchedAt = touchedAt;
    else this.#blobs.set(sha256, { bytes: bytes.slice(), sha256, touchedAt });
    return { sha256, size: bytes.byteLength, touchedAt, created: !existing };
  }

  // deno-lint-ignore require-await
  async get(sha256: string, range?: ByteRange): Promise<BlobBody | null> {
    if (!isSha256(sha256)) return null;
    const blob = this.#blobs.get(sha256);
    if (!blob) return null;
    assertRange(range, blob.bytes.byteLength);
    const hash = incrementalHash();
    hash.update(blob.bytes);
    const ok = hash.hex() === sha256;
    const bytes = range ? blob.bytes.slice(range.start, range.end) : blob.bytes.slice();
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        if (!ok) return controller.error(blobCorrupt(sha256));
        controller.enqueue(bytes);
        controller.close();
      },
    });
    return { size: blob.bytes.byteLength, sha256, stream };
  }

  stat(sha256: string): Promise<BlobInfo | null> {
    const blob = isSha256(sha256) ? this.#blobs.get(sha256) : undefined;
    return Promise.resolve(
      blob ? { sha256, size: blob.bytes.byteLength, touchedAt: blob.touchedAt } : null,
    );
  }

  // deno-lint-ignore require-await
  async delete(sha256: string): Promise<boolean> {
    assertSha256(sha256);
    return this.#blobs.delete(sha256);
  }

  // deno-lint-ignore require-await
  async list(options?: ListOptions): Promise<Page<BlobInfo>> {
    const rows = [...this.#blobs.values()]
      .map((b) => ({
        key: [b.sha256],
        info: { sha256: b.sha256, size: b.bytes.byteLength, touchedAt: b.touchedAt },
      }))
      .sort((a, b) => compareKeys(a.key, b.key));
    const page = pageOf(rows, options);
    const items = page.items.map((r) => r.info);
    return page.cursor === undefined ? { items } : { items, cursor: page.cursor };
  }

  /** Test hook: overwrite stored bytes without updating the digest, as disk rot would. */
  tamperForTest(sha256: string, bytes: Uint8Array): void {
    const blob = this.#blobs.get(sha256);
    if (blob) blob.bytes = bytes;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
