/**
 * What both migrations share: the read-only view of a source directory (core
 * touches no `Deno.*` I/O; `server/migrate_source.ts` implements it over the
 * file system), the report, and the per-version outcome.
 *
 * @module
 */
import { incrementalHash } from "../../base/digest.ts";
import type { RegistryStorage, RowKey } from "../../storage/types.ts";
import type { JsonValue } from "../../storage/types.ts";
import type { PackageRef } from "../../base/names.ts";
import { nextPackageRow } from "../packages.ts";
import type { PackageRow, VersionState } from "../rows.ts";

/** One entry of a source directory listing. */
export interface SourceEntry {
  /** The entry's own name. */
  name: string;
  /** `file`, `dir`, `symlink` or `other` (never followed). */
  kind: "file" | "dir" | "symlink" | "other";
  /** Size in bytes (files). */
  size: number;
  /** Last modification, ISO-8601, when known. */
  mtime?: string;
}

/** An open source file, read in chunks into the caller's buffer. */
export interface SourceFile {
  /** Read into `buffer`: how many bytes, `null` at the end. Throws with the path on faults. */
  read(buffer: Uint8Array): Promise<number | null>;
  /** Release the file (also after its end; a second call does nothing). */
  close(): void;
}

/** A read-only view of the directory being migrated, paths relative to its root with `/`. */
export interface MigrationSource {
  /** The entries of a (small) directory, sorted by name; `null` when it does not exist. */
  list(path: string): Promise<SourceEntry[] | null>;
  /**
   * The entries of a directory one at a time, in no particular order (nothing
   * when it does not exist): for the folders that grow with the source.
   */
  entries(path: string): AsyncIterable<SourceEntry>;
  /** The bytes of a (small) file; `null` when missing. Throws with the path on other faults. */
  read(path: string): Promise<Uint8Array | null>;
  /**
   * A file of any size opened for reading in chunks; `null` when missing.
   * Throws with the path on other faults.
   */
  open(path: string): Promise<SourceFile | null>;
  /** What a path is, without following symlinks; `null` when missing. */
  stat(path: string): Promise<SourceEntry | null>;
}

/** Why one item was not imported (or what is odd about it), naming the file. */
export interface Problem {
  /** The path, relative to the source root. */
  path: string;
  /** One sentence. */
  message: string;
}

/** Whether a step's answer is a {@linkcode Problem} rather than its value. */
export function isProblem(value: unknown): value is Problem {
  return typeof value === "object" && value !== null && "message" in value && "path" in value;
}

/** The kinds of problem a run reports (each one is counted, the first few are listed). */
export type ProblemKind = "skipped" | "refused" | "conflicts" | "notes";

/** How many problems of each kind the summary lists; the rest are only counted (all are streamed as found). */
export const MAX_LISTED = 100;

/**
 * The summary of a run. Its size does not grow with the source: versions are
 * counted, and problems are streamed as they are found ({@linkcode record})
 * with only the first {@linkcode MAX_LISTED} of each kind kept here.
 */
export interface MigrationReport {
  /** `ggui` or `rack`. */
  source: "ggui" | "rack";
  /** A dry run writes nothing. */
  dryRun: boolean;
  /** How many of each: versions written by this run (or, in a dry run, that would be), versions (and keys, scopes, presets) already there with the same bytes, and each kind of problem. */
  counts: {
    imported: number;
    identical: number;
    skipped: number;
    refused: number;
    conflicts: number;
    notes: number;
  };
  /** Left out on purpose, with the reason (the first {@linkcode MAX_LISTED}). */
  skipped: Problem[];
  /** Not imported because the source is broken there (the first {@linkcode MAX_LISTED}). */
  refused: Problem[];
  /** Present in the target with different content: never overwritten (the first {@linkcode MAX_LISTED}). */
  conflicts: Problem[];
  /** Notes that change nothing: stale versions.json, rewritten hosts… (the first {@linkcode MAX_LISTED}). */
  notes: Problem[];
  /** Other rows imported (author keys, scopes, tokens, subscriptions). */
  rows: number;
  /** Blob bytes read and verified. */
  bytes: number;
  /** Stored tokens created by `--tokens=import`, with their new secrets (shown once). */
  tokens: { label: string; grants: unknown[]; secret: string }[];
}

/** A fresh report. */
export function newReport(source: "ggui" | "rack", dryRun: boolean): MigrationReport {
  return {
    source,
    dryRun,
    counts: { imported: 0, identical: 0, skipped: 0, refused: 0, conflicts: 0, notes: 0 },
    skipped: [],
    refused: [],
    conflicts: [],
    notes: [],
    rows: 0,
    bytes: 0,
    tokens: [],
  };
}

/** Where a run's outcomes go as they happen: the report's counters and the event stream. */
export interface Recorder {
  /** The summary being built. */
  report: MigrationReport;
  /** Called with each outcome line as it happens. */
  event: (line: string) => void;
}

/** Count a problem, list it while the summary has room, and stream it at once. */
export function record(r: Recorder, kind: ProblemKind, problem: Problem): void {
  r.report.counts[kind]++;
  if (r.report[kind].length < MAX_LISTED) r.report[kind].push(problem);
  const word = kind === "conflicts" ? "conflict" : kind === "notes" ? "note" : kind;
  r.event(`${word} ${problem.path}: ${problem.message}`);
}

/** Count a version (or key, scope, preset) imported or found identical, and stream it. */
export function recordDone(r: Recorder, outcome: "imported" | "identical", target: string): void {
  r.report.counts[outcome]++;
  r.event(`${r.report.dryRun && outcome === "imported" ? "would import" : outcome} ${target}`);
}

/**
 * The package row after one more migrated version, whatever order the
 * versions come in: {@linkcode nextPackageRow}, with `createdAt`/`createdBy`
 * from the earliest publication and `updatedAt` the latest. So a source can be
 * walked as it lies on disk (never sorted in memory), and a run resumed after
 * a kill ends with the same package rows as an uninterrupted one.
 */
export function migratedPackageRow(
  current: PackageRow | null,
  state: VersionState,
  options: { ref: PackageRef; summary?: Record<string, JsonValue> },
): PackageRow {
  const next = nextPackageRow(current, state, options);
  if (current === null) return next;
  const earlier = state.publishedAt < current.createdAt ||
    (state.publishedAt === current.createdAt && state.publishedBy < current.createdBy);
  return {
    ...next,
    createdAt: earlier ? state.publishedAt : current.createdAt,
    createdBy: earlier ? state.publishedBy : current.createdBy,
    updatedAt: state.publishedAt > current.updatedAt ? state.publishedAt : current.updatedAt,
  };
}

/** Progress of a run: versions done of the total, bytes so far. */
export interface MigrationProgress {
  /** Versions handled. */
  done: number;
  /** Versions in the source. */
  total: number;
  /** Blob bytes read so far. */
  bytes: number;
}

/** A data problem that stops the whole run before anything is written (not a registry directory…). */
export class SourceError extends Error {
  /** The file or directory it names. */
  path: string;
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.path = path;
  }
}

/** Parse a JSON file of the source, or a problem naming it. */
export function parseJson(path: string, bytes: Uint8Array): { value: unknown } | Problem {
  try {
    return { value: JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes)) };
  } catch (err) {
    return {
      path,
      message: `is not valid JSON (${err instanceof Error ? err.message.split("\n")[0] : err})`,
    };
  }
}

/** Whether one path segment is safe to use (no `..`, separators or NUL). */
export function safeSegment(segment: string): boolean {
  return segment !== "" && segment !== "." && segment !== ".." && !/[\/\\\0]/.test(segment);
}

/** Deep equality of two JSON values (key order ignored). */
export function sameJson(a: unknown, b: unknown): boolean {
  return stable(a) === stable(b);
}

function stable(value: unknown): string {
  return JSON.stringify(
    value,
    (_k, v) =>
      v && typeof v === "object" && !Array.isArray(v)
        ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)))
        : v,
  );
}

/**
 * Write one row when absent: `imported`; when present with the same value:
 * `identical`; else `conflict` (never overwritten).
 */
export async function putRowIfAbsent(
  storage: RegistryStorage,
  key: RowKey,
  value: JsonValue,
  dryRun: boolean,
): Promise<"imported" | "identical" | "conflict"> {
  for (;;) {
    const current = await storage.get<JsonValue>(key);
    if (current) return sameJson(current.value, value) ? "identical" : "conflict";
    if (dryRun) return "imported";
    const res = await storage.commit({
      checks: [{ key, stamp: null }],
      mutations: [{ type: "set", key, value }],
    });
    if (res.ok) return "imported";
  }
}

/** Bytes per read of a source file ({@linkcode SourceHasher}, {@linkcode sourceStream}). */
const CHUNK_BYTES = 64 * 1024;

/**
 * Hashes source files through one buffer it keeps: memory is one chunk
 * whatever a file's size, and nothing is left per file for the garbage
 * collector to catch up with.
 */
export class SourceHasher {
  #buffer = new Uint8Array(CHUNK_BYTES);

  /** The SHA-256 and size of a source file; `null` when it is missing. */
  async hash(
    source: MigrationSource,
    path: string,
  ): Promise<{ sha256: string; size: number } | null> {
    const file = await source.open(path);
    if (file === null) return null;
    const hash = incrementalHash("sha256");
    let size = 0;
    try {
      for (let n; (n = await file.read(this.#buffer)) !== null;) {
        hash.update(this.#buffer.subarray(0, n));
        size += n;
      }
    } finally {
      file.close();
    }
    return { sha256: hash.hex(), size };
  }
}

/** A source file as a stream of fresh chunks, closed at its end or when cancelled. */
export function sourceStream(file: SourceFile): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const chunk = new Uint8Array(CHUNK_BYTES);
      let n: number | null;
      try {
        n = await file.read(chunk);
      } catch (err) {
        file.close();
        controller.error(err);
        return;
      }
      if (n === null) {
        file.close();
        controller.close();
      } else controller.enqueue(chunk.subarray(0, n));
    },
    cancel() {
      file.close();
    },
  }, { highWaterMark: 0 });
}
