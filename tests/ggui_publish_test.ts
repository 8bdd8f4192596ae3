import assert from "node:assert/strict";
import { digestBytes, toBase64 } from "../base/digest.ts";
import { publishArtifact } from "../core/ggui/publish.ts";
import type { ScopeRow } from "../core/rows.ts";
import { scopeKey } from "../storage/keys.ts";
import type { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import {
  bearer,
  GADGET_SOURCE,
  makeBlueprint,
  makeGadget,
  makeGadgetManifest,
  makeGguiApp,
  makeKey,
  makePublicBlueprint,
  makePublicGadget,
  publish,
  registerKey,
  rowKeys,
  signEd25519,
  TOKENS,
} from "./_ggui_fixtures.ts";

async function blobCount(bundles: MemoryBundleStorage): Promise<number> {
  return (await bundles.list({ limit: 1000 })).items.length;
}

/** Run `fn` and assert it wrote no row and no blob (refused attempts may add refused audit records). */
async function writesNothing(
  storage: MemoryRegistryStorage,
  bundles: MemoryBundleStorage,
  fn: () => Promise<void>,
): Promise<void> {
  const isAudit = (k: string) => k.startsWith('["audit",');
  const before = await rowKeys(storage);
  const blobs = await blobCount(bundles);
  await fn();
  const after = await rowKeys(storage);
  assert.deepEqual(after.filter((k) => !isAudit(k)), before.filter((k) => !isAudit(k)));
  for (const k of after.filter((k) => isAudit(k) && !before.includes(k))) {
    const row = await storage.get<{ outcome: string }>(JSON.parse(k));
    assert.equal(row?.value.outcome, "refused");
  }
  assert.equal(await blobCount(bundles), blobs);
}

async function setup() {
  const env = makeGguiApp();
  const key = await makeKey();
  assert.equal((await registerKey(env.app, TOKENS.alice, key)).status, 201);
  return { ...env, key };
}

async function expectError(
  res: Response,
  status: number,
  code: string,
  message?: string | RegExp,
): Promise<Record<string, unknown>> {
  const body = await res.json();
  assert.equal(res.status, status, JSON.stringify(body));
  assert.equal(res.headers.get("content-type"), "application/json");
  assert.equal(body.error, code);
  assert.equal(body.code, code);
  if (typeof message === "string") assert.equal(body.message, message);
  else if (message) assert.match(body.message, message);
  return body;
}

const UNAUTHORIZED =
  "a valid bearer credential is required in the Authorization header — missing or invalid token";

Deno.test("publish() accepts a signed private gadget and answers the 201 body", async () => {
  const { app, key } = await setup();
  const res = await publish(app, TOKENS.alice, await makeGadget(key));
  assert.equal(res.status, 201);
  assert.equal(res.headers.get("access-control-allow-origin"), null);
  assert.deepEqual(await res.json(), {
    artifactId: "@acme/map",
    version: "1.0.0",
    manifestUrl: "http://127.0.0.1:9011/bundles/private/@acme/map/1.0.0/manifest.json",
    bundleUrl: "http://127.0.0.1:9011/bundles/private/@acme/map/1.0.0/bundle.js",
    signatureUrl: "http://127.0.0.1:9011/bundles/private/@acme/map/1.0.0/bundle.js.sig",
    installCommand: "ggui gadget install @acme/map@1.0.0 --registry=http://127.0.0.1:9011",
  });
});

Deno.test("publish() accepts a signed private blueprint without bundle or signature URLs", async () => {
  const { app, key } = await setup();
  const res = await publish(app, TOKENS.alice, await makeBlueprint(key));
  assert.equal(res.status, 201);
  const body = await res.json();
  assert.equal(body.bundleUrl, undefined);
  assert.equal(body.signatureUrl, undefined);
  assert.equal(
    body.installCommand,
    "ggui blueprint install @acme/card@1.0.0 --registry=http://127.0.0.1:9011",
  );
  const read = await app.request("/pkg/acme/card/1.0.0", { headers: bearer(TOKENS.alice) });
  assert.equal(read.status, 200);
  const rb = await read.json();
  assert.equal(rb.bundleUrl, undefined);
  assert.equal(rb.signatureUrl, undefined);
  assert.equal(rb.manifest.source, "export default function Card() { return null; }\n");
  const sig = await app.request("/bundles/private/@acme/card/1.0.0/bundle.js.sig", {
    headers: bearer(TOKENS.alice),
  });
  assert.equal(sig.status, 404);
  assert.equal((await sig.json()).message, "signature not found");
  // The kept envelope is never served.
  const kept = await app.request("/bundles/private/@acme/card/1.0.0/manifest.sig", {
    headers: bearer(TOKENS.alice),
  });
  assert.equal(kept.status, 404);
  assert.equal(await kept.text(), "404 Not Found");
});

Deno.test("publish() rejects a missing, malformed or wrong bearer with the shared 401 and writes nothing", async () => {
  const { app, key, storage, bundles } = await setup();
  const body = JSON.stringify(await makeGadget(key));
  for (
    const authorization of [
      undefined,
      "",
      "Bearer ",
      "bearer token-alice",
      "Bearer  token-alice",
      "Basic dG9rZW4tYWxpY2U=",
      "Bearer token-alicf",
      "token-alice",
    ]
  ) {
    await writesNothing(storage, bundles, async () => {
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (authorization !== undefined) headers.authorization = authorization;
      const res = await app.request("/publish", { method: "POST", headers, body });
      await expectError(res, 401, "unauthorized", UNAUTHORIZED);
    });
  }
});

Deno.test("publish() answers malformed JSON and JSON null with 400 manifest_invalid", async () => {
  const { app, storage, bundles } = await setup();
  await writesNothing(storage, bundles, async () => {
    await expectError(
      await publish(app, TOKENS.alice, "{not json"),
      400,
      "manifest_invalid",
      "request body is not valid JSON",
    );
    for (const text of ["null", "[]", "42", '"x"', "true"]) {
      await expectError(
        await publish(app, TOKENS.alice, text),
        400,
        "manifest_invalid",
        "request body must be a JSON object",
      );
    }
  });
});

Deno.test("publish() runs its gates in the spec's order", async () => {
  const { app, key, storage, bundles } = await setup();
  const good = await makeGadget(key);
  // Every later gate is also broken; the first broken gate must win.
  const broken = (from: number): Record<string, unknown> => {
    const body: Record<string, unknown> = structuredClone(good);
    if (from <= 4) body.signature = { algorithm: "ed25519" };
    if (from <= 5) body.manifest = { ...(body.manifest as object), name: "Bad_Name" };
    if (from <= 6) body.manifest = { ...(body.manifest as object), visibility: "public" };
    if (from <= 8) body.bundle = "";
    return body;
  };
  await writesNothing(storage, bundles, async () => {
    await expectError(await publish(app, TOKENS.alice, broken(4)), 400, "signature_invalid");
    await expectError(await publish(app, TOKENS.alice, broken(5)), 400, "manifest_invalid");
    // Name fixed, visibility still public with an ed25519 signature:
    const six = broken(6);
    six.manifest = { ...(six.manifest as object), name: "map" };
    six.signature = good.signature;
    await expectError(
      await publish(app, TOKENS.alice, six),
      400,
      "visibility_algorithm_mismatch",
      /requires a sigstore keyless signature/,
    );
  });
  // Scope gate (7) beats the bundle gate (8): once alice owns @acme, bob's
  // publish with a broken bundle is refused for the scope.
  assert.equal((await publish(app, TOKENS.alice, good)).status, 201);
  const bobKey = await makeKey();
  await registerKey(app, TOKENS.bob, bobKey);
  const bobBody = await makeGadget(bobKey, { manifest: { version: "2.0.0" } });
  bobBody.bundle = "";
  await writesNothing(storage, bundles, async () => {
    await expectError(
      await publish(app, TOKENS.bob, bobBody),
      403,
      "scope_forbidden",
      /is owned by another publisher/,
    );
  });
  // Bundle gate (8) beats conformance (9) and signature verification (11).
  const eight = await makeGadget(key, { manifest: { version: "3.0.0" } });
  eight.bundle = "***";
  eight.signature = { ...(eight.signature as object), publicKeyId: "unknownkey000000" };
  await writesNothing(storage, bundles, async () => {
    await expectError(
      await publish(app, TOKENS.alice, eight),
      400,
      "manifest_invalid",
      "`bundle` field is not valid base64",
    );
  });
});

Deno.test("publish() reports a manifest schema failure with the first issue and all issues", async () => {
  const { app, key, storage, bundles } = await setup();
  const body = await makeGadget(key, {
    manifest: { version: "1.0", extra: true, description: "" },
  });
  await writesNothing(storage, bundles, async () => {
    const err = await expectError(await publish(app, TOKENS.alice, body), 400, "manifest_invalid");
    const detail = err.detail as { path: unknown[]; issues: { path: unknown[]; code: string }[] };
    assert.deepEqual(detail.path, ["version"]);
    assert.equal(
      err.message,
      "version must be valid semver (MAJOR.MINOR.PATCH with optional `-pre` / `+build`).",
    );
    assert.ok(detail.issues.some((i) => i.code === "unrecognized_keys"));
    assert.ok(detail.issues.some((i) => i.path[0] === "description"));
  });
});

Deno.test("publish() rejects bad semver, bad names and traversal in manifest fields", async () => {
  const { app, key, storage, bundles } = await setup();
  for (
    const manifest of [
      { version: "v1.0.0" },
      { version: "01.0.0" },
      { version: "1.0.0-" },
      // Valid grammar the registry cannot order: too long, or a number past 2^53 - 1.
      { version: "1.0.0-" + "a".repeat(300) },
      { version: "9007199254740993.0.0" },
      { name: "../etc" },
      { name: "a/b" },
      { scope: "acme" },
      { scope: "@../x" },
      { kind: "widget" },
    ]
  ) {
    await writesNothing(storage, bundles, async () => {
      await expectError(
        await publish(app, TOKENS.alice, await makeGadget(key, { manifest })),
        400,
        "manifest_invalid",
      );
    });
  }
});

Deno.test("publish() rejects wrong field types in the body", async () => {
  const { app, key, storage, bundles } = await setup();
  const good = await makeGadget(key);
  await writesNothing(storage, bundles, async () => {
    await expectError(
      await publish(app, TOKENS.alice, { ...good, signature: "sig" }),
      400,
      "signature_invalid",
      "request body is missing or malformed `signature` (expected Ed25519Signature or SigstoreSignature shape)",
    );
    await expectError(
      await publish(app, TOKENS.alice, {
        ...good,
        signature: { ...(good.signature as object), signature: 42 },
      }),
      400,
      "signature_invalid",
    );
    await expectError(
      await publish(app, TOKENS.alice, { ...good, manifest: "x" }),
      400,
      "manifest_invalid",
    );
    await expectError(
      await publish(app, TOKENS.alice, { ...good, bundle: 42 }),
      400,
      "manifest_invalid",
      "`bundle` field is not valid base64",
    );
    const mismatch = await expectError(
      await publish(app, TOKENS.alice, { ...good, bundleSha384: 42 }),
      400,
      "bundle_hash_mismatch",
    );
    assert.deepEqual((mismatch.detail as { received: unknown }).received, 42);
  });
});

Deno.test("publish() checks the gadget bundle: required, base64, size and hash", async () => {
  const { app, key, storage, bundles } = await setup();
  const good = await makeGadget(key);
  await writesNothing(storage, bundles, async () => {
    const { bundle: _b, ...noBundle } = good;
    await expectError(
      await publish(app, TOKENS.alice, noBundle),
      400,
      "bundle_required",
      /requires a base64-encoded `bundle` field/,
    );
    for (const bad of ["abc$", "YWJj-_", "Y", "YWJj=YWJj"]) {
      await expectError(
        await publish(app, TOKENS.alice, { ...good, bundle: bad }),
        400,
        "manifest_invalid",
        "`bundle` field is not valid base64",
      );
    }
    const { bundleSha384: _h, ...noHash } = good;
    await expectError(
      await publish(app, TOKENS.alice, noHash),
      400,
      "bundle_hash_mismatch",
      "gadget publish requires `bundleSha384` (base64 SHA-384 digest of the decoded bundle bytes)",
    );
    const wrong = toBase64(digestBytes("sha384", new TextEncoder().encode("other")));
    const err = await expectError(
      await publish(app, TOKENS.alice, { ...good, bundleSha384: wrong }),
      400,
      "bundle_hash_mismatch",
    );
    assert.deepEqual(err.detail, { expected: good.bundleSha384, received: wrong });
  });
  // Missing padding is accepted (the original's base64 rule).
  const unpadded = await makeGadget(key, {
    manifest: { version: "1.0.1" },
    source: "export function useMap() {}\n//x",
  });
  unpadded.bundle = (unpadded.bundle as string).replace(/=+$/, "");
  assert.notEqual(unpadded.bundle, (await makeGadget(key)).bundle);
  assert.equal((await publish(app, TOKENS.alice, unpadded)).status, 201);
});

Deno.test("publish() answers 413 for a bundle of 5 MiB + 1 and accepts exactly 5 MiB", async () => {
  const { app, key, storage, bundles } = await setup();
  const tooBig = new Uint8Array(5 * 1024 * 1024 + 1).fill(0x20);
  await writesNothing(storage, bundles, async () => {
    await expectError(
      await publish(app, TOKENS.alice, await makeGadget(key, { source: tooBig })),
      413,
      "bundle_too_large",
      "bundle is 5242881 bytes; maximum is 5242880 bytes (5 MiB)",
    );
  });
  const exact = new Uint8Array(5 * 1024 * 1024).fill(0x20);
  exact.set(new TextEncoder().encode("export function useMap() {}\n"));
  const res = await publish(app, TOKENS.alice, await makeGadget(key, { source: exact }));
  assert.equal(res.status, 201);
});

Deno.test("publish() refuses a manifest that cannot project to a catalog row", async () => {
  const { app, key, storage, bundles } = await setup();
  await writesNothing(storage, bundles, async () => {
    const err = await expectError(
      await publish(
        app,
        TOKENS.alice,
        await makeGadget(key, { manifest: { connect: ["tiles.example.com"] } }),
      ),
      400,
      "manifest_invalid",
      /projects to an invalid gadget catalog row at `connect.0`/,
    );
    assert.equal((err.detail as { path: string }).path, "connect.0");
    await expectError(
      await publish(
        app,
        TOKENS.alice,
        await makeGadget(key, { manifest: { version: "1.0.0-rc-1" } }),
      ),
      400,
      "manifest_invalid",
      /at `version`/,
    );
  });
});

Deno.test("publish() answers conformance_failed with the first code hoisted", async () => {
  const { app, key, storage, bundles } = await setup();
  const body = await makeBlueprint(key, {
    manifest: {
      fixtureProps: { title: "x" },
      contract: {
        propsSpec: {
          properties: {
            title: { schema: { type: "string" }, required: true },
            items: { schema: { type: "array" }, required: true },
          },
        },
      },
    },
  });
  await writesNothing(storage, bundles, async () => {
    const err = await expectError(
      await publish(app, TOKENS.alice, body),
      400,
      "conformance_failed",
      "submission failed the registry conformance gate",
    );
    assert.equal(err.conformanceFailureCode, "fixture_props_shape_mismatch");
    const errors = (err.detail as { errors: { code: string; detail: unknown }[] }).errors;
    assert.deepEqual(errors[0]?.detail, { missingKeys: ["items"] });
  });
});

Deno.test("publish() verifies Ed25519: unknown key 403, forged and transplanted signatures 400", async () => {
  const { app, key, storage, bundles } = await setup();
  const stranger = await makeKey();
  await writesNothing(storage, bundles, async () => {
    // Unknown key: signed with a key nobody registered.
    await expectError(
      await publish(app, TOKENS.alice, await makeGadget(stranger)),
      403,
      "unknown_key",
      `no registered AuthorKeys row for publisher \`alice\` + keyId \`${stranger.keyId}\` — run \`ggui keygen\` and register the public key before publishing`,
    );
    // Forged: signed by another key but claiming alice's key id.
    const forged = await makeGadget(key);
    forged.signature = await signEd25519(
      new TextEncoder().encode(GADGET_SOURCE),
      stranger,
      { publicKeyId: key.keyId },
    );
    await expectError(
      await publish(app, TOKENS.alice, forged),
      400,
      "signature_invalid",
      "Ed25519 signature does not verify",
    );
    // Transplanted: a valid signature of another bundle.
    const other = await makeGadget(key, { source: "export function useMap() { return 2; }\n" });
    const transplanted = { ...(await makeGadget(key)), signature: other.signature };
    await expectError(
      await publish(app, TOKENS.alice, transplanted),
      400,
      "signature_invalid",
      "bundle hash mismatch (bundleBytes tampered or wrong bundle)",
    );
    // Flipped signature bytes.
    const flipped = await makeGadget(key);
    const sig = flipped.signature as { signature: string };
    sig.signature = (sig.signature[0] === "A" ? "B" : "A") + sig.signature.slice(1);
    await expectError(await publish(app, TOKENS.alice, flipped), 400, "signature_invalid");
    // Invalid base64 in the signature.
    const garbled = await makeGadget(key);
    (garbled.signature as { signature: string }).signature = "not base64!";
    await expectError(await publish(app, TOKENS.alice, garbled), 400, "signature_invalid");
  });
  // Bob cannot use alice's registered key id: keys are per subject.
  await writesNothing(storage, bundles, async () => {
    await expectError(
      await publish(app, TOKENS.bob, await makeGadget(key, { manifest: { scope: "@bob" } })),
      403,
      "unknown_key",
    );
  });
});

Deno.test("publish() refuses a public sigstore publish offline with signature_invalid", async () => {
  const { app, key, storage, bundles } = await setup();
  const body = await makeGadget(key, { manifest: { visibility: "public" } });
  body.signature = {
    algorithm: "sigstore-cosign",
    bundleSha384: body.bundleSha384,
    bundle: "{}",
    signedAt: "2026-11-22T00:00:00.000Z",
  };
  await writesNothing(storage, bundles, async () => {
    await expectError(
      await publish(app, TOKENS.alice, body),
      400,
      "signature_invalid",
      /^sigstore verification failed: /,
    );
    const priv = { ...body, manifest: makeGadgetManifest({ visibility: "private" }) };
    await expectError(
      await publish(app, TOKENS.alice, priv),
      400,
      "visibility_algorithm_mismatch",
      /requires an Ed25519 author-key signature/,
    );
  });
});

Deno.test("publish() answers 409 version_exists for a duplicate, even with a bad signature", async () => {
  const { app, key, storage, bundles } = await setup();
  assert.equal((await publish(app, TOKENS.alice, await makeGadget(key))).status, 201);
  const msg =
    "@acme/map@1.0.0 is already published — versions are immutable. Publish a new version instead.";
  await writesNothing(storage, bundles, async () => {
    await expectError(
      await publish(app, TOKENS.alice, await makeGadget(key)),
      409,
      "version_exists",
      msg,
    );
    const unsigned = await makeGadget(await makeKey());
    await expectError(await publish(app, TOKENS.alice, unsigned), 409, "version_exists", msg);
  });
});

Deno.test("publish() lets exactly one of 20 concurrent identical publishes win", async () => {
  const { app, key, storage } = await setup();
  const body = JSON.stringify(await makeGadget(key));
  const responses = await Promise.all(
    Array.from({ length: 20 }, () => publish(app, TOKENS.alice, body)),
  );
  const statuses = responses.map((r) => r.status).sort();
  assert.deepEqual(statuses, [201, ...Array(19).fill(409)]);
  for (const r of responses) {
    const b = await r.json();
    if (r.status === 409) assert.equal(b.code, "version_exists");
  }
  const versionRows = (await rowKeys(storage)).filter((k) => k.startsWith('["ver",'));
  assert.deepEqual(versionRows, ['["ver","@acme","map","1.0.0"]']);
  const audits = (await rowKeys(storage)).filter((k) => k.startsWith('["audit",'));
  // One key registration + one publish.
  assert.equal(audits.length, 2);
});

Deno.test("publish() claims an unclaimed scope in the version commit, and only then", async () => {
  const { app, key, storage } = await setup();
  // A failing publish (unknown key) claims nothing: the claim is atomic with the version.
  const stranger = await makeKey();
  assert.equal((await publish(app, TOKENS.alice, await makeGadget(stranger))).status, 403);
  assert.equal(await storage.get(scopeKey("@acme")), null);
  assert.equal((await publish(app, TOKENS.alice, await makeGadget(key))).status, 201);
  const owner = (await storage.get<ScopeRow>(scopeKey("@acme")))?.value;
  assert.equal(owner?.ownerSubject, "alice");
  assert.equal(owner?.verification, "unverified");
  // The owner publishes further versions; a stranger cannot.
  assert.equal(
    (await publish(app, TOKENS.alice, await makeGadget(key, { manifest: { version: "1.1.0" } })))
      .status,
    201,
  );
  const bobKey = await makeKey();
  await registerKey(app, TOKENS.bob, bobKey);
  await expectError(
    await publish(app, TOKENS.bob, await makeGadget(bobKey, { manifest: { name: "other" } })),
    403,
    "scope_forbidden",
  );
});

Deno.test("publish() lets exactly one of two subjects claim a scope under a race", async () => {
  const { app, key, storage } = await setup();
  const bobKey = await makeKey();
  await registerKey(app, TOKENS.bob, bobKey);
  const [a, b] = await Promise.all([
    publish(
      app,
      TOKENS.alice,
      await makeGadget(key, { manifest: { scope: "@race", name: "one" } }),
    ),
    publish(
      app,
      TOKENS.bob,
      await makeGadget(bobKey, { manifest: { scope: "@race", name: "two" } }),
    ),
  ]);
  assert.deepEqual([a.status, b.status].sort(), [201, 403]);
  const owner = (await storage.get<ScopeRow>(scopeKey("@race")))?.value;
  assert.equal(owner?.ownerSubject, a.status === 201 ? "alice" : "bob");
});

Deno.test("publish() refuses reserved scopes unless an owner row exists", async () => {
  const env = makeGguiApp({ reservedScopes: ["@acme"] });
  const key = await makeKey();
  await registerKey(env.app, TOKENS.alice, key);
  await writesNothing(env.storage, env.bundles, async () => {
    await expectError(
      await publish(env.app, TOKENS.alice, await makeGadget(key)),
      403,
      "scope_forbidden",
      /^scope `@acme` is reserved on this registry/,
    );
  });
  // Default list applies when none is configured.
  const dflt = await setup();
  await expectError(
    await publish(
      dflt.app,
      TOKENS.alice,
      await makeGadget(dflt.key, { manifest: { scope: "@openai" } }),
    ),
    403,
    "scope_forbidden",
    /is reserved/,
  );
  // An operator-seeded owner row publishes normally.
  await env.storage.commit({
    checks: [],
    mutations: [{
      type: "set",
      key: scopeKey("@acme"),
      value: { scope: "@acme", ownerSubject: "alice", claimedAt: "t", verification: "verified" },
    }],
  });
  assert.equal((await publish(env.app, TOKENS.alice, await makeGadget(key))).status, 201);
});

Deno.test("publish() answers 409 package_format_conflict across formats of one name", async () => {
  const { app, key, storage, bundles } = await setup();
  assert.equal((await publish(app, TOKENS.alice, await makeGadget(key))).status, 201);
  await writesNothing(storage, bundles, async () => {
    await expectError(
      await publish(
        app,
        TOKENS.alice,
        await makeBlueprint(key, { manifest: { name: "map", version: "2.0.0" } }),
      ),
      409,
      "package_format_conflict",
    );
  });
});

Deno.test("publish() answers package_format_conflict for a package of another surface", async () => {
  const { app, key, storage, bundles } = await setup();
  await storage.commit({
    checks: [],
    mutations: [{
      type: "set",
      key: ["pkg", "@acme", "map"],
      value: {
        namespace: "@acme",
        name: "map",
        format: "rack.registry",
        createdAt: "t",
        createdBy: "ci",
        updatedAt: "t",
        versionCount: 1,
        latest: "1.0.0",
        tags: {},
      },
    }],
  });
  await writesNothing(storage, bundles, async () => {
    const err = await expectError(
      await publish(app, TOKENS.alice, await makeGadget(key)),
      409,
      "package_format_conflict",
    );
    assert.deepEqual(err.detail, { existing: "rack.registry", attempted: "ggui.gadget" });
  });
});

Deno.test("publish() writes blobs, a version, its lifecycle and precedence, the package, the scope, its search rows and an audit row", async () => {
  const { app, key, storage, bundles } = await setup();
  const before = await rowKeys(storage);
  assert.equal((await publish(app, TOKENS.alice, await makeGadget(key))).status, 201);
  const added = (await rowKeys(storage)).filter((k) => !before.includes(k));
  assert.deepEqual(added.map((k) => JSON.parse(k)[0]).sort(), [
    "audit",
    "gc_recent",
    "pkg",
    "scope",
    // The owner's pointer and the private version's reader entry (name and recency order).
    "search_owner",
    "search_private",
    "search_private",
    "ver",
    "ver_by_precedence",
    "ver_by_precedence_indexed",
    "vstate",
  ]);
  assert.equal(await blobCount(bundles), 3);
});

Deno.test("publish() accepts a public gadget and blueprint through the sigstore lane", async () => {
  const env = makeGguiApp({ publicLane: true });
  const res = await publish(env.app, TOKENS.alice, makePublicGadget());
  assert.equal(res.status, 201);
  const body = await res.json();
  assert.equal(body.bundleUrl, "http://127.0.0.1:9011/bundles/public/@acme/map/1.0.0/bundle.js");
  const bp = await publish(env.app, TOKENS.alice, makePublicBlueprint());
  assert.equal(bp.status, 201);
  // A blueprint signature covers the canonical JSON of the manifest: reordered keys still verify,
  // a changed manifest does not.
  const tampered = makePublicBlueprint({ manifest: { version: "1.0.1" } });
  (tampered.manifest as Record<string, unknown>).description = "changed after signing";
  await expectError(await publish(env.app, TOKENS.alice, tampered), 400, "signature_invalid");
  // A large sigstore envelope is kept as a blob, never inside the row.
  const large = makePublicBlueprint({ manifest: { version: "1.0.3" } });
  const sig = large.signature as { bundle: string };
  sig.bundle = JSON.stringify({ testSan: "alice@example.com", pad: "x".repeat(100_000) });
  assert.equal((await publish(env.app, TOKENS.alice, large)).status, 201);
  const reordered = makePublicBlueprint({ manifest: { version: "1.0.2" } });
  reordered.manifest = Object.fromEntries(
    Object.entries(reordered.manifest as Record<string, unknown>).reverse(),
  );
  assert.equal((await publish(env.app, TOKENS.alice, reordered)).status, 201);
});

Deno.test("publish() applies a scope's SAN allowlist to sigstore publishes", async () => {
  const env = makeGguiApp({ publicLane: true });
  await env.storage.commit({
    checks: [],
    mutations: [{
      type: "set",
      key: scopeKey("@acme"),
      value: {
        scope: "@acme",
        ownerSubject: "alice",
        claimedAt: "t",
        verification: "unverified",
        sanAllowlist: ["CI@acme.example"],
      },
    }],
  });
  await writesNothing(env.storage, env.bundles, async () => {
    const err = await expectError(
      await publish(env.app, TOKENS.alice, makePublicGadget({ san: "mallory@evil.example" })),
      403,
      "identity_mismatch",
    );
    assert.match(err.message as string, /mallory@evil\.example/);
    assert.doesNotMatch(err.message as string, /ci@acme/i); // never echo the allowlist
  });
  assert.equal(
    (await publish(env.app, TOKENS.alice, makePublicGadget({ san: "ci@ACME.example" }))).status,
    201,
  );
  // A corrupt allowlist fails closed.
  await env.storage.commit({
    checks: [],
    mutations: [{
      type: "set",
      key: scopeKey("@acme"),
      value: {
        scope: "@acme",
        ownerSubject: "alice",
        claimedAt: "t",
        verification: "unverified",
        sanAllowlist: "corrupt",
      },
    }],
  });
  await expectError(
    await publish(env.app, TOKENS.alice, makePublicGadget({ manifest: { version: "2.0.0" } })),
    500,
    "internal",
  );
});

Deno.test("publishArtifact() is usable without HTTP and re-checks authentication", async () => {
  const env = makeGguiApp();
  const ctx = { ...env.ctx, bundleHost: "http://h", registryHostname: "h" };
  const key = await makeKey();
  assert.equal((await publishArtifact(ctx, { authn: undefined, body: {} })).status, 401);
  assert.equal((await publishArtifact(ctx, { authn: { subject: "" }, body: {} })).status, 401);
  assert.equal(
    (await publishArtifact(ctx, { authn: { subject: "alice" }, body: null })).status,
    400,
  );
  await registerKey(env.app, TOKENS.alice, key);
  const res = await publishArtifact(ctx, {
    authn: { subject: "alice" },
    body: await makeGadget(key),
  });
  assert.equal(res.status, 201);
  assert.equal(
    (res.body as { manifestUrl: string }).manifestUrl,
    "http://h/bundles/private/@acme/map/1.0.0/manifest.json",
  );
});

Deno.test("publish() answers 500 internal when the stored author key is not base64", async () => {
  const env = makeGguiApp();
  const key = await makeKey();
  await env.storage.commit({
    checks: [],
    mutations: [{
      type: "set",
      key: ["akey", "alice", key.keyId],
      value: { subject: "alice", keyId: key.keyId, publicKeyBase64: "***" },
    }],
  });
  await writesNothing(env.storage, env.bundles, async () => {
    await expectError(
      await publish(env.app, TOKENS.alice, await makeGadget(key)),
      500,
      "internal",
      "author key row is malformed",
    );
  });
});
