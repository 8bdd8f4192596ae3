/**
 * Export a whole store (rows and blobs) as JSON lines, and import it into
 * another store, with integrity checks: every blob is re-hashed on the way in
 * (bundle storage refuses bytes that do not match their digest), and the last
 * line carries the SHA-256 of every line before it, so a truncated or edited
 * file is refused before anything is written. This is how a store moves from
 * fs to KV and back, and how it is backed up.
 *
 * Format (one JSON value per line):
 * `{"t":"header","format":"x-registry-export","version":1,"createdAt":…}`, then for
 * every blob `{"t":"blob","sha256","size","chunks":n}` followed by `n`
 * `{"t":"chunk","d":<base64>}` lines, then every row `{"t":"row","k":[…],"v":…}`,
 * and `{"t":"end","rows","blobs","sha256"}`. Blobs come first, so an import
 * never writes a row before the blobs it points to.
 *
 * @module
 */
import type { RegistryContext } from "./context.ts";
import { incrementalHash, toBase64 } from "../base/digest.ts";
import { RegistryError } from "../base/errors.ts";
import { rebuildSearchIndex } from "./search_index.ts";
import { listAll } from "./store.ts";
import * as keys from "../storage/keys.ts";
import { type JsonValue, LIMITS, type Mutation, type RowKey } from "../storage/types.ts";

/**
 * Row families that belong in an export (blob internals and counters do not).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EXPORTED_ROW_FAMILIES } from "./transfer.ts";
 * assert(EXPORTED_ROW_FAMILIES.includes("ver") && EXPORTED_ROW_FAMILIES.includes("audit"));
 * ```
 */
export const EXPORTED_ROW_FAMILIES: readonly string[] = [
  "pkg",
  "ver",
  "vstate",
  "tomb",
  "ver_by_precedence",
  "ver_by_precedence_indexed",
  "scope",
  "akey",
  "token",
  "token_by_id",
  // The admin token list's seek indexes (with the marker that they are complete).
  "token_by_time",
  "token_by_subject",
  "token_by_time_indexed",
  "outbox",
  "outbox_done",
  "outbox_dead",
  "audit",
  "config",
  "ggui_compiled",
  // The JSR upstream cache: an offline registry is seeded by export/import.
  "upstream_jsr_meta",
  "upstream_jsr_version",
  "upstream_jsr_namespace",
  "upstream_ggui_read",
  "upstream_ggui_list",
  "upstream_ggui_file",
];

const CHUNK = 48 * 1024;

/** What an export or import counted. */
export interface TransferReport {
  /** Rows written or read. */
  rows: number;
  /** Blobs written or read. */
  blobs: number;
  /** Bytes of blob content. */
  bytes: number;
}

/**
 * The export of a store, line by line (each ends with `\n`), streamed: memory
 * stays bounded by one blob chunk and one page of rows.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
 * import { exportStore } from "./transfer.ts";
 * const ctx = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date() };
 * await ctx.bundles.put(new TextEncoder().encode("hello"));
 * const lines: string[] = [];
 * for await (const line of exportStore(ctx)) lines.push(line);
 * assert(JSON.parse(lines[0]!).t === "header" && JSON.parse(lines.at(-1)!).blobs === 1);
 * ```
 */
export async function* exportStore(
  ctx: RegistryContext,
  onProgress?: (report: TransferReport) => void,
): AsyncGenerator<string> {
  const hash = incrementalHash();
  const enc = new TextEncoder();
  const emit = (value: unknown): string => {
    const line = JSON.stringify(value) + "\n";
    hash.update(enc.encode(line));
    return line;
  };
  const report: TransferReport = { rows: 0, blobs: 0, bytes: 0 };
  yield emit({
    t: "header",
    format: "x-registry-export",
    version: 1,
    createdAt: ctx.clock().toISOString(),
  });
  let cursor: string | undefined;
  do {
    const page = await ctx.bundles.list({ limit: 500, ...(cursor ? { cursor } : {}) });
    for (const info of page.items) {
      const body = await ctx.bundles.get(info.sha256);
      if (!body) continue; // swept while exporting
      yield emit({
        t: "blob",
        sha256: info.sha256,
        size: body.size,
        chunks: Math.ceil(body.size / CHUNK),
      });
      let pending = new Uint8Array(0);
      for await (const piece of body.stream) {
        const joined = new Uint8Array(pending.byteLength + piece.byteLength);
        joined.set(pending);
        joined.set(piece, pending.byteLength);
        let offset = 0;
        for (; offset + CHUNK <= joined.byteLength; offset += CHUNK) {
          yield emit({ t: "chunk", d: toBase64(joined.subarray(offset, offset + CHUNK)) });
        }
        pending = joined.slice(offset);
      }
      if (pending.byteLength > 0) yield emit({ t: "chunk", d: toBase64(pending) });
      report.blobs++;
      report.bytes += body.size;
      onProgress?.(report);
    }
    cursor = page.cursor;
  } while (cursor !== undefined);
  for (const family of EXPORTED_ROW_FAMILIES) {
    for await (const e of listAll<JsonValue>(ctx.storage, [family])) {
      yield emit({ t: "row", k: e.key, v: e.value });
      report.rows++;
      if (report.rows % 1000 === 0) onProgress?.(report);
    }
  }
  const trailer = JSON.stringify({
    t: "end",
    rows: report.rows,
    blobs: report.blobs,
    sha256: hash.hex(),
  });
  yield trailer + "\n";
  onProgress?.(report);
}

/**
 * Count the blobs (and their bytes) and the rows under `prefixes` (default:
 * every family an export carries), by listing: the totals a progress bar
 * needs. Memory stays at one page.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
 * import { storeTotals } from "./transfer.ts";
 * const ctx = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date() };
 * await ctx.bundles.put(new TextEncoder().encode("hello"));
 * assert.deepEqual(await storeTotals(ctx), { rows: 0, blobs: 1, bytes: 5 });
 * ```
 */
export async function storeTotals(
  ctx: RegistryContext,
  prefixes: readonly RowKey[] = EXPORTED_ROW_FAMILIES.map((f) => [f]),
): Promise<TransferReport> {
  const totals: TransferReport = { rows: 0, blobs: 0, bytes: 0 };
  let cursor: string | undefined;
  do {
    const page = await ctx.bundles.list({ limit: 1000, ...(cursor ? { cursor } : {}) });
    for (const info of page.items) {
      totals.blobs++;
      totals.bytes += info.size;
    }
    cursor = page.cursor;
  } while (cursor !== undefined);
  for (const prefix of prefixes) {
    for await (const _ of listAll(ctx.storage, prefix, { pageSize: 1000 })) totals.rows++;
  }
  return totals;
}

function broken(message: string): RegistryError {
  return new RegistryError("invalid_input", `Could not import: ${message}`);
}

/**
 * Split a byte stream into lines (without their `\n`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readLines } from "./transfer.ts";
 * const bytes = new TextEncoder().encode("one\ntwo\nthree");
 * const lines: string[] = [];
 * for await (const line of readLines(ReadableStream.from([bytes.subarray(0, 5), bytes.subarray(5)]))) lines.push(line);
 * assert(lines.join() === "one,two,three");
 * ```
 */
export async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let rest = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    rest += text;
    let i: number;
    while ((i = rest.indexOf("\n")) >= 0) {
      yield rest.slice(0, i);
      rest = rest.slice(i + 1);
    }
  }
  if (rest !== "") yield rest;
}

/**
 * Check an export without writing anything: every line parses, the trailer's
 * digest and counts match. Answers the counts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
 * import { exportStore, readLines, verifyExport } from "./transfer.ts";
 * const ctx = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date() };
 * await ctx.bundles.put(new TextEncoder().encode("hello"));
 * const bytes = ReadableStream.from(exportStore(ctx)).pipeThrough(new TextEncoderStream());
 * const report = await verifyExport(readLines(bytes));
 * assert(report.blobs === 1 && report.bytes === 5);
 * ```
 */
export async function verifyExport(
  lines: AsyncIterable<string>,
): Promise<TransferReport & { sha256: string }> {
  const hash = incrementalHash();
  const enc = new TextEncoder();
  const report: TransferReport = { rows: 0, blobs: 0, bytes: 0 };
  let first = true;
  let ended = false;
  let sha256 = "";
  for await (const line of lines) {
    if (ended) throw broken("lines after the end record");
    let value: { t?: string; [k: string]: unknown };
    try {
      value = JSON.parse(line);
    } catch {
      throw broken("a line is not JSON");
    }
    if (first) {
      if (value.t !== "header" || value.format !== "x-registry-export" || value.version !== 1) {
        throw broken("not an x-registry export (version 1)");
      }
      first = false;
    }
    if (value.t === "end") {
      sha256 = hash.hex();
      if (value.sha256 !== sha256) {
        throw broken("the file's digest does not match its end record");
      }
      if (value.rows !== report.rows || value.blobs !== report.blobs) {
        throw broken("the counts do not match the end record");
      }
      ended = true;
      continue;
    }
    hash.update(enc.encode(line + "\n"));
    if (value.t === "row") report.rows++;
    else if (value.t === "blob") {
      report.blobs++;
      report.bytes += Number(value.size);
    }
  }
  if (!ended) throw broken("the file ends before its end record (truncated)");
  return { ...report, sha256 };
}

/** Options of {@linkcode importStore}. */
export interface ImportOptions {
  /** Told the counts as the import goes. */
  onProgress?: (report: TransferReport) => void;
  /**
   * Import into a store that holds rows already: write what is missing and
   * report rows that are there with the same value (identical) or another
   * (conflicts), by name. Without it the store must be empty.
   */
  skipExisting?: boolean;
  /**
   * The export's digest ({@linkcode verifyExport}'s `sha256`): recorded in the
   * target while the import runs, so an import into an empty store that was
   * killed can be run again and finish with the same end state.
   */
  exportDigest?: string;
}

/** How many identical or conflicting rows an import report names (the rest are counted). */
export const IMPORT_NAMES_LISTED = 1000;

/** What an import did. */
export interface ImportReport extends TransferReport {
  /**
   * Rows the target held with the same value (by name: the key's parts joined
   * with `/`); the first {@linkcode IMPORT_NAMES_LISTED}, all counted in `identicalCount`.
   */
  identical: string[];
  /** How many rows the target held with the same value. */
  identicalCount: number;
  /**
   * Rows the target held with another value, left as they were (`skipExisting`);
   * the first {@linkcode IMPORT_NAMES_LISTED}, all counted in `conflictCount`.
   */
  conflicts: string[];
  /** How many rows the target held with another value. */
  conflictCount: number;
  /** Whether this run finished an import of the same export that had been interrupted. */
  resumed: boolean;
}

/** A row's name in reports: its key's parts joined with `/`. */
function rowName(key: readonly unknown[]): string {
  return key.map(String).join("/");
}

/** JSON with object keys sorted: equal values give equal text whatever their key order. */
function canonical(value: unknown): string {
  return JSON.stringify(
    value,
    (_k, v) =>
      v && typeof v === "object" && !Array.isArray(v)
        ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))
        : v,
  );
}

/** Whether the store holds no row an export carries. */
async function storeIsEmpty(ctx: RegistryContext): Promise<boolean> {
  for (const family of EXPORTED_ROW_FAMILIES) {
    if ((await ctx.storage.list([family], { limit: 1 })).items.length > 0) return false;
  }
  return true;
}

/**
 * Decide how an import may write: into an empty store (recording the export
 * being imported), resuming an interrupted import of the same export, or
 * alongside existing rows (`skipExisting`). Throws before anything is written.
 */
async function beginImport(ctx: RegistryContext, options: ImportOptions): Promise<boolean> {
  if (options.skipExisting) return false;
  const state = await ctx.storage.get<{ exportDigest?: string }>(keys.importStateKey());
  if (state !== null) {
    if (options.exportDigest !== undefined && state.value.exportDigest === options.exportDigest) {
      return true;
    }
    throw new RegistryError(
      "conflict",
      "Could not import: the target holds an unfinished import of another export: run that import again, or pass --skip-existing",
    );
  }
  if (!(await storeIsEmpty(ctx))) {
    throw new RegistryError(
      "conflict",
      "Could not import: the target store is not empty: import into an empty store, or pass --skip-existing to add what is missing",
    );
  }
  if (options.exportDigest !== undefined) {
    const res = await ctx.storage.commit({
      checks: [{ key: keys.importStateKey(), stamp: null }],
      mutations: [{
        type: "set",
        key: keys.importStateKey(),
        value: { exportDigest: options.exportDigest, startedAt: ctx.clock().toISOString() },
      }],
    });
    if (!res.ok) throw new RegistryError("conflict", "Could not import: another import started");
  }
  return false;
}

/**
 * Import an export into a store: blobs (re-hashed by bundle storage), then
 * rows. Into an empty store it is all or nothing: a run that is killed leaves
 * a record of the export, and running it again finishes with the same end
 * state; a store that holds rows is refused before anything is written unless
 * `skipExisting`, which writes only what is missing and reports identical and
 * conflicting rows by name. Verify the file with {@linkcode verifyExport} first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
 * import { exportStore, importStore, readLines } from "./transfer.ts";
 * const store = () => ({ storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date() });
 * const [from, to] = [store(), store()];
 * const { sha256 } = await from.bundles.put(new TextEncoder().encode("hello"));
 * const bytes = ReadableStream.from(exportStore(from)).pipeThrough(new TextEncoderStream());
 * const report = await importStore(to, readLines(bytes));
 * assert(report.blobs === 1 && (await to.bundles.stat(sha256)) !== null);
 * ```
 */
export async function importStore(
  ctx: RegistryContext,
  lines: AsyncIterable<string>,
  options: ImportOptions | ((report: TransferReport) => void) = {},
): Promise<ImportReport> {
  const opts: ImportOptions = typeof options === "function" ? { onProgress: options } : options;
  const resumed = await beginImport(ctx, opts);
  const report: ImportReport = {
    rows: 0,
    blobs: 0,
    bytes: 0,
    identical: [],
    identicalCount: 0,
    conflicts: [],
    conflictCount: 0,
    resumed,
  };
  const blobs = new BlobWriter(ctx, report);
  const rows = new RowWriter(ctx, report, opts);
  let told = 0;
  for await (const line of lines) {
    const value = JSON.parse(line) as { t: string; [k: string]: unknown };
    if (value.t === "row") {
      // Rows only after every blob before them is stored.
      await blobs.settle();
      await rows.add({ type: "set", key: value.k as RowKey, value: value.v as JsonValue });
    } else await blobs.line(value);
    const done = report.rows + report.identicalCount + report.conflictCount + report.blobs;
    if (done - told >= 1000) {
      told = done;
      opts.onProgress?.(report);
    }
  }
  await blobs.settle();
  blobs.end();
  await rows.flush();
  // Exports carry no search index (it is derived): build it from the imported package rows.
  await rebuildSearchIndex(ctx.storage);
  // Finished: a rerun is a new import again.
  if (!opts.skipExisting && opts.exportDigest !== undefined) {
    await ctx.storage.commit({
      checks: [],
      mutations: [{ type: "delete", key: keys.importStateKey() }],
    });
  }
  opts.onProgress?.(report);
  return report;
}

/** How many one-chunk blobs an import stores at once. */
const BLOBS_IN_FLIGHT = 16;

/**
 * The blob lines of an import: a one-chunk blob (most are) is stored in the
 * background, up to {@linkcode BLOBS_IN_FLIGHT} at a time; a larger one is
 * streamed into bundle storage as its chunks arrive. Memory stays at a few
 * chunks. Bundle storage hashes what it stores and refuses a mismatch.
 */
/** A blob being read from an import: its chunks still to come, and (one chunk) its bytes. */
interface OpenBlob {
  sha256: string;
  size: number;
  left: number;
  small: boolean;
  parts: Uint8Array[];
}

class BlobWriter {
  #ctx: RegistryContext;
  #report: TransferReport;
  #open?: OpenBlob;
  #streaming?: {
    writer: WritableStreamDefaultWriter<Uint8Array>;
    stored: Promise<{ size: number }>;
  };
  #inFlight = new Set<Promise<void>>();
  #failed: unknown;

  constructor(ctx: RegistryContext, report: TransferReport) {
    this.#ctx = ctx;
    this.#report = report;
  }

  /** Take one blob or chunk line (anything else inside a blob is an error). */
  async line(value: { t: string; [k: string]: unknown }): Promise<void> {
    const open = this.#open;
    if (open && value.t !== "chunk") throw broken(`blob ${open.sha256} is missing chunks`);
    if (value.t === "blob") {
      const left = Number(value.chunks);
      this.#open = {
        sha256: String(value.sha256),
        size: Number(value.size),
        left,
        small: left <= 1,
        parts: [],
      };
      if (left > 1) this.#startStream(this.#open.sha256);
    } else if (value.t === "chunk") {
      if (!open) throw broken("a chunk outside a blob");
      const bytes = Uint8Array.fromBase64(String(value.d));
      if (open.small) open.parts.push(bytes);
      else await this.#streaming!.writer.write(bytes);
      open.left--;
    }
    if (this.#open && this.#open.left <= 0) await this.#finish(this.#open);
  }

  #startStream(sha256: string): void {
    const pipe = new TransformStream<Uint8Array, Uint8Array>();
    const stored = this.#ctx.bundles.put(pipe.readable, { expectedSha256: sha256 });
    stored.catch(() => {}); // observed in #finish
    this.#streaming = { writer: pipe.writable.getWriter(), stored };
  }

  async #finish(blob: OpenBlob): Promise<void> {
    this.#open = undefined;
    if (!blob.small) {
      const streaming = this.#streaming!;
      this.#streaming = undefined;
      await streaming.writer.close();
      this.#count(blob, (await streaming.stored).size);
      return;
    }
    const bytes = blob.parts[0] ?? new Uint8Array(0);
    const put = this.#ctx.bundles.put(bytes, { expectedSha256: blob.sha256 }).then(
      (info) => this.#count(blob, info.size),
      (err) => void (this.#failed ??= err),
    ).finally(() => this.#inFlight.delete(put));
    this.#inFlight.add(put);
    if (this.#inFlight.size >= BLOBS_IN_FLIGHT) await Promise.race(this.#inFlight);
    if (this.#failed !== undefined) throw this.#failed;
  }

  #count(blob: { sha256: string; size: number }, size: number): void {
    if (size !== blob.size) {
      this.#failed ??= broken(`blob ${blob.sha256} has the wrong size`);
      return;
    }
    this.#report.blobs++;
    this.#report.bytes += size;
  }

  /** Wait for every blob put so far; throws the first failure. */
  async settle(): Promise<void> {
    if (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
    if (this.#failed !== undefined) throw this.#failed;
  }

  /** At the end of the file: no blob may be left open. */
  end(): void {
    if (this.#open) throw broken(`blob ${this.#open.sha256} is missing chunks`);
  }
}

/**
 * The row lines of an import, written in batches. Into an empty store (the
 * default) a batch is up to {@linkcode IMPORT_BATCH} rows and ~600 KiB,
 * committed after one read shows none of them is there: the store was empty
 * when the import began and records the import, so no other writer is
 * expected. With `skipExisting` the store holds live rows: batches of ten,
 * each row checked absent in the commit that writes it.
 */
class RowWriter {
  #ctx: RegistryContext;
  #report: ImportReport;
  #skipExisting: boolean;
  #batch: Mutation[] = [];
  #bytes = 0;

  constructor(ctx: RegistryContext, report: ImportReport, options: ImportOptions) {
    this.#ctx = ctx;
    this.#report = report;
    this.#skipExisting = options.skipExisting === true;
  }

  /** Queue a row; writes the batch when it is full. */
  async add(m: Mutation): Promise<void> {
    const size = JSON.stringify(m).length;
    const full = this.#skipExisting
      ? this.#batch.length >= LIMITS.checksPerCommit
      : this.#batch.length >= IMPORT_BATCH || this.#bytes + size > 600_000;
    if (full) await this.flush();
    this.#batch.push(m);
    this.#bytes += size;
  }

  /** Write the rows the target lacks; a row it holds is identical or a conflict. */
  async flush(): Promise<void> {
    const batch = this.#batch;
    if (batch.length === 0) return;
    this.#batch = [];
    this.#bytes = 0;
    const { storage } = this.#ctx;
    for (let attempt = 0;; attempt++) {
      const found = await readMany(storage, batch.map((m) => m.key as RowKey));
      const missing: Mutation[] = [];
      const identical: string[] = [];
      const conflicts: string[] = [];
      batch.forEach((m, i) => {
        const have = found[i];
        if (have === null || have === undefined) missing.push(m);
        else if (canonical(have.value) === canonical((m as { value: unknown }).value)) {
          identical.push(rowName(m.key));
        } else conflicts.push(rowName(m.key));
      });
      if (conflicts.length > 0 && !this.#skipExisting) {
        throw new RegistryError(
          "conflict",
          `Could not import: the target holds other values for ${conflicts.join(", ")}`,
        );
      }
      const checks = this.#skipExisting
        ? missing.map((m) => ({ key: m.key as RowKey, stamp: null }))
        : [];
      const res = missing.length === 0
        ? { ok: true }
        : await storage.commit({ checks, mutations: missing });
      if (!res.ok) {
        // Another writer got there between the read and the commit: read again.
        if (attempt < 3) continue;
        throw broken("the target store is changing under the import");
      }
      this.#tally(missing.length, identical, conflicts);
      return;
    }
  }

  #tally(written: number, identical: string[], conflicts: string[]): void {
    const r = this.#report;
    r.rows += written;
    r.identicalCount += identical.length;
    r.conflictCount += conflicts.length;
    const room = (list: string[]) => Math.max(0, IMPORT_NAMES_LISTED - list.length);
    r.identical.push(...identical.slice(0, room(r.identical)));
    r.conflicts.push(...conflicts.slice(0, room(r.conflicts)));
  }
}

/** `getMany` of any number of keys, ten at a time (a backend reads at most ten at once). */
async function readMany(storage: RegistryContext["storage"], list: RowKey[]) {
  const reads = [];
  for (let i = 0; i < list.length; i += 10) reads.push(storage.getMany(list.slice(i, i + 10)));
  return (await Promise.all(reads)).flat();
}

/** Rows per commit of an import into an empty store. */
const IMPORT_BATCH = 200;
