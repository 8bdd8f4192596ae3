/** @jsxImportSource hono/jsx */
/**
 * Signing in and out. The token is pasted once into a POST form (never in a
 * URL); a failed attempt answers 401, which spends the client's
 * failed-authentication budget like any other surface's 401.
 *
 * @module
 */
import {
  createSession,
  endSession,
  MAX_SESSION_TOKEN_CHARS,
  randomSecret,
  sweepSessions,
} from "../../core/sessions.ts";
import { cookieOf, sameSecret, SESSION_COOKIE, setCookie, SIGNIN_COOKIE } from "./_cookies.ts";
import { htmlPage, seeOther } from "./_http.ts";
import { formOf } from "./_forms.ts";
import { renderPage } from "./_layout.tsx";
import type { UiRequest } from "./_request.tsx";

/** The sign-in form's body. */
function SignInBody(props: { csrf: string; error?: string }) {
  return (
    <>
      <h1>Sign in</h1>
      <p>Paste a token once: the registry keeps a session, never the token in a page or URL.</p>
      {props.error ? <p class="error" role="alert">{props.error}</p> : ""}
      <form action="/ui/sign-in" method="post" class="pager">
        <input type="hidden" name="csrf" value={props.csrf} />
        <label for="token">Token</label>
        <input
          id="token"
          type="password"
          name="token"
          autocomplete="off"
          required
          maxlength={MAX_SESSION_TOKEN_CHARS}
        />
        <button type="submit">Sign in</button>
      </form>
    </>
  );
}

/** The form with a fresh double-submit CSRF value (its cookie set beside it). */
async function signInPage(req: UiRequest, status: number, error?: string): Promise<Response> {
  const csrf = randomSecret();
  const html = await renderPage(
    "Sign in",
    req.viewer,
    <SignInBody csrf={csrf} {...(error ? { error } : {})} />,
  );
  const res = htmlPage(req.c.req.raw, html, { status });
  res.headers.set("cache-control", "no-store");
  res.headers.delete("etag");
  res.headers.append("set-cookie", setCookie(req.c.req.raw, SIGNIN_COOKIE, csrf, 3600));
  return res;
}

/** `GET /ui/sign-in`. */
export function signInForm(req: UiRequest): Promise<Response> {
  if (req.viewer.subject !== undefined) return Promise.resolve(seeOther("/"));
  return signInPage(req, 200);
}

/** `POST /ui/sign-in`: check the CSRF pair and the token, open a session. */
export async function signIn(req: UiRequest): Promise<Response> {
  const { c, options } = req;
  const form = await formOf(c.req.raw);
  const cookie = cookieOf(c.req.raw, SIGNIN_COOKIE) ?? "";
  if (!form || !sameSecret(form.csrf ?? "", cookie)) {
    return signInPage(req, 403, "The form has expired: sign in again.");
  }
  const token = (form.token ?? "").trim();
  const principal = token === "" || token.length > MAX_SESSION_TOKEN_CHARS
    ? null
    : await options.authenticator.authenticate(token);
  if (principal === null) {
    return signInPage(req, 401, "That token is invalid, expired or revoked.");
  }
  const session = await createSession(options.ctx, { token, principal });
  // Expired sessions are deleted here even if their cookie never comes back.
  await sweepSessions(options.ctx);
  const maxAge = Math.floor((session.expiresAt.getTime() - Date.now()) / 1000);
  const res = seeOther("/");
  res.headers.append("set-cookie", setCookie(c.req.raw, SESSION_COOKIE, session.secret, maxAge));
  res.headers.append("set-cookie", setCookie(c.req.raw, SIGNIN_COOKIE, "", 0));
  return res;
}

/** `POST /ui/sign-out`: end the session (its CSRF token required), clear the cookie. */
export async function signOut(req: UiRequest): Promise<Response> {
  const { c, options } = req;
  const form = await formOf(c.req.raw);
  const secret = cookieOf(c.req.raw, SESSION_COOKIE) ?? "";
  if (req.viewer.csrf === undefined || !form || !sameSecret(form.csrf ?? "", req.viewer.csrf)) {
    const html = await renderPage(
      "Refused",
      req.viewer,
      <p class="error">The form has expired: reload the page.</p>,
    );
    return htmlPage(c.req.raw, html, { status: 403 });
  }
  await endSession(options.ctx, secret);
  const res = seeOther("/");
  res.headers.append("set-cookie", setCookie(c.req.raw, SESSION_COOKIE, "", 0));
  return res;
}
