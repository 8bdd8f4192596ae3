/**
 * Stored tokens with grants: a random secret with a recognisable prefix,
 * kept only as its SHA-256, with a subject, a label, an optional expiry and
 * grants (actions per namespace or namespace pattern). Looked up fresh on
 * every request, so a revoked or expired token fails on the very next request
 * in every process sharing the store.
 *
 * @module
 */
import { type Authenticator, isReservedSubject, type Principal } from "./auth.ts";
import { auditMutation, auditRow } from "./audit.ts";
import type { RegistryContext } from "./context.ts";
import { sha256Hex, toBase64Url } from "../base/digest.ts";
import { echo, RegistryError } from "../base/errors.ts";
import { type Action, type Grant, type TokenRow } from "./rows.ts";
import { listAll, updateRow } from "./store.ts";
import { tokenIndexMutations } from "./token_pages.ts";
import { eventMutations, type EventSubscription } from "./webhooks.ts";
import * as keys from "../storage/keys.ts";
import type { JsonValue } from "../storage/types.ts";
import { lazily } from "../base/lazy.ts";

/** The rows' zod schemas, loaded with the first check (not at start-up). */
const rowSchemas = lazily(() => import("./row_schemas.ts"));

/**
 * Every stored token's secret starts with this, so leaked ones are easy to scan for.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { generateTokenSecret, TOKEN_PREFIX } from "./tokens.ts";
 * assert(generateTokenSecret().startsWith(TOKEN_PREFIX));
 * assert(TOKEN_PREFIX === "xr_");
 * ```
 */
export const TOKEN_PREFIX = "xr_";

/**
 * A new random secret: the prefix and 32 random bytes, base64url.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { generateTokenSecret } from "./tokens.ts";
 * const a = generateTokenSecret();
 * assert(a.startsWith("xr_") && a.length === 3 + 43);
 * assert(a !== generateTokenSecret());
 * ```
 */
export function generateTokenSecret(): string {
  return TOKEN_PREFIX + toBase64Url(crypto.getRandomValues(new Uint8Array(32)));
}

function namespaceMatches(pattern: string, namespace: string): boolean {
  if (pattern === "*") return true;
  if (!pattern.includes("*")) return pattern === namespace;
  const re = new RegExp(
    "^" +
      pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\-]/g, "\\$&")).join("[a-z0-9_-]*") +
      "$",
  );
  return re.test(namespace);
}

/** What an action implies: `admin` everything, `publish` and `yank` also `read`. */
function implies(held: Action, wanted: Action): boolean {
  return held === wanted || held === "admin" ||
    (wanted === "read" && (held === "publish" || held === "yank"));
}

/**
 * Whether grants allow `action` on `namespace`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { grantsAllow } from "./tokens.ts";
 * const grants = [{ namespace: "@team-*", actions: ["publish" as const] }];
 * assert.ok(grantsAllow(grants, "read", "@team-web"));
 * assert.ok(!grantsAllow(grants, "publish", "@other"));
 * ```
 */
export function grantsAllow(grants: readonly Grant[], action: Action, namespace: string): boolean {
  return grants.some((g) =>
    namespaceMatches(g.namespace, namespace) && g.actions.some((a) => implies(a, action))
  );
}

/**
 * Whether a principal may do `action` on `namespace` (admins may do everything).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { principalCan } from "./tokens.ts";
 * const ci = { subject: "ci", admin: false, grants: [{ namespace: "@acme", actions: ["publish" as const] }] };
 * assert(principalCan(ci, "publish", "@acme"));
 * assert(!principalCan(ci, "yank", "@acme"));
 * assert(principalCan({ subject: "root", admin: true }, "admin", "@any"));
 * assert(!principalCan(null, "read", "@acme"));
 * ```
 */
export function principalCan(
  principal: Principal | null,
  action: Action,
  namespace: string,
): boolean {
  if (!principal) return false;
  return principal.admin || grantsAllow(principal.grants ?? [], action, namespace);
}

/** Whether `held` covers every namespace and action of `wanted` (no escalation). */
function covers(held: Principal, wanted: Grant): boolean {
  if (held.admin) return true;
  const heldGrants = held.grants ?? [];
  return wanted.actions.every((action) =>
    heldGrants.some((g) =>
      g.actions.some((a) => implies(a, action)) &&
      (g.namespace === "*" || (g.namespace === wanted.namespace) ||
        (!wanted.namespace.includes("*") && namespaceMatches(g.namespace, wanted.namespace)))
    )
  );
}

/** What {@linkcode createToken} takes. */
export interface CreateTokenInput {
  /** Who the token acts as. */
  subject: string;
  /** A human label. */
  label?: string;
  /** What it may do. */
  grants: Grant[];
  /** ISO-8601 expiry. */
  expiresAt?: string;
}

/** A created token: the row (without its hash) and the secret, shown once. */
export interface CreatedToken {
  /** The stored record, without its hash. */
  token: Omit<TokenRow, "sha256">;
  /** The secret: shown once, never stored. */
  secret: string;
}

function publicRow(row: TokenRow): Omit<TokenRow, "sha256"> {
  const { sha256: _hash, ...rest } = row;
  return rest;
}

/** Options of {@linkcode createToken} and {@linkcode revokeToken}. */
export interface TokenEventOptions {
  /** The caller's address (audit). */
  ip?: string;
  /** Webhook subscriptions told `token.created` / `token.revoked` in the same commit. */
  subscriptions?: readonly EventSubscription[];
}

/**
 * Create a token. The creator must hold `admin` over every grant it hands out
 * (a publish token cannot create tokens; nobody grants more than they hold).
 * The row, its id pointer, an audit record and the `token.created` webhook
 * rows land in one commit.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
 * import { createToken } from "./tokens.ts";
 * const ctx = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date() };
 * const admin = { subject: "root", admin: true };
 * const grants = [{ namespace: "@acme", actions: ["publish" as const] }];
 * const { token, secret } = await createToken(ctx, { subject: "ci", label: "CI", grants }, admin);
 * assert(secret.startsWith("xr_") && token.subject === "ci");
 * ```
 */
export async function createToken(
  ctx: RegistryContext,
  input: CreateTokenInput,
  creator: Principal,
  options: TokenEventOptions = {},
): Promise<CreatedToken> {
  const refuse = async (message: string, code: "forbidden" | "invalid_input") => {
    const row = auditRow(ctx, {
      actor: creator.subject,
      action: "token.create",
      // The subject as asked for, if it is text at all (records are filtered as text).
      target: typeof input.subject === "string" ? echo(input.subject) : "(not a subject)",
      outcome: "refused",
      ...(options.ip ? { ip: options.ip } : {}),
      detail: { reason: message },
    });
    await ctx.storage.commit({ checks: [], mutations: [auditMutation(row)] });
    return new RegistryError(code, message);
  };
  // Who may create tokens at all comes first, so a caller who may not learns
  // nothing from the checks below (which namespaces exist, say).
  if (!creator.admin && !(creator.grants ?? []).some((g) => g.actions.includes("admin"))) {
    throw await refuse("Creating tokens needs an admin grant", "forbidden");
  }
  if (typeof input.subject !== "string" || !/^[A-Za-z0-9@._:/-]{1,128}$/.test(input.subject)) {
    throw await refuse(`Invalid token subject '${echo(String(input.subject))}'`, "invalid_input");
  }
  if (isReservedSubject(input.subject)) {
    // The server's own identities (rack:admin, an auth.json token's rack:token-…):
    // a stored token named so would act as them.
    throw await refuse(
      `Token subject '${echo(input.subject)}' is reserved for the server's own identities`,
      "invalid_input",
    );
  }
  if (!Array.isArray(input.grants)) throw await refuse("Grants must be a list", "invalid_input");
  const { GrantSchema } = await rowSchemas();
  for (const g of input.grants) {
    if (!GrantSchema.safeParse(g).success) {
      throw await refuse(`Invalid grant '${JSON.stringify(g)}'`, "invalid_input");
    }
  }
  if (input.expiresAt !== undefined) {
    const at = typeof input.expiresAt === "string" ? Date.parse(input.expiresAt) : NaN;
    if (!Number.isFinite(at) || !Number.isFinite(new Date(at).getTime())) {
      throw await refuse(`Invalid expiry '${echo(String(input.expiresAt))}'`, "invalid_input");
    }
  }
  if (!creator.admin) {
    // A subject is an identity (ggui scope ownership, a publisher's private
    // versions, the audit actor): only a global admin names any subject. A
    // namespace admin creates tokens for itself or a subject under it
    // (`lead/ci`), and only with grants it administers.
    if (input.grants.length === 0) {
      throw await refuse(
        "A token without grants can be created by a global admin only",
        "forbidden",
      );
    }
    if (input.subject !== creator.subject && !input.subject.startsWith(`${creator.subject}/`)) {
      throw await refuse(
        `A namespace admin creates tokens for its own subject '${creator.subject}' or one under it ('${creator.subject}/…')`,
        "forbidden",
      );
    }
  }
  const adminOverAll = creator.admin ||
    input.grants.every((g) => covers(creator, { namespace: g.namespace, actions: ["admin"] }));
  if (!adminOverAll) {
    throw await refuse("Creating tokens needs admin over every namespace granted", "forbidden");
  }
  for (const g of input.grants) {
    if (!covers(creator, g)) {
      throw await refuse(`Cannot grant more than you hold on '${g.namespace}'`, "forbidden");
    }
  }
  const secret = generateTokenSecret();
  const now = ctx.clock().toISOString();
  const row: TokenRow = {
    id: `tok_${toBase64Url(crypto.getRandomValues(new Uint8Array(9)))}`,
    sha256: sha256Hex(secret),
    subject: input.subject,
    label: input.label ?? "",
    grants: input.grants,
    createdAt: now,
    createdBy: creator.subject,
  };
  if (input.expiresAt !== undefined) row.expiresAt = new Date(input.expiresAt).toISOString();
  const audit = auditRow(ctx, {
    actor: creator.subject,
    action: "token.create",
    target: row.id,
    ...(options.ip ? { ip: options.ip } : {}),
    detail: { subject: row.subject, label: row.label, grants: row.grants as unknown as JsonValue },
  });
  const res = await ctx.storage.commit({
    checks: [{ key: keys.tokenKey(row.sha256), stamp: null }, {
      key: keys.tokenByIdKey(row.id),
      stamp: null,
    }],
    mutations: [
      { type: "set", key: keys.tokenKey(row.sha256), value: row as unknown as JsonValue },
      { type: "set", key: keys.tokenByIdKey(row.id), value: row.sha256 },
      ...tokenIndexMutations(row),
      auditMutation(audit),
      // Never the secret or its hash.
      ...eventMutations(options.subscriptions ?? [], "token.created", {
        tokenId: row.id,
        subject: row.subject,
        grants: row.grants as unknown as JsonValue,
        createdBy: creator.subject,
        ...(row.expiresAt ? { expiresAt: row.expiresAt } : {}),
      }, ctx.clock()),
    ],
  });
  if (!res.ok) throw new RegistryError("conflict", "Could not create a token; retry");
  return { token: publicRow(row), secret };
}

/**
 * Every stored token (without hashes), optionally one subject's, oldest first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
 * import { createToken, listTokens } from "./tokens.ts";
 * const ctx = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date() };
 * const admin = { subject: "root", admin: true };
 * await createToken(ctx, { subject: "ci", grants: [{ namespace: "@acme", actions: ["read"] }] }, admin);
 * const tokens = await listTokens(ctx, { subject: "ci" });
 * assert(tokens.length === 1 && !("sha256" in tokens[0]!));
 * ```
 */
export async function listTokens(
  ctx: RegistryContext,
  options: { subject?: string } = {},
): Promise<Omit<TokenRow, "sha256">[]> {
  const out: Omit<TokenRow, "sha256">[] = [];
  for await (const e of listAll<TokenRow>(ctx.storage, keys.tokensPrefix())) {
    if (options.subject === undefined || e.value.subject === options.subject) {
      out.push(publicRow(e.value));
    }
  }
  return out.sort((a, b) => a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0);
}

/**
 * Revoke a token by id; `false` when there is no such token. Idempotent.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
 * import { authenticateStoredToken, createToken, revokeToken } from "./tokens.ts";
 * const ctx = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date() };
 * const admin = { subject: "root", admin: true };
 * const { token, secret } = await createToken(ctx, { subject: "ci", grants: [] }, admin);
 * assert(await revokeToken(ctx, token.id, admin));
 * assert(await authenticateStoredToken(ctx, secret) === null);
 * ```
 */
export async function revokeToken(
  ctx: RegistryContext,
  id: string,
  by: Principal,
  options: TokenEventOptions = {},
): Promise<boolean> {
  const pointer = await ctx.storage.get<string>(keys.tokenByIdKey(id));
  if (!pointer) return false;
  const now = ctx.clock().toISOString();
  const audit = auditRow(ctx, {
    actor: by.subject,
    action: "token.revoke",
    target: id,
    ...(options.ip ? { ip: options.ip } : {}),
  });
  const res = await updateRow<TokenRow>(
    ctx.storage,
    keys.tokenKey(pointer.value),
    (cur) => cur === null || cur.revokedAt ? undefined : { ...cur, revokedAt: now },
    {
      extra: (cur) => [
        auditMutation(audit),
        ...eventMutations(options.subscriptions ?? [], "token.revoked", {
          tokenId: id,
          subject: (cur as TokenRow | null)?.subject ?? null,
          revokedBy: by.subject,
        }, ctx.clock()),
      ],
    },
  );
  return res.value !== null;
}

/**
 * The principal of a stored token's secret, or `null` when unknown, revoked or
 * expired. Reads the store every time: revocation needs no cache to expire.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
 * import { authenticateStoredToken, createToken } from "./tokens.ts";
 * const ctx = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date() };
 * const grants = [{ namespace: "@acme", actions: ["publish" as const] }];
 * const { secret } = await createToken(ctx, { subject: "ci", grants }, { subject: "root", admin: true });
 * const principal = await authenticateStoredToken(ctx, secret);
 * assert(principal?.subject === "ci" && !principal.admin);
 * assert(await authenticateStoredToken(ctx, "xr_unknown") === null);
 * ```
 */
export async function authenticateStoredToken(
  ctx: RegistryContext,
  secret: string,
): Promise<Principal | null> {
  if (!secret.startsWith(TOKEN_PREFIX) || secret.length > 256) return null;
  const entry = await ctx.storage.get<TokenRow>(keys.tokenKey(sha256Hex(secret)));
  if (!entry) return null;
  const row = entry.value;
  if (row.revokedAt) return null;
  // A row from before subjects were reserved must not act as the server's identities.
  if (isReservedSubject(row.subject)) return null;
  if (row.expiresAt && Date.parse(row.expiresAt) <= ctx.clock().getTime()) return null;
  return {
    subject: row.subject,
    admin: row.grants.some((g) => g.namespace === "*" && g.actions.includes("admin")),
    grants: row.grants,
    tokenId: row.id,
  };
}

/**
 * An {@linkcode Authenticator} over stored tokens.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
 * import { createToken, storedTokenAuthenticator } from "./tokens.ts";
 * const ctx = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date() };
 * const { secret } = await createToken(ctx, { subject: "ci", grants: [] }, { subject: "root", admin: true });
 * const auth = storedTokenAuthenticator(ctx);
 * assert((await auth.authenticate(secret))?.subject === "ci");
 * assert(await auth.authenticate("wrong") === null);
 * ```
 */
export function storedTokenAuthenticator(ctx: RegistryContext): Authenticator {
  return {
    authenticate: (secret) => authenticateStoredToken(ctx, secret),
    // What is not shaped like a stored token is refused without a read; the rest needs one.
    authenticateNow: (secret) =>
      !secret.startsWith(TOKEN_PREFIX) || secret.length > 256 ? null : undefined,
  };
}

/**
 * Try several authenticators in order; the first principal wins.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { chainAuthenticators } from "./tokens.ts";
 * import { staticTokenAuthenticator } from "./auth.ts";
 * const auth = chainAuthenticators(staticTokenAuthenticator({ token: "a" }), staticTokenAuthenticator({ token: "b" }));
 * assert.ok((await auth.authenticate("b")) !== null);
 * ```
 */
export function chainAuthenticators(...chain: Authenticator[]): Authenticator {
  return {
    async authenticate(secret) {
      for (const a of chain) {
        const p = await a.authenticate(secret);
        if (p) return p;
      }
      return null;
    },
    authenticateNow(secret) {
      for (const a of chain) {
        const p = a.authenticateNow?.(secret);
        if (p === undefined) return undefined;
        if (p) return p;
      }
      return null;
    },
  };
}
