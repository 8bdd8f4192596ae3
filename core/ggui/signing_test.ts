import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { digestBytes, toBase64 } from "../../base/digest.ts";
import {
  isSignatureEnvelope,
  keyIdOf,
  offlineSigstoreVerifier,
  sha384Base64,
  verifyEd25519,
} from "./signing.ts";
import { makeKey, signEd25519 } from "../../tests/_ggui_fixtures.ts";

Deno.test("keyIdOf() is the first 16 chars of unpadded base64url SHA-256 of the key", () => {
  const raw = Uint8Array.from({ length: 32 }, (_, i) => i);
  const expected = createHash("sha256").update(raw).digest("base64url").slice(0, 16);
  assert.equal(keyIdOf(raw), expected);
  assert.match(keyIdOf(new Uint8Array(32).fill(255)), /^[A-Za-z0-9_-]{16}$/);
  assert.throws(() => keyIdOf(new Uint8Array(31)), RangeError);
});

Deno.test("verifyEd25519() accepts a signature over the 48-byte SHA-384 digest", async () => {
  const key = await makeKey();
  const payload = new TextEncoder().encode("export default 1;\n");
  const envelope = await signEd25519(payload, key);
  assert.equal(envelope.bundleSha384, toBase64(digestBytes("sha384", payload)));
  assert.deepEqual(await verifyEd25519(payload, { envelope, publicKey: key.publicKeyRaw }), {
    valid: true,
  });
});

Deno.test("verifyEd25519() refuses a signature over the raw payload instead of its digest", async () => {
  const key = await makeKey();
  const payload = new TextEncoder().encode("export default 1;\n");
  const overPayload = new Uint8Array(
    await crypto.subtle.sign({ name: "Ed25519" }, key.privateKey, payload),
  );
  const envelope = { ...(await signEd25519(payload, key)), signature: toBase64(overPayload) };
  assert.deepEqual(await verifyEd25519(payload, { envelope, publicKey: key.publicKeyRaw }), {
    valid: false,
    reason: "Ed25519 signature does not verify",
  });
});

Deno.test("verifyEd25519() checks the hash, then the key id, then the signature", async () => {
  const key = await makeKey();
  const other = await makeKey();
  const payload = new TextEncoder().encode("a");
  const envelope = await signEd25519(payload, key);
  assert.equal(
    (await verifyEd25519(new TextEncoder().encode("b"), { envelope, publicKey: key.publicKeyRaw }))
      .valid,
    false,
  );
  const wrongKey = await verifyEd25519(payload, { envelope, publicKey: other.publicKeyRaw });
  assert.deepEqual(wrongKey, {
    valid: false,
    reason:
      `publicKeyId mismatch: signature claims '${key.keyId}', provided key derives '${other.keyId}'`,
  });
  const short = await verifyEd25519(payload, { envelope, publicKey: new Uint8Array(16) });
  assert.deepEqual(short, { valid: false, reason: "expected 32-byte Ed25519 public key, got 16" });
  for (const signature of ["", "AAAA", "!!!!", toBase64(new Uint8Array(64))]) {
    const r = await verifyEd25519(payload, {
      envelope: { ...envelope, signature },
      publicKey: key.publicKeyRaw,
    });
    assert.equal(r.valid, false, signature);
  }
});

Deno.test("isSignatureEnvelope() checks the two envelope shapes structurally", () => {
  const ed = {
    algorithm: "ed25519",
    bundleSha384: "x",
    signature: "s",
    publicKeyId: "k",
    signedAt: "t",
  };
  assert.equal(isSignatureEnvelope(ed), true);
  assert.equal(isSignatureEnvelope({ ...ed, extra: 1 }), true);
  assert.equal(isSignatureEnvelope({ ...ed, signedAt: 1 }), false);
  assert.equal(isSignatureEnvelope({ ...ed, publicKeyId: undefined }), false);
  assert.equal(
    isSignatureEnvelope({
      algorithm: "sigstore-cosign",
      bundleSha384: "x",
      bundle: "{}",
      signedAt: "t",
    }),
    true,
  );
  assert.equal(
    isSignatureEnvelope({ algorithm: "sigstore-cosign", bundleSha384: "x", signedAt: "t" }),
    false,
  );
  for (const v of [null, [], "x", 1, { algorithm: "rsa" }]) {
    assert.equal(isSignatureEnvelope(v), false);
  }
});

Deno.test("offlineSigstoreVerifier refuses every envelope and reads no SANs", async () => {
  const payload = new Uint8Array([1, 2, 3]);
  const envelope = {
    algorithm: "sigstore-cosign",
    bundleSha384: sha384Base64(payload),
    bundle: "{}",
    signedAt: "t",
  } as const;
  assert.deepEqual(offlineSigstoreVerifier.sans(envelope), []);
  const r = await offlineSigstoreVerifier.verify(payload, envelope);
  assert.equal(r.valid, false);
  assert.match(r.valid ? "" : r.reason, /^sigstore verification failed: /);
});
