/**
 * The operator's option to accept Ed25519 on public artifacts (kept apart
 * from `sigstore.ts` so publish does not load the sigstore libraries).
 *
 * @module
 */
import type { SigstoreVerifier } from "./signing.ts";

/** A public lane that also accepts Ed25519 author-key signatures on public artifacts. */
export type PublicEd25519Lane = SigstoreVerifier & { readonly publicEd25519: true };

/**
 * The explicit operator option for registries that cannot use sigstore at
 * all (`--public-ed25519`): public artifacts may then be signed with the
 * publisher's registered Ed25519 author key, verified exactly as private ones
 * (author-key row, SHA-384, key id, RFC 8032). Sigstore envelopes keep going
 * to `lane`. Off by default: the original refuses `public` + `ed25519` with
 * `visibility_algorithm_mismatch`, and so does this registry unless asked.
 * Note what is given up: no transparency-log record of the publish.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { acceptsPublicEd25519, withPublicEd25519 } from "./public_lane.ts";
 * import { offlineSigstoreVerifier } from "./signing.ts";
 * assert.ok(acceptsPublicEd25519(withPublicEd25519(offlineSigstoreVerifier)));
 * assert.ok(!acceptsPublicEd25519(offlineSigstoreVerifier));
 * ```
 */
export function withPublicEd25519(lane: SigstoreVerifier): PublicEd25519Lane {
  return {
    sans: (envelope) => lane.sans(envelope),
    verify: (payload, envelope) => lane.verify(payload, envelope),
    publicEd25519: true,
  };
}

/** Whether a configured public lane accepts Ed25519 on public artifacts. */
export function acceptsPublicEd25519(lane: SigstoreVerifier | undefined): boolean {
  return (lane as Partial<PublicEd25519Lane> | undefined)?.publicEd25519 === true;
}
