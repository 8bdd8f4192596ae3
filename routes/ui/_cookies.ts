/**
 * The pages' cookies: the session (HttpOnly, SameSite=Strict, Secure over
 * https) and the sign-in form's double-submit CSRF cookie.
 *
 * @module
 */

/** The session cookie's name. */
export const SESSION_COOKIE = "registry_session";
/** The sign-in form's CSRF cookie (there is no session yet to hold one). */
export const SIGNIN_COOKIE = "registry_signin";

/** One cookie's value from a request, if present. */
export function cookieOf(req: Request, name: string): string | undefined {
  const header = req.headers.get("cookie");
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
  const secure = new URL(req.url).protocol === "https:" ? "; Secure" : "";
  return `${name}=${value}; Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Strict${secure}`;
}

/** Whether two secrets are equal, in time independent of where they differ. */
export function sameSecret(a: string, b: string): boolean {
  if (a.length !== b.length || a.length === 0) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
