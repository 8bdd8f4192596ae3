/**
 * Whether 32 bytes are an Ed25519 public key worth registering: a canonical
 * encoding of a point on the curve that is not of small order. A small-order
 * key (all zeros, the identity, …) admits signatures that verify for many
 * messages, so a signature under it proves nothing. Checked once per key
 * registration, with plain BigInt arithmetic (RFC 8032, section 5.1.3).
 *
 * @module
 */

const P = 2n ** 255n - 19n;
const D = mod(-121665n * inverse(121666n));
/** A square root of -1 mod p. */
const SQRT_M1 = power(2n, (P - 1n) / 4n);

function mod(a: bigint): bigint {
  const r = a % P;
  return r >= 0n ? r : r + P;
}

function power(base: bigint, exp: bigint): bigint {
  let result = 1n;
  let b = mod(base);
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % P;
    b = (b * b) % P;
    e >>= 1n;
  }
  return result;
}

function inverse(a: bigint): bigint {
  return power(a, P - 2n);
}

/** The point `bytes` encode, or `null` when they encode none (RFC 8032 decoding). */
function decode(bytes: Uint8Array): [bigint, bigint] | null {
  if (bytes.byteLength !== 32) return null;
  let y = 0n;
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(bytes[i]!);
  const sign = y >> 255n;
  y &= (1n << 255n) - 1n;
  if (y >= P) return null; // not canonical
  const u = mod(y * y - 1n);
  const v = mod(D * y * y + 1n);
  const x2 = mod(u * inverse(v));
  let x = power(x2, (P + 3n) / 8n);
  if (mod(x * x) !== x2) x = mod(x * SQRT_M1);
  if (mod(x * x) !== x2) return null; // not on the curve
  if (x === 0n && sign === 1n) return null;
  if ((x & 1n) !== sign) x = P - x;
  return [x, y];
}

/** Twisted Edwards addition (a = -1), affine. */
function add([x1, y1]: [bigint, bigint], [x2, y2]: [bigint, bigint]): [bigint, bigint] {
  const t = mod(D * x1 * x2 * y1 * y2);
  return [
    mod((x1 * y2 + y1 * x2) * inverse(1n + t)),
    mod((y1 * y2 + x1 * x2) * inverse(1n - t)),
  ];
}

/**
 * Whether the point `bytes` encode has an order dividing 8 (the cofactor):
 * `true` for small-order points, `false` for every real public key, `null`
 * when the bytes encode no point (off the curve, not canonical, not 32 bytes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ed25519SmallOrder } from "./ed25519_point.ts";
 *
 * assert.equal(ed25519SmallOrder(new Uint8Array(32)), true); // all zeros: order 4
 * ```
 */
export function ed25519SmallOrder(bytes: Uint8Array): boolean | null {
  const point = decode(bytes);
  if (point === null) return null;
  let q = point;
  for (let i = 0; i < 3; i++) q = add(q, q); // [8]P
  return q[0] === 0n && q[1] === 1n;
}

/**
 * Whether `bytes` are a canonical encoding of an Ed25519 point that is not of
 * small order: what a real public key always is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isStrongEd25519PublicKey } from "./ed25519_point.ts";
 *
 * assert.equal(isStrongEd25519PublicKey(new Uint8Array(32)), false);
 * ```
 */
export function isStrongEd25519PublicKey(bytes: Uint8Array): boolean {
  return ed25519SmallOrder(bytes) === false;
}
