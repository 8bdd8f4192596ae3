/**
 * The pages' cookies: the session (HttpOnly, SameSite=Strict, Secure over
 * https) and the sign-in form's double-submit CSRF cookie.
 *
 * @module
 */
import { requestHeader } from "../ops/_request_header.ts";

/** The session cookie's name. */
export const SESSION_COOKIE = "registry_session";
/** The sign-in form's CSRF cookie (there is no session yet to hold one). */
export const SIGNIN_COOKIE = "registry_signin";

/** One cookie's value from a request, if present. */
export function cookieOf(req: Request, name: string): string | undefined {
  const header = requestHeader(req, "cookie");
  if (header === null) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** A `Set-Cookie` value; `maxAgeSeconds` 0 clears the cookie. */
export function setCookie(
  req: Request,
  name: string,
  value: string,
  maxAgeSeconds: number,
): string {
  const secure = overHttps(req) ? "; Secure" : "";
  return `${name}=${value}; Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Strict${secure}`;
}

/**
 * Whether the browser reached us over https: the request URL, or a
 * TLS-terminating proxy's `X-Forwarded-Proto` / `Forwarded: proto=https`.
 * Trusted without --trust-proxy because it can only add `Secure`: a client
 * that claims https falsely just stops getting its own cookie back over http.
 */
export function overHttps(req: Request): boolean {
  if (new URL(req.url).protocol === "https:") return true;
  const forwarded = req.headers.get("x-forwarded-proto");
  if (forwarded !== null && forwarded.split(",")[0]!.trim().toLowerCase() === "https") return true;
  return /(?:^|[;,\s])proto=(?:"?)https(?:"?)(?:[;,\s]|$)/i.test(
    req.headers.get("forwarded") ?? "",
  );
}

/** Whether two secrets are equal, in time independent of where they differ. */
export function sameSecret(a: string, b: string): boolean {
  if (a.length !== b.length || a.length === 0) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
