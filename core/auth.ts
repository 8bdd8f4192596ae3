/**
 * The identity seam every surface shares: a bearer secret goes in, a
 * {@linkcode Principal} (or nothing) comes out. Surfaces decide what a
 * principal may do; this module only decides who it is.
 *
 * Today there is one implementation, {@linkcode staticTokenAuthenticator}: the
 * ggui server's single-token mode (one configured token, one subject).
 * Hashed token records mapping many tokens to many subjects slot in behind the
 * same {@linkcode Authenticator} interface later.
 *
 * @module
 */
import { sha256Hex, timingSafeEqual } from "../base/digest.ts";
import type { Grant } from "./rows.ts";

/** A verified caller. */
export interface Principal {
  /** The stable identity: publisher, key owner and scope owner. */
  subject: string;
  /** Whether the caller may use operator-only operations. */
  admin: boolean;
  /** What the caller may do per namespace (absent: only what `admin` implies). */
  grants?: Grant[];
  /** The stored token that authenticated the caller, if any. */
  tokenId?: string;
  /**
   * A display name for people (an `auth.json` token's `mark`): shown in
   * audit details, never compared. Only {@linkcode Principal.subject} decides.
   */
  label?: string;
}

/** Turns a presented bearer secret into a {@linkcode Principal}. */
export interface Authenticator {
  /** The principal for `token`, or `null` when the token is not valid. */
  authenticate(token: string): Promise<Principal | null>;
  /**
   * Optional: the same answer without waiting, when it needs no I/O (a
   * configured token); `undefined` when only {@linkcode authenticate} can tell.
   * Hot read paths use it to answer without awaiting.
   */
  authenticateNow?(token: string): Principal | null | undefined;
}

/**
 * The prefix of the subjects the server derives for itself: `rack:admin` (the
 * Rack `ADMIN_TOKEN`), `rack:token-<32 hex>` (an `auth.json` token, see `rackTokenSubject`),
 * `rack:anonymous`. No configured name (a stored token's subject, the ggui
 * `--subject`) may start with it, compared case-insensitively.
 */
export const RESERVED_SUBJECT_PREFIX = "rack:";

/** Actor names the server writes in audit records for callers that are no principal. */
const RESERVED_SUBJECTS: readonly string[] = ["anonymous", "system", "cli"];

/**
 * Whether a subject is the server's own: a configured name may not take it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isReservedSubject } from "./auth.ts";
 * assert.ok(isReservedSubject("rack:admin") && isReservedSubject("RACK:CI"));
 * assert.ok(isReservedSubject("anonymous"));
 * assert.ok(!isReservedSubject("alice") && !isReservedSubject("team/rack:x"));
 * ```
 */
export function isReservedSubject(subject: string): boolean {
  const lower = subject.toLowerCase();
  return lower.startsWith(RESERVED_SUBJECT_PREFIX) || RESERVED_SUBJECTS.includes(lower);
}

/** Options for {@linkcode staticTokenAuthenticator}. */
export interface StaticTokenOptions {
  /** The one accepted token (non-empty). */
  token: string;
  /** The subject every valid caller maps to; derived from the token when absent. */
  subject?: string;
}

/**
 * The subject a single-token deployment uses when none is configured:
 * `bearer-` + the first 12 lowercase hex characters of SHA-256(token).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultSubjectForToken } from "./auth.ts";
 * assert.ok(/^bearer-[0-9a-f]{12}$/.test(defaultSubjectForToken("s3cret")));
 * ```
 */
export function defaultSubjectForToken(token: string): string {
  return `bearer-${sha256Hex(token).slice(0, 12)}`;
}

/**
 * The single-token mode of the original ggui server: exactly one token is
 * accepted (constant-time compare; a length mismatch is a reject) and every
 * valid caller is the same subject. That caller is the operator, so it is also
 * `admin`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { staticTokenAuthenticator } from "./auth.ts";
 * const auth = staticTokenAuthenticator({ token: "s3cret", subject: "alice" });
 * assert.ok((await auth.authenticate("s3cret"))?.subject === "alice");
 * assert.ok((await auth.authenticate("wrong")) === null);
 * ```
 */
export function staticTokenAuthenticator(options: StaticTokenOptions): Authenticator {
  if (typeof options.token !== "string" || options.token.length === 0) {
    throw new TypeError("Cannot create a static token authenticator without a token");
  }
  if (options.subject !== undefined && options.subject.length === 0) {
    throw new TypeError("Cannot create a static token authenticator with an empty subject");
  }
  if (options.subject !== undefined && isReservedSubject(options.subject)) {
    throw new TypeError(
      `Cannot create a static token authenticator with the reserved subject '${options.subject}'`,
    );
  }
  const token = options.token;
  const principal: Principal = {
    subject: options.subject ?? defaultSubjectForToken(token),
    admin: true,
  };
  const now = (presented: string): Principal | null => {
    if (typeof presented !== "string" || presented.length === 0) return null;
    return timingSafeEqual(presented, token) ? { ...principal } : null;
  };
  return {
    authenticate: (presented: string) => Promise.resolve(now(presented)),
    authenticateNow: now,
  };
}
