import assert from "node:assert/strict";
import { DigestSet } from "./_digest_set.ts";
import { sha256Hex } from "../base/digest.ts";

Deno.test("DigestSet holds digests at 16–32 bytes each and answers membership exactly for distinct prefixes", () => {
  const set = new DigestSet();
  const n = 20_000;
  const digests: string[] = [];
  for (let i = 0; i < n; i++) digests.push(sha256Hex(new TextEncoder().encode(`blob ${i}`)));
  for (const d of digests.slice(0, n / 2)) set.add(d);
  for (const d of digests.slice(0, n / 2)) set.add(d); // again: no change
  assert.equal(set.size, n / 2);
  assert.ok(digests.slice(0, n / 2).every((d) => set.has(d)));
  assert.ok(digests.slice(n / 2).every((d) => !set.has(d)));
  const perDigest = set.bytes / set.size;
  assert.ok(perDigest >= 16 && perDigest <= 32, `${perDigest} bytes per digest`);
});

Deno.test("DigestSet keeps strings that are not digests, and the all-zero prefix", () => {
  const set = new DigestSet();
  set.add("not-a-digest");
  set.add("0".repeat(64));
  assert.ok(set.has("not-a-digest") && set.has("0".repeat(64)));
  assert.ok(!set.has("other") && !set.has("f".repeat(64)));
  assert.equal(set.size, 2);
});
