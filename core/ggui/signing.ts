/**
 * ggui signatures: the two envelope shapes, key ids, and Ed25519 verification
 * with Web Crypto. An Ed25519 signature covers the 48 raw bytes of
 * SHA-384(payload), never the payload itself.
 *
 * @module
 */
import { digestBytes, fromBase64, toBase64, toBase64Url } from "../../base/digest.ts";

/** Ed25519 envelope (private artifacts). */
export interface Ed25519Envelope {
  /** The discriminator. */
  algorithm: "ed25519";
  /** Standard base64 of SHA-384(payload). */
  bundleSha384: string;
  /** Standard base64 of the 64-byte signature. */
  signature: string;
  /** {@linkcode keyIdOf} the signing key. */
  publicKeyId: string;
  /** ISO-8601 signing time. */
  signedAt: string;
}

/** Sigstore keyless envelope (public artifacts). */
export interface SigstoreEnvelope {
  /** The discriminator. */
  algorithm: "sigstore-cosign";
  /** Standard base64 of SHA-384(payload). */
  bundleSha384: string;
  /** JSON text of a sigstore bundle v0.3. */
  bundle: string;
  /** ISO-8601 signing time. */
  signedAt: string;
}

/** Either envelope. */
export type SignatureEnvelope = Ed25519Envelope | SigstoreEnvelope;

/** The structural guard of the original: the fields, their types, nothing more. */
export function isSignatureEnvelope(value: unknown): value is SignatureEnvelope {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const v = value as Record<string, unknown>;
  if (typeof v.bundleSha384 !== "string" || typeof v.signedAt !== "string") return false;
  if (v.algorithm === "ed25519") {
    return typeof v.signature === "string" && typeof v.publicKeyId === "string";
  }
  return v.algorithm === "sigstore-cosign" && typeof v.bundle === "string";
}

/** Standard base64 of SHA-384(bytes). */
export function sha384Base64(bytes: Uint8Array): string {
  return toBase64(digestBytes("sha384", bytes));
}

/**
 * The key id of a raw 32-byte Ed25519 public key:
 * `base64url_unpadded(SHA-256(key))[0:16]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { keyIdOf } from "./signing.ts";
 * assert.ok(keyIdOf(new Uint8Array(32)).length === 16);
 * ```
 */
export function keyIdOf(rawPublicKey: Uint8Array): string {
  if (rawPublicKey.byteLength !== 32) {
    throw new RangeError(`Cannot derive a key id from ${rawPublicKey.byteLength} bytes`);
  }
  return toBase64Url(digestBytes("sha256", rawPublicKey)).slice(0, 16);
}

/** The outcome of a verification. */
export type VerifyResult = { valid: true } | { valid: false; reason: string };

/**
 * Verify an Ed25519 envelope over `payload` with a raw public key, in the
 * original's order: key length, SHA-384 of the payload, key id, then the
 * signature over the 48 digest bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toBase64 } from "../../base/digest.ts";
 * import { keyIdOf, verifyEd25519 } from "./signing.ts";
 * const { publicKey, privateKey } = await crypto.subtle.generateKey("Ed25519", true, ["sign", "verify"]) as CryptoKeyPair;
 * const raw = new Uint8Array(await crypto.subtle.exportKey("raw", publicKey));
 * const payload = new TextEncoder().encode("export default 1;");
 * const digest = new Uint8Array(await crypto.subtle.digest("SHA-384", payload));
 * const signature = toBase64(new Uint8Array(await crypto.subtle.sign("Ed25519", privateKey, digest)));
 * const envelope = { algorithm: "ed25519" as const, bundleSha384: toBase64(digest), signature, publicKeyId: keyIdOf(raw), signedAt: new Date().toISOString() };
 * assert((await verifyEd25519(payload, { envelope, publicKey: raw })).valid);
 * assert(!(await verifyEd25519(new TextEncoder().encode("tampered"), { envelope, publicKey: raw })).valid);
 * ```
 */
export async function verifyEd25519(
  payload: Uint8Array,
  options: { envelope: Ed25519Envelope; publicKey: Uint8Array },
): Promise<VerifyResult> {
  const { envelope, publicKey } = options;
  if (publicKey.byteLength !== 32) {
    return {
      valid: false,
      reason: `expected 32-byte Ed25519 public key, got ${publicKey.byteLength}`,
    };
  }
  const digest = digestBytes("sha384", payload);
  if (toBase64(digest) !== envelope.bundleSha384) {
    return { valid: false, reason: "bundle hash mismatch (bundleBytes tampered or wrong bundle)" };
  }
  const expectedKeyId = keyIdOf(publicKey);
  if (expectedKeyId !== envelope.publicKeyId) {
    return {
      valid: false,
      reason:
        `publicKeyId mismatch: signature claims '${envelope.publicKeyId}', provided key derives '${expectedKeyId}'`,
    };
  }
  const sig = fromBase64(envelope.signature);
  if (sig === null) return { valid: false, reason: "malformed signature base64" };
  if (sig.byteLength !== 64) return { valid: false, reason: "Ed25519 signature does not verify" };
  try {
    const key = await crypto.subtle.importKey(
      "raw",
      publicKey as Uint8Array<ArrayBuffer>,
      { name: "Ed25519" },
      false,
      ["verify"],
    );
    const ok = await crypto.subtle.verify(
      { name: "Ed25519" },
      key,
      sig as Uint8Array<ArrayBuffer>,
      digest as Uint8Array<ArrayBuffer>,
    );
    return ok ? { valid: true } : { valid: false, reason: "Ed25519 signature does not verify" };
  } catch (err) {
    return {
      valid: false,
      reason: `signature verification threw: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
}

/** A successful sigstore verification. */
export interface SigstoreVerified {
  /** Verified. */
  valid: true;
  /** Standard base64 of the leaf certificate's DER (`undefined` when the bundle has none). */
  leafCertificateDer?: string;
}

/**
 * The sigstore keyless lane: reading a bundle's certificate identities (cheap,
 * unverified, used by the scope identity rule before any crypto) and the full
 * verification (TUF trusted root, Fulcio chain, Rekor inclusion, signature).
 */
export interface SigstoreVerifier {
  /** The leaf certificate's SANs (URI SANs, then email SANs), unverified. */
  sans(envelope: SigstoreEnvelope): string[];
  /** Fully verify the envelope over `payload`. */
  verify(
    payload: Uint8Array,
    envelope: SigstoreEnvelope,
  ): Promise<SigstoreVerified | { valid: false; reason: string }>;
}

/**
 * The default sigstore lane, as the original behaves offline: the SHA-384 fast
 * check runs, then every envelope is refused because no trust root is
 * configured. Certificates are not read, so no SANs are seen.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { offlineSigstoreVerifier, sha384Base64 } from "./signing.ts";
 * const payload = new TextEncoder().encode("export default 1;");
 * const envelope = { algorithm: "sigstore-cosign" as const, bundleSha384: sha384Base64(payload), bundle: "{}", signedAt: new Date().toISOString() };
 * const r = await offlineSigstoreVerifier.verify(payload, envelope);
 * assert(!r.valid && r.reason.includes("no sigstore trust root"));
 * assert(offlineSigstoreVerifier.sans(envelope).length === 0);
 * ```
 */
export const offlineSigstoreVerifier: SigstoreVerifier = {
  sans: () => [],
  verify(payload, envelope) {
    if (sha384Base64(payload) !== envelope.bundleSha384) {
      return Promise.resolve({
        valid: false,
        reason:
          "sigstore verification failed: bundle hash mismatch (bundleBytes tampered or wrong bundle)",
      });
    }
    return Promise.resolve({
      valid: false,
      reason:
        "sigstore verification failed: no sigstore trust root is configured on this registry (public keyless publishes are not supported yet)",
    });
  },
};
