/**
 * A bounded-staleness read cache for the hot read paths.
 *
 * A KV read costs ~50 µs; a cached version read costs a few. Read routes ask
 * {@linkcode cachedGetMany}, which serves rows this process read less than
 * `ttlMs` ago; everything else (`get`, `getMany`, `list`, and so every
 * compare-and-set loop) goes to the store, so writes stay strongly consistent.
 * This process's own commits evict what they touch at once; another process's
 * change (a yank, a delete, a new scope owner, a new version) is seen here
 * within `ttlMs`.
 *
 * Misses are cached exactly like rows (same lifetime, same eviction): a
 * stranger's read of a private row and of a missing one must do the same work
 * against the same caches, or a repeated request times the difference (an
 * existence oracle; docs/operations.md). A version published by this process
 * is readable here at once (its commit evicts the cached miss); one published
 * by another process within `ttlMs`.
 *
 * A read that has to go to the store answers no earlier than `coldReadFloorMs`
 * after it began: the store itself costs more for a row than for a miss (the
 * row is decoded; ~8 µs a row on KV, ~60 µs on a cold ggui version read end to
 * end), and a stranger may time one cold read per TTL. The floor's timer
 * starts with the read, so when the read ends first, the answer comes when
 * the timer fires, at a time the read's cost does not move.
 *
 * @module
 */
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
} from "../storage/types.ts";

/** Options of {@linkcode CachingRegistryStorage}. */
export interface ReadCacheOptions {
  /** How long a read row may be served from memory (0 disables the cache). */
  ttlMs: number;
  /** Most rows kept (least recently used go first; default 20 000). */
  maxEntries?: number;
  /** The clock (injected in tests). */
  now?: () => number;
  /**
   * Least time a read that goes to the store takes, in ms (default 1; 0:
   * none). See the module doc: it keeps the store's cost of a row out of the
   * answer's timing.
   */
  coldReadFloorMs?: number;
  /** Wait `ms` (injected in tests; default `setTimeout`). */
  sleep?: (ms: number) => Promise<void>;
}

/** The ids of frozen keys (kept by a hot read: worked out once). */
const frozenIds = new WeakMap<RowKey, string>();

/** A row's id in the cache: its key as JSON, kept for a frozen key. */
function rowId(key: RowKey): string {
  if (!Object.isFrozen(key)) return JSON.stringify(key);
  let id = frozenIds.get(key);
  if (id === undefined) frozenIds.set(key, id = JSON.stringify(key));
  return id;
}

/**
 * The row keys a reference reads: made by `make` each time, unless the
 * reference is frozen (a caller keeps it, as the JSR routes keep theirs):
 * then made once, kept in `kept`, and frozen, so the cache works out their
 * ids once too.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rowKeysOf } from "./read_cache.ts";
 * const kept = new WeakMap<{ name: string }, readonly (readonly string[])[]>();
 * const how = { kept, make: (r: { name: string }) => [["pkg", r.name]] };
 * const ref = Object.freeze({ name: "a" });
 * assert.equal(rowKeysOf(ref, how), rowKeysOf(ref, how));
 * assert.ok(Object.isFrozen(rowKeysOf(ref, how)[0]));
 * ```
 */
export function rowKeysOf<R extends object>(
  ref: R,
  how: { kept: WeakMap<R, readonly RowKey[]>; make: (ref: R) => RowKey[] },
): readonly RowKey[] {
  if (!Object.isFrozen(ref)) return how.make(ref);
  let keys = how.kept.get(ref);
  if (keys === undefined) {
    keys = Object.freeze(how.make(ref).map((key) => Object.freeze(key)));
    how.kept.set(ref, keys);
  }
  return keys;
}

interface Cached {
  /** The row, or `null`: a miss is cached like a row. */
  entry: Entry<unknown> | null;
  expires: number;
}

/**
 * Row storage with a read cache beside it: the seam's own methods pass
 * straight through (commits also evict), and `getManyCached` serves fresh-enough rows.
 */
export class CachingRegistryStorage implements RegistryStorage {
  #inner: RegistryStorage;
  #ttl: number;
  #max: number;
  #now: () => number;
  #floorMs: number;
  #sleep: (ms: number) => Promise<void>;
  #rows = new Map<string, Cached>();
  /** Bumped after every commit: a read that overlapped one keeps nothing. */
  #epoch = 0;

  /** How long a read is served from memory (0: never). */
  get ttlMs(): number {
    return this.#ttl;
  }

  /**
   * Bumped by every commit through this storage: a read begun under an
   * earlier epoch may not reflect this process's latest commits.
   */
  get epoch(): number {
    return this.#epoch;
  }

  /** Wrap `inner`. */
  constructor(inner: RegistryStorage, options: ReadCacheOptions) {
    this.#inner = inner;
    this.#ttl = options.ttlMs;
    this.#max = options.maxEntries ?? 20_000;
    this.#now = options.now ?? (() => performance.now());
    this.#floorMs = options.coldReadFloorMs ?? 1;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /**
   * Run a store read that a stranger's request may time, answering no earlier
   * than the cold-read floor after it began (see the module doc).
   */
  async floored<T>(read: () => Promise<T>): Promise<T> {
    if (this.#floorMs <= 0) return await read();
    // Started before the read: it fires at a time the read's cost does not move.
    const floor = this.#sleep(this.#floorMs);
    try {
      return await read();
    } finally {
      await floor;
    }
  }

  /** The wrapped storage. */
  get inner(): RegistryStorage {
    return this.#inner;
  }

  get<T = unknown>(key: RowKey): Promise<Entry<T> | null> {
    return this.#inner.get<T>(key);
  }

  getMany<T = unknown>(keys: readonly RowKey[]): Promise<(Entry<T> | null)[]> {
    return this.#inner.getMany<T>(keys);
  }

  list<T = unknown>(prefix: RowKey, options?: ListOptions): Promise<Page<Entry<T>>> {
    return this.#inner.list<T>(prefix, options);
  }

  async commit(commit: Commit): Promise<CommitResult> {
    try {
      return await this.#inner.commit(commit);
    } finally {
      // Evict even when the outcome is unknown (a thrown commit may have landed).
      for (const m of commit.mutations) this.#rows.delete(JSON.stringify(m.key));
      // A read that began before this commit may hold what it replaced (a
      // cached miss of the version it published): such a read keeps nothing.
      this.#epoch++;
    }
  }

  close(): Promise<void> {
    this.#rows.clear();
    return this.#inner.close();
  }

  /**
   * The rows of `keys` when every one was read less than `ttlMs` ago and is in
   * memory (what {@linkcode getManyCached} would answer without a read);
   * `undefined` otherwise.
   */
  peekCached<T = unknown>(keys: readonly RowKey[]): (Entry<T> | null)[] | undefined {
    if (this.#ttl <= 0) return undefined;
    const now = this.#now();
    const out: (Entry<T> | null)[] = [];
    for (const key of keys) {
      const hit = this.#rows.get(rowId(key));
      if (!hit || !(hit.expires > now)) return undefined;
      out.push(hit.entry as Entry<T> | null);
    }
    return out;
  }

  /** Read rows, serving those read less than `ttlMs` ago from memory. */
  async getManyCached<T = unknown>(keys: readonly RowKey[]): Promise<(Entry<T> | null)[]> {
    if (this.#ttl <= 0) return await this.floored(() => this.#inner.getMany<T>(keys));
    const now = this.#now();
    const out: (Entry<T> | null)[] = new Array(keys.length).fill(null);
    const missing: number[] = [];
    keys.forEach((key, i) => {
      const hit = this.#rows.get(rowId(key));
      if (hit && hit.expires > now) out[i] = hit.entry as Entry<T> | null;
      else missing.push(i);
    });
    if (missing.length === 0) return out;
    const epoch = this.#epoch;
    const fetched = await this.floored(() => this.#inner.getMany<T>(missing.map((i) => keys[i]!)));
    const keep = epoch === this.#epoch;
    const expires = this.#now() + this.#ttl;
    fetched.forEach((entry, j) => {
      const i = missing[j]!;
      out[i] = entry;
      if (!keep) return;
      const id = rowId(keys[i]!);
      // Rows and misses alike (see the module doc), most recently read last.
      this.#rows.delete(id);
      this.#rows.set(id, { entry, expires });
      if (this.#rows.size > this.#max) this.#rows.delete(this.#rows.keys().next().value!);
    });
    return out;
  }
}

/**
 * Read rows for a read route: through the cache when the storage has one,
 * straight from the store otherwise.
 */
export function cachedGetMany<T = unknown>(
  storage: RegistryStorage,
  keys: readonly RowKey[],
): Promise<(Entry<T> | null)[]> {
  return storage instanceof CachingRegistryStorage
    ? storage.getManyCached<T>(keys)
    : storage.getMany<T>(keys);
}

/**
 * Run a store read a stranger's request may time (a version list) under the
 * storage's cold-read floor, when it has a read cache.
 */
export function flooredRead<T>(storage: RegistryStorage, read: () => Promise<T>): Promise<T> {
  return storage instanceof CachingRegistryStorage ? storage.floored(read) : read();
}

/**
 * Rows for a read route without waiting: what {@linkcode cachedGetMany} would
 * answer from memory, or `undefined` when it would have to read the store.
 */
export function peekCachedMany<T = unknown>(
  storage: RegistryStorage,
  keys: readonly RowKey[],
): (Entry<T> | null)[] | undefined {
  return storage instanceof CachingRegistryStorage ? storage.peekCached<T>(keys) : undefined;
}

/** One row for a read route (see {@linkcode cachedGetMany}). */
export async function cachedGet<T = unknown>(
  storage: RegistryStorage,
  key: RowKey,
): Promise<Entry<T> | null> {
  return (await cachedGetMany<T>(storage, [key]))[0] ?? null;
}

/** Options of {@linkcode CachingBundleStorage}. */
export interface BlobCacheOptions {
  /** Most bytes held (default 64 MiB; 0 disables the cache). */
  maxBytes?: number;
  /** Largest blob held (default 1 MiB); larger ones always stream from the backend. */
  maxEntryBytes?: number;
}

function bodyOf(sha256: string, whole: Uint8Array, range?: ByteRange): BlobBody {
  const bytes = range ? whole.subarray(range.start, range.end) : whole;
  let stream: ReadableStream<Uint8Array> | undefined;
  return {
    size: whole.byteLength,
    sha256,
    bytes,
    // Made (and the bytes copied) only when a reader asks: most take `bytes`.
    get stream(): ReadableStream<Uint8Array> {
      return stream ??= new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(bytes.slice());
          controller.close();
        },
      });
    },
  };
}

/**
 * Bundle storage with an in-memory cache of small blobs. Blobs are
 * content-addressed and immutable, so a verified copy never goes stale: the
 * first full read (which the backend checks against its digest) fills the
 * cache, and later reads and ranges are served from memory. Deletes evict.
 */
export class CachingBundleStorage implements BundleStorage {
  #inner: BundleStorage;
  #max: number;
  #maxEntry: number;
  #bytes = 0;
  #blobs = new Map<string, Uint8Array>();

  /** Wrap `inner`. */
  constructor(inner: BundleStorage, options: BlobCacheOptions = {}) {
    this.#inner = inner;
    this.#max = options.maxBytes ?? 64 * 1024 * 1024;
    this.#maxEntry = Math.min(options.maxEntryBytes ?? 1024 * 1024, this.#max);
  }

  /** The wrapped storage. */
  get inner(): BundleStorage {
    return this.#inner;
  }

  put(
    body: ReadableStream<Uint8Array> | Uint8Array,
    options?: PutBlobOptions,
  ): Promise<PutBlobResult> {
    return this.#inner.put(body, options);
  }

  async get(sha256: string, range?: ByteRange): Promise<BlobBody | null> {
    const hit = this.#blobs.get(sha256);
    if (hit) {
      // Most recently used last.
      this.#blobs.delete(sha256);
      this.#blobs.set(sha256, hit);
      return bodyOf(sha256, hit, range);
    }
    if (this.#maxEntry <= 0) return await this.#inner.get(sha256, range);
    const info = await this.#inner.stat(sha256);
    if (info === null) return null;
    if (info.size > this.#maxEntry) return await this.#inner.get(sha256, range);
    const body = await this.#inner.get(sha256);
    if (body === null) return null;
    // The backend errors this read if the stored bytes fail their digest.
    const whole = new Uint8Array(await new Response(body.stream).arrayBuffer());
    this.#remember(sha256, whole);
    return bodyOf(sha256, whole, range);
  }

  stat(sha256: string): Promise<BlobInfo | null> {
    return this.#inner.stat(sha256);
  }

  async delete(sha256: string): Promise<boolean> {
    this.#forget(sha256);
    return await this.#inner.delete(sha256);
  }

  list(options?: ListOptions): Promise<Page<BlobInfo>> {
    return this.#inner.list(options);
  }

  close(): Promise<void> {
    this.#blobs.clear();
    this.#bytes = 0;
    return this.#inner.close();
  }

  #remember(sha256: string, bytes: Uint8Array): void {
    this.#forget(sha256);
    this.#blobs.set(sha256, bytes);
    this.#bytes += bytes.byteLength;
    while (this.#bytes > this.#max) {
      const oldest = this.#blobs.keys().next().value;
      if (oldest === undefined) break;
      this.#forget(oldest);
    }
  }

  #forget(sha256: string): void {
    const old = this.#blobs.get(sha256);
    if (old) {
      this.#bytes -= old.byteLength;
      this.#blobs.delete(sha256);
    }
  }
}
