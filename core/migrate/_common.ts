/**
 * What both migrations share: the read-only view of a source directory (core
 * touches no `Deno.*` I/O; `server/migrate_source.ts` implements it over the
 * file system), the report, and the per-version outcome.
 *
 * @module
 */
import type { RegistryStorage, RowKey } from "../../storage/types.ts";
import type { JsonValue } from "../../storage/types.ts";

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

/** A read-only view of the directory being migrated, paths relative to its root with `/`. */
export interface MigrationSource {
  /** The entries of a directory, sorted by name; `null` when it does not exist. */
  list(path: string): Promise<SourceEntry[] | null>;
  /** The bytes of a file; `null` when missing. Throws with the path on other faults. */
  read(path: string): Promise<Uint8Array | null>;
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

/** What happened to one version (or key, scope, token…). */
export type Outcome =
  | "imported"
  | "identical"
  | "skipped"
  | "refused"
  | "conflict"
  | "planned";

/** The summary of a run. */
export interface MigrationReport {
  /** `ggui` or `rack`. */
  source: "ggui" | "rack";
  /** A dry run writes nothing. */
  dryRun: boolean;
  /** Versions written by this run (or, in a dry run, that would be). */
  imported: string[];
  /** Versions (and keys, scopes) already in the target with the same bytes. */
  identical: string[];
  /** Left out on purpose, with the reason. */
  skipped: Problem[];
  /** Not imported because the source is broken there. */
  refused: Problem[];
  /** Present in the target with different content: never overwritten. */
  conflicts: Problem[];
  /** Notes that change nothing (stale versions.json, rewritten hosts…). */
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
    imported: [],
    identical: [],
    skipped: [],
    refused: [],
    conflicts: [],
    notes: [],
    rows: 0,
    bytes: 0,
    tokens: [],
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
