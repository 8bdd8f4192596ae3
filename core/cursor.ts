/**
 * Cursors of the paged listings (audit, webhook deliveries, tokens):
 * self-describing, so core can refuse one before it reads anything. A cursor
 * is `<listing>~<position>`: the listing it was given out by, and the
 * position in that listing's key order the next page seeks to (base64url
 * JSON of the key parts after the listing's prefix). A cursor of another
 * listing, one that does not parse, or one whose position has the wrong
 * shape is `invalid_input`: a 400 on every surface, never a scan. A cursor
 * whose row has gone since (a delivery delivered meanwhile) still names a
 * position, so the next page simply starts there.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeListCursor, encodeListCursor } from "./cursor.ts";
 * const cursor = encodeListCursor("audit", ["2026-01-01T00:00:00.000Z-ab12"]);
 * assert.deepEqual(decodeListCursor("audit", cursor, 1), ["2026-01-01T00:00:00.000Z-ab12"]);
 * assert.throws(() => decodeListCursor("tokens", cursor, 1), /not a cursor of this listing/);
 * ```
 *
 * @module
 */
import { toBase64Url } from "../base/digest.ts";
import { RegistryError } from "../base/errors.ts";

const encoder = new TextEncoder();
const CURSOR_RE = /^([a-z][a-z._-]{0,40})~([A-Za-z0-9_-]{1,4096})$/;

/** A cursor of `listing` that continues after `position`. */
export function encodeListCursor(listing: string, position: readonly string[]): string {
  return `${listing}~${toBase64Url(encoder.encode(JSON.stringify(position)))}`;
}

/**
 * The position a cursor names, when it is a cursor of `listing` with
 * `parts` key parts each matching `shape` (one per part, or one for all);
 * otherwise `invalid_input`.
 */
export function decodeListCursor(
  listing: string,
  cursor: string,
  parts: number,
  shape: RegExp | readonly RegExp[] = /^[^\0]{1,1024}$/,
): string[] {
  const refuse = () => badCursor(cursor);
  const m = CURSOR_RE.exec(cursor);
  if (m === null || m[1] !== listing) throw refuse();
  let position: unknown;
  try {
    const bytes = Uint8Array.fromBase64(m[2]!, {
      alphabet: "base64url",
      lastChunkHandling: "loose",
    });
    position = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw refuse();
  }
  if (!Array.isArray(position) || position.length !== parts) throw refuse();
  const shapes = Array.isArray(shape) ? shape : position.map(() => shape as RegExp);
  if (!position.every((p, i) => typeof p === "string" && shapes[i]!.test(p))) throw refuse();
  return position as string[];
}

/** The `invalid_input` error of a cursor that is not one of the listing's. */
export function badCursor(cursor: string): RegistryError {
  return new RegistryError(
    "invalid_input",
    `'${cursor.slice(0, 80)}' is not a cursor of this listing: start again without it`,
  );
}

/**
 * The page size asked for: `fallback` when absent, else an integer from 1 to
 * `max`; anything else (`0`, `-1`, `1e9`, `2.5`) is `invalid_input`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pageSizeOf } from "./cursor.ts";
 * assert.equal(pageSizeOf(undefined, { fallback: 50, max: 1000 }), 50);
 * assert.throws(() => pageSizeOf(1e9, { fallback: 50, max: 1000 }), /from 1 to 1000/);
 * ```
 */
export function pageSizeOf(
  limit: number | undefined,
  options: { fallback: number; max: number },
): number {
  if (limit === undefined) return options.fallback;
  if (!Number.isInteger(limit) || limit < 1 || limit > options.max) {
    throw new RegistryError(
      "invalid_input",
      `'limit' must be an integer from 1 to ${options.max}, not '${limit}'`,
    );
  }
  return limit;
}
