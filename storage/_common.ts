// Helpers shared by the storage backends: key ordering, cursors and the limits
// every backend enforces identically.
import { RegistryError } from "../base/errors.ts";
import { isSha256 } from "../base/names.ts";
import { type Commit, type JsonValue, LIMITS, type ListOptions, type RowKey } from "./types.ts";

const encoder = new TextEncoder();

/** Compare two strings by Unicode code point, which is UTF-8 byte order. */
export function compareParts(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (code points above U+FFFF) sort after every BMP character.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

/** Compare two keys part by part; a key sorts before every longer key it prefixes. */
export function compareKeys(a: RowKey, b: RowKey): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const c = compareParts(a[i]!, b[i]!);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

/**
 * Whether `key` extends `prefix` by at least one part (whole parts only). As in
 * Deno KV, the prefix key itself is not "under" the prefix.
 */
export function hasPrefix(key: RowKey, prefix: RowKey): boolean {
  if (key.length <= prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (key[i] !== prefix[i]) return false;
  return true;
}

/** Check a key's shape and size; a bad key is a programmer error. */
export function assertKey(key: RowKey): void {
  if (!Array.isArray(key) || key.length === 0) {
    throw new TypeError("Cannot use an empty row key");
  }
  for (const part of key) {
    if (typeof part !== "string") throw new TypeError(`Cannot use key part '${String(part)}'`);
  }
  if (utf8Length(JSON.stringify(key)) > LIMITS.keyBytes) {
    throw new RangeError(`Cannot use a key over ${LIMITS.keyBytes} bytes`);
  }
}

/**
 * The UTF-8 byte length of a string without encoding it (a lone surrogate
 * counts as U+FFFD, 3 bytes, as `TextEncoder` writes it).
 */
export function utf8Length(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) n += 1;
    else if (code < 0x800) n += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

/** Serialise a value, enforcing the value size limit. */
export function encodeValue(value: JsonValue): string {
  const json = JSON.stringify(value);
  if (json === undefined) throw new TypeError("Cannot store an undefined value");
  if (utf8Length(json) > LIMITS.valueBytes) {
    throw new RangeError(`Cannot store a row value over ${LIMITS.valueBytes} bytes`);
  }
  return json;
}

/** Check a commit against the limits every backend enforces. */
export function assertCommit(commit: Commit): void {
  if (commit.checks.length > LIMITS.checksPerCommit) {
    throw new RangeError(`Cannot commit more than ${LIMITS.checksPerCommit} checks`);
  }
  if (commit.mutations.length > LIMITS.mutationsPerCommit) {
    throw new RangeError(`Cannot commit more than ${LIMITS.mutationsPerCommit} mutations`);
  }
  let bytes = 0;
  for (const check of commit.checks) assertKey(check.key);
  for (const m of commit.mutations) {
    assertKey(m.key);
    bytes += utf8Length(JSON.stringify(m.key));
    if (m.type === "set") bytes += utf8Length(encodeValue(m.value));
  }
  if (bytes > LIMITS.commitBytes) {
    throw new RangeError(`Cannot commit more than ${LIMITS.commitBytes} bytes`);
  }
}

/** The page size asked for, within bounds. */
export function pageLimit(options: ListOptions | undefined): number {
  const limit = options?.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > LIMITS.pageSize) {
    throw new RangeError(`Cannot list with limit ${limit}: use 1 to ${LIMITS.pageSize}`);
  }
  return limit;
}

/** An opaque cursor naming the last key returned. */
export function encodeCursor(key: RowKey): string {
  const bytes = encoder.encode(JSON.stringify(key));
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** The key a cursor names; a malformed cursor is `invalid_input`. */
export function decodeCursor(cursor: string): RowKey {
  try {
    const bin = atob(cursor.replaceAll("-", "+").replaceAll("_", "/"));
    const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
    const key = JSON.parse(new TextDecoder().decode(bytes));
    if (Array.isArray(key) && key.every((p) => typeof p === "string")) return key;
  } catch {
    // fall through
  }
  throw new RegistryError("invalid_input", `Invalid cursor '${cursor}'`);
}

/**
 * The digest a blob listing continues after (a blob cursor names one
 * digest); `undefined` without a cursor; anything else is `invalid_input`.
 */
export function blobCursorAfter(options: ListOptions | undefined): string | undefined {
  if (options?.cursor === undefined) return undefined;
  const key = decodeCursor(options.cursor);
  if (key.length !== 1 || !isSha256(key[0])) {
    throw new RegistryError("invalid_input", `Invalid cursor '${options.cursor}'`);
  }
  return key[0];
}

/** The key a listing continues after: its cursor's, else its `after` option, else none. */
export function afterKey(options: ListOptions | undefined): RowKey | undefined {
  if (options?.cursor !== undefined) return decodeCursor(options.cursor);
  if (options?.after === undefined) return undefined;
  const after = options.after;
  if (!Array.isArray(after) || after.some((p) => typeof p !== "string")) {
    throw new TypeError("Cannot list after a key that is not a tuple of strings");
  }
  return after;
}

/** Select one page from rows already sorted by key, honouring cursor and direction. */
export function pageOf<T extends { key: RowKey }>(
  sorted: readonly T[],
  options: ListOptions | undefined,
): { items: T[]; cursor?: string } {
  const limit = pageLimit(options);
  const reverse = options?.reverse ?? false;
  const rows = reverse ? [...sorted].reverse() : sorted;
  let start = 0;
  const after = afterKey(options);
  if (after !== undefined) {
    start = rows.findIndex((r) =>
      reverse ? compareKeys(r.key, after) < 0 : compareKeys(r.key, after) > 0
    );
    if (start === -1) start = rows.length;
  }
  const items = rows.slice(start, start + limit);
  const more = start + limit < rows.length;
  return more ? { items, cursor: encodeCursor(items[items.length - 1]!.key) } : { items };
}

/**
 * Read a body into memory, refusing more than `maxBytes` with `onLimit()`
 * (the stream is cancelled at the first byte over the line). The one capped
 * reader of every surface and backend.
 *
 * Each chunk is copied into one growing buffer (doubling, never past
 * `maxBytes`) instead of being kept: a chunk is often a view into a much
 * larger buffer of the runtime, and a body sent in tiny pieces would otherwise
 * hold a whole buffer per piece. What this holds is at most twice the bytes
 * received plus the chunk in hand.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { collectBytes } from "./_common.ts";
 * const body = new Blob(["hello"]).stream();
 * assert.equal(new TextDecoder().decode(await collectBytes(body, 5, () => new Error("big"))), "hello");
 * await assert.rejects(collectBytes(new Blob(["hello!"]).stream(), 5, () => new Error("big")), /big/);
 * ```
 */
export async function collectBytes(
  body: ReadableStream<Uint8Array> | Uint8Array,
  maxBytes: number,
  onLimit: () => Error,
): Promise<Uint8Array> {
  if (body instanceof Uint8Array) {
    if (body.byteLength > maxBytes) throw onLimit();
    return body;
  }
  let buf = new Uint8Array(0);
  let size = 0;
  const reader = body.getReader();
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      if (size + value.byteLength > maxBytes) {
        await reader.cancel().catch(() => {});
        throw onLimit();
      }
      if (size + value.byteLength > buf.byteLength) {
        const wanted = Math.max(size + value.byteLength, buf.byteLength * 2, 1024);
        const grown = new Uint8Array(Math.min(wanted, Math.max(maxBytes, size + value.byteLength)));
        grown.set(buf.subarray(0, size));
        buf = grown;
      }
      buf.set(value, size);
      size += value.byteLength;
    }
  } finally {
    reader.releaseLock();
  }
  return buf.subarray(0, size);
}

/** A BYOB reader of `source` when it is a byte stream (the runtime's request bodies are), else `null`. */
export function byobReaderOf(
  source: ReadableStream<Uint8Array>,
): ReadableStreamBYOBReader | null {
  try {
    return source.getReader({ mode: "byob" });
  } catch {
    return null;
  }
}
