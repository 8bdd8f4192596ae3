// A private sigstore instance for tests, built in process with the npm
// `@sigstore/mock` family: a Fulcio-style CA that embeds SCTs from its own CT
// log, and a Rekor-style transparency log that answers signed entry
// timestamps and inclusion proofs with checkpoints. Bundles it makes are real
// sigstore bundles v0.3 (certificate + tlog entry + message signature) that
// the real verifier checks against the trusted root made here; nothing is
// reached over the network.
import { Buffer } from "node:buffer";
import { createHash, generateKeyPairSync, sign } from "node:crypto";
import { initializeCA, initializeCTLog, initializeTLog } from "@sigstore/mock";
import { sha384Base64, type SigstoreEnvelope } from "../core/ggui/signing.ts";

type KeyPair = ReturnType<typeof ecKeyPair>;

function ecKeyPair() {
  return generateKeyPairSync("ec", { namedCurve: "prime256v1" });
}

function spkiDer(pair: KeyPair): Buffer {
  return pair.publicKey.export({ format: "der", type: "spki" });
}

/** A test sigstore instance: its trusted root and a signer. */
export interface TestSigstore {
  /** The `trusted_root.json` document of this instance. */
  trustedRoot: Record<string, unknown>;
  /** Sign bytes keylessly as `san`: a sigstore bundle v0.3 (JSON). */
  signBundle(payload: Uint8Array, san: string): Promise<Record<string, unknown>>;
  /** The ggui envelope for `payload` signed as `san`. */
  envelope(payload: Uint8Array, san?: string): Promise<SigstoreEnvelope>;
}

/** Default identity of {@linkcode TestSigstore.envelope}. */
export const TEST_SAN = "https://github.com/acme/map/.github/workflows/release.yml@refs/heads/main";

/** Start a private sigstore (keys are fresh per instance). */
export async function makeTestSigstore(): Promise<TestSigstore> {
  const caKeys = ecKeyPair();
  const ctKeys = ecKeyPair();
  const tlogKeys = ecKeyPair();
  // Backdate so the validity windows hold "now".
  const start = new Date(Date.now() - 60 * 60 * 1000).toISOString();
  const ctlog = await initializeCTLog(caKeysFor(ctKeys));
  const ca = await initializeCA(caKeysFor(caKeys), ctlog);
  const tlog = await initializeTLog("https://rekor.test.invalid", caKeysFor(tlogKeys));
  const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
  const tlogSpki = spkiDer(tlogKeys);
  const trustedRoot = {
    mediaType: "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
    tlogs: [{
      baseUrl: "https://rekor.test.invalid",
      hashAlgorithm: "SHA2_256",
      publicKey: {
        rawBytes: b64(tlogSpki),
        keyDetails: "PKIX_ECDSA_P256_SHA_256",
        validFor: { start },
      },
      logId: { keyId: b64(createHash("sha256").update(tlogSpki).digest()) },
    }],
    certificateAuthorities: [{
      subject: { organization: "sigstore.test", commonName: "sigstore" },
      uri: "https://fulcio.test.invalid",
      certChain: { certificates: [{ rawBytes: b64(new Uint8Array(ca.rootCertificate.buffer)) }] },
      validFor: { start },
    }],
    ctlogs: [{
      baseUrl: "https://ctfe.test.invalid",
      hashAlgorithm: "SHA2_256",
      publicKey: {
        rawBytes: b64(spkiDer(ctKeys)),
        keyDetails: "PKIX_ECDSA_P256_SHA_256",
        validFor: { start },
      },
      logId: { keyId: b64(new Uint8Array(ctlog.logID.buffer)) },
    }],
    timestampAuthorities: [],
  };

  async function signBundle(payload: Uint8Array, san: string): Promise<Record<string, unknown>> {
    const ephemeral = ecKeyPair();
    const cert = new Uint8Array(
      (await ca.issueCertificate({
        publicKey: new Uint8Array(spkiDer(ephemeral)),
        subjectAltName: san,
      })).buffer,
    );
    const signature = sign("sha256", payload, ephemeral.privateKey);
    const certPem = `-----BEGIN CERTIFICATE-----\n${
      b64(cert).match(/.{1,64}/g)!.join("\n")
    }\n-----END CERTIFICATE-----\n`;
    const digestHex = createHash("sha256").update(payload).digest("hex");
    const logged = await tlog.log({
      apiVersion: "0.0.1",
      kind: "hashedrekord",
      spec: {
        data: { hash: { algorithm: "sha256", value: digestHex } },
        signature: {
          content: signature.toString("base64"),
          publicKey: { content: Buffer.from(certPem).toString("base64") },
        },
      },
    });
    const entry = Object.values(logged)[0] as unknown as {
      body: string;
      integratedTime: number;
      logID: string;
      logIndex: number;
      verification: {
        signedEntryTimestamp: string;
        inclusionProof: {
          logIndex: number;
          treeSize: number;
          rootHash: string;
          hashes: string[];
          checkpoint: string;
        };
      };
    };
    const proof = entry.verification.inclusionProof;
    return {
      mediaType: "application/vnd.dev.sigstore.bundle.v0.3+json",
      verificationMaterial: {
        certificate: { rawBytes: b64(cert) },
        tlogEntries: [{
          logIndex: String(entry.logIndex),
          logId: { keyId: Buffer.from(entry.logID, "hex").toString("base64") },
          kindVersion: { kind: "hashedrekord", version: "0.0.1" },
          integratedTime: String(entry.integratedTime),
          inclusionPromise: { signedEntryTimestamp: entry.verification.signedEntryTimestamp },
          inclusionProof: {
            logIndex: String(proof.logIndex),
            rootHash: Buffer.from(proof.rootHash, "hex").toString("base64"),
            treeSize: String(proof.treeSize),
            hashes: proof.hashes,
            checkpoint: { envelope: proof.checkpoint },
          },
          canonicalizedBody: entry.body,
        }],
        timestampVerificationData: { rfc3161Timestamps: [] },
      },
      messageSignature: {
        messageDigest: {
          algorithm: "SHA2_256",
          digest: createHash("sha256").update(payload).digest("base64"),
        },
        signature: signature.toString("base64"),
      },
    };
  }

  return {
    trustedRoot,
    signBundle,
    async envelope(payload, san = TEST_SAN) {
      return {
        algorithm: "sigstore-cosign",
        bundleSha384: sha384Base64(payload),
        bundle: JSON.stringify(await signBundle(payload, san)),
        signedAt: new Date().toISOString(),
      };
    },
  };
}

// The mock's key type is node's KeyObject pair (`generateKeyPairSync` gives one).
function caKeysFor(pair: KeyPair): Parameters<typeof initializeCA>[0] {
  return pair as unknown as Parameters<typeof initializeCA>[0];
}
