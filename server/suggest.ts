/**
 * "Did you mean": the closest known name to a mistyped one.
 *
 * @module
 */

/** Edit distance between two short strings (insertions, deletions, substitutions). */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        prev[j]! + 1,
        row[j - 1]! + 1,
        prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * The known name closest to `word`, if close enough to be a typo (a third of
 * its length, at least 2 edits), or one that starts with it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { suggest } from "./suggest.ts";
 * assert.equal(suggest("prot", ["port", "host"]), "port");
 * assert.equal(suggest("frobnicate", ["token", "gc"]), undefined);
 * ```
 */
export function suggest(word: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = Infinity;
  for (const name of known) {
    const d = distance(word, name);
    if (d < bestScore) [best, bestScore] = [name, d];
  }
  if (best !== undefined && bestScore <= Math.max(2, Math.floor(word.length / 3))) return best;
  return known.find((name) => word.length >= 3 && name.startsWith(word));
}
