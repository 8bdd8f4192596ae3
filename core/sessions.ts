/**
 * Web sessions: a person pastes a token once and gets a session, a row with
 * an expiry keyed by the SHA-256 of a random cookie secret. The row keeps the
 * token sealed (AES-GCM under a key derived from that secret), never in the
 * clear: only a request presenting the cookie can open it. Every request
 * re-authenticates the token through the one identity chain, so a revoked or
 * expired token ends its sessions on the next request, in every process.
 *
 * @module
 */
import type { Authenticator, Principal } from "./auth.ts";
import type { RegistryContext } from "./context.ts";
import { sha256Hex } from "../base/digest.ts";
import * as keys from "../storage/keys.ts";

/** How long a session lives by default: 12 hours. */
export const DEFAULT_SESSION_TTL_MS = 12 * 60 * 60 * 1000;

/** The longest token a session accepts (longer is refused before any lookup). */
export const MAX_SESSION_TOKEN_CHARS = 4096;

/** The stored row (no secret in the clear). */
interface SessionRow {
  /** base64 of the 12-byte IV and the sealed token. */
  sealed: string;
  /** The subject it was opened for (shown in the header). */
  subject: string;
  /** The CSRF token of this session's forms. */
  csrf: string;
  /** ISO times. */
  createdAt: string;
  expiresAt: string;
}

/** An open session: who, and the CSRF token its forms carry. */
export interface OpenSession {
  /** The principal the token authenticates as now. */
  principal: Principal;
  /** The session's CSRF token. */
  csrf: string;
}

/** A random URL-safe secret of 32 bytes. */
export function randomSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(
    /=+$/,
    "",
  );
}

async function sealingKey(secret: string): Promise<CryptoKey> {
  const raw = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(`registry-session-seal:${secret}`),
  );
  return crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
}

async function seal(secret: string, token: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const data = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv },
    await sealingKey(secret),
    new TextEncoder().encode(token),
  );
  const out = new Uint8Array(12 + data.byteLength);
  out.set(iv);
  out.set(new Uint8Array(data), 12);
  return btoa(String.fromCharCode(...out));
}

async function unseal(secret: string, sealed: string): Promise<string | null> {
  try {
    const bytes = Uint8Array.from(atob(sealed), (ch) => ch.charCodeAt(0));
    const data = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: bytes.slice(0, 12) },
      await sealingKey(secret),
      bytes.slice(12),
    );
    return new TextDecoder().decode(data);
  } catch {
    return null;
  }
}

/**
 * Open a session for a token the caller has just authenticated as
 * `principal`; answers the cookie secret and the session's CSRF token.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createSession, openSession } from "./sessions.ts";
 * import { staticTokenAuthenticator } from "./auth.ts";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
 * const ctx = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date() };
 * const auth = staticTokenAuthenticator({ token: "s3cret", subject: "admin" });
 * const { secret } = await createSession(ctx, { token: "s3cret", principal: { subject: "admin", admin: true } });
 * assert.equal((await openSession(ctx, secret, auth))?.principal.subject, "admin");
 * ```
 */
export async function createSession(
  ctx: RegistryContext,
  options: { token: string; principal: Principal; ttlMs?: number },
): Promise<{ secret: string; csrf: string; expiresAt: Date }> {
  const secret = randomSecret();
  const now = ctx.clock();
  const expiresAt = new Date(now.getTime() + (options.ttlMs ?? DEFAULT_SESSION_TTL_MS));
  const row: SessionRow = {
    sealed: await seal(secret, options.token),
    subject: options.principal.subject,
    csrf: randomSecret(),
    createdAt: now.toISOString(),
    expiresAt: expiresAt.toISOString(),
  };
  await ctx.storage.commit({
    checks: [],
    mutations: [{ type: "set", key: keys.uiSessionKey(sha256Hex(secret)), value: { ...row } }],
  });
  return { secret, csrf: row.csrf, expiresAt };
}

/**
 * The session a cookie secret names, if it is live: the row exists, has not
 * expired, and its token still authenticates. A dead session's row is
 * deleted on the way.
 */
export async function openSession(
  ctx: RegistryContext,
  secret: string,
  authenticator: Authenticator,
): Promise<OpenSession | null> {
  if (secret.length === 0 || secret.length > 128) return null;
  const key = keys.uiSessionKey(sha256Hex(secret));
  const entry = await ctx.storage.get<SessionRow>(key);
  if (!entry) return null;
  const row = entry.value;
  const token = Date.parse(row.expiresAt) > ctx.clock().getTime()
    ? await unseal(secret, row.sealed)
    : null;
  const principal = token === null ? null : await authenticator.authenticate(token);
  if (principal === null) {
    await ctx.storage.commit({ checks: [], mutations: [{ type: "delete", key }] });
    return null;
  }
  return { principal, csrf: row.csrf };
}

/** End a session (sign out); `true` when it existed. */
export async function endSession(ctx: RegistryContext, secret: string): Promise<boolean> {
  if (secret.length === 0 || secret.length > 128) return false;
  const key = keys.uiSessionKey(sha256Hex(secret));
  const entry = await ctx.storage.get(key);
  if (!entry) return false;
  await ctx.storage.commit({ checks: [], mutations: [{ type: "delete", key }] });
  return true;
}
