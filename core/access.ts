/**
 * One namespace policy for every surface (the rule table is `docs/access.md`):
 *
 * - A namespace with configured grants follows them on every surface:
 *   declared in Rack `auth.json` (its tokens become read/publish grants), or
 *   covered by the grants of the caller's stored token.
 * - An unconfigured namespace follows the ggui rule: the first publish claims
 *   it for its subject, an owned one refuses other subjects, reserved ones
 *   cannot be claimed.
 * - A `private` version is readable by grant readers of its namespace, its
 *   publisher and the namespace owner, nobody else.
 *
 * This module turns `auth.json` entries into principals with grants (so a Rack
 * token works on the ggui and admin surfaces with exactly its Rack meaning)
 * and holds the decisions both surfaces share.
 *
 * @module
 */
import type { Authenticator, Principal } from "./auth.ts";
import type { RegistryContext } from "./context.ts";
import { sha256Hex, timingSafeEqual } from "../base/digest.ts";
import type { Clock } from "./context.ts";
import type { Action, Grant, PackageRow, ScopeRow } from "./rows.ts";
import { grantsAllow } from "./tokens.ts";
import { type RackAuth, type RackAuthProvider, rackTokenSubject } from "./rack/auth.ts";
import * as keys from "../storage/keys.ts";

/** The subject of the Rack `ADMIN_TOKEN`. */
export const RACK_ADMIN_SUBJECT = "rack:admin";

/**
 * An {@linkcode Authenticator} over Rack `auth.json` and `ADMIN_TOKEN`: the
 * admin token is an admin principal; a namespace token is a principal with
 * `read` (or `publish` when `publish: true`) on every namespace listing it
 * live. Expired entries grant nothing. Subject: `rackTokenSubject` (`rack:token-<32 hex>`)
 * (never the mark, which becomes the principal's `label`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rackAuthAuthenticator } from "./access.ts";
 * import { sha256Hex } from "../base/digest.ts";
 * import { fixedRackAuth, parseAuthConfig, rackTokenSubject } from "./rack/auth.ts";
 * const { auth } = parseAuthConfig('{"@co":[{"token":"t1","publish":true,"mark":"CI"}]}');
 * const p = await rackAuthAuthenticator(() => Promise.resolve(auth), () => new Date()).authenticate("t1");
 * assert.ok(p?.subject === rackTokenSubject(sha256Hex("t1")) && p.label === "CI");
 * assert.ok(p.grants?.[0]?.actions[0] === "publish");
 * // Known at once when the provider knows the auth.json in force.
 * const now = rackAuthAuthenticator(fixedRackAuth(auth), () => new Date());
 * assert.deepEqual(now.authenticateNow?.("t1"), p);
 * assert.equal(now.authenticateNow?.("guess"), null);
 * ```
 */
export function rackAuthAuthenticator(
  auth: RackAuthProvider,
  clock: Clock,
): Authenticator {
  return {
    // At once when the policy in force is known without waiting (the provider's `now`).
    authenticateNow(token) {
      const trimmed = token.trim();
      if (trimmed.length === 0) return null;
      const current = auth.now?.();
      return current === undefined ? undefined : rackPrincipal(current, trimmed, clock);
    },
    async authenticate(token) {
      const trimmed = token.trim();
      if (trimmed.length === 0) return null;
      return rackPrincipal(await auth(), trimmed, clock);
    },
  };
}

/** The principal of a (trimmed) token under the `auth.json` in force; `null`: not one of its tokens. */
function rackPrincipal(current: RackAuth, token: string, clock: Clock): Principal | null {
  const digest = sha256Hex(token);
  if (current.adminSha256 !== undefined && timingSafeEqual(digest, current.adminSha256)) {
    return { subject: RACK_ADMIN_SUBJECT, admin: true };
  }
  const now = clock().getTime();
  const grants: Grant[] = [];
  let mark: string | undefined;
  for (const [namespace, policy] of current.namespaces) {
    let best: Action | undefined;
    for (const entry of policy.tokens) {
      if (!timingSafeEqual(entry.sha256, digest)) continue;
      if (entry.expiresAt !== undefined && entry.expiresAt < now) continue;
      if (best !== "publish") best = entry.publish ? "publish" : "read";
      mark ??= entry.mark;
    }
    if (best) grants.push({ namespace, actions: [best] });
  }
  if (grants.length === 0) return null;
  return {
    subject: rackTokenSubject(digest),
    admin: false,
    grants,
    ...(mark ? { label: mark } : {}),
  };
}

/**
 * Whether a namespace exists anywhere: declared in `auth.json`, claimed, or
 * holding a package. Grants for namespaces that do not exist are refused.
 */
export async function namespaceExists(
  ctx: RegistryContext,
  namespace: string,
  rackAuth?: RackAuth,
): Promise<boolean> {
  if (rackAuth?.namespaces.has(namespace)) return true;
  if (await ctx.storage.get<ScopeRow>(keys.scopeKey(namespace))) return true;
  const page = await ctx.storage.list<PackageRow>(keys.packagesInNamespace(namespace), {
    limit: 1,
  });
  return page.items.length > 0;
}

/**
 * Whether a principal's own grants decide `action` on `namespace` (a stored
 * token or an auth.json token whose grants name it). Principals without
 * grants (the ggui static token) never do: the claim rule applies to them.
 */
export function grantsCover(
  principal: Principal | null | undefined,
  action: Action,
  namespace: string,
): boolean {
  return isScoped(principal) && grantsAllow(principal!.grants!, action, namespace);
}

/**
 * Whether a principal is scoped by grants. A token with no grants at all (the
 * ggui static token, a stored identity-only token) is a plain identity: the
 * claim-on-first-publish rule applies to it.
 */
export function isScoped(principal: Principal | null | undefined): boolean {
  return (principal?.grants?.length ?? 0) > 0;
}

/** The outcome of {@linkcode decideGguiPublish}. */
export type PublishDecision =
  | { allowed: true; claim: boolean }
  | { allowed: false; reason: "not_granted" | "owned" | "reserved" };

/**
 * The publish rule of the ggui surface under the one policy:
 *
 * 1. Declared in `auth.json` → the caller needs `publish` there (grants, or
 *    `admin`); nothing is claimed.
 * 2. The caller has grants (a scoped token; an empty list is no scope) → they must allow `publish`;
 *    when they do, the namespace is claimed for its subject if unowned and
 *    not reserved, and an owner other than the subject does not block it.
 * 3. Otherwise (a token without grants) → the original claim rule.
 */
export function decideGguiPublish(
  input: {
    principal: Principal;
    namespace: string;
    declared: boolean;
    owner: ScopeRow | null;
    reserved: readonly string[];
  },
): PublishDecision {
  const { principal, namespace, owner } = input;
  if (input.declared) {
    return principal.admin || grantsCover(principal, "publish", namespace)
      ? { allowed: true, claim: false }
      : { allowed: false, reason: "not_granted" };
  }
  if (isScoped(principal)) {
    if (!grantsAllow(principal.grants!, "publish", namespace)) {
      return { allowed: false, reason: "not_granted" };
    }
    return { allowed: true, claim: owner === null && !input.reserved.includes(namespace) };
  }
  if (owner !== null) {
    return owner.ownerSubject === principal.subject
      ? { allowed: true, claim: false }
      : { allowed: false, reason: "owned" };
  }
  if (input.reserved.includes(namespace)) return { allowed: false, reason: "reserved" };
  return { allowed: true, claim: true };
}
