import assert from "node:assert/strict";
import { assertCommit, compareKeys, decodeCursor, encodeCursor, utf8Length } from "./_common.ts";
import { LIMITS } from "./types.ts";

Deno.test("utf8Length() counts bytes, not UTF-16 units", () => {
  for (const s of ["", "abc", "é", "✓", "日本語", "\u{1F600}", "a\u{1F600}b✓é"]) {
    assert.equal(utf8Length(s), new TextEncoder().encode(s).byteLength, s);
  }
});

Deno.test("assertCommit() measures a commit in UTF-8 bytes", () => {
  // 300 rows of 1,000 three-byte characters: 300,000 UTF-16 units but ~900 KB of UTF-8.
  const mutations = Array.from({ length: 300 }, (_, i) => ({
    type: "set" as const,
    key: ["cjk", String(i)],
    value: "日".repeat(1000),
  }));
  assert.throws(() => assertCommit({ checks: [], mutations }), RangeError);
  assert.ok(300 * 1000 < LIMITS.commitBytes, "the same commit in UTF-16 units would have passed");
});

Deno.test("compareKeys() orders by UTF-8 bytes and a cursor round-trips", () => {
  assert.ok(compareKeys(["\uFFFD"], ["\u{1F600}"]) < 0);
  assert.ok(compareKeys(["a"], ["a", ""]) < 0);
  assert.deepEqual(decodeCursor(encodeCursor(["pkg", "@acme", "é"])), ["pkg", "@acme", "é"]);
});
