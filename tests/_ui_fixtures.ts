// A registry app with the web pages on, two people, a public and a private
// JSR namespace, and a publish helper sending what `deno publish` sends.
import { parseAuthConfig } from "../core/rack/auth.ts";
import { createToken } from "../core/tokens.ts";
import { createRegistryApp, type RegistryApp, type RegistryAppOptions } from "../routes/app.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import type { RegistryStorage } from "../storage/types.ts";
import { makeTarball } from "./_rack_fixtures.ts";

/** Alice publishes everywhere; Bob reads nothing private. */
export const ALICE = "tok-alice";
export const BOB = "tok-bob";

/** One store and the app over it. */
export interface UiFixture {
  app: RegistryApp;
  storage: RegistryStorage;
  bundles: MemoryBundleStorage;
  /** A stored global admin token (publishes to `@pub`). */
  admin: string;
  /** A stored token reading `@acme`. */
  reader: string;
  /** Another app over the same store (same options but these). */
  sibling(overrides: Partial<RegistryAppOptions>): RegistryApp;
}

/**
 * `@pub` is declared anonymous (public); every other namespace is private.
 * Rows live in memory unless `overrides.storage` names another store.
 */
export async function uiFixture(
  overrides: Partial<RegistryAppOptions> = {},
): Promise<UiFixture> {
  const storage = overrides.storage ?? new MemoryRegistryStorage();
  const bundles = new MemoryBundleStorage();
  const tokens: Record<string, string> = { [ALICE]: "alice", [BOB]: "bob" };
  const options: RegistryAppOptions = {
    storage,
    bundles,
    authenticator: {
      authenticate: (t) =>
        Promise.resolve(tokens[t] ? { subject: tokens[t]!, admin: false } : null),
    },
    rackAuth: () => Promise.resolve(parseAuthConfig('{"@pub": []}').auth),
    bundleHost: "http://127.0.0.1:9",
    registryHostname: "127.0.0.1:9",
    rateLimitPerMinute: 0,
    metadataRateLimitPerMinute: 0,
    queryRateLimitPerMinute: 0,
    tokenUploadRateLimitPerMinute: 0,
    uploadRateLimitPerMinute: 0,
    authFailuresPerMinute: 0,
    readCacheMs: 0,
    ...overrides,
  };
  const root = { subject: "root", admin: true };
  const ctx = { storage, bundles, clock: () => new Date() };
  const admin = await createToken(ctx, {
    subject: "ops",
    grants: [{ namespace: "*", actions: ["admin"] }],
  }, root);
  const reader = await createToken(ctx, {
    subject: "reader",
    grants: [{ namespace: "@acme", actions: ["read"] }],
  }, root);
  return {
    app: createRegistryApp(options),
    storage,
    bundles,
    admin: admin.secret,
    reader: reader.secret,
    sibling: (o) => createRegistryApp({ ...options, ...o }),
  };
}

/** Publish `@scope/name@version` with these files (plus its deno.json) as `token`. */
export async function publishJsr(
  app: RegistryApp,
  id: string,
  files: Record<string, string | Uint8Array>,
  token = ALICE,
): Promise<void> {
  const m = /^@([^/]+)\/([^@]+)@(.+)$/.exec(id)!;
  const [, scope, name, version] = m;
  const tarball = await makeTarball({
    "deno.json": JSON.stringify({
      name: `@${scope}/${name}`,
      version,
      exports: { ".": "./mod.ts" },
    }),
    "mod.ts": `export const version = "${version}";\n`,
    ...files,
  });
  const res = await app.request(
    `/api/scopes/${scope}/packages/${name}/versions/${version}?config=%2Fdeno.json`,
    {
      method: "POST",
      headers: { "content-encoding": "gzip", authorization: `Bearer ${token}` },
      body: tarball as BodyInit,
    },
  );
  const body = await res.json();
  if (res.status !== 200 || body.status !== "success") {
    throw new Error(`Publish of ${id} failed: ${res.status} ${JSON.stringify(body)}`);
  }
}

/** A browser's navigation request headers. */
export const BROWSER = {
  accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
};

/** The value of a `Set-Cookie` named `name` in a response. */
export function cookieFrom(res: Response, name: string): string | undefined {
  for (const line of res.headers.getSetCookie()) {
    const m = new RegExp(`^${name}=([^;]*)`).exec(line);
    if (m) return m[1];
  }
  return undefined;
}

/** Sign in as a browser would: fetch the form, post it back with its cookie. */
export async function signIn(app: RegistryApp, token: string, base = "http://localhost") {
  const form = await app.request(`${base}/ui/sign-in`, { headers: BROWSER });
  const html = await form.text();
  const csrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
  const pre = cookieFrom(form, "registry_signin")!;
  const res = await app.request(`${base}/ui/sign-in`, {
    method: "POST",
    headers: {
      ...BROWSER,
      "content-type": "application/x-www-form-urlencoded",
      cookie: `registry_signin=${pre}`,
    },
    body: new URLSearchParams({ csrf, token }).toString(),
  });
  return { res, session: cookieFrom(res, "registry_session"), body: await res.text() };
}

/** A browser's GET of a page, with the session cookie when `session` is given. */
export function uiGet(
  app: RegistryApp,
  path: string,
  session?: string,
  headers: HeadersInit = {},
): Promise<Response> {
  return Promise.resolve(app.request(path, {
    headers: {
      ...BROWSER,
      ...(session ? { cookie: `registry_session=${session}` } : {}),
      ...headers,
    },
  }));
}

/** A browser's form POST with the session cookie. */
export function uiPost(
  app: RegistryApp,
  path: string,
  session: string,
  fields: Record<string, string>,
): Promise<Response> {
  return Promise.resolve(app.request(path, {
    method: "POST",
    headers: {
      ...BROWSER,
      cookie: `registry_session=${session}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams(fields).toString(),
  }));
}

/** The CSRF token of a signed-in session, read from one of its forms (`path`). */
export async function csrfOf(app: RegistryApp, session: string, path = "/ui/tokens") {
  const html = await (await uiGet(app, path, session)).text();
  return /name="csrf" value="([^"]+)"/.exec(html)![1]!;
}
