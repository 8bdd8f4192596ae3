/**
 * Digests and encodings: streaming SHA-256, SRI strings and base64.
 *
 * Web Crypto has no incremental digest, so streaming hashes use the runtime's
 * native `node:crypto` hash (no I/O; available on Deno Deploy too).
 *
 * @module
 */
import { createHash } from "node:crypto";

/** An incremental hash: feed chunks, then read the hex digest once. */
export interface IncrementalHash {
  /** Feed more bytes. */
  update(chunk: Uint8Array): void;
  /** The lowercase hex digest of everything fed. */
  hex(): string;
}

/** Start an incremental SHA-256 (or SHA-384/512) hash. */
export function incrementalHash(
  algorithm: "sha256" | "sha384" | "sha512" = "sha256",
): IncrementalHash {
  const hash = createHash(algorithm);
  return {
    update: (chunk) => void hash.update(chunk),
    hex: () => hash.digest("hex"),
  };
}

/** Lowercase hex of some bytes. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** `n` random bytes as lowercase hex (ids, generated secrets). */
export function randomHex(n: number): string {
  return toHex(crypto.getRandomValues(new Uint8Array(n)));
}

/** Lowercase hex SHA-256 of some bytes. */
export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** Raw digest bytes of some bytes. */
export function digestBytes(
  algorithm: "sha256" | "sha384" | "sha512",
  bytes: Uint8Array | string,
): Uint8Array {
  return new Uint8Array(createHash(algorithm).update(bytes).digest());
}

/** Standard padded base64 of bytes. */
export function toBase64(bytes: Uint8Array): string {
  return bytes.toBase64();
}

/** Unpadded base64url of bytes. */
export function toBase64Url(bytes: Uint8Array): string {
  return bytes.toBase64({ alphabet: "base64url", omitPadding: true });
}

/**
 * Decode standard base64 strictly: decode, re-encode and compare after stripping
 * trailing `=` and whitespace, so non-alphabet characters (including `-`/`_`)
 * and non-canonical trailing bits fail while missing padding passes. `null`
 * when invalid.
 */
export function fromBase64(text: string): Uint8Array | null {
  const clean = /\s/.test(text) ? text.replace(/\s+/g, "") : text;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean)) return null;
  const unpadded = clean.replace(/=+$/, "");
  if (unpadded.length % 4 === 1) return null;
  try {
    const bytes = Uint8Array.fromBase64(unpadded, { lastChunkHandling: "loose" });
    return bytes.toBase64({ omitPadding: true }) === unpadded ? bytes : null;
  } catch {
    return null;
  }
}

/** `sha384-<base64>`: a Subresource Integrity string. */
export function sri384(bytes: Uint8Array): string {
  return `sha384-${toBase64(digestBytes("sha384", bytes))}`;
}

/**
 * Compare two strings in time independent of where they differ (code unit by
 * code unit, with no encoding step: it runs on every authenticated request).
 */
export function timingSafeEqual(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  const n = Math.max(a.length, b.length);
  // charCodeAt past the end is NaN; `| 0` makes it 0.
  for (let i = 0; i < n; i++) diff |= (a.charCodeAt(i) | 0) ^ (b.charCodeAt(i) | 0);
  return diff === 0;
}
