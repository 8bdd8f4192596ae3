/**
 * SHA-256, SHA-384 and SHA-512 (FIPS 180-4) in TypeScript, incremental and
 * synchronous: what `base/digest.ts` hashes with until the runtime's native
 * `node:crypto` has loaded, so that loading it is off the start-up path.
 * Slower than the native hash (it is the fallback for the first hashes after
 * a start, not the hash of every blob).
 *
 * @module
 */

/** The first `n` primes. */
function primes(n: number): bigint[] {
  const out: bigint[] = [];
  for (let c = 2; out.length < n; c++) {
    if (out.every((p) => c % Number(p) !== 0)) out.push(BigInt(c));
  }
  return out;
}

/** ⌊x^(1/k)⌋ of a non-negative bigint (Newton's method). */
function iroot(x: bigint, k: bigint): bigint {
  if (x < 2n) return x;
  let r = 1n << (BigInt(x.toString(2).length) / k + 1n);
  for (;;) {
    const next = ((k - 1n) * r + x / r ** (k - 1n)) / k;
    if (next >= r) return r;
    r = next;
  }
}

/** The first `bits` bits of the fractional part of the `k`th roots of the first `n` primes. */
function fractions(n: number, k: bigint, bits: bigint): bigint[] {
  const mask = (1n << bits) - 1n;
  return primes(n).map((p) => iroot(p << (bits * k), k) & mask);
}

let k256: Int32Array | undefined;
let iv256: Int32Array | undefined;

/** An incremental SHA-256. */
export class Sha256 {
  #h: Int32Array;
  #w = new Int32Array(64);
  #block = new Uint8Array(64);
  #fill = 0;
  #length = 0;

  constructor() {
    iv256 ??= Int32Array.from(fractions(8, 2n, 32n), Number);
    k256 ??= Int32Array.from(fractions(64, 3n, 32n), Number);
    this.#h = iv256.slice();
  }

  /** Feed more bytes. */
  update(bytes: Uint8Array): this {
    this.#length += bytes.byteLength;
    let i = 0;
    if (this.#fill > 0) {
      const n = Math.min(64 - this.#fill, bytes.byteLength);
      this.#block.set(bytes.subarray(0, n), this.#fill);
      this.#fill += n;
      i = n;
      if (this.#fill < 64) return this;
      this.#compress(this.#block, 0);
      this.#fill = 0;
    }
    for (; i + 64 <= bytes.byteLength; i += 64) this.#compress(bytes, i);
    this.#block.set(bytes.subarray(i), 0);
    this.#fill = bytes.byteLength - i;
    return this;
  }

  /** The 32-byte digest of everything fed (call once). */
  digest(): Uint8Array {
    const bits = this.#length * 8;
    const tail = new Uint8Array((this.#fill < 56 ? 64 : 128) - this.#fill);
    tail[0] = 0x80;
    const view = new DataView(tail.buffer);
    view.setUint32(tail.length - 8, Math.floor(bits / 2 ** 32));
    view.setUint32(tail.length - 4, bits >>> 0);
    this.update(tail);
    const out = new Uint8Array(32);
    const o = new DataView(out.buffer);
    for (let j = 0; j < 8; j++) o.setInt32(j * 4, this.#h[j]!);
    return out;
  }

  #compress(bytes: Uint8Array, at: number): void {
    const w = this.#w, k = k256!, h = this.#h;
    for (let t = 0; t < 16; t++) {
      const p = at + t * 4;
      w[t] = (bytes[p]! << 24) | (bytes[p + 1]! << 16) | (bytes[p + 2]! << 8) | bytes[p + 3]!;
    }
    for (let t = 16; t < 64; t++) {
      const x = w[t - 15]!, y = w[t - 2]!;
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      w[t] = (w[t - 16]! + s0 + w[t - 7]! + s1) | 0;
    }
    let a = h[0]!, b = h[1]!, c = h[2]!, d = h[3]!, e = h[4]!, f = h[5]!, g = h[6]!, hh = h[7]!;
    for (let t = 0; t < 64; t++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (hh + S1 + ((e & f) ^ (~e & g)) + k[t]! + w[t]!) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      hh = g;
      g = f;
      f = e;
      e = (d + t1) | 0;
      d = c;
      c = b;
      b = a;
      a = (t1 + t2) | 0;
    }
    h[0] = h[0]! + a;
    h[1] = h[1]! + b;
    h[2] = h[2]! + c;
    h[3] = h[3]! + d;
    h[4] = h[4]! + e;
    h[5] = h[5]! + f;
    h[6] = h[6]! + g;
    h[7] = h[7]! + hh;
  }
}

let k512: BigUint64Array | undefined;
let iv512: BigUint64Array | undefined;
let iv384: BigUint64Array | undefined;

const MASK64 = (1n << 64n) - 1n;
const rotr64 = (x: bigint, n: bigint) => ((x >> n) | (x << (64n - n))) & MASK64;

/** An incremental SHA-512, or SHA-384 (`bytes` 48). BigInt arithmetic: slow, but rarely needed. */
export class Sha512 {
  #h: BigUint64Array;
  #outBytes: 48 | 64;
  #block = new Uint8Array(128);
  #fill = 0;
  #length = 0;

  constructor(outBytes: 48 | 64 = 64) {
    k512 ??= BigUint64Array.from(fractions(80, 3n, 64n));
    iv512 ??= BigUint64Array.from(fractions(8, 2n, 64n));
    // SHA-384's initial values: the 9th to 16th primes' square roots.
    iv384 ??= BigUint64Array.from(fractions(16, 2n, 64n).slice(8));
    this.#outBytes = outBytes;
    this.#h = (outBytes === 48 ? iv384 : iv512).slice();
  }

  /** Feed more bytes. */
  update(bytes: Uint8Array): this {
    this.#length += bytes.byteLength;
    for (const byte of bytes) {
      this.#block[this.#fill++] = byte;
      if (this.#fill === 128) {
        this.#compress();
        this.#fill = 0;
      }
    }
    return this;
  }

  /** The digest of everything fed (call once). */
  digest(): Uint8Array {
    const bits = BigInt(this.#length) * 8n;
    const tail = new Uint8Array((this.#fill < 112 ? 128 : 256) - this.#fill);
    tail[0] = 0x80;
    new DataView(tail.buffer).setBigUint64(tail.length - 8, bits);
    this.update(tail);
    const out = new Uint8Array(64);
    const o = new DataView(out.buffer);
    for (let j = 0; j < 8; j++) o.setBigUint64(j * 8, this.#h[j]!);
    return out.slice(0, this.#outBytes);
  }

  #compress(): void {
    const view = new DataView(this.#block.buffer);
    const w: bigint[] = [];
    for (let t = 0; t < 16; t++) w.push(view.getBigUint64(t * 8));
    for (let t = 16; t < 80; t++) {
      const a = w[t - 15]!, b = w[t - 2]!;
      const s0 = rotr64(a, 1n) ^ rotr64(a, 8n) ^ (a >> 7n);
      const s1 = rotr64(b, 19n) ^ rotr64(b, 61n) ^ (b >> 6n);
      w.push((w[t - 16]! + s0 + w[t - 7]! + s1) & MASK64);
    }
    let [a, b, c, d, e, f, g, h] = this.#h;
    for (let t = 0; t < 80; t++) {
      const t1 = (h! + (rotr64(e!, 14n) ^ rotr64(e!, 18n) ^ rotr64(e!, 41n)) +
        ((e! & f!) ^ (~e! & MASK64 & g!)) + k512![t]! + w[t]!) & MASK64;
      const t2 = ((rotr64(a!, 28n) ^ rotr64(a!, 34n) ^ rotr64(a!, 39n)) +
        ((a! & b!) ^ (a! & c!) ^ (b! & c!))) & MASK64;
      h = g, g = f, f = e, e = (d! + t1) & MASK64, d = c, c = b, b = a, a = (t1 + t2) & MASK64;
    }
    const next = [a, b, c, d, e, f, g, h];
    for (let j = 0; j < 8; j++) this.#h[j] = (this.#h[j]! + next[j]!) & MASK64;
  }
}
