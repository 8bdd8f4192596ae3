import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { crc32 as zlibCrc32 } from "node:zlib";
import { Sha256, Sha512 } from "./_sha2.ts";
import { crc32 } from "./_crc32.ts";
import { toHex } from "./digest.ts";

/** Lengths around every padding edge of 64- and 128-byte blocks, and a few large ones. */
const LENGTHS = [0, 1, 3, 55, 56, 57, 63, 64, 65, 111, 112, 113, 127, 128, 129, 1000, 4096, 70001];

function bytes(n: number): Uint8Array {
  return new Uint8Array(n).map((_, i) => (i * 131 + (i >> 8)) & 0xff);
}

Deno.test("the TypeScript SHA-256, SHA-384 and SHA-512 equal node:crypto's, fed whole or in pieces", () => {
  for (const n of LENGTHS) {
    const data = bytes(n);
    for (
      const [algorithm, make] of [
        ["sha256", () => new Sha256()],
        ["sha384", () => new Sha512(48)],
        ["sha512", () => new Sha512(64)],
      ] as const
    ) {
      const expected = createHash(algorithm).update(data).digest("hex");
      assert.equal(toHex(make().update(data).digest()), expected, `${algorithm} of ${n} bytes`);
      const pieces = make();
      for (let at = 0; at < n; at += 37) pieces.update(data.subarray(at, at + 37));
      assert.equal(toHex(pieces.digest()), expected, `${algorithm} of ${n} bytes in pieces`);
    }
  }
});

Deno.test("the TypeScript CRC-32 equals node:zlib's, continued from a previous value too", () => {
  for (const n of LENGTHS) {
    const data = bytes(n);
    assert.equal(crc32(data), zlibCrc32(data), `${n} bytes`);
    const head = data.subarray(0, n >> 1), tail = data.subarray(n >> 1);
    assert.equal(crc32(tail, crc32(head)), zlibCrc32(tail, zlibCrc32(head)), `${n} bytes in two`);
  }
});
