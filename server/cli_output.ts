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

/**
 * A progress line: a bar when the total bytes are known, counts, bytes and
 * time left.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { progressLine } from "./cli_output.ts";
 * const line = progressLine("import", { blobs: 5, bytes: 512, rows: 2 }, { blobs: 10, bytes: 1024, rows: 4 }, 2);
 * assert.equal(line, "import [##########----------] 50% 5/10 blobs, 512 B/1.0 KiB, 2/4 rows, 2.0s left");
 * ```
 */
export function progressLine(
  what: string,
  done: ProgressState,
  total: ProgressState | undefined,
  elapsedSeconds: number,
): string {
  if (total === undefined || total.bytes + total.rows === 0) {
    return `${what} ${done.blobs} blobs, ${formatBytes(done.bytes)}, ${done.rows} rows, ${
      formatSeconds(elapsedSeconds)
    }`;
  }
  // Bytes dominate the time; rows count for a little each.
  const fraction = Math.min(
    1,
    (done.bytes + done.rows * 256) / Math.max(1, total.bytes + total.rows * 256),
  );
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
