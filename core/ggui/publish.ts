/**
 * `POST /publish`: validate, authorize, verify and commit one ggui version.
 *
 * Gates run in the spec's order (§4.1), first failure wins:
 * authn → body → signature shape → manifest schema → visibility/algorithm
 * pairing → scope gate → (existence pre-check) → gadget bundle, hash and
 * catalog projection → conformance → probe → signature verification →
 * blobs → one atomic commit.
 *
 * Deviations from the original, all from its "known weaknesses" list:
 * - The scope claim lands in the SAME atomic commit as the version (version
 *   row, lifecycle row, package row, scope row, audit row), so a publish that
 *   fails a later gate (bad bundle, unknown key, bad signature) claims nothing.
 *   Ownership is still checked at step 7 and re-checked by the commit, so a
 *   concurrent claim by someone else ends in 403 `scope_forbidden`.
 * - A cheap existence pre-check after the scope gate answers a duplicate with
 *   409 before paying for bundle, conformance and signature work (so a
 *   duplicate with a bad signature is 409, not 400). The atomic
 *   put-if-absent stays authoritative.
 * - Blobs (content-addressed) are written before the row that points to them.
 * - "latest" and the search entry follow the package-row reducer: releases
 *   before prereleases, and search shows the highest PUBLIC version.
 * - A JSON `null` or non-object body is 400 `manifest_invalid`, not a 500.
 *
 * @module
 */
import { fromBase64 } from "../../base/digest.ts";
import { isRegistryError, storeFault } from "../../base/errors.ts";
import { storeFile } from "../files.ts";
import { nextPackageRow } from "../packages.ts";
import type { AuthorKeyRow, FileMap, ScopeRow, VersionRow } from "../rows.ts";
import { putVersionIfAbsent, versionHolder } from "../store.ts";
import { readGcGuard } from "../_gc_guard.ts";
import { holdBlobs } from "../_blob_hold.ts";
import { decideGguiPublish } from "../access.ts";
import { servedFromUpstream } from "../jsr/upstream_claims.ts";
import { eventMutations, publishedEventMutations } from "../webhooks.ts";
import * as keys from "../../storage/keys.ts";
import type { JsonValue } from "../../storage/types.ts";
import {
  auditMutation,
  type AuthnContext,
  blobUrl,
  DEFAULT_RESERVED_SCOPES,
  errorResult,
  type GguiContext,
  type GguiErrorBody,
  type GguiFacts,
  type GguiResult,
  installCommand,
  KIND_FORMAT,
  MAX_BUNDLE_BYTES,
  publicSummaryOf,
  unauthorized,
} from "./_common.ts";
import { compileBlueprint, type CompiledBlueprint, withCompiledRef } from "./compile.ts";
import type { ConformanceError } from "./conformance.ts";
import { acceptsPublicEd25519 } from "./public_lane.ts";
import type { ArtifactManifest } from "./manifest.ts";
import {
  isSignatureEnvelope,
  offlineSigstoreVerifier,
  sha384Base64,
  type SignatureEnvelope,
  type SigstoreVerifier,
  verifyEd25519,
} from "./signing.ts";
import { lazily } from "../../base/lazy.ts";

/**
 * The manifest schemas (zod) and the conformance gates with their TSX parser
 * load with the first publish: ~80 ms of start-up CPU a server does not need
 * before it answers.
 */
const manifests = lazily(() => import("./manifest.ts"));
const conformanceGates = lazily(() => import("./conformance.ts"));

/** The 201 body of a publish. */
export interface PublishBody {
  /** `@scope/name`. */
  artifactId: string;
  /** The published version. */
  version: string;
  /** URL of the stored manifest. */
  manifestUrl: string;
  /** URL of the bundle (gadgets). */
  bundleUrl?: string;
  /** URL of the signature envelope (gadgets). */
  signatureUrl?: string;
  /** The command that installs this version. */
  installCommand: string;
}

type Result = GguiResult<PublishBody | GguiErrorBody>;

function scopeOwnedByAnother(scope: string): Result {
  return errorResult(
    403,
    "scope_forbidden",
    `scope \`${scope}\` is owned by another publisher. Choose a scope you own — your first publish into an unclaimed scope claims it. If you hold the rights to this name (for example the matching domain or brand), the registry operator can verify that ownership and reclaim an unverified scope.`,
  );
}

function versionExists(artifactId: string, version: string, existing: string): Result {
  return errorResult(
    409,
    "version_exists",
    existing === version
      ? `${artifactId}@${version} is already published — versions are immutable. Publish a new version instead.`
      : `${artifactId}@${version} has the same precedence as ${artifactId}@${existing}, which is already published — versions that differ only in build metadata (after '+') are one version. Publish a new version instead.`,
  );
}

function formatConflict(artifactId: string, existing: string, attempted: string): Result {
  return errorResult(
    409,
    "package_format_conflict",
    `${artifactId} is a ${existing} package and cannot take a ${attempted} version — choose another name`,
    { detail: { existing, attempted } },
  );
}

function conformanceFailed(errors: ConformanceError[]): Result {
  const first = errors[0]?.code;
  return errorResult(400, "conformance_failed", "submission failed the registry conformance gate", {
    detail: { errors },
    ...(first === undefined ? {} : { conformanceFailureCode: first }),
  });
}

/**
 * The identity rule of the scope gate (sigstore publishes only): a non-empty
 * allowlist on the owner row requires some certificate SAN (lowercased) to be
 * on it; a corrupt allowlist fails closed. Allowlist entries are never echoed.
 * (No verified-email resolver is wired, as in the stock server.)
 */
function identityRule(
  scope: string,
  owner: ScopeRow | null,
  signature: SignatureEnvelope,
  sigstore: SigstoreVerifier,
): Result | undefined {
  if (signature.algorithm !== "sigstore-cosign") return undefined;
  const allowlist = owner?.sanAllowlist;
  if (allowlist === "corrupt") {
    return errorResult(
      500,
      "internal",
      `scope \`${scope}\` has a malformed publisher-identity allowlist in storage — refusing to fall back to a weaker identity rule. A registry operator must rewrite the scope's allowlist (set or clear it) before sigstore publishes into this scope can proceed.`,
    );
  }
  if (allowlist === undefined || allowlist.length === 0) return undefined;
  const sans = sigstore.sans(signature).map((s) => s.toLowerCase());
  if (sans.length === 0) {
    return errorResult(
      403,
      "identity_mismatch",
      `scope \`${scope}\` requires a bound publisher identity, but the sigstore bundle's certificate carries no subject identity (SAN) to check`,
    );
  }
  const allowed = allowlist.map((e) => e.toLowerCase());
  if (!sans.some((s) => allowed.includes(s))) {
    return errorResult(
      403,
      "identity_mismatch",
      `no certificate identity (${
        sans.map((s) => `\`${s}\``).join(", ")
      }) is on the publisher-identity allowlist for scope \`${scope}\`. Sign with an allowlisted identity, or ask the registry operator to update the scope's allowlist.`,
    );
  }
  return undefined;
}

/**
 * Publish one version. Returns the spec's `{status, body}`; never throws for
 * anything a caller can cause (storage faults become 500 `internal`).
 *
 * @example
 * ```ts ignore
 * const res = await publishArtifact(ctx, { authn: { subject: "alice" }, body });
 * if (res.status === 201) console.log(res.body);
 * ```
 */
export async function publishArtifact(
  ctx: GguiContext,
  request: { authn: AuthnContext; body: unknown },
): Promise<GguiResult<PublishBody | GguiErrorBody>> {
  const { authn } = request;
  // 1. Authentication (the transport authenticates first; this re-checks).
  if (authn === undefined) return unauthorized();
  // 2. Body shape.
  const body = request.body;
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return errorResult(400, "manifest_invalid", "request body must be a JSON object");
  }
  // 3. Empty subject (defensive).
  if (typeof authn.subject !== "string" || authn.subject.length === 0) {
    return errorResult(401, "unauthorized", "request is missing a verified caller subject");
  }
  const subject = authn.subject;
  const input = body as Record<string, unknown>;
  // 4. Signature envelope shape.
  const signature = input.signature;
  if (!isSignatureEnvelope(signature)) {
    return errorResult(
      400,
      "signature_invalid",
      "request body is missing or malformed `signature` (expected Ed25519Signature or SigstoreSignature shape)",
    );
  }
  // 5. Manifest schema.
  const { canonicalJson, checkCatalogProjection, parseManifest } = await manifests();
  const parsed = parseManifest(input.manifest);
  if (!parsed.ok) {
    const first = parsed.issues[0];
    return errorResult(
      400,
      "manifest_invalid",
      first?.message ?? "manifest failed schema validation",
      {
        detail: { path: first?.path ?? [], issues: parsed.issues },
      },
    );
  }
  const manifest = parsed.manifest;
  const artifactId = `${manifest.scope}/${manifest.name}`;
  const version = manifest.version;
  // 6. Visibility ↔ algorithm pairing.
  if (
    manifest.visibility === "public" && signature.algorithm === "ed25519" &&
    !acceptsPublicEd25519(ctx.sigstore)
  ) {
    return errorResult(
      400,
      "visibility_algorithm_mismatch",
      "`visibility: 'public'` requires a sigstore keyless signature (`algorithm: 'sigstore-cosign'`) so the publish is recorded in a public transparency log. Ed25519 author-key signatures pair with `visibility: 'private'` — re-sign with sigstore, or publish as private.",
    );
  }
  if (manifest.visibility === "private" && signature.algorithm === "sigstore-cosign") {
    return errorResult(
      400,
      "visibility_algorithm_mismatch",
      "`visibility: 'private'` requires an Ed25519 author-key signature. Sigstore keyless signing (`algorithm: 'sigstore-cosign'`) records the publish in a public transparency log and pairs with `visibility: 'public'` — re-sign with your Ed25519 author key, or publish as public.",
    );
  }
  // 7. Scope gate. The claim itself lands with the version commit.
  const ref = { namespace: manifest.scope, name: manifest.name, version };
  const format = KIND_FORMAT[manifest.kind];
  let owner: ScopeRow | null;
  let holder: string | null;
  let pkgFormat: string | undefined;
  try {
    const [scopeEntry, pkgEntry, held] = await Promise.all([
      ctx.storage.get<ScopeRow>(keys.scopeKey(manifest.scope)),
      ctx.storage.get<{ format: string }>(keys.packageKey(ref)),
      versionHolder(ctx.storage, ref),
    ]);
    owner = scopeEntry?.value ?? null;
    pkgFormat = pkgEntry?.value.format;
    holder = held;
  } catch {
    return errorResult(500, "internal", "failed to read the scope owner");
  }
  // One namespace policy (docs/access.md): auth.json-declared namespaces and
  // scoped tokens follow grants; everything else the claim-on-first-publish rule.
  let declared: boolean;
  try {
    declared = (await ctx.declaredNamespace?.(manifest.scope)) ?? false;
  } catch {
    return errorResult(500, "internal", "failed to read the namespace policy");
  }
  const decision = decideGguiPublish({
    principal: {
      subject,
      admin: authn.admin ?? false,
      ...(authn.grants ? { grants: authn.grants } : {}),
    },
    namespace: manifest.scope,
    declared,
    owner,
    reserved: ctx.reservedScopes ?? DEFAULT_RESERVED_SCOPES,
  });
  if (!decision.allowed && decision.reason === "not_granted") {
    return errorResult(
      403,
      "scope_forbidden",
      `scope \`${manifest.scope}\` needs a publish grant for this token: it is configured with grants on this registry, or the token's grants do not cover it`,
    );
  }
  if (!decision.allowed && decision.reason === "owned") return scopeOwnedByAnother(manifest.scope);
  if (decision.allowed && decision.claim && await servedFromUpstream(ctx, manifest.scope)) {
    return errorResult(
      403,
      "scope_forbidden",
      `scope \`${manifest.scope}\` is served from an upstream registry; an admin must claim it here before anything is published into it`,
    );
  }
  if (!decision.allowed) {
    return errorResult(
      403,
      "scope_forbidden",
      `scope \`${manifest.scope}\` is reserved on this registry and cannot be claimed by publishing. Choose a scope you own — your first publish into an unclaimed scope claims it.`,
    );
  }
  const sigstore = ctx.sigstore ?? offlineSigstoreVerifier;
  const identityFailure = identityRule(manifest.scope, owner, signature, sigstore);
  if (identityFailure) return identityFailure;
  // Cheap pre-checks (the atomic insert below stays authoritative); the
  // format first, so a name of another format never answers version_exists.
  if (pkgFormat !== undefined && pkgFormat !== format) {
    return formatConflict(artifactId, pkgFormat, format);
  }
  if (holder !== null) return versionExists(artifactId, version, holder);
  // 8. Gadget bundle: presence, base64, size, hash, catalog projection.
  let bundleBytes: Uint8Array | undefined;
  let bundleSri: string | undefined;
  if (manifest.kind === "gadget") {
    const bundle = input.bundle;
    if (bundle === undefined || bundle === null || bundle === "") {
      return errorResult(
        400,
        "bundle_required",
        "gadget publish requires a base64-encoded `bundle` field — blueprint manifests carry source inline, but gadgets ship compiled bytes",
      );
    }
    const decoded = typeof bundle === "string" ? fromBase64(bundle) : null;
    if (decoded === null) {
      return errorResult(400, "manifest_invalid", "`bundle` field is not valid base64");
    }
    if (decoded.byteLength > MAX_BUNDLE_BYTES) {
      return errorResult(
        413,
        "bundle_too_large",
        `bundle is ${decoded.byteLength} bytes; maximum is ${MAX_BUNDLE_BYTES} bytes (5 MiB)`,
      );
    }
    const claimed = input.bundleSha384;
    if (claimed === undefined || claimed === null || claimed === "") {
      return errorResult(
        400,
        "bundle_hash_mismatch",
        "gadget publish requires `bundleSha384` (base64 SHA-384 digest of the decoded bundle bytes)",
      );
    }
    const recomputed = sha384Base64(decoded);
    if (recomputed !== claimed) {
      return errorResult(
        400,
        "bundle_hash_mismatch",
        "server-computed SHA-384 of the bundle does not match the client-supplied `bundleSha384`",
        { detail: { expected: recomputed, received: claimed } },
      );
    }
    bundleSri = `sha384-${recomputed}`;
    const projection = checkCatalogProjection(manifest, bundleSri);
    if (!projection.ok) {
      return errorResult(400, "manifest_invalid", projection.message, {
        detail: { path: projection.path, issues: projection.issues },
      });
    }
    bundleBytes = decoded;
  }
  // 9. Conformance (the bundle as UTF-8 text).
  const conformance = await (await conformanceGates()).checkConformanceAsync(
    {
      manifest: input.manifest,
      ...(bundleBytes === undefined ? {} : { bundle: new TextDecoder().decode(bundleBytes) }),
    },
    ctx.codeGates === undefined ? {} : { codeGates: ctx.codeGates },
  );
  if (!conformance.ok) return conformanceFailed(conformance.errors);
  // 10. Optional blueprint runtime probe.
  if (manifest.kind === "blueprint" && ctx.blueprintProbe !== undefined) {
    const probe = await ctx.blueprintProbe.probe(manifest);
    if (!probe.ok) return conformanceFailed(probe.errors);
  }
  // 11. Signature verification.
  const payload = bundleBytes ?? new TextEncoder().encode(canonicalJson(manifest));
  let authorPublicKey: string;
  if (signature.algorithm === "ed25519") {
    let keyRow: AuthorKeyRow | null;
    try {
      keyRow = (await ctx.storage.get<AuthorKeyRow>(
        keys.authorKeyKey(subject, signature.publicKeyId),
      ))?.value ?? null;
    } catch {
      return errorResult(500, "internal", "failed to read the author key");
    }
    if (keyRow === null) {
      return errorResult(
        403,
        "unknown_key",
        `no registered AuthorKeys row for publisher \`${subject}\` + keyId \`${signature.publicKeyId}\` — run \`ggui keygen\` and register the public key before publishing`,
      );
    }
    const publicKey = fromBase64(keyRow.publicKeyBase64);
    if (publicKey === null) return errorResult(500, "internal", "author key row is malformed");
    const verified = await verifyEd25519(payload, { envelope: signature, publicKey });
    if (!verified.valid) return errorResult(400, "signature_invalid", verified.reason);
    authorPublicKey = keyRow.publicKeyBase64;
  } else {
    const verified = await sigstore.verify(payload, signature);
    if (!verified.valid) return errorResult(400, "signature_invalid", verified.reason);
    if (verified.leafCertificateDer === undefined) {
      return errorResult(
        400,
        "signature_invalid",
        "sigstore verify succeeded but bundle is missing `verificationMaterial.x509CertificateChain.certificates[0].rawBytes` — cannot pin author identity on the version row",
      );
    }
    authorPublicKey = verified.leafCertificateDer;
  }
  // 12. Blueprint compilation (esbuild 0.25.12, spec §7).
  let compiled: CompiledBlueprint | undefined;
  if (manifest.kind === "blueprint") {
    const result = await compileBlueprint(manifest.source);
    if (!result.ok) return conformanceFailed([result.error]);
    compiled = result;
  }
  try {
    return await commitVersion(ctx, {
      manifest,
      subject,
      ...(authn.label ? { label: authn.label } : {}),
      owner,
      claim: decision.allowed && decision.claim,
      signature,
      authorPublicKey,
      ...(bundleBytes === undefined ? {} : { bundleBytes }),
      ...(bundleSri === undefined ? {} : { bundleSri }),
      ...(compiled === undefined ? {} : { compiled }),
    });
  } catch (err) {
    if (isRegistryError(err, "format_conflict")) {
      const detail = err.detail as { existing: string; attempted: string };
      return formatConflict(artifactId, detail.existing, detail.attempted);
    }
    // A lost race or a GC run under way: retryable (the route adds Retry-After).
    if (isRegistryError(err, "conflict")) return errorResult(409, "conflict", err.message);
    const fault = storeFault(err);
    if (isRegistryError(fault, "storage_full")) {
      return errorResult(507, "storage_full", fault.message);
    }
    return errorResult(500, "internal", `failed to publish ${artifactId}@${version}`);
  }
}

/** Steps 13–16: blobs first, then one atomic commit, then the 201 body. */
async function commitVersion(
  ctx: GguiContext,
  v: {
    manifest: ArtifactManifest;
    subject: string;
    label?: string;
    owner: ScopeRow | null;
    claim: boolean;
    signature: SignatureEnvelope;
    authorPublicKey: string;
    bundleBytes?: Uint8Array;
    bundleSri?: string;
    compiled?: CompiledBlueprint;
  },
): Promise<Result> {
  const { manifest, subject } = v;
  const artifactId = `${manifest.scope}/${manifest.name}`;
  const encoder = new TextEncoder();
  const files: FileMap = {};
  // Before the first blob: GC keeps what the publish stores (dropped unless it commits).
  await using hold = await holdBlobs(ctx);
  ctx = hold.context;
  // The commit then also knows whether a GC ran in between.
  const gcGuard = await readGcGuard(ctx);
  if (v.bundleBytes !== undefined) {
    files["bundle.js"] = await storeFile(
      ctx,
      v.bundleBytes,
      "application/javascript; charset=utf-8",
    );
    files["bundle.js.sig"] = await storeFile(
      ctx,
      encoder.encode(JSON.stringify(v.signature, null, 2)),
      "application/json",
    );
  }
  if (v.compiled !== undefined) {
    // Content-addressed: its blob digest is the compiledDigest, so identical
    // output is stored once. Listed among the version's files (never served
    // by the blob routes) so GC and blob checks see the reference.
    files["compiled.js"] = await storeFile(
      ctx,
      v.compiled.bytes,
      "application/javascript; charset=utf-8",
    );
  }
  if (manifest.kind === "blueprint") {
    // The envelope is kept (for a hosted install path to re-verify) but never
    // served: `manifest.sig` is not one of the blob routes' file names. A blob,
    // not a row field, so an oversized sigstore bundle cannot overflow the row.
    files["manifest.sig"] = await storeFile(
      ctx,
      encoder.encode(JSON.stringify(v.signature)),
      "application/json",
    );
  }
  files["manifest.json"] = await storeFile(
    ctx,
    encoder.encode(JSON.stringify(manifest)),
    "application/json",
  );
  const now = ctx.clock();
  const facts: GguiFacts = {
    search: (await manifests()).searchFactsOf(manifest),
    authorPublicKey: v.authorPublicKey,
    signatureAlgorithm: v.signature.algorithm,
  };
  if (v.bundleSri !== undefined) facts.bundleSri = v.bundleSri;
  if (v.compiled !== undefined) facts.compiledDigest = v.compiled.digest;
  const row: VersionRow = {
    namespace: manifest.scope,
    name: manifest.name,
    version: manifest.version,
    format: KIND_FORMAT[manifest.kind],
    visibility: manifest.visibility,
    files,
    facts: facts as unknown as Record<string, JsonValue>,
    publishedAt: now.toISOString(),
    publishedBy: subject,
  };
  const ref = { namespace: row.namespace, name: row.name };
  const storage = v.compiled === undefined ? ctx.storage : withCompiledRef(ctx.storage, {
    digest: v.compiled.digest,
    size: v.compiled.bytes.byteLength,
    now,
  });
  const result = await putVersionIfAbsent(storage, {
    row,
    gc: { guard: gcGuard, ctx },
    updatePackage: (current, state) =>
      nextPackageRow(current, state, { ref, summary: publicSummaryOf(row) }),
    ...(v.claim
      ? {
        claimScope: {
          scope: manifest.scope,
          ownerSubject: subject,
          claimedAt: now.toISOString(),
          verification: "unverified" as const,
        },
      }
      : {}),
    extra: ({ packageCreated }) => [
      ...(v.claim
        ? eventMutations(ctx.subscriptions ?? [], "scope.claimed", {
          scope: manifest.scope,
          owner: subject,
          surface: "ggui",
        }, now)
        : []),
      ...publishedEventMutations(ctx.subscriptions ?? [], {
        namespace: manifest.scope,
        name: manifest.name,
        version: manifest.version,
        kind: manifest.kind,
        visibility: manifest.visibility,
        publishedBy: subject,
      }, now),
      auditMutation(now, {
        actor: subject,
        action: "ggui.publish",
        target: `${artifactId}@${manifest.version}`,
        detail: {
          kind: manifest.kind,
          visibility: manifest.visibility,
          packageCreated,
          scopeClaimed: v.claim,
          ...(v.label ? { label: v.label } : {}),
        },
      }),
    ],
  });
  if (result.result === "created") hold.keep();
  if (result.result === "exists") {
    return versionExists(artifactId, manifest.version, result.existing);
  }
  if (result.result === "scope_taken") return scopeOwnedByAnother(manifest.scope);
  const urlRef = {
    visibility: manifest.visibility,
    scope: manifest.scope,
    name: manifest.name,
    version: manifest.version,
  };
  const body = {
    artifactId,
    version: manifest.version,
    manifestUrl: blobUrl(ctx, urlRef, "manifest.json"),
  } as PublishBody;
  if (v.bundleBytes !== undefined) {
    body.bundleUrl = blobUrl(ctx, urlRef, "bundle.js");
    body.signatureUrl = blobUrl(ctx, urlRef, "bundle.js.sig");
  }
  body.installCommand = installCommand({
    kind: manifest.kind,
    artifactId,
    version: manifest.version,
    registryHostname: ctx.registryHostname,
  });
  return { status: 201, body };
}
