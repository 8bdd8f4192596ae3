import assert from "node:assert/strict";
import type { Hono } from "hono";
import { fromBase64 } from "../../base/digest.ts";
import { createGguiRoutes } from "../../routes/ggui/mod.ts";
import { scopeKey } from "../../storage/keys.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../../storage/memory.ts";
import {
  BUNDLE_HOST,
  GADGET_SOURCE,
  makeBlueprintManifest,
  makeGadget,
  makeGadgetManifest,
  makeKey,
  publish,
  registerKey,
  tokenMapAuthenticator,
  TOKENS,
} from "../../tests/_ggui_fixtures.ts";
import { makeTestSigstore, TEST_SAN, type TestSigstore } from "../../tests/_sigstore_fixtures.ts";
import { digestBytes, toBase64 } from "../../base/digest.ts";
import { canonicalJson } from "./manifest.ts";
import { offlineSigstoreVerifier, sha384Base64, type SigstoreVerifier } from "./signing.ts";
import {
  acceptsPublicEd25519,
  certificateSans,
  createSigstoreVerifier,
  withPublicEd25519,
} from "./sigstore.ts";

const encoder = new TextEncoder();

/** The parts of a bundle v0.3 the tamper cases edit. */
interface Bundle {
  verificationMaterial: {
    certificate?: unknown;
    tlogEntries: { inclusionPromise: { signedEntryTimestamp: string }; inclusionProof?: unknown }[];
  };
}

let shared: Promise<TestSigstore> | undefined;
function instance(): Promise<TestSigstore> {
  return shared ??= makeTestSigstore();
}

function appWith(sigstore: SigstoreVerifier | undefined): Hono {
  return createGguiRoutes({
    ctx: {
      storage: new MemoryRegistryStorage(),
      bundles: new MemoryBundleStorage(),
      clock: () => new Date(),
    },
    authenticator: tokenMapAuthenticator({ [TOKENS.alice]: "alice" }),
    bundleHost: BUNDLE_HOST,
    registryHostname: "127.0.0.1:9011",
    ...(sigstore ? { sigstore } : {}),
  });
}

async function publicGadgetBody(sig: TestSigstore, source = GADGET_SOURCE) {
  const bytes = encoder.encode(source);
  return {
    manifest: makeGadgetManifest({ visibility: "public" }),
    bundle: toBase64(bytes),
    bundleSha384: sha384Base64(bytes),
    signature: await sig.envelope(bytes),
  };
}

Deno.test("a real sigstore bundle verifies offline against the operator's trusted root", async () => {
  const sig = await instance();
  const verifier = createSigstoreVerifier({ trustedRoot: sig.trustedRoot });
  const payload = encoder.encode("payload bytes");
  const envelope = await sig.envelope(payload);
  const r = await verifier.verify(payload, envelope);
  assert.ok(r.valid, JSON.stringify(r));
  const der = fromBase64(r.leafCertificateDer!)!;
  assert.equal(der[0], 0x30);
  assert.deepEqual(certificateSans(der), [TEST_SAN]);
  assert.deepEqual(verifier.sans(envelope), [TEST_SAN]);
});

Deno.test("a transplanted bundle (valid, but for other bytes) fails verification", async () => {
  const sig = await instance();
  const verifier = createSigstoreVerifier({ trustedRoot: sig.trustedRoot });
  const signed = await sig.envelope(encoder.encode("the bytes that were signed"));
  const other = encoder.encode("other bytes");
  // The SHA-384 fast check passes (recomputed for the new bytes); the
  // signature and the tlog entry do not.
  const r = await verifier.verify(other, { ...signed, bundleSha384: sha384Base64(other) });
  assert.equal(r.valid, false);
  if (!r.valid) assert.match(r.reason, /^sigstore verification failed: /);
  // Without the recomputed hash it fails the fast check first.
  const fast = await verifier.verify(other, signed);
  assert.ok(!fast.valid && /bundle hash mismatch/.test(fast.reason));
});

Deno.test("bundles from an untrusted instance, or tampered ones, fail verification", async () => {
  const trusted = await instance();
  const rogue = await makeTestSigstore();
  const verifier = createSigstoreVerifier({ trustedRoot: trusted.trustedRoot });
  const payload = encoder.encode("x");
  const rogueEnvelope = await rogue.envelope(payload);
  assert.equal((await verifier.verify(payload, rogueEnvelope)).valid, false);

  const bundle = await trusted.signBundle(payload, TEST_SAN);
  const tamper = async (edit: (b: Bundle) => void) => {
    const copy = structuredClone(bundle) as unknown as Bundle;
    edit(copy);
    return await verifier.verify(payload, {
      algorithm: "sigstore-cosign",
      bundleSha384: sha384Base64(payload),
      bundle: JSON.stringify(copy),
      signedAt: new Date().toISOString(),
    });
  };
  // Untouched: valid.
  assert.equal((await tamper(() => {})).valid, true);
  // A forged transparency-log promise.
  assert.equal(
    (await tamper((b) => {
      b.verificationMaterial.tlogEntries[0]!.inclusionPromise.signedEntryTimestamp = toBase64(
        new Uint8Array(70),
      );
      delete b.verificationMaterial.tlogEntries[0]!.inclusionProof;
    })).valid,
    false,
  );
  // No transparency-log entry at all.
  assert.equal((await tamper((b) => (b.verificationMaterial.tlogEntries = []))).valid, false);
  // The certificate of another signing.
  const otherCert = (await trusted.signBundle(payload, TEST_SAN)) as unknown as Bundle;
  assert.equal(
    (await tamper((b) => {
      b.verificationMaterial.certificate = otherCert.verificationMaterial.certificate;
    })).valid,
    false,
  );
  // Not a bundle.
  const junk = await verifier.verify(payload, {
    algorithm: "sigstore-cosign",
    bundleSha384: sha384Base64(payload),
    bundle: "{not json",
    signedAt: "",
  });
  assert.ok(!junk.valid && /not valid JSON/.test(junk.reason));
});

Deno.test("an unreachable TUF mirror fails closed with a reason, and is retried later", async () => {
  const cachePath = await Deno.makeTempDir();
  try {
    const verifier = createSigstoreVerifier({
      tufMirrorURL: "http://127.0.0.1:9/tuf",
      tufCachePath: cachePath,
    });
    const payload = encoder.encode("x");
    const envelope = await (await instance()).envelope(payload);
    for (let i = 0; i < 2; i++) {
      const r = await verifier.verify(payload, envelope);
      assert.ok(!r.valid);
      assert.match(
        r.reason,
        /^sigstore verification failed: could not load the sigstore trusted root/,
      );
    }
  } finally {
    await Deno.remove(cachePath, { recursive: true });
  }
});

Deno.test("public-lane publish of a gadget and a blueprint answers 201 and pins the leaf certificate", async () => {
  const sig = await instance();
  const app = appWith(createSigstoreVerifier({ trustedRoot: sig.trustedRoot }));
  const res = await publish(app, TOKENS.alice, await publicGadgetBody(sig));
  assert.equal(res.status, 201, await res.clone().text());
  const read = await (await app.request("/pkg/acme/map/1.0.0")).json();
  assert.equal(fromBase64(read.authorPublicKey)![0], 0x30);
  assert.equal(read.signatureUrl, `${BUNDLE_HOST}/bundles/public/@acme/map/1.0.0/bundle.js.sig`);

  const manifest = makeBlueprintManifest({ visibility: "public" });
  const payload = encoder.encode(canonicalJson(manifest));
  const bp = await publish(app, TOKENS.alice, { manifest, signature: await sig.envelope(payload) });
  assert.equal(bp.status, 201, await bp.clone().text());
  const bpRead = await (await app.request("/pkg/acme/card/1.0.0")).json();
  assert.match(bpRead.compiledDigest, /^[0-9a-f]{64}$/);
});

Deno.test("public-lane publish with a transplanted signature answers 400 signature_invalid", async () => {
  const sig = await instance();
  const app = appWith(createSigstoreVerifier({ trustedRoot: sig.trustedRoot }));
  const good = await publicGadgetBody(sig);
  const evil = encoder.encode(
    'import React from "react";\nexport function useMap() { return 1; }\n',
  );
  const transplanted = {
    ...good,
    bundle: toBase64(evil),
    bundleSha384: sha384Base64(evil),
    signature: { ...good.signature, bundleSha384: sha384Base64(evil) },
  };
  const res = await publish(app, TOKENS.alice, transplanted);
  assert.equal(res.status, 400);
  const body = await res.json();
  assert.equal(body.error, "signature_invalid");
  assert.match(body.message, /^sigstore verification failed: /);
  assert.equal((await app.request("/pkg/acme/map/1.0.0")).status, 404);
});

Deno.test("without trust material the public lane refuses, as the original does offline", async () => {
  const sig = await instance();
  const res = await publish(appWith(undefined), TOKENS.alice, await publicGadgetBody(sig));
  assert.equal(res.status, 400);
  assert.equal((await res.json()).error, "signature_invalid");
});

Deno.test("Ed25519 on a public artifact is refused unless the operator accepts it explicitly", async () => {
  const key = await makeKey();
  const body = await makeGadget(key, { manifest: { visibility: "public" } });
  const strict = appWith(undefined);
  await registerKey(strict, TOKENS.alice, key);
  const refused = await publish(strict, TOKENS.alice, body);
  assert.equal(refused.status, 400);
  assert.equal((await refused.json()).error, "visibility_algorithm_mismatch");

  assert.equal(acceptsPublicEd25519(offlineSigstoreVerifier), false);
  const lenient = appWith(withPublicEd25519(offlineSigstoreVerifier));
  await registerKey(lenient, TOKENS.alice, key);
  // Still a real Ed25519 verification: a signature over other bytes fails.
  const wrong = {
    ...body,
    signature: (await makeGadget(key, { source: "export const x=1;" })).signature,
  };
  const bad = await publish(lenient, TOKENS.alice, wrong);
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error, "signature_invalid");
  const ok = await publish(lenient, TOKENS.alice, body);
  assert.equal(ok.status, 201, await ok.clone().text());
  const read = await (await lenient.request("/pkg/acme/map/1.0.0")).json();
  assert.equal(read.authorPublicKey, key.publicKeyBase64);
  assert.equal(
    read.bundleSri,
    `sha384-${toBase64(digestBytes("sha384", encoder.encode(GADGET_SOURCE)))}`,
  );
  // Private + sigstore stays refused.
  const sig = await instance();
  const priv = await publicGadgetBody(sig);
  priv.manifest = makeGadgetManifest({ visibility: "private", version: "1.0.1" });
  const mismatch = await publish(lenient, TOKENS.alice, priv);
  assert.equal((await mismatch.json()).error, "visibility_algorithm_mismatch");
});

Deno.test("the scope identity rule reads the SANs of the real leaf certificate", async () => {
  const sig = await instance();
  const storage = new MemoryRegistryStorage();
  const app = createGguiRoutes({
    ctx: { storage, bundles: new MemoryBundleStorage(), clock: () => new Date() },
    authenticator: tokenMapAuthenticator({ [TOKENS.alice]: "alice" }),
    bundleHost: BUNDLE_HOST,
    registryHostname: "127.0.0.1:9011",
    sigstore: createSigstoreVerifier({ trustedRoot: sig.trustedRoot }),
  });
  const owner = {
    scope: "@acme",
    ownerSubject: "alice",
    claimedAt: new Date().toISOString(),
    verification: "unverified",
    sanAllowlist: [TEST_SAN.toUpperCase()],
  };
  assert.ok(
    (await storage.commit({
      checks: [],
      mutations: [{ type: "set", key: scopeKey("@acme"), value: owner }],
    })).ok,
  );
  // Allowlisted identity (compared case-insensitively): 201.
  assert.equal((await publish(app, TOKENS.alice, await publicGadgetBody(sig))).status, 201);
  // Another identity: 403 identity_mismatch, without echoing the allowlist.
  const bytes = encoder.encode(GADGET_SOURCE);
  const other = {
    manifest: makeGadgetManifest({ visibility: "public", version: "1.0.1" }),
    bundle: toBase64(bytes),
    bundleSha384: sha384Base64(bytes),
    signature: await sig.envelope(
      bytes,
      "https://github.com/mallory/x/.github/workflows/a.yml@refs/heads/main",
    ),
  };
  const res = await publish(app, TOKENS.alice, other);
  assert.equal(res.status, 403);
  const body = await res.json();
  assert.equal(body.error, "identity_mismatch");
  assert.match(body.message, /mallory/);
  assert.doesNotMatch(body.message, /ACME\/MAP/);
});
