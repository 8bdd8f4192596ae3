/**
 * How operator commands print for people: aligned tables and a progress line
 * on a terminal (JSON with `--json` or when piped), and a one-line summary.
 *
 * @module
 */

/**
 * Rows as an aligned text table with a header; cells are strings (others JSON).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatTable } from "./cli_output.ts";
 * assert.equal(formatTable([{ id: "a1", subject: "ci" }], ["id", "subject"]), "ID  SUBJECT\na1  ci");
 * ```
 */
export function formatTable(rows: readonly Record<string, unknown>[], columns: string[]): string {
  const cell = (v: unknown) =>
    v === undefined || v === null ? "-" : typeof v === "string" ? v : JSON.stringify(v);
  const body = rows.map((r) => columns.map((c) => cell(r[c])));
  const head = columns.map((c) => c.toUpperCase());
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ");
  return [line(head), ...body.map(line)].join("\n");
}

/** Bytes as B, KiB, MiB or GiB with one decimal. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) [n, i] = [n / 1024, i + 1];
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
}

/** Seconds as `1m05s` or `4.2s`. */
export function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(1)}s`;
  return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s`;
}

/** What a progress line counts. */
export interface ProgressState {
  /** Blobs done. */
  blobs: number;
  /** Bytes done. */
  bytes: number;
  /** Rows done. */
  rows: number;
}

/** What a unit of each count weighs in a progress bar's fraction (defaults: a row 256, a blob 0, a byte 1). */
export interface ProgressWeights {
  /** A row. */
  row?: number;
  /** A blob. */
  blob?: number;
  /** A byte. */
  byte?: number;
}

/** The rest of what {@linkcode progressLine} shows. */
export interface ProgressLineOptions {
  /** The totals: a bar and time left when known, counts alone otherwise. */
  total?: ProgressState | undefined;
  /** Seconds since the work began. */
  elapsedSeconds: number;
  /** How much each count weighs (bytes dominate a transfer's time; a gc's are listings). */
  weights?: ProgressWeights;
}

/**
 * A progress line: a bar when the totals are known, counts, bytes and time
 * left.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { progressLine } from "./cli_output.ts";
 * const total = { blobs: 10, bytes: 1024, rows: 4 };
 * const line = progressLine("import", { blobs: 5, bytes: 512, rows: 2 }, { total, elapsedSeconds: 2 });
 * assert.equal(line, "import [##########----------] 50% 5/10 blobs, 512 B/1.0 KiB, 2/4 rows, 2.0s left");
 * ```
 */
export function progressLine(
  what: string,
  done: ProgressState,
  options: ProgressLineOptions,
): string {
  const { total, elapsedSeconds } = options;
  const w = { row: 256, blob: 0, byte: 1, ...options.weights };
  const weight = (s: ProgressState) => s.rows * w.row + s.blobs * w.blob + s.bytes * w.byte;
  if (total === undefined || weight(total) === 0) {
    return `${what} ${done.blobs} blobs, ${formatBytes(done.bytes)}, ${done.rows} rows, ${
      formatSeconds(elapsedSeconds)
    }`;
  }
  const fraction = Math.min(1, weight(done) / weight(total));
  const width = 20;
  const filled = Math.round(fraction * width);
  const left = fraction > 0 ? elapsedSeconds * (1 - fraction) / fraction : NaN;
  return `${what} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${
    Math.floor(fraction * 100)
  }% ${done.blobs}/${total.blobs} blobs, ${formatBytes(done.bytes)}/${
    formatBytes(total.bytes)
  }, ${done.rows}/${total.rows} rows, ${
    Number.isFinite(left) ? `${formatSeconds(left)} left` : "estimating"
  }`;
}

/** Where progress goes: a rewritten line on a terminal (absent: none) and standard error. */
export interface ProgressIo {
  /** Standard error (the summary line). */
  err(line: string): void;
  /** Rewrite the progress line. */
  progress?(line: string): void;
}

/** A running piece of work's progress line and summary (see {@linkcode startProgress}). */
export interface Progress {
  /** Show the counts (the line is rewritten at most every 100 ms). */
  update(done: ProgressState): void;
  /** Clear the line and print `registry: <what> in <time>` as the summary. */
  finish(what: string): void;
  /** Seconds since the start. */
  elapsed(): number;
}

/**
 * Progress for export, import and gc: a bar with counts, bytes and time left,
 * rewritten on a terminal, and one summary line at the end (one line in all
 * when there is no terminal, never a line per item).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { startProgress } from "./cli_output.ts";
 * const lines: string[] = [];
 * const p = startProgress({ err: (l) => void lines.push(l) }, "export");
 * p.update({ blobs: 1, bytes: 5, rows: 2 });
 * p.finish("exported 2 rows");
 * assert.match(lines.join("\n"), /^registry: exported 2 rows in [\d.]+s$/);
 * ```
 */
export function startProgress(
  io: ProgressIo,
  what: string,
  options: Omit<ProgressLineOptions, "elapsedSeconds"> = {},
): Progress {
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  let shown = -Infinity;
  return {
    elapsed,
    update(done) {
      if (!io.progress || performance.now() - shown < 100) return;
      shown = performance.now();
      io.progress(progressLine(what, done, { ...options, elapsedSeconds: elapsed() }));
    },
    finish(summary) {
      io.progress?.("");
      io.err(`registry: ${summary} in ${formatSeconds(elapsed())}`);
    },
  };
}
