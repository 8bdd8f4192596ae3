// What every ggui operation shares: its context and options, the `{status,
// body}` result shape, the wire error bodies, URLs, the version-row facts
// layout and the private-read rule.
import { type RegistryContext, timeOrderedId } from "../context.ts";
import type { AuditRow, Format, Grant, ScopeRow, VersionRow } from "../rows.ts";
import { grantsAllow } from "../tokens.ts";
import { auditKey } from "../../storage/keys.ts";
import type { JsonValue, Mutation } from "../../storage/types.ts";
import type { BlueprintProbe, CodeGates } from "./conformance.ts";
import type { SearchFacts } from "./manifest.ts";
import type { SigstoreVerifier } from "./signing.ts";

/**
 * The scopes nobody can claim by publishing (replaceable per deployment).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_RESERVED_SCOPES } from "./_common.ts";
 * assert(DEFAULT_RESERVED_SCOPES.includes("@ggui"));
 * assert(!DEFAULT_RESERVED_SCOPES.includes("@acme"));
 * ```
 */
export const DEFAULT_RESERVED_SCOPES: readonly string[] = [
  "@ggui-ai",
  "@ggui",
  "@guuey",
  "@anthropic",
  "@claude",
  "@openai",
  "@google",
  "@gemini",
  "@meta",
  "@microsoft",
  "@aws",
  "@amazon",
  "@apple",
];

/**
 * The largest decoded gadget bundle: 5 MiB.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MAX_BUNDLE_BYTES } from "./_common.ts";
 * const bundle = new TextEncoder().encode("export default function Map() {}");
 * assert(bundle.byteLength <= MAX_BUNDLE_BYTES && MAX_BUNDLE_BYTES === 5 * 1024 * 1024);
 * ```
 */
export const MAX_BUNDLE_BYTES = 5 * 1024 * 1024;

/** The dependencies and deployment options of every ggui operation. */
export interface GguiContext extends RegistryContext {
  /** Prefix of blob URLs, e.g. `http://127.0.0.1:9001` (a trailing slash is ignored). */
  bundleHost: string;
  /** `host[:port]` used in `installCommand`. */
  registryHostname: string;
  /** Scopes that cannot be claimed; {@linkcode DEFAULT_RESERVED_SCOPES} when absent. */
  reservedScopes?: readonly string[];
  /** The code-level conformance gates (ES/TSX parsing), when wired. */
  codeGates?: CodeGates;
  /** The optional blueprint runtime probe. */
  blueprintProbe?: BlueprintProbe;
  /** The sigstore keyless lane; offline refusal when absent. */
  sigstore?: SigstoreVerifier;
  /** Whether a namespace is declared with grants (Rack auth.json): publishes then need a grant. */
  declaredNamespace?: (namespace: string) => Promise<boolean>;
  /** Webhook subscriptions: a publish writes `package.published` outbox rows in its commit. */
  subscriptions?: readonly {
    id: string;
    url: string;
    events: readonly string[];
    enabled: boolean;
  }[];
}

/**
 * The verified caller, or `undefined` for an anonymous request. `grants` (a
 * scoped token's) and `admin` feed the one namespace policy (`docs/access.md`).
 */
export type AuthnContext =
  // `label`: a display name for the audit (an auth.json mark); never compared.
  | { subject: string; admin?: boolean; grants?: Grant[]; label?: string }
  | undefined;

/** A ggui wire error body. `code` repeats `error` (the CLI reads `code`). */
export interface GguiErrorBody {
  /** The wire error code. */
  error: string;
  /** The same code, for clients that read `code`. */
  code: string;
  /** Human-readable text. */
  message: string;
  /** Structured, client-safe detail. */
  detail?: unknown;
  /** The first conformance error code (publish only). */
  conformanceFailureCode?: string;
}

/** What every ggui operation answers: an HTTP status and a JSON body. */
export interface GguiResult<T = unknown> {
  /** The HTTP status. */
  status: number;
  /** The JSON body. */
  body: T;
}

/** Build an error result. */
export function errorResult(
  status: number,
  code: string,
  message: string,
  extra: { detail?: unknown; conformanceFailureCode?: string } = {},
): GguiResult<GguiErrorBody> {
  const body: GguiErrorBody = { error: code, code, message };
  if (extra.detail !== undefined) body.detail = extra.detail;
  if (extra.conformanceFailureCode !== undefined) {
    body.conformanceFailureCode = extra.conformanceFailureCode;
  }
  return { status, body };
}

/** The artifact kinds and their package formats. */
export const KIND_FORMAT = {
  gadget: "ggui.gadget",
  blueprint: "ggui.blueprint",
} as const satisfies Record<"gadget" | "blueprint", Format>;

/** Whether a format is a ggui format, and which kind. */
export function kindOfFormat(format: Format): "gadget" | "blueprint" | undefined {
  return format === "ggui.gadget"
    ? "gadget"
    : format === "ggui.blueprint"
    ? "blueprint"
    : undefined;
}

/**
 * The files of a ggui version.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BUNDLE_FILES } from "./_common.ts";
 * assert(BUNDLE_FILES.join() === "bundle.js,bundle.js.sig,manifest.json");
 * ```
 */
export const BUNDLE_FILES = ["bundle.js", "bundle.js.sig", "manifest.json"] as const;
/** One file of a ggui version. */
export type BundleFile = typeof BUNDLE_FILES[number];

/**
 * `bundleHost` without trailing slashes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { normalizeBundleHost } from "./_common.ts";
 * assert(normalizeBundleHost("https://cdn.example.com//") === "https://cdn.example.com");
 * assert(normalizeBundleHost("http://127.0.0.1:9001") === "http://127.0.0.1:9001");
 * ```
 */
export function normalizeBundleHost(host: string): string {
  return host.replace(/\/+$/, "");
}

/**
 * The URL of one blob of a version.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { blobUrl } from "./_common.ts";
 * const ref = { visibility: "public", scope: "@acme", name: "map", version: "1.0.0" };
 * const url = blobUrl({ bundleHost: "http://127.0.0.1:9001/" }, ref, "bundle.js");
 * assert(url === "http://127.0.0.1:9001/bundles/public/@acme/map/1.0.0/bundle.js");
 * ```
 */
export function blobUrl(
  ctx: Pick<GguiContext, "bundleHost">,
  ref: { visibility: string; scope: string; name: string; version: string },
  file: BundleFile,
): string {
  return `${
    normalizeBundleHost(ctx.bundleHost)
  }/bundles/${ref.visibility}/${ref.scope}/${ref.name}/${ref.version}/${file}`;
}

/** `http` for loopback hosts, else `https`. */
export function hostScheme(host: string): "http" | "https" {
  return /^(localhost|127\.0\.0\.1|0\.0\.0\.0)(:\d+)?$/.test(host) ? "http" : "https";
}

/**
 * `ggui <kind> install <artifactId>@<version> --registry=<scheme>://<host>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { installCommand } from "./_common.ts";
 * assert.ok(
 *   installCommand({ kind: "gadget", artifactId: "@acme/map", version: "1.0.0", registryHostname: "localhost:9001" }) ===
 *     "ggui gadget install @acme/map@1.0.0 --registry=http://localhost:9001",
 * );
 * ```
 */
export function installCommand(
  options: { kind: string; artifactId: string; version: string; registryHostname: string },
): string {
  const { kind, artifactId, version, registryHostname } = options;
  return `ggui ${kind} install ${artifactId}@${version} --registry=${
    hostScheme(registryHostname)
  }://${registryHostname}`;
}

/**
 * The format-specific facts a ggui version row carries (`VersionRow.facts`).
 * Blueprint compilation adds `compiledDigest`/`compiledSize` later.
 */
export interface GguiFacts {
  /** The search-entry fields of this version. */
  search: SearchFacts;
  /** `sha384-…` of the bundle (gadgets). */
  bundleSri?: string;
  /** The pinned author key (Ed25519 base64) or leaf certificate (sigstore, base64 DER). */
  authorPublicKey: string;
  /** Which signature the version was published with. */
  signatureAlgorithm: "ed25519" | "sigstore-cosign";
  /** Lowercase hex SHA-256 of the compiled blueprint (not produced yet). */
  compiledDigest?: string;
}

/** Read a row's ggui facts. */
export function gguiFacts(row: VersionRow): GguiFacts {
  return row.facts as unknown as GguiFacts;
}

/**
 * The package row's public summary of a version: its search facts plus when
 * and by whom it was published. Used by publish and by any later recompute.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { publicSummaryOf } from "./_common.ts";
 * const facts = { search: { kind: "gadget", description: "A map" } };
 * const row = { namespace: "@acme", name: "map", version: "1.0.0", format: "ggui.gadget" as const, visibility: "public" as const, files: {}, facts, publishedAt: "2026-01-01T00:00:00.000Z", publishedBy: "alice" };
 * const summary = publicSummaryOf(row);
 * assert(summary.description === "A map" && summary.kind === "gadget" && summary.publishedBy === "alice");
 * ```
 */
export function publicSummaryOf(row: VersionRow): Record<string, JsonValue> {
  return {
    ...(gguiFacts(row).search as unknown as Record<string, JsonValue>),
    publishedAt: row.publishedAt,
    publishedBy: row.publishedBy,
  };
}

/**
 * The private-read rule: a private version is readable by its publisher, by
 * grant readers of its namespace, or by the scope's current owner. `owner` is looked up at most once, lazily; a
 * lookup fault denies.
 */
export async function mayReadPrivate(
  row: { publishedBy: string; namespace: string },
  authn: AuthnContext,
  owner: () => Promise<ScopeRow | null>,
): Promise<boolean> {
  if (authn === undefined) return false;
  if (row.publishedBy === authn.subject) return true;
  // Grant readers of the namespace (scoped tokens, auth.json tokens).
  if (authn.grants && grantsAllow(authn.grants, "read", row.namespace)) return true;
  try {
    return (await owner())?.ownerSubject === authn.subject;
  } catch {
    return false;
  }
}

/** {@linkcode mayReadPrivate} when the scope row is already known (no lookup, no waiting). */
export function mayReadPrivateNow(
  row: { publishedBy: string; namespace: string },
  authn: AuthnContext,
  owner: ScopeRow | null,
): boolean {
  if (authn === undefined) return false;
  if (row.publishedBy === authn.subject) return true;
  if (authn.grants && grantsAllow(authn.grants, "read", row.namespace)) return true;
  return owner?.ownerSubject === authn.subject;
}

/** Memoize a lazy async lookup (one owner read per request at most). */
export function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= fn());
}

/** The scope-verification fields of a scope row, for read and search bodies. */
export function verificationFields(
  owner: ScopeRow | null,
): { scopeVerification?: "unverified" | "verified"; verifiedDomain?: string } {
  if (owner === null) return {};
  const out: { scopeVerification?: "unverified" | "verified"; verifiedDomain?: string } = {
    scopeVerification: owner.verification,
  };
  if (owner.verification === "verified" && owner.verifiedDomain !== undefined) {
    out.verifiedDomain = owner.verifiedDomain;
  }
  return out;
}

/** Parse a scope path parameter: with or without one leading `@`. */
export function scopeParam(raw: string): string {
  return `@${raw.startsWith("@") ? raw.slice(1) : raw}`;
}

/** The audit record of one ggui action, as a mutation for the same commit. */
export function auditMutation(
  now: Date,
  entry: { actor: string; action: string; target: string; detail?: Record<string, JsonValue> },
): Mutation {
  const id = timeOrderedId(now);
  const row: AuditRow = {
    id,
    at: now.toISOString(),
    actor: entry.actor,
    action: entry.action,
    target: entry.target,
    outcome: "ok",
    ...(entry.detail === undefined ? {} : { detail: entry.detail }),
  };
  return { type: "set", key: auditKey(id), value: row as unknown as JsonValue };
}

/**
 * The shared 401 body of bearer-required routes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../../storage/memory.ts";
 * import { UNAUTHORIZED_MESSAGE } from "./_common.ts";
 * import { listAuthorKeys } from "./author_keys.ts";
 * const ctx = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date(), bundleHost: "http://127.0.0.1:9001", registryHostname: "127.0.0.1:9001" };
 * const res = await listAuthorKeys(ctx, { authn: undefined });
 * assert(res.status === 401 && "message" in res.body && res.body.message === UNAUTHORIZED_MESSAGE);
 * ```
 */
export const UNAUTHORIZED_MESSAGE =
  "a valid bearer credential is required in the Authorization header — missing or invalid token";

/** The shared 401 result of bearer-required routes. */
export function unauthorized(): GguiResult<GguiErrorBody> {
  return errorResult(401, "unauthorized", UNAUTHORIZED_MESSAGE);
}
