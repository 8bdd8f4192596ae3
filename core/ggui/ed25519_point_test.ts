import assert from "node:assert/strict";
import { ed25519SmallOrder, isStrongEd25519PublicKey } from "./ed25519_point.ts";

function hex(text: string): Uint8Array {
  return Uint8Array.from(text.match(/../g)!, (b) => parseInt(b, 16));
}

Deno.test("isStrongEd25519PublicKey() accepts real keys made by Web Crypto", async () => {
  for (let i = 0; i < 20; i++) {
    const pair = await crypto.subtle.generateKey("Ed25519", true, [
      "sign",
      "verify",
    ]) as CryptoKeyPair;
    const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    assert.equal(isStrongEd25519PublicKey(raw), true);
  }
  // RFC 8032, section 7.1, test 1.
  assert.equal(
    isStrongEd25519PublicKey(
      hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"),
    ),
    true,
  );
});

Deno.test("isStrongEd25519PublicKey() refuses small-order points, non-canonical and off-curve encodings", () => {
  const refused = {
    "all zeros (order 4)": "00".repeat(32),
    "the identity (order 1)": "01" + "00".repeat(31),
    "(0, -1) (order 2)": "ec" + "ff".repeat(30) + "7f",
    "y = 0 with the sign bit (order 4)": "00".repeat(31) + "80",
    // The two points of order 8 with positive x (and their negations, by the sign bit).
    "order 8": "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "order 8, negated": "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "order 8, other": "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "order 8, other negated": "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "y = p (not canonical)": "ed" + "ff".repeat(30) + "7f",
    "y = p + 1 (not canonical)": "ee" + "ff".repeat(30) + "7f",
    "31 bytes": "00".repeat(31),
  };
  for (const [name, text] of Object.entries(refused)) {
    assert.equal(isStrongEd25519PublicKey(hex(text)), false, name);
  }
  // The small-order ones are points (on the curve, canonical) whose order divides 8.
  for (const name of Object.keys(refused).filter((n) => /order/.test(n))) {
    assert.equal(ed25519SmallOrder(hex(refused[name as keyof typeof refused])), true, name);
  }
  for (const name of ["y = p (not canonical)", "y = p + 1 (not canonical)", "31 bytes"] as const) {
    assert.equal(ed25519SmallOrder(hex(refused[name])), null, name);
  }
  // y = 2 is not the y of any point on the curve.
  let offCurve = false;
  for (let y = 2; y < 40 && !offCurve; y++) {
    const bytes = new Uint8Array(32);
    bytes[0] = y;
    offCurve = !isStrongEd25519PublicKey(bytes);
  }
  assert.ok(offCurve, "some small y is off the curve and refused");
});
