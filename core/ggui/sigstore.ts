/**
 * The ggui public lane: sigstore keyless verification (spec §6.4) with the
 * sigstore-js 4.x verifier (`@sigstore/verify` + `@sigstore/bundle`), against
 * trust material the operator chooses:
 *
 * - a `trusted_root.json` document (air-gapped sites: copy it from a trusted
 *   machine, or run your own Fulcio/Rekor/CT log and write your own), or
 * - a TUF mirror URL (`@sigstore/tuf`, as `sigstore.verify` does; the public
 *   good instance is `https://tuf-repo-cdn.sigstore.dev`), fetched on first
 *   use and refreshed by TUF's own expiry rules.
 *
 * Verification is the full one: Fulcio certificate chain to a trusted CA, at
 * least one SCT from a trusted CT log, at least one Rekor entry (inclusion
 * promise or proof, signed by a trusted log), a verified timestamp inside the
 * certificate's validity, and the message signature over the payload.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import nodeCrypto, { X509Certificate } from "node:crypto";
import { bundleFromJSON } from "@sigstore/bundle";
import { TrustedRoot } from "@sigstore/protobuf-specs";
import { getTrustedRoot } from "@sigstore/tuf";
import { toSignedEntity, toTrustMaterial, type TrustMaterial, Verifier } from "@sigstore/verify";
export { acceptsPublicEd25519, type PublicEd25519Lane, withPublicEd25519 } from "./public_lane.ts";
import {
  sha384Base64,
  type SigstoreEnvelope,
  type SigstoreVerified,
  type SigstoreVerifier,
} from "./signing.ts";

/** Where the sigstore trust material comes from. */
export type SigstoreTrust =
  | {
    /** A parsed `trusted_root.json` (sigstore TrustedRoot, protobuf JSON form). */
    trustedRoot: unknown;
  }
  | {
    /** TUF mirror to fetch the trusted root from. */
    tufMirrorURL: string;
    /** Where TUF caches metadata (default: the library's). */
    tufCachePath?: string;
    /** A TUF `root.json` to start from (default: the one bundled for the mirror). */
    tufRootPath?: string;
    /** Use the cached metadata without refreshing. */
    tufForceCache?: boolean;
  };

const PATCHED = Symbol.for("x-registry.verifyDefaultDigest");

/**
 * sigstore-js verifies ECDSA signatures with `crypto.verify(undefined, …)`,
 * relying on Node's default digest (SHA-256 for EC and RSA keys). Deno's
 * `node:crypto` throws "no default digest" there instead, so every bundle
 * would fail. Give `verify` Node's default for those key types only; every
 * call that names an algorithm, and Ed25519/Ed448, is untouched.
 */
function installNodeDefaultDigest(): void {
  const original = nodeCrypto.verify as typeof nodeCrypto.verify & { [PATCHED]?: true };
  if (original[PATCHED]) return;
  const patched = function (
    this: unknown,
    algorithm: string | null | undefined,
    ...rest: unknown[]
  ) {
    if (algorithm === null || algorithm === undefined) {
      const key = rest[1];
      let type: string | undefined;
      try {
        type = (key instanceof nodeCrypto.KeyObject
          ? key
          : nodeCrypto.createPublicKey(key as Parameters<typeof nodeCrypto.createPublicKey>[0]))
          .asymmetricKeyType;
      } catch {
        type = undefined;
      }
      if (type === "ec" || type === "rsa") algorithm = "sha256";
    }
    return (original as (...args: unknown[]) => unknown).call(this, algorithm, ...rest);
  } as unknown as typeof nodeCrypto.verify & { [PATCHED]?: true };
  patched[PATCHED] = true;
  nodeCrypto.verify = patched;
}

function leafCertificate(bundleJson: unknown): Uint8Array | undefined {
  const vm = (bundleJson as {
    verificationMaterial?: {
      certificate?: { rawBytes?: unknown };
      x509CertificateChain?: { certificates?: { rawBytes?: unknown }[] };
    };
  })?.verificationMaterial;
  const raw = vm?.certificate?.rawBytes ?? vm?.x509CertificateChain?.certificates?.[0]?.rawBytes;
  if (typeof raw !== "string") return undefined;
  const bytes = Buffer.from(raw, "base64");
  return bytes.byteLength > 0 ? new Uint8Array(bytes) : undefined;
}

/**
 * The SANs of a DER certificate: URI SANs, then email SANs (the original's
 * order). Empty when it cannot be parsed.
 *
 * @example
 * ```ts ignore
 * certificateSans(der); // ["https://github.com/acme/…", "alice@example.com"]
 * ```
 */
export function certificateSans(der: Uint8Array): string[] {
  let text: string | undefined;
  try {
    text = new X509Certificate(der).subjectAltName;
  } catch {
    return [];
  }
  if (!text) return [];
  const uris: string[] = [];
  const emails: string[] = [];
  // "URI:https://…, email:a@b" (values containing ", " are quoted by OpenSSL/Node).
  for (const part of text.split(/, (?=[A-Za-z ]+:)/)) {
    const i = part.indexOf(":");
    const type = part.slice(0, i);
    let value = part.slice(i + 1);
    if (value.startsWith('"') && value.endsWith('"')) value = JSON.parse(value);
    if (type === "URI") uris.push(value);
    else if (type === "email") emails.push(value);
  }
  return [...uris, ...emails];
}

function fail(reason: string): { valid: false; reason: string } {
  return { valid: false, reason: `sigstore verification failed: ${reason}` };
}

/**
 * Build the public-lane verifier. Trust material is loaded once, lazily (a
 * TUF fetch failure is retried on the next publish, and answered meanwhile
 * with 400 `signature_invalid`, as the original does offline).
 *
 * @example
 * ```ts ignore
 * const trustedRoot = JSON.parse(await Deno.readTextFile("trusted_root.json"));
 * const sigstore = createSigstoreVerifier({ trustedRoot });
 * createRegistryApp({ ...options, sigstore });
 * ```
 */
export function createSigstoreVerifier(trust: SigstoreTrust): SigstoreVerifier {
  installNodeDefaultDigest();
  let material: Promise<TrustMaterial> | undefined;
  const load = (): Promise<TrustMaterial> =>
    material ??= (async () => {
      const root = "trustedRoot" in trust
        ? TrustedRoot.fromJSON(trust.trustedRoot)
        : await getTrustedRoot({
          mirrorURL: trust.tufMirrorURL,
          ...(trust.tufCachePath === undefined ? {} : { cachePath: trust.tufCachePath }),
          ...(trust.tufRootPath === undefined ? {} : { rootPath: trust.tufRootPath }),
          ...(trust.tufForceCache === undefined ? {} : { forceCache: trust.tufForceCache }),
        });
      return toTrustMaterial(root);
    })().catch((err) => {
      material = undefined;
      throw err;
    });

  return {
    sans(envelope: SigstoreEnvelope): string[] {
      try {
        const der = leafCertificate(JSON.parse(envelope.bundle));
        return der ? certificateSans(der) : [];
      } catch {
        return [];
      }
    },
    async verify(
      payload: Uint8Array,
      envelope: SigstoreEnvelope,
    ): Promise<SigstoreVerified | { valid: false; reason: string }> {
      if (sha384Base64(payload) !== envelope.bundleSha384) {
        return fail("bundle hash mismatch (bundleBytes tampered or wrong bundle)");
      }
      let json: unknown;
      try {
        json = JSON.parse(envelope.bundle);
      } catch {
        return fail("`bundle` is not valid JSON");
      }
      let trustMaterial: TrustMaterial;
      try {
        trustMaterial = await load();
      } catch (err) {
        return fail(`could not load the sigstore trusted root: ${message(err)}`);
      }
      try {
        const bundle = bundleFromJSON(json);
        if (bundle.content.$case !== "messageSignature") {
          return fail("expected a message-signature bundle, got a DSSE envelope");
        }
        const verifier = new Verifier(trustMaterial);
        verifier.verify(toSignedEntity(bundle, Buffer.from(payload)));
      } catch (err) {
        return fail(message(err));
      }
      const der = leafCertificate(json);
      return der === undefined
        ? { valid: true }
        : { valid: true, leafCertificateDer: Buffer.from(der).toString("base64") };
    },
  };
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
