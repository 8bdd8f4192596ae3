/**
 * The ggui surface's HTTP helpers: its options and per-request context, the
 * error table, caller lookup, and the builders of `/pkg` and bundle responses
 * that both the route handlers (`mod.ts`) and the prepared reads
 * (`_prepared.ts`) answer with.
 *
 * @module
 */
import type { Context } from "hono";
import type { Authenticator, Principal } from "../../core/auth.ts";
import type { RegistryContext } from "../../core/context.ts";
import { sha256Hex } from "../../base/digest.ts";
import { collectBytes, utf8Length } from "../../storage/_common.ts";
import { httpDate, unmodifiedSince } from "../shared/_blob_response.ts";
import { makeResponse, notModifiedResponse } from "../ops/_common.ts";
import {
  CONFLICT_RETRY_AFTER_SECONDS,
  type ErrorCode,
  isRegistryError,
  serverFaultMessage,
  storeFault,
} from "../../base/errors.ts";
import {
  type AuthnContext,
  type BundleFile,
  errorResult,
  type GguiContext,
  type GguiResult,
  normalizeBundleHost,
} from "../../core/ggui/_common.ts";
import type { BlueprintProbe, CodeGates } from "../../core/ggui/conformance.ts";
import type { SigstoreVerifier } from "../../core/ggui/signing.ts";

/** Options of {@linkcode createGguiRoutes}. */
export interface GguiRoutesOptions {
  /** Storage, bundle storage and clock. */
  ctx: RegistryContext;
  /** Turns bearer tokens into principals. */
  authenticator: Authenticator;
  /** Prefix of blob URLs, e.g. `http://localhost:9001` (trailing slashes are dropped). */
  bundleHost: string;
  /** `host[:port]` used in `installCommand`. */
  registryHostname: string;
  /** Scopes nobody can claim; the spec's default list when absent. */
  reservedScopes?: string[];
  /** The code-level conformance gates, when wired. */
  codeGates?: CodeGates;
  /** The optional blueprint runtime probe. */
  blueprintProbe?: BlueprintProbe;
  /** The sigstore keyless lane (public publishes); refuses every envelope when absent. */
  sigstore?: SigstoreVerifier;
  /** Whether a namespace is declared with grants (Rack auth.json): publishes then need a grant. */
  declaredNamespace?: (namespace: string) => Promise<boolean>;
  /** Webhook subscriptions (`package.published` on every publish). */
  subscriptions?: GguiContext["subscriptions"];
  /** The largest request body accepted by `/publish` (default 32 MiB). */
  maxBodyBytes?: number;
  /**
   * Blob URL prefix and install host of a request, overriding `bundleHost` and
   * `registryHostname` (a server whose operator set neither derives them from `Host`).
   */
  hostOf?: (req: Request) => Partial<Pick<GguiContext, "bundleHost" | "registryHostname">>;
  /** Bytes of finished bundle responses the prepared reads keep for cloning (default 64 MiB; 0: none). */
  templateBytes?: number;
}

/** Contexts made by {@linkcode gguiContextFor}, by the frozen hosts object they were made with. */
const hostContexts = new WeakMap<object, { base: GguiContext; ctx: GguiContext }>();

/**
 * The ggui context for one request: {@linkcode GguiRoutesOptions.hostOf}
 * applied. When `hostOf` answers a frozen object (the app's, one per client
 * host), the context made with it is kept and answered again.
 */
export function gguiContextFor(
  ctx: GguiContext,
  options: Pick<GguiRoutesOptions, "hostOf">,
  req: Request,
): GguiContext {
  if (!options.hostOf) return ctx;
  const hosts = options.hostOf(req);
  if (!Object.isFrozen(hosts)) return { ...ctx, ...hosts };
  const kept = hostContexts.get(hosts);
  if (kept !== undefined && kept.base === ctx) return kept.ctx;
  const made = { ...ctx, ...hosts };
  hostContexts.set(hosts, { base: ctx, ctx: made });
  return made;
}

/** The CORS headers added to every response outside the excluded paths. */
export const GGUI_CORS_HEADERS: Readonly<Record<string, string>> = {
  "Access-Control-Allow-Origin": "*",
  "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
  "Access-Control-Allow-Headers": "content-type, authorization",
};

/** Whether a path is excluded from CORS (`/publish`, `/bundles/private/*`). */
export function isGguiCorsExcluded(path: string): boolean {
  return path === "/publish" || path.startsWith("/bundles/private/");
}

/** The paths this surface answers, with CORS (for OPTIONS and headers). */
export const CORS_PATHS = [
  "/healthz",
  "/search",
  "/pkg/*",
  "/author-keys",
  "/author-keys/*",
  "/conformance/*",
  "/bundles/public/*",
];

/** The default `/publish` body cap: a 5 MiB bundle in base64 plus a generous manifest. */
export const DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024;

/** Every domain error code's ggui status and wire code: one exhaustive table. */
export const ERROR_TABLE = {
  invalid_input: { status: 400, error: "invalid_request" },
  invalid_name: { status: 400, error: "invalid_request" },
  invalid_version: { status: 400, error: "invalid_request" },
  invalid_path: { status: 400, error: "invalid_request" },
  invalid_digest: { status: 400, error: "invalid_request" },
  not_found: { status: 404, error: "not_found" },
  version_exists: { status: 409, error: "version_exists" },
  format_conflict: { status: 409, error: "package_format_conflict" },
  scope_forbidden: { status: 403, error: "scope_forbidden" },
  unauthorized: { status: 401, error: "unauthorized" },
  forbidden: { status: 403, error: "forbidden" },
  too_large: { status: 413, error: "bundle_too_large" },
  digest_mismatch: { status: 400, error: "bundle_hash_mismatch" },
  blob_corrupt: { status: 500, error: "server_error" },
  conflict: { status: 409, error: "conflict" },
  rate_limited: { status: 429, error: "rate_limited" },
  timeout: { status: 408, error: "request_timeout" },
  storage_failure: { status: 500, error: "server_error" },
  storage_full: { status: 507, error: "storage_full" },
  upstream_unavailable: { status: 502, error: "upstream_unavailable" },
  upstream_timeout: { status: 504, error: "upstream_timeout" },
  unavailable: { status: 503, error: "service_unavailable" },
} as const satisfies Record<ErrorCode, { status: number; error: string }>;

/** Map any thrown error to a ggui error result; 5xx never carry internal text. */
export function gguiErrorResult(thrown: unknown): GguiResult {
  const err = storeFault(thrown);
  if (isRegistryError(err)) {
    const { status, error } = ERROR_TABLE[err.code];
    if (status === 503) {
      return errorResult(status, error, "storage is unavailable, try again later");
    }
    if (status >= 500) {
      return errorResult(status, error, serverFaultMessage(err.code) ?? "internal error");
    }
    return errorResult(status, error, err.message, {
      ...(err.detail === undefined ? {} : { detail: err.detail }),
    });
  }
  return errorResult(500, "server_error", "internal error");
}

/**
 * The bearer token of an `Authorization` header: the exact, case-sensitive
 * prefix `Bearer ` (one space) and a non-empty remainder; `null` otherwise.
 */
export function parseBearer(header: string | undefined | null): string | null {
  if (typeof header !== "string" || !header.startsWith("Bearer ")) return null;
  const token = header.slice("Bearer ".length);
  return token.length > 0 ? token : null;
}

/** The JSON headers of a ggui response, with CORS outside the excluded paths. */
export function jsonHeaders(
  c: Context,
  length: string,
  extra: Readonly<Record<string, string>>,
): Record<string, string> {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "content-length": length,
    ...extra,
  };
  if (!isGguiCorsExcluded(c.req.path)) Object.assign(headers, GGUI_CORS_HEADERS);
  return headers;
}

/** Errors are never stored by any cache (the spec leaves them bare; docs/operations.md). */
export const ERROR_HEADERS = { "cache-control": "no-store" } as const;

export function send(
  c: Context,
  result: GguiResult,
  headers: Readonly<Record<string, string>> = {},
): Response {
  const text = JSON.stringify(result.body);
  const retry: Record<string, string> =
    result.status === 409 && (result.body as { error?: unknown }).error === "conflict"
      ? { "retry-after": String(CONFLICT_RETRY_AFTER_SECONDS) }
      : {};
  const extra = result.status >= 400 ? { ...headers, ...ERROR_HEADERS, ...retry } : headers;
  // Encoded once: its length is the bytes' (no second pass over the text to count them).
  const bytes = utf8.encode(text);
  return makeResponse(bytes, result.status, jsonHeaders(c, String(bytes.byteLength), extra));
}

/** A serialized read result: body, strong ETag, and a finished response to clone. */
export interface Serialized {
  text: string;
  etag: string;
  length: string;
  /** The HTTP date of a version read's publication. */
  lastModified?: string;
  template?: Response;
}

/** Serialized bodies and their ETags, by result object (core reuses frozen read results). */
export const serializations = new WeakMap<object, Serialized>();

export function serialized(result: GguiResult): Serialized {
  const known = Object.isFrozen(result) ? serializations.get(result) : undefined;
  if (known) return known;
  const text = JSON.stringify(result.body);
  const out: Serialized = {
    text,
    etag: `"${sha256Hex(`${result.status}\n${text}`)}"`,
    length: String(utf8Length(text)),
  };
  // A version read is dated by its publication (listings are not).
  const publishedAt = (result.body as { publishedAt?: unknown }).publishedAt;
  if (result.status === 200 && typeof publishedAt === "string") {
    const date = new Date(publishedAt);
    if (!Number.isNaN(date.getTime())) out.lastModified = httpDate(date);
  }
  if (Object.isFrozen(result)) serializations.set(result, out);
  return out;
}

/** Whether an `If-None-Match` header matches a strong ETag. */
export function etagMatches(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  if (header.trim() === "*") return true;
  return header.split(",").some((t) => t.trim().replace(/^W\//, "") === etag);
}

/** Read a request body as text, refusing more than `max` bytes. */
export async function readBody(c: Context, max: number): Promise<string | "too_large"> {
  const declared = Number(c.req.header("content-length") ?? "NaN");
  if (Number.isFinite(declared) && declared > max) return "too_large";
  const stream = c.req.raw.body;
  if (stream === null) return "";
  const overLimit = new Error("over the body limit");
  try {
    return new TextDecoder().decode(await collectBytes(stream, max, () => overLimit));
  } catch (err) {
    if (err === overLimit) return "too_large";
    throw err;
  }
}

/** Largest `POST /author-keys` body (a key is well under 1 KiB). */
export const AUTHOR_KEY_MAX_BODY = 64 * 1024;

/** Why a body could not be read as JSON, in words the caller can act on. */
export function bodyProblem(text: string, max: number): string {
  return text === "too_large"
    ? `request body is over ${max} bytes`
    : "request body is not valid JSON";
}

/** The `manifest.visibility` of a publish body, when it has one. */
export function manifestVisibility(body: unknown): unknown {
  const manifest = (body as { manifest?: unknown } | null)?.manifest;
  return typeof manifest === "object" && manifest !== null
    ? (manifest as { visibility?: unknown }).visibility
    : undefined;
}

/** Parse JSON text; `undefined` when it is not JSON. */
export function parseJson(text: string): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(text) };
  } catch {
    return undefined;
  }
}

/** The ggui operations' context for these route options. */
export function gguiContextOf(options: GguiRoutesOptions): GguiContext {
  return {
    ...options.ctx,
    bundleHost: normalizeBundleHost(options.bundleHost),
    registryHostname: options.registryHostname,
    ...(options.reservedScopes === undefined ? {} : { reservedScopes: options.reservedScopes }),
    ...(options.codeGates === undefined ? {} : { codeGates: options.codeGates }),
    ...(options.blueprintProbe === undefined ? {} : { blueprintProbe: options.blueprintProbe }),
    ...(options.sigstore === undefined ? {} : { sigstore: options.sigstore }),
    ...(options.declaredNamespace === undefined
      ? {}
      : { declaredNamespace: options.declaredNamespace }),
    ...(options.subscriptions === undefined ? {} : { subscriptions: options.subscriptions }),
  };
}

/** The caller of a request with this `Authorization` header (`undefined`: anonymous). */
export async function authnOf(
  authenticator: Authenticator,
  header: string | null | undefined,
): Promise<AuthnContext> {
  const token = parseBearer(header);
  if (token === null) return undefined;
  return callerOf(await authenticator.authenticate(token));
}

/**
 * {@linkcode authnOf} without waiting, when the authenticator can tell at once
 * (`authenticateNow`); `false` when only {@linkcode authnOf} can.
 */
export function authnNowOf(
  authenticator: Authenticator,
  header: string | null | undefined,
): AuthnContext | false {
  const token = parseBearer(header);
  if (token === null) return undefined;
  const principal = authenticator.authenticateNow?.(token);
  return principal === undefined ? false : callerOf(principal);
}

export function callerOf(principal: Principal | null): AuthnContext {
  if (principal === null) return undefined;
  return {
    subject: principal.subject,
    admin: principal.admin,
    ...(principal.grants ? { grants: principal.grants } : {}),
    ...(principal.label ? { label: principal.label } : {}),
  };
}

export const PKG_HEADERS = { "cache-control": "private, no-cache", vary: "Authorization" };
export const NOT_MODIFIED_HEADERS = { ...PKG_HEADERS, ...GGUI_CORS_HEADERS };

/**
 * The strong ETag of a `/pkg/*` read result's body (200 and 410); `undefined`
 * for errors, which carry none. It names the response {@linkcode pkgResponse}
 * gives without `If-None-Match`: the same result text, status and headers.
 */
export function pkgEtag(result: GguiResult): string | undefined {
  return result.status === 200 || result.status === 410 ? serialized(result).etag : undefined;
}

/**
 * The response of a `/pkg/*` read result (version or listing) for a request
 * with this `If-None-Match`: strong ETag on 200 and 410, 304 on 200, the JSON
 * error otherwise, always private and varying on `Authorization`, with CORS.
 * A frozen (cached) result's finished response is built once and cloned.
 */
export function pkgResponse(
  result: GguiResult,
  ifNoneMatch: string | null | undefined,
  ifModifiedSince?: string | null,
): Response {
  if (result.status !== 200 && result.status !== 410) {
    const text = JSON.stringify(result.body);
    return makeResponse(text, result.status, {
      "content-type": "application/json",
      "content-length": String(utf8Length(text)),
      ...PKG_HEADERS,
      ...ERROR_HEADERS,
      ...GGUI_CORS_HEADERS,
    });
  }
  const known = serialized(result);
  const { etag, lastModified } = known;
  // Preconditions hold only for a 2xx answer (RFC 9110 §13.2.1): a yanked
  // version's 410 is answered in full, whatever the client holds.
  if (
    result.status === 200 &&
    (ifNoneMatch !== null && ifNoneMatch !== undefined
      ? etagMatches(ifNoneMatch, etag)
      : lastModified !== undefined &&
        unmodifiedSince(ifModifiedSince ?? null, new Date(lastModified)))
  ) {
    return notModifiedResponse({ ...NOT_MODIFIED_HEADERS, etag }, {
      type: "application/json",
      size: Number(known.length),
    });
  }
  // A frozen result is immutable: its finished response is built once, with
  // its body as UTF-8 bytes (the server then sends them without converting a
  // string), and cloned (cheaper than setting its nine headers on every request).
  if (known.template) return known.template.clone();
  const frozen = Object.isFrozen(result);
  const res = makeResponse(frozen ? utf8.encode(known.text) : known.text, result.status, {
    "content-type": "application/json",
    "content-length": known.length,
    ...PKG_HEADERS,
    etag,
    ...(lastModified === undefined ? {} : { "last-modified": lastModified }),
    ...GGUI_CORS_HEADERS,
  });
  if (frozen) known.template = res.clone();
  return res;
}

export const utf8 = new TextEncoder();

/** The files a `/bundles/*` URL may name. */
export const BUNDLE_FILES: readonly BundleFile[] = ["bundle.js", "bundle.js.sig", "manifest.json"];

/**
 * The `:file` segment of the bundle routes (its pattern is part of the route
 * label). Anchored: Hono's trie router, which it falls back to for large route
 * sets, matches a parameter's pattern as a prefix, and served `bundle.js` for
 * `bundle.js.sig` without the `$`.
 */
export const BUNDLE_FILE_PARAM = ":file{(?:bundle\\.js|bundle\\.js\\.sig|manifest\\.json)$}";

/** The `Cache-Control` of a bundle file under each prefix. */
export const BUNDLE_CACHE_CONTROL = {
  public: "public, max-age=31536000, immutable",
  private: "private, max-age=31536000, immutable",
} as const;

/**
 * The other headers of a served bundle file under each prefix: public files
 * carry CORS; private ones vary on `Authorization`, so that a browser's
 * cache never answers a private file to a request without the credentials it
 * was served for.
 */
export const BUNDLE_HEADERS: Readonly<
  Record<"public" | "private", Readonly<Record<string, string>>>
> = {
  public: GGUI_CORS_HEADERS,
  private: { vary: "Authorization" },
};
