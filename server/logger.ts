/**
 * The server's own log lines, filtered by `--log-level` and written as JSON
 * (for machines) or one readable line (`--log-format=pretty`, the default on
 * a terminal). The request log is at level info.
 *
 * @module
 */

/** Levels from most to least verbose; `silent` writes nothing. */
export const LOG_LEVELS = ["debug", "info", "warn", "error", "silent"] as const;

/** A level of {@linkcode LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** How lines are written. */
export type LogFormat = "json" | "pretty";

/** A log function: level, message, fields. */
export type Log = (level: string, message: string, fields?: Record<string, unknown>) => void;

/** The level names the original servers took, mapped onto ours. */
export function normalizeLevel(text: string): LogLevel | undefined {
  const level = text === "trace" ? "debug" : text === "fatal" ? "error" : text;
  return (LOG_LEVELS as readonly string[]).includes(level) ? level as LogLevel : undefined;
}

/** Whether a line at `level` passes the threshold `min`. */
export function enabled(level: string, min: LogLevel): boolean {
  const at = LOG_LEVELS.indexOf(normalizeLevel(level) ?? "info");
  return min !== "silent" && at >= LOG_LEVELS.indexOf(min);
}

function value(v: unknown): string {
  const text = typeof v === "string" ? v : JSON.stringify(v);
  return /[\s"=]/.test(text) ? JSON.stringify(text) : text;
}

/**
 * One readable line from a JSON log record: time, level, message, then
 * `key=value` pairs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { prettyLine } from "./logger.ts";
 * const line = prettyLine({ time: "2026-01-01T00:00:00.000Z", level: "warn", message: "Slow", ms: 12 });
 * assert.equal(line, "2026-01-01T00:00:00.000Z WARN  Slow ms=12");
 * ```
 */
export function prettyLine(record: Record<string, unknown>): string {
  const { time, level, message, msg, ...rest } = record;
  const head = `${time ?? ""} ${String(level ?? "info").toUpperCase().padEnd(5)} ${
    message ?? msg ?? ""
  }`;
  const tail = Object.entries(rest).map(([k, v]) => `${k}=${value(v)}`).join(" ");
  return tail ? `${head} ${tail}` : head;
}

/** A {@linkcode Log} writing lines at or above `level` to `write` (stderr by default). */
export function createLogger(
  options: { level: LogLevel; format: LogFormat; write?: (line: string) => void },
): Log {
  const write = options.write ?? ((line: string) => console.error(line));
  return (level, message, fields = {}) => {
    if (!enabled(level, options.level)) return;
    const record = { time: new Date().toISOString(), level, message, ...fields };
    write(options.format === "json" ? JSON.stringify(record) : prettyLine(record));
  };
}
