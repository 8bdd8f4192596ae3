/**
 * The two storage seams every backend implements.
 *
 * - {@linkcode RegistryStorage}: small JSON rows under tuple keys, ordered
 *   listing with an opaque cursor, and ONE atomic primitive — a commit whose
 *   checks (expected stamps, or absence) all hold or nothing is written. Every
 *   race-free operation of every surface (put-version-if-absent with its index
 *   entries, outbox and audit rows; first-writer-wins scope claims;
 *   compare-and-set updates) is built on it in `core/`, once.
 * - {@linkcode BundleStorage}: content-addressed blobs (sha256), streamed in and
 *   out, with size and digest checked on the way in and on the way out.
 *
 * The limits are Deno KV's, enforced by every backend so that code that passes
 * on one passes on all: see {@linkcode LIMITS}.
 *
 * @module
 */

/** One part of a row key. Keys are tuples, never joined strings. */
export type KeyPart = string;
/** A row key: a tuple of strings, ordered part by part (UTF-8 byte order). */
export type RowKey = readonly KeyPart[];
/** A JSON value as stored in a row. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

/** A stored row: its key, value and the stamp of the commit that wrote it. */
export interface Entry<T = unknown> {
  /** The row's key. */
  key: RowKey;
  /** The row's value. */
  value: T;
  /** Opaque; changes with every write of this key. Compare only for equality. */
  stamp: string;
}

/** Paging options for listings. */
export interface ListOptions {
  /** Maximum rows to return (1–1000, default 100). */
  limit?: number;
  /** Continue after the page that returned this cursor. */
  cursor?: string;
  /**
   * Continue after this key, as a cursor naming it would (the key itself need
   * not exist). A seek for indexes that keep their own positions; when both
   * are given, `cursor` wins.
   */
  after?: RowKey;
  /** Newest/last keys first. */
  reverse?: boolean;
}

/** One page of a listing. */
export interface Page<T> {
  /** The rows of this page, in key order (reversed when asked). */
  items: T[];
  /** Present only when more rows may follow; pass it back to continue. */
  cursor?: string;
}

/** A condition of a commit: the row's stamp is `stamp`, or the row is absent when `null`. */
export interface Check {
  /** The row to check. */
  key: RowKey;
  /** The expected stamp, or `null` for "must not exist". */
  stamp: string | null;
}

/** A write of a commit. */
export type Mutation =
  | { type: "set"; key: RowKey; value: JsonValue }
  | { type: "delete"; key: RowKey };

/** The whole of an atomic commit. */
export interface Commit {
  /** All must hold, or nothing is written (at most {@linkcode LIMITS.checksPerCommit}). */
  checks: readonly Check[];
  /** Applied together, in order. */
  mutations: readonly Mutation[];
}

/** The outcome of a commit: never a bare error for a failed check. */
export type CommitResult = { ok: true; stamp: string } | { ok: false };

/**
 * Row storage: the seam for every row of every surface.
 *
 * Implementations must: return `null` on a miss; apply a commit all-or-nothing,
 * also against other processes sharing the same store; answer a failed check
 * with `{ok: false}` (retrying transient backend faults such as SQLite's
 * `database is locked` themselves); list keys that start with `prefix` as whole
 * parts (prefix `["a", "b"]` never yields `["a", "bc"]`); and throw only for
 * transport faults, which surfaces turn into 5xx responses.
 */
export interface RegistryStorage {
  /** Read one row, or `null`. */
  get<T = unknown>(key: RowKey): Promise<Entry<T> | null>;
  /** Read several rows at once (at most 10), `null` for each miss, in order. */
  getMany<T = unknown>(keys: readonly RowKey[]): Promise<(Entry<T> | null)[]>;
  /**
   * List rows whose key extends `prefix` by one or more whole parts (the prefix
   * key itself excluded, as in Deno KV), in key order, one page at a time.
   */
  list<T = unknown>(prefix: RowKey, options?: ListOptions): Promise<Page<Entry<T>>>;
  /** Apply a commit atomically. */
  commit(commit: Commit): Promise<CommitResult>;
  /** Release resources (files, handles). Further calls are programmer errors. */
  close(): Promise<void>;
}

/** What is known of a stored blob. */
export interface BlobInfo {
  /** Lowercase hex SHA-256 of the bytes. */
  sha256: string;
  /** Size in bytes. */
  size: number;
  /** When it was last written or re-put (ISO-8601); GC spares recent blobs. */
  touchedAt: string;
}

/** What {@linkcode BundleStorage.put} answers. */
export interface PutBlobResult extends BlobInfo {
  /**
   * Whether this put stored bytes that were not stored before (`false`: they
   * were, and only `touchedAt` was refreshed). A failed publish drops only
   * blobs its own puts created, so a backend that leaves this out (unknown)
   * leaves a failed publish's blobs to GC.
   */
  created?: boolean;
}

/** Options for {@linkcode BundleStorage.put}. */
export interface PutBlobOptions {
  /** Refuse with `too_large` once more bytes than this arrive (nothing is stored). */
  maxBytes?: number;
  /** Refuse with `digest_mismatch` unless the bytes hash to this (nothing is stored). */
  expectedSha256?: string;
}

/** A byte range, inclusive start, exclusive end. */
export interface ByteRange {
  /** First byte. */
  start: number;
  /** One past the last byte. */
  end: number;
}

/** A blob being read. */
export interface BlobBody {
  /** Size of the whole blob in bytes. */
  size: number;
  /** Lowercase hex SHA-256 of the whole blob. */
  sha256: string;
  /**
   * The bytes (or the asked range). A blob whose stored bytes no longer match
   * its digest errors the stream with `blob_corrupt` instead of completing.
   */
  stream: ReadableStream<Uint8Array>;
  /**
   * The same bytes as {@linkcode BlobBody.stream}, when the backend already
   * holds them in memory (verified): serve these and cancel the stream.
   */
  bytes?: Uint8Array;
}

/**
 * Blob storage: content-addressed by SHA-256, streamed.
 *
 * `put` hashes while it writes, stores nothing on a failed size or digest
 * check, and is idempotent (putting existing bytes refreshes `touchedAt`).
 * `get` checks the digest of what it serves. Blobs are written before the rows
 * that point to them; orphans are swept by GC after a grace period.
 */
export interface BundleStorage {
  /** Store bytes; answers their digest and size. */
  put(
    body: ReadableStream<Uint8Array> | Uint8Array,
    options?: PutBlobOptions,
  ): Promise<PutBlobResult>;
  /** Stream a blob (or a range of it), or `null` when absent. */
  get(sha256: string, range?: ByteRange): Promise<BlobBody | null>;
  /** Metadata of a blob, or `null` when absent. */
  stat(sha256: string): Promise<BlobInfo | null>;
  /** Remove a blob; `true` if it existed. Used only by GC. */
  delete(sha256: string): Promise<boolean>;
  /** Every stored blob, in digest order, one page at a time (for GC and export). */
  list(options?: ListOptions): Promise<Page<BlobInfo>>;
  /** Release resources. */
  close(): Promise<void>;
}

/**
 * The limits every backend enforces (Deno KV's, including remote KV's check limit).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LIMITS } from "./types.ts";
 * const value = JSON.stringify({ note: "x".repeat(100) });
 * assert(new TextEncoder().encode(value).length <= LIMITS.valueBytes);
 * assert(LIMITS.checksPerCommit === 10);
 * ```
 */
export const LIMITS = {
  /** Largest row value, as JSON bytes (KV allows 64 KiB of its own encoding). */
  valueBytes: 60 * 1024,
  /** Largest key, as JSON bytes of the tuple. */
  keyBytes: 2000,
  /** Most checks in one commit (remote KV's limit). */
  checksPerCommit: 10,
  /** Most mutations in one commit. */
  mutationsPerCommit: 1000,
  /** Largest commit, keys and values together, as JSON bytes. */
  commitBytes: 780 * 1024,
  /** Largest page of a listing. */
  pageSize: 1000,
} as const;
