/**
 * Rack `auth.json` (spec §4): parsing with per-namespace fail-closed rules,
 * token extraction and every access decision, with one admin rule:
 *
 * - An undeclared namespace is forbidden to everyone, the admin included
 *   (reads 403 `FORBIDDEN_NAMESPACE`, uploads 403 `NAMESPACE_NOT_ALLOWED`).
 * - On a declared namespace the admin token skips every token check (reads of
 *   gated namespaces, uploads to anonymous and gated namespaces alike).
 * - Discovery lists declared namespaces only, for the admin too.
 *
 * Tokens are held only as SHA-256 digests; every comparison is between digests
 * and runs in constant time, touching every entry.
 *
 * @module
 */
import { sha256Hex, timingSafeEqual } from "../../base/digest.ts";
import { RegistryError } from "../../base/errors.ts";
import { rackError } from "./errors.ts";
import { isRackNamespace } from "./paths.ts";
import type { Principal } from "../auth.ts";
import { principalCan } from "../tokens.ts";

/** One token of a namespace, held as a digest. */
export interface RackTokenEntry {
  /** SHA-256 (lowercase hex) of the trimmed token. */
  sha256: string;
  /** Whether the token may upload (only literal `true` in the file grants it). */
  publish: boolean;
  /** A label for logs and audit records. */
  mark?: string;
  /** Expiry as epoch milliseconds; absent = never. */
  expiresAt?: number;
}

/** The policy of one declared namespace. */
export interface RackNamespacePolicy {
  /** `[]` in the file: anyone may read, only the admin may upload. */
  anonymous: boolean;
  /** The namespace's tokens (empty when anonymous). */
  tokens: readonly RackTokenEntry[];
}

/** A parsed `auth.json` plus the admin token digest. */
export interface RackAuth {
  /** Declared namespaces. */
  namespaces: ReadonlyMap<string, RackNamespacePolicy>;
  /** SHA-256 of `ADMIN_TOKEN`, when one is configured. */
  adminSha256?: string;
}

/**
 * The auth configuration in force, asked once per request (hot-reloadable).
 * `now`, when present, answers the same configuration without waiting, or
 * `undefined` when only the call can tell (a reload is due): hot read paths
 * use it to answer without awaiting.
 */
export interface RackAuthProvider {
  /** The configuration in force. */
  (): Promise<RackAuth>;
  /** The configuration in force when known without waiting. */
  now?: () => RackAuth | undefined;
}

/**
 * A provider of a fixed configuration (no file behind it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fixedRackAuth, parseAuthConfig } from "./auth.ts";
 * const { auth } = parseAuthConfig('{"@co":[]}');
 * const provider = fixedRackAuth(auth);
 * assert.ok(provider.now?.() === auth && (await provider()) === auth);
 * ```
 */
export function fixedRackAuth(auth: RackAuth): RackAuthProvider {
  const provider: RackAuthProvider = () => Promise.resolve(auth);
  provider.now = () => auth;
  return provider;
}

/** A namespace left out of the configuration, and why. */
export interface RejectedNamespace {
  /** The key as written in the file. */
  namespace: string;
  /** Why it was excluded. */
  reason: string;
}

/** The result of {@linkcode parseAuthConfig}. */
export interface ParsedAuthConfig {
  /** The usable configuration. */
  auth: RackAuth;
  /** Namespaces excluded by the fail-closed rules (to be logged). */
  rejected: RejectedNamespace[];
}

/** Who is asking, resolved once per request. */
export interface RackCaller {
  /** The presented token's digest, when a token was presented. */
  tokenSha256?: string;
  /** Whether the token is the admin token. */
  admin: boolean;
  /**
   * A stored token's principal (docs/access.md): its grants decide on every
   * namespace they cover, exactly like an auth.json token listed there.
   */
  principal?: Principal;
}

/** Who may do what, as decided for one namespace. */
export interface RackGrant {
  /** Whether the admin rule allowed it. */
  admin: boolean;
  /** The matched token (absent for admin and anonymous reads). */
  entry?: RackTokenEntry;
  /** The stored token whose grants allowed it. */
  principal?: Principal;
}

/**
 * Parse `auth.json` text (`null` = the file is missing: nothing declared).
 * A broken namespace is excluded alone; a top level that is not a JSON object
 * throws `invalid_input`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseAuthConfig } from "./auth.ts";
 * const { auth, rejected } = parseAuthConfig('{"@rack":[],"bad":[]}', { adminToken: "root" });
 * assert.ok(auth.namespaces.get("@rack")?.anonymous === true);
 * assert.ok(rejected[0]?.namespace === "bad");
 * ```
 */
export function parseAuthConfig(
  text: string | null,
  options: { adminToken?: string } = {},
): ParsedAuthConfig {
  const namespaces = new Map<string, RackNamespacePolicy>();
  const rejected: RejectedNamespace[] = [];
  const auth: RackAuth = { namespaces };
  const admin = options.adminToken?.trim();
  if (admin) auth.adminSha256 = sha256Hex(admin);
  if (text === null) return { auth, rejected };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (cause) {
    throw new RegistryError("invalid_input", "Could not parse auth.json: invalid JSON", { cause });
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new RegistryError(
      "invalid_input",
      "Could not parse auth.json: top level is not an object",
    );
  }
  for (const [namespace, value] of Object.entries(doc)) {
    const result = parseNamespace(namespace, value);
    if (typeof result === "string") rejected.push({ namespace, reason: result });
    else namespaces.set(namespace, result);
  }
  return { auth, rejected };
}

function parseNamespace(namespace: string, value: unknown): RackNamespacePolicy | string {
  if (!isRackNamespace(namespace)) return "key is not a valid namespace";
  if (!Array.isArray(value)) return "value is not an array";
  if (value.length === 0) return { anonymous: true, tokens: [] };
  const tokens: RackTokenEntry[] = [];
  for (const item of value) {
    if (typeof item !== "object" || item === null || Array.isArray(item)) continue;
    const raw = item as Record<string, unknown>;
    if (typeof raw.token !== "string" || raw.token.trim() === "") continue;
    const entry: RackTokenEntry = {
      sha256: sha256Hex(raw.token.trim()),
      publish: raw.publish === true,
    };
    if (typeof raw.mark === "string" && raw.mark !== "") entry.mark = raw.mark;
    const expires = raw.expiresAt;
    if (expires !== undefined && expires !== null && expires !== "") {
      if (typeof expires !== "string") return "expiresAt is not a string";
      const ms = Date.parse(expires);
      if (Number.isNaN(ms)) return `expiresAt '${expires}' is not a valid date`;
      entry.expiresAt = ms;
    }
    tokens.push(entry);
  }
  if (tokens.length === 0) return "no valid token entry";
  return { anonymous: false, tokens };
}

/**
 * The token of a request: `Authorization: Bearer <t>` (scheme case-insensitive),
 * else a non-empty `X-Registry-Token`, else `undefined`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { extractToken } from "./auth.ts";
 * assert.ok(extractToken(new Headers({ authorization: "bearer  abc " })) === "abc");
 * assert.ok(extractToken(new Headers({ authorization: "Basic x", "x-registry-token": "t" })) === "t");
 * ```
 */
export function extractToken(headers: Pick<Headers, "get">): string | undefined {
  const authorization = headers.get("authorization");
  if (authorization !== null) {
    const m = /^bearer\s+(.+)$/is.exec(authorization);
    const token = m?.[1]?.trim();
    if (token) return token;
  }
  const header = headers.get("x-registry-token")?.trim();
  return header ? header : undefined;
}

/** Resolve the caller from a presented token (constant-time admin compare). */
export function identifyCaller(auth: RackAuth, token: string | undefined): RackCaller {
  if (token === undefined) return { admin: false };
  const tokenSha256 = sha256Hex(token);
  const admin = auth.adminSha256 !== undefined && timingSafeEqual(tokenSha256, auth.adminSha256);
  return { tokenSha256, admin };
}

type Match =
  | { result: "ok"; entry: RackTokenEntry }
  | { result: "expired" }
  | { result: "invalid" };

/** Find a token in a list, comparing against every entry in constant time per entry. */
function matchToken(tokens: readonly RackTokenEntry[], sha256: string, now: Date): Match {
  let live: RackTokenEntry | undefined;
  let expired = false;
  for (const entry of tokens) {
    if (!timingSafeEqual(entry.sha256, sha256)) continue;
    if (entry.expiresAt !== undefined && entry.expiresAt < now.getTime()) expired = true;
    else if (live === undefined || (entry.publish && !live.publish)) live = entry;
  }
  if (live) return { result: "ok", entry: live };
  return expired ? { result: "expired" } : { result: "invalid" };
}

function tokenDecision(policy: RackNamespacePolicy, caller: RackCaller, now: Date): RackTokenEntry {
  if (caller.tokenSha256 === undefined) {
    throw rackError("UNAUTHORIZED", "Authentication token is required");
  }
  const match = matchToken(policy.tokens, caller.tokenSha256, now);
  if (match.result === "expired") {
    throw rackError("TOKEN_EXPIRED", "Authentication token has expired");
  }
  if (match.result === "invalid") throw rackError("INVALID_TOKEN", "Provided token is invalid");
  return match.entry;
}

/**
 * Decide a read of a namespace: undeclared → 403 `FORBIDDEN_NAMESPACE` (admin
 * included); admin → allowed; anonymous → allowed; else the token decision.
 */
export function authorizeRead(
  auth: RackAuth,
  namespace: string,
  options: { caller: RackCaller; now: Date },
): RackGrant {
  const policy = auth.namespaces.get(namespace);
  const principal = options.caller.principal;
  if (principal && principalCan(principal, "read", namespace)) return { admin: false, principal };
  if (!policy) throw rackError("FORBIDDEN_NAMESPACE", "Namespace not allowed");
  if (options.caller.admin) return { admin: true };
  if (policy.anonymous) return { admin: false };
  return { admin: false, entry: tokenDecision(policy, options.caller, options.now) };
}

/** Whether a namespace is readable by the caller (discovery filter; never throws). */
export function canRead(
  auth: RackAuth,
  namespace: string,
  options: { caller: RackCaller; now: Date },
): boolean {
  try {
    authorizeRead(auth, namespace, options);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether the caller presented a token this surface does not know: not the
 * admin token, not a stored token, not a live token of any declared
 * namespace (an expired one included). Such a request counts against the
 * failed-authentication budget whatever it answers, so that reads a token
 * does not change (`/namespaces` for a stranger) cannot test tokens for free.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { identifyCaller, isUnknownToken, parseAuthConfig } from "./auth.ts";
 * const { auth } = parseAuthConfig('{"@team":[{"token":"t1"}]}');
 * const now = new Date();
 * assert.ok(!isUnknownToken(auth, identifyCaller(auth, "t1"), now));
 * assert.ok(isUnknownToken(auth, identifyCaller(auth, "guess"), now));
 * assert.ok(!isUnknownToken(auth, identifyCaller(auth, undefined), now));
 * ```
 */
export function isUnknownToken(auth: RackAuth, caller: RackCaller, now: Date): boolean {
  if (caller.tokenSha256 === undefined || caller.admin || caller.principal) return false;
  let known = false;
  // Every namespace is checked (constant time per entry, whatever matches first).
  for (const policy of auth.namespaces.values()) {
    if (matchToken(policy.tokens, caller.tokenSha256, now).result === "ok") known = true;
  }
  return !known;
}

/** Whether a namespace is token-gated (its responses must be `private`). */
export function isGated(auth: RackAuth, namespace: string): boolean {
  const policy = auth.namespaces.get(namespace);
  return policy === undefined || !policy.anonymous;
}

/**
 * The check before an upload body is read: no token → 401 `UNAUTHORIZED`;
 * the admin passes; otherwise the token must be a live publish token of SOME
 * namespace (known but read-only → 403 `INSUFFICIENT_PERMISSIONS`, only
 * expired matches → 401 `TOKEN_EXPIRED`, unknown → 401 `INVALID_TOKEN`).
 */
export function preAuthorizeUpload(
  auth: RackAuth,
  options: { caller: RackCaller; now: Date },
): void {
  const { caller, now } = options;
  if (caller.tokenSha256 === undefined) {
    throw rackError(
      "UNAUTHORIZED",
      "Authentication required for upload. Provide a namespace token or admin token via Authorization or X-Registry-Token.",
    );
  }
  if (caller.admin) return;
  if (caller.principal) {
    const p = caller.principal;
    if (
      p.admin ||
      (p.grants ?? []).some((g) => g.actions.some((a) => a === "publish" || a === "admin"))
    ) {
      return;
    }
    throw rackError("INSUFFICIENT_PERMISSIONS", "Token does not have publish permission");
  }
  let publish = false;
  let readOnly = false;
  let expired = false;
  for (const policy of auth.namespaces.values()) {
    const match = matchToken(policy.tokens, caller.tokenSha256, now);
    if (match.result === "ok") {
      if (match.entry.publish) publish = true;
      else readOnly = true;
    } else if (match.result === "expired") expired = true;
  }
  if (publish) return;
  if (readOnly) {
    throw rackError("INSUFFICIENT_PERMISSIONS", "Token does not have publish permission");
  }
  if (expired) throw rackError("TOKEN_EXPIRED", "Authentication token has expired");
  throw rackError("INVALID_TOKEN", "Provided token is invalid");
}

/**
 * Decide an upload to the real namespace (spec §6.2 steps 7–8).
 */
export function authorizeUpload(
  auth: RackAuth,
  namespace: string,
  options: { caller: RackCaller; now: Date },
): RackGrant {
  const policy = auth.namespaces.get(namespace);
  const principal = options.caller.principal;
  if (principal && principalCan(principal, "publish", namespace)) {
    return { admin: false, principal };
  }
  if (principal) {
    throw rackError(
      policy ? "INSUFFICIENT_PERMISSIONS" : "NAMESPACE_NOT_ALLOWED",
      policy
        ? `Token does not have publish permission for namespace ${namespace}`
        : `Namespace ${namespace} is not allowed`,
    );
  }
  if (!policy) throw rackError("NAMESPACE_NOT_ALLOWED", `Namespace ${namespace} is not allowed`);
  if (options.caller.admin) return { admin: true };
  if (policy.anonymous) {
    throw rackError(
      "ANONYMOUS_UPLOAD_FORBIDDEN",
      "Anonymous namespaces do not allow uploads. Use an admin token or configure namespace tokens.",
    );
  }
  const entry = tokenDecision(policy, options.caller, options.now);
  if (!entry.publish) {
    throw rackError(
      "INSUFFICIENT_PERMISSIONS",
      `Token does not have publish permission for namespace ${namespace}`,
    );
  }
  return { admin: false, entry };
}

/**
 * The subject of an `auth.json` token, from its SHA-256 (lowercase hex):
 * `rack:token-` + 32 hex digits (128 bits) of a second, domain-separated
 * SHA-256 over that digest. It depends on the token alone, so one token listed
 * in several namespaces is one identity and two tokens with one `mark` are two
 * (the mark is only a label). 128 bits cannot be ground to match another
 * token's subject, and the subject (shown as `publishedBy`) is not the digest
 * audit records and logs name a token by. The `rack:` prefix is reserved
 * (`isReservedSubject`), so no configured name takes it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rackTokenSubject } from "./auth.ts";
 * import { sha256Hex } from "../../base/digest.ts";
 * assert.ok(/^rack:token-[0-9a-f]{32}$/.test(rackTokenSubject(sha256Hex("t1"))));
 * assert.ok(rackTokenSubject(sha256Hex("t1")) !== rackTokenSubject(sha256Hex("t2")));
 * ```
 */
export function rackTokenSubject(tokenSha256: string): string {
  return `rack:token-${sha256Hex(`x-registry auth.json subject:${tokenSha256}`).slice(0, 32)}`;
}

/**
 * Who acted, for `publishedBy` and audit rows: the same subject the token has
 * on every other surface (the mark goes into the audit detail, never here).
 */
export function actorLabel(grant: RackGrant): string {
  if (grant.admin) return "rack:admin";
  if (grant.principal) return grant.principal.subject;
  if (!grant.entry) return "rack:anonymous";
  return rackTokenSubject(grant.entry.sha256);
}
