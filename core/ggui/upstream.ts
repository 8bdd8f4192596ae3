/**
 * The ggui upstream (`--ggui-upstream`, off unless set): public reads of
 * scopes this registry does not own are answered from another ggui registry
 * (the hosted one, say) and cached here.
 *
 * - `GET /pkg/:scope/:name/:version`: the upstream's read body, checked (it
 *   names this artifact, it is public), with its bundle and signature URLs
 *   pointed at this registry; cached, revalidated after the freshness window
 *   (a yank shows), served stale when the upstream fails.
 * - `GET /pkg/:scope/:name`: the upstream's public versions, cached likewise.
 * - `/bundles/public/…/bundle.js` is fetched once and kept only when its bytes
 *   match the read body's `bundleSri`; `manifest.json` only when it is the
 *   read body's manifest; `bundle.js.sig` is kept as first fetched (it is a
 *   signature the client verifies).
 *
 * No token is ever sent upstream and no private bundle path is ever
 * requested; a scope that exists here in any way, or that the operator denies,
 * is never looked up (the JSR rule, docs/jsr.md).
 *
 * @module
 */
import { recordAudit } from "../audit.ts";
import type { RegistryContext } from "../context.ts";
import { RegistryError } from "../../base/errors.ts";
import { namespaceMatches } from "../jsr/upstream.ts";
import {
  type UpstreamClient,
  upstreamGet,
  upstreamReadsTotal,
  upstreamStaleTotal,
  upstreamUnavailable,
} from "../upstream_fetch.ts";
import * as keys from "../../storage/keys.ts";
import type { RowKey } from "../../storage/types.ts";

/** How this registry reads from its ggui upstream. */
export interface GguiUpstream {
  /** The upstream registry's base URL (trailing slash). */
  url: string;
  /** Scopes never looked up upstream (`@acme`, `@internal-*`). */
  deny?: readonly string[];
  /** Whether a scope exists here in any way. */
  ownsNamespace: (scope: string) => Promise<boolean>;
  /** This registry's bundle host: the read bodies' URLs point here. */
  bundleHost: string;
  /** Deadline of one fetch (default 10 000 ms). */
  timeoutMs?: number;
  /** How long a cached read or list is served before revalidation (default 60 000 ms). */
  freshMs?: number;
  /** The HTTP client. */
  fetch?: typeof fetch;
  /** One event per fetch (the request log). */
  onFetch?: UpstreamClient["onFetch"];
}

/** A cached JSON answer of the upstream, as checked (its body goes to blob storage). */
interface CheckedDoc {
  /** The status the upstream gave (200, or 410 for a yanked read). */
  status: number;
  /** The body as we serve it. */
  body: Record<string, unknown>;
  /** The upstream's own bundle URLs (reads). */
  origin?: { bundleUrl?: string; signatureUrl?: string };
  /** When the upstream last confirmed it. */
  fetchedAt: string;
}

/** A cached JSON answer's row: the body is a blob (a blueprint's read can outgrow a row). */
interface CachedDoc extends Omit<CheckedDoc, "body"> {
  /** SHA-256 of the body's JSON bytes. */
  sha256: string;
}

/** The body of a cached answer, or `null` when its blob is gone (then it is fetched again). */
async function bodyOf(
  ctx: RegistryContext,
  row: CachedDoc,
): Promise<Record<string, unknown> | null> {
  const blob = await ctx.bundles.get(row.sha256);
  return blob ? JSON.parse(await new Response(blob.stream).text()) : null;
}

/** A cached bundle file. */
interface CachedFile {
  sha256: string;
  size: number;
}

/** The body and status to serve, and whether it is stale. */
export interface GguiUpstreamDoc {
  /** 200 or 410. */
  status: number;
  /** The JSON body. */
  body: Record<string, unknown>;
  /** Served from a stale cache entry because the upstream failed. */
  stale?: boolean;
}

/** Whether reads in `scope` may go to the upstream. */
export async function mayProxyScope(up: GguiUpstream, scope: string): Promise<boolean> {
  if (up.deny && namespaceMatches(up.deny, scope)) return false;
  return !(await up.ownsNamespace(scope));
}

function client(up: GguiUpstream): UpstreamClient {
  return {
    name: "ggui",
    base: new URL(up.url),
    timeoutMs: up.timeoutMs ?? 10_000,
    ...(up.fetch ? { fetch: up.fetch } : {}),
    ...(up.onFetch ? { onFetch: up.onFetch } : {}),
  };
}

const MAX_DOC_BYTES = 2 * 1024 * 1024;
const MAX_FILE_BYTES = 8 * 1024 * 1024;

function parseDoc(up: GguiUpstream, bytes: Uint8Array, what: string): Record<string, unknown> {
  try {
    const v = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    if (typeof v === "object" && v !== null && !Array.isArray(v)) return v;
  } catch { /* below */ }
  throw upstreamUnavailable(client(up), `sent ${what} that is not a JSON object`);
}

/** Read (or revalidate) a cached JSON document of the upstream. */
async function cachedDoc(
  ctx: RegistryContext,
  up: GguiUpstream,
  input: {
    key: RowKey;
    path: string;
    kind: string;
    check: (body: Record<string, unknown>) => CheckedDoc | null;
  },
): Promise<GguiUpstreamDoc | null> {
  const row = await ctx.storage.get<CachedDoc>(input.key);
  const now = ctx.clock().getTime();
  const count = (result: string) =>
    upstreamReadsTotal.inc({ upstream: "ggui", kind: input.kind, result });
  const kept = row ? await bodyOf(ctx, row.value) : null;
  if (row && kept && now - Date.parse(row.value.fetchedAt) < (up.freshMs ?? 60_000)) {
    count("hit");
    return { status: row.value.status, body: kept };
  }
  let answer;
  try {
    answer = await upstreamGet(client(up), input.path, {
      kind: input.kind,
      maxBytes: MAX_DOC_BYTES,
    });
  } catch (err) {
    count("error");
    if (!row || !kept) throw err;
    count("stale");
    upstreamStaleTotal.inc({ upstream: "ggui" });
    return { status: row.value.status, body: kept, stale: true };
  }
  if (answer.status !== 200 || !("bytes" in answer)) {
    count("not_found");
    return null;
  }
  const doc = input.check(parseDoc(up, answer.bytes, input.path));
  if (!doc) {
    count("error");
    throw upstreamUnavailable(client(up), `sent an answer for ${input.path} that is not public`);
  }
  const blob = await ctx.bundles.put(new TextEncoder().encode(JSON.stringify(doc.body)));
  const { body: _body, ...facts } = doc;
  const value: CachedDoc = { ...facts, sha256: blob.sha256 };
  await ctx.storage.commit({
    checks: [],
    mutations: [
      { type: "set", key: input.key, value: value as never },
      // Served from an upstream: publishing here now needs an admin's claim.
      {
        type: "set",
        key: keys.upstreamJsrNamespaceKey(input.key[1]!),
        value: { namespace: input.key[1]!, upstream: up.url, at: doc.fetchedAt },
      },
    ],
  });
  count("miss");
  return { status: doc.status, body: doc.body };
}

/**
 * The upstream's read of one public version, with its URLs pointed here;
 * `null` when the scope may not be proxied or the upstream has no such
 * (public) version. A yanked version answers 410 with the same body.
 */
export async function gguiUpstreamRead(
  ctx: RegistryContext,
  up: GguiUpstream,
  ref: { scope: string; name: string; version: string },
): Promise<GguiUpstreamDoc | null> {
  if (!(await mayProxyScope(up, ref.scope))) return null;
  const path = `pkg/${encodeURIComponent(ref.scope.slice(1))}/${encodeURIComponent(ref.name)}/${
    encodeURIComponent(ref.version)
  }`;
  // The upstream answers 410 for a yanked version (same body): a status to keep, not a failure.
  const state = { gone: false };
  const inner = up.fetch ?? fetch;
  const seeing: GguiUpstream = {
    ...up,
    fetch: async (input, init) => {
      const res = await inner(input, init);
      if (res.status !== 410) return res;
      state.gone = true;
      return new Response(res.body, { status: 200, headers: res.headers });
    },
  };
  return await cachedDoc(ctx, seeing, {
    key: keys.upstreamGguiReadKey(ref),
    path,
    kind: "read",
    check: (body) => {
      const doc = checkRead(ctx, up, ref, body);
      if (doc && state.gone) doc.status = 410;
      return doc;
    },
  });
}

function checkRead(
  ctx: RegistryContext,
  up: GguiUpstream,
  ref: { scope: string; name: string; version: string },
  body: Record<string, unknown>,
): CheckedDoc | null {
  const manifest = body.manifest as Record<string, unknown> | undefined;
  if (typeof manifest !== "object" || manifest === null) return null;
  const id = manifest.scope === ref.scope && manifest.name === ref.name &&
    manifest.version === ref.version;
  const isPublic = manifest.visibility === undefined || manifest.visibility === "public";
  const urls = [body.bundleUrl, body.signatureUrl];
  if (
    !id || !isPublic || urls.some((u) => typeof u === "string" && !u.includes("/bundles/public/"))
  ) {
    return null;
  }
  const ours = `${up.bundleHost}/bundles/public/${ref.scope}/${encodeURIComponent(ref.name)}/${
    encodeURIComponent(ref.version)
  }`;
  const served = { ...body };
  const origin: CheckedDoc["origin"] = {};
  if (typeof body.bundleUrl === "string") {
    origin.bundleUrl = body.bundleUrl;
    served.bundleUrl = `${ours}/bundle.js`;
  }
  if (typeof body.signatureUrl === "string") {
    origin.signatureUrl = body.signatureUrl;
    served.signatureUrl = `${ours}/bundle.js.sig`;
  }
  return { status: 200, body: served, origin, fetchedAt: ctx.clock().toISOString() };
}

/** The upstream's public version list of an artifact; `null` on a miss. */
export async function gguiUpstreamList(
  ctx: RegistryContext,
  up: GguiUpstream,
  ref: { scope: string; name: string },
): Promise<GguiUpstreamDoc | null> {
  if (!(await mayProxyScope(up, ref.scope))) return null;
  return await cachedDoc(ctx, up, {
    key: keys.upstreamGguiListKey(ref),
    path: `pkg/${encodeURIComponent(ref.scope.slice(1))}/${encodeURIComponent(ref.name)}`,
    kind: "list",
    check: (body) => {
      if (body.artifactId !== `${ref.scope}/${ref.name}` || !Array.isArray(body.versions)) {
        return null;
      }
      const versions = (body.versions as { visibility?: unknown }[]).filter((v) =>
        v?.visibility === undefined || v.visibility === "public"
      );
      return { status: 200, body: { ...body, versions }, fetchedAt: ctx.clock().toISOString() };
    },
  });
}

/** SRI `sha384-<base64>` of bytes. */
async function sri384(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-384", bytes as BufferSource));
  return `sha384-${btoa(String.fromCharCode(...digest))}`;
}

/** Canonical JSON (sorted keys), to compare two documents. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const o = value as Record<string, unknown>;
    return `{${
      Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(",")
    }}`;
  }
  return JSON.stringify(value);
}

/**
 * One public bundle file of an upstream version (`bundle.js` checked against
 * `bundleSri`, `manifest.json` against the read's manifest); `null` when the
 * version or file does not exist upstream.
 */
export async function gguiUpstreamFile(
  ctx: RegistryContext,
  up: GguiUpstream,
  ref: { scope: string; name: string; version: string },
  file: "bundle.js" | "bundle.js.sig" | "manifest.json",
): Promise<CachedFile | null> {
  if (!(await mayProxyScope(up, ref.scope))) return null;
  const key = keys.upstreamGguiFileKey(ref, file);
  const row = await ctx.storage.get<CachedFile>(key);
  if (row && (await ctx.bundles.stat(row.value.sha256))) {
    upstreamReadsTotal.inc({ upstream: "ggui", kind: "file", result: "hit" });
    return row.value;
  }
  const read = await gguiUpstreamRead(ctx, up, ref);
  if (!read) return null;
  const cached = await ctx.storage.get<CachedDoc>(keys.upstreamGguiReadKey(ref));
  const origin = cached?.value.origin;
  const base = `bundles/public/${ref.scope}/${encodeURIComponent(ref.name)}/${
    encodeURIComponent(ref.version)
  }`;
  const path = file === "bundle.js"
    ? origin?.bundleUrl
    : file === "bundle.js.sig"
    ? origin?.signatureUrl
    : `${new URL(base, up.url).href}/manifest.json`;
  if (path === undefined) return null;
  // Only the upstream's own public bundle paths are ever requested.
  const url = new URL(path);
  if (url.origin !== new URL(up.url).origin || !url.pathname.includes("/bundles/public/")) {
    throw upstreamUnavailable(client(up), `points ${file} of ${ref.scope}/${ref.name} elsewhere`);
  }
  let answer;
  try {
    answer = await upstreamGet(client(up), url.pathname, {
      kind: "file",
      maxBytes: MAX_FILE_BYTES,
    });
  } catch (err) {
    upstreamReadsTotal.inc({ upstream: "ggui", kind: "file", result: "error" });
    throw err;
  }
  if (answer.status !== 200 || !("bytes" in answer)) return null;
  const bytes = answer.bytes;
  const body = read.body;
  const refuse = (why: string) => {
    upstreamReadsTotal.inc({ upstream: "ggui", kind: "file", result: "error" });
    return new RegistryError(
      "upstream_unavailable",
      `The ggui upstream ${
        new URL(up.url).origin
      } sent ${file} of ${ref.scope}/${ref.name}@${ref.version} ${why}`,
    );
  };
  if (file === "bundle.js" && (await sri384(bytes)) !== body.bundleSri) {
    throw refuse("with bytes that do not match its bundleSri");
  }
  if (
    file === "manifest.json" && canonical(parseDoc(up, bytes, file)) !== canonical(body.manifest)
  ) {
    throw refuse("that differs from the version's manifest");
  }
  if (file === "bundle.js.sig") parseDoc(up, bytes, file);
  const blob = await ctx.bundles.put(bytes);
  const value: CachedFile = { sha256: blob.sha256, size: blob.size };
  await ctx.storage.commit({
    checks: [],
    mutations: [{ type: "set", key, value: value as never }],
  });
  upstreamReadsTotal.inc({ upstream: "ggui", kind: "file", result: "miss" });
  await recordAudit(ctx, {
    actor: "system",
    action: "ggui.upstream.cache",
    target: `${ref.scope}/${ref.name}@${ref.version}/${file}`,
    detail: { upstream: up.url, sha256: value.sha256, size: value.size },
  });
  return value;
}

/**
 * The upstream's search results for the same query, keeping only public
 * artifacts of scopes that may be proxied, each marked `source: "upstream"`;
 * `null` when the upstream cannot answer (our results are then served alone).
 */
export async function gguiUpstreamSearch(
  up: GguiUpstream,
  query: string,
): Promise<Record<string, unknown>[] | null> {
  let answer;
  try {
    answer = await upstreamGet(client(up), `search${query}`, {
      kind: "search",
      maxBytes: MAX_DOC_BYTES,
    });
  } catch {
    return null;
  }
  if (answer.status !== 200 || !("bytes" in answer)) return null;
  let body: Record<string, unknown>;
  try {
    body = parseDoc(up, answer.bytes, "search results");
  } catch {
    return null;
  }
  if (!Array.isArray(body.results)) return null;
  const out: Record<string, unknown>[] = [];
  const allowed = new Map<string, boolean>();
  for (const entry of body.results as Record<string, unknown>[]) {
    const id = typeof entry?.artifactId === "string" ? entry.artifactId : "";
    const m = /^(@[a-z0-9][a-z0-9-]*)\/[^/]+$/.exec(id);
    if (!m) continue;
    const scope = m[1]!;
    if (!allowed.has(scope)) allowed.set(scope, await mayProxyScope(up, scope));
    if (allowed.get(scope)) out.push({ ...entry, source: "upstream" });
  }
  return out;
}
