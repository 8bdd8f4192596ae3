import assert from "node:assert/strict";
import {
  fromBase64,
  incrementalHash,
  sha256Hex,
  sri384,
  timingSafeEqual,
  toBase64,
} from "./digest.ts";

Deno.test("incrementalHash() equals a one-shot digest over the same bytes", () => {
  const h = incrementalHash();
  h.update(new TextEncoder().encode("hello "));
  h.update(new TextEncoder().encode("world"));
  assert.equal(h.hex(), sha256Hex("hello world"));
  assert.equal(sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
});

Deno.test("fromBase64() is strict about the alphabet and lenient about padding", () => {
  assert.deepEqual(fromBase64("aGk="), new TextEncoder().encode("hi"));
  assert.deepEqual(fromBase64("aGk"), new TextEncoder().encode("hi"));
  assert.equal(fromBase64("a-_k"), null);
  assert.equal(fromBase64("a!"), null);
  assert.equal(fromBase64("aGl"), null, "non-canonical trailing bits are refused");
  assert.equal(toBase64(new Uint8Array([255, 254])), "//4=");
});

Deno.test("sri384() answers sha384- and standard base64", () => {
  assert.equal(
    sri384(new Uint8Array(0)),
    "sha384-OLBgp1GsljhM2TJ+sbHjaiH9txEUvgdDTAzHv2P24donTt6/529l+9Ua0vFImLlb",
  );
});

Deno.test("timingSafeEqual() compares whole strings, lengths included", () => {
  assert.ok(timingSafeEqual("abc", "abc"));
  assert.ok(!timingSafeEqual("abc", "abd"));
  assert.ok(!timingSafeEqual("abc", "abcd"));
});

Deno.test("fromBase64() follows the original acceptance rule on a table of edge cases", () => {
  const samples = [
    "",
    "A",
    "AA",
    "AA=",
    "AA==",
    "AA===",
    "AAA",
    "AAAA",
    "YWJj",
    "YWJjZA",
    "YWJjZA==",
    "YWJjZB==", // non-canonical trailing bits
    "YW Jj\nZA==",
    "YWJj-_",
    "YWJj=YWJj",
    "abc$",
    "////",
    "++++",
    toBase64(crypto.getRandomValues(new Uint8Array(1000))),
  ];
  const accepted = samples.filter((s) => fromBase64(s) !== null);
  assert.deepEqual(accepted.slice(0, -1), [
    "",
    "AA",
    "AA=",
    "AA==",
    "AAA",
    "AAAA",
    "YWJj",
    "YWJjZA",
    "YWJjZA==",
    "YW Jj\nZA==",
    "////",
    "++++",
  ]);
  assert.deepEqual(fromBase64(samples[samples.length - 1]!)?.byteLength, 1000);
  assert.deepEqual(fromBase64("YW Jj\nZA=="), new TextEncoder().encode("abcd"));
});
