/** @jsxImportSource hono/jsx */
/**
 * The frame of every page: the header with the search box and the signed-in
 * state, the main column, the footer. No script anywhere.
 *
 * @module
 */
import type { Child } from "hono/jsx";

/** Who is looking, as the header shows it. */
export interface Viewer {
  /** The signed-in subject, if any. */
  subject?: string;
  /** The CSRF token of the session's forms, if signed in. */
  csrf?: string;
  /** Whether they are a global admin (operator pages). */
  admin?: boolean;
  /** The search text to keep in the box. */
  q?: string;
}

/** The page frame around `children`. */
export function Layout(props: { title: string; viewer: Viewer; children?: Child }) {
  const { viewer } = props;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="same-origin" />
        <title>{props.title} · registry</title>
        <link rel="stylesheet" href="/ui/style.css" />
      </head>
      <body>
        <header class="site">
          <a class="brand" href="/">registry</a>
          <form action="/" method="get" role="search">
            <label for="q" class="muted">Search</label>
            <input id="q" type="search" name="q" value={viewer.q ?? ""} maxlength={200} />
            <button type="submit">Search</button>
          </form>
          <nav aria-label="Account">
            {viewer.subject === undefined ? <a href="/ui/sign-in">Sign in</a> : (
              <>
                <span class="muted">{viewer.subject}</span>
                <a href="/ui/tokens">Tokens</a>
                {viewer.admin ? <a href="/ui/dashboard">Operations</a> : ""}
                <form action="/ui/sign-out" method="post">
                  <input type="hidden" name="csrf" value={viewer.csrf ?? ""} />
                  <button type="submit">Sign out</button>
                </form>
              </>
            )}
          </nav>
        </header>
        <main>{props.children}</main>
        <footer class="site">
          Served by @x/registry: JSR, ggui and Rack packages from one store.
        </footer>
      </body>
    </html>
  );
}

/** A whole page as an HTML string. */
export async function renderPage(
  title: string,
  viewer: Viewer,
  children: Child,
): Promise<string> {
  const element = <Layout title={title} viewer={viewer}>{children}</Layout>;
  return "<!doctype html>" + String(await element);
}
