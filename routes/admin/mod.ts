/**
 * Our own admin API, mounted at `/admin`: tokens, lifecycle of any package of
 * any surface, the audit log, webhook deliveries and garbage collection.
 *
 * - Authenticated by the same {@linkcode Authenticator} chain as the other
 *   surfaces (`Authorization: Bearer <token>`), authorized by grants: `admin`
 *   for token management, hard deletes, audit, deliveries and GC; `yank` on
 *   the package's namespace for yank, unyank, deprecate and tags.
 * - Errors are `{code, message, detail?}` from ONE exhaustive table over the
 *   domain codes; 5xx never carry internal text.
 * - Every refused attempt (4xx) writes an audit record with outcome
 *   `refused`; successful reads write nothing.
 *
 * @module
 */
import { type Context, Hono } from "hono";
import { recordAudit } from "../../core/audit.ts";
import { exportAudit, listAudit } from "../../core/audit.ts";
import type { Authenticator, Principal } from "../../core/auth.ts";
import type { RegistryContext } from "../../core/context.ts";
import {
  CONFLICT_RETRY_AFTER_SECONDS,
  echo,
  type ErrorCode,
  isRegistryError,
  RegistryError,
  serverFaultMessage,
  storeFault,
} from "../../base/errors.ts";
import { collectBytes } from "../../storage/_common.ts";
import { jsonResponse, NO_STORE_JSON } from "../ops/_common.ts";
import { lazily } from "../../base/lazy.ts";
import {
  deleteVersion,
  deprecateVersion,
  type LifecycleResult,
  type LifecycleSubscription,
  removeDistTag,
  setDistTag,
  undeprecateVersion,
  unyankVersion,
  yankVersion,
} from "../../core/lifecycle.ts";
import { isNamespace } from "../../base/names.ts";
import { mountRoutes, type Route } from "../shared/_route_table.ts";
import type { Action, Grant } from "../../core/rows.ts";
import { createToken, principalCan, revokeToken } from "../../core/tokens.ts";
import { listTokenPage } from "../../core/token_pages.ts";
import { listDeliveries } from "../../core/webhooks.ts";
import type { TargetGuard } from "../../core/net_guard.ts";
import type { WebhookSubscription } from "../../core/rack/webhooks.ts";
import {
  createWebhookSubscription,
  deleteWebhookSubscription,
  listWebhookSubscriptions,
  type LiveSubscriptions,
} from "../../core/webhook_subscriptions.ts";

/** Status of every domain error code on the admin API: one exhaustive table. */
export const ADMIN_ERROR_STATUS = {
  invalid_input: 400,
  invalid_name: 400,
  invalid_version: 400,
  invalid_path: 400,
  invalid_digest: 400,
  not_found: 404,
  version_exists: 409,
  format_conflict: 409,
  scope_forbidden: 403,
  unauthorized: 401,
  forbidden: 403,
  too_large: 413,
  digest_mismatch: 400,
  blob_corrupt: 500,
  conflict: 409,
  rate_limited: 429,
  timeout: 408,
  storage_failure: 500,
  storage_full: 507,
  upstream_unavailable: 502,
  upstream_timeout: 504,
  unavailable: 503,
} as const satisfies Record<ErrorCode, number>;

/** The admin error body. */
export interface AdminErrorBody {
  /** The domain code. */
  code: ErrorCode;
  /** Human-readable text (generic for 5xx). */
  message: string;
  /** Client-safe structured detail. */
  detail?: unknown;
}

/** Options of {@linkcode createAdminRoutes}. */
export interface AdminRoutesOptions {
  /** The shared store. */
  ctx: RegistryContext;
  /** Bearer token → principal (stored tokens, the ggui token, Rack tokens). */
  authenticator: Authenticator;
  /** Webhook subscriptions lifecycle events are written for. */
  subscriptions?: readonly LifecycleSubscription[];
  /** The live list `/admin/webhooks` changes (refreshed after each change). */
  liveSubscriptions?: LiveSubscriptions;
  /** Checks a new subscription's URL (allow list and resolver); see `createRegistryApp`. */
  webhookGuard?: TargetGuard;
  /** Whether an exact namespace exists (grants for unknown namespaces are refused). */
  namespaceExists?: (namespace: string) => Promise<boolean>;
  /** The client IP of a request (audit records). */
  clientIp?: (c: Context) => string | undefined;
  /** Default GC grace period in ms (one hour). */
  gcGraceMs?: number;
}

type Env = {
  Variables: { principal?: Principal; action?: string; target?: string; audited?: boolean };
};

function adminError(thrown: unknown): { status: number; body: AdminErrorBody } {
  const err = storeFault(thrown);
  if (isRegistryError(err)) {
    const status = ADMIN_ERROR_STATUS[err.code];
    if (status >= 500) {
      const message = serverFaultMessage(err.code) ?? "Internal server error";
      return { status, body: { code: err.code, message } };
    }
    const body: AdminErrorBody = { code: err.code, message: err.message };
    if (err.detail !== undefined) body.detail = err.detail;
    return { status, body };
  }
  return { status: 500, body: { code: "storage_failure", message: "Internal server error" } };
}

function json(body: unknown, status = 200): Response {
  return jsonResponse(body, status, NO_STORE_JSON);
}

/** The bearer token of a request (scheme case-insensitive), or `null`. */
function bearerOf(c: Context): string | null {
  const m = /^bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "");
  return m?.[1] ?? null;
}

/** Largest admin request body: every admin document is small. */
const MAX_ADMIN_BODY = 64 * 1024;

/** The fields `POST /admin/tokens` takes. */
const TOKEN_FIELDS = new Set(["subject", "grants", "label", "expiresAt"]);

async function readJson(c: Context): Promise<Record<string, unknown>> {
  const declared = Number(c.req.header("content-length") ?? "NaN");
  const tooLarge = () =>
    new RegistryError("too_large", `Request body is over ${MAX_ADMIN_BODY} bytes`);
  if (Number.isFinite(declared) && declared > MAX_ADMIN_BODY) throw tooLarge();
  let text = "";
  const stream = c.req.raw.body;
  if (stream !== null) {
    const bytes = await collectBytes(stream, MAX_ADMIN_BODY, tooLarge);
    text = new TextDecoder().decode(bytes);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new RegistryError("invalid_input", "Request body is not valid JSON");
  }
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new RegistryError("invalid_input", "Request body must be a JSON object");
  }
  return body as Record<string, unknown>;
}

function namespaceParam(raw: string): string {
  const ns = raw.startsWith("@") ? raw : `@${raw}`;
  if (!isNamespace(ns)) throw new RegistryError("invalid_name", `Invalid namespace '${raw}'`);
  return ns;
}

function isoParam(name: string, value: string | undefined): string | undefined {
  if (value === undefined || value === "") return undefined;
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) {
    throw new RegistryError("invalid_input", `Invalid '${name}' '${value}'`);
  }
  return new Date(ms).toISOString();
}

function limitParam(value: string | undefined, max: number): number | undefined {
  if (value === undefined || value === "") return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    throw new RegistryError("invalid_input", `'limit' must be an integer in [1, ${max}]`);
  }
  return n;
}

function lifecycleBody(r: LifecycleResult): Record<string, unknown> {
  return {
    changed: r.changed,
    package: {
      namespace: r.package.namespace,
      name: r.package.name,
      format: r.package.format,
      latest: r.package.latest ?? null,
      tags: r.package.tags,
      versionCount: r.package.versionCount,
    },
    ...(r.state ? { state: r.state } : {}),
  };
}

/**
 * Build the admin routes; mount with `app.route("/admin", createAdminRoutes(…))`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hono } from "hono";
 * import { createAdminRoutes } from "./mod.ts";
 * import { staticTokenAuthenticator } from "../../core/auth.ts";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../../storage/memory.ts";
 * const ctx = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date() };
 * const app = new Hono().route("/admin", createAdminRoutes({ ctx, authenticator: staticTokenAuthenticator({ token: "root" }) }));
 * const res = await app.request("/admin/tokens", { headers: { authorization: "Bearer root" } });
 * assert.ok(res.status === 200);
 * ```
 */
export function createAdminRoutes(options: AdminRoutesOptions): Hono<Env> {
  const ipOf = options.clientIp ??
    ((c: Context) =>
      (c.env as { remoteAddr?: { hostname?: string } } | undefined)?.remoteAddr?.hostname);
  const deps: AdminDeps = {
    options,
    ctx: options.ctx,
    ip: (c) => {
      const v = ipOf(c);
      return v ? { ip: v } : {};
    },
    subs: options.subscriptions ? { subscriptions: options.subscriptions } : {},
  };
  const app = new Hono<Env>();
  app.onError((err, c) => onAdminError(err, c, deps));
  return mountRoutes(app, ADMIN_ROUTES, deps);
}

/** What every admin handler receives. */
interface AdminDeps {
  options: AdminRoutesOptions;
  ctx: RegistryContext;
  /** The client IP of a request as an audit field (`{}` when unknown). */
  ip: (c: Context) => { ip?: string };
  /** The webhook subscriptions as an option of the lifecycle and token operations. */
  subs: { subscriptions?: AdminRoutesOptions["subscriptions"] };
}

/** An admin handler. */
type AdminHandler = (c: Context<Env>, deps: AdminDeps) => Promise<Response>;

/** The one place admin errors become responses; a refused attempt leaves an audit record. */
async function onAdminError(err: Error, c: Context<Env>, deps: AdminDeps): Promise<Response> {
  const { status, body } = adminError(err);
  if (status >= 400 && status < 500 && !c.get("audited")) {
    // Every refused attempt is recorded (never the presented secret).
    try {
      await recordAudit(deps.ctx, {
        actor: c.get("principal")?.subject ?? "anonymous",
        action: c.get("action") ?? "admin.request",
        target: c.get("target") ?? c.req.path,
        outcome: "refused",
        ...deps.ip(c),
        detail: { method: c.req.method, path: c.req.path, code: body.code, status },
      });
    } catch {
      // The refusal stands even if the audit store is down.
    }
  }
  const res = json(body, status);
  // A lost race or a GC run (or a failed publish's cleanup) under way: retry shortly.
  if (body.code === "conflict") {
    res.headers.set("retry-after", String(CONFLICT_RETRY_AFTER_SECONDS));
  }
  return res;
}

/** Name the attempt (for refusal records) and authenticate it. */
async function caller(
  c: Context<Env>,
  deps: AdminDeps,
  attempt: { action: string; target?: string },
): Promise<Principal> {
  c.set("action", attempt.action);
  if (attempt.target !== undefined) c.set("target", attempt.target);
  const token = bearerOf(c);
  const principal = token === null ? null : await deps.options.authenticator.authenticate(token);
  if (!principal) {
    throw new RegistryError(
      "unauthorized",
      token === null ? "A bearer token is required" : "The bearer token is not valid",
    );
  }
  c.set("principal", principal);
  c.set("subject" as never, principal.subject as never);
  return principal;
}

/** An authenticated admin, or `forbidden`. */
async function admin(c: Context<Env>, deps: AdminDeps, action: string, target?: string) {
  const p = await caller(c, deps, { action, ...(target !== undefined ? { target } : {}) });
  if (!p.admin) throw new RegistryError("forbidden", "This needs an admin token");
  return p;
}

/** Refuse unless the principal holds `action` on `namespace`. */
function require(p: Principal, action: Action, namespace: string): void {
  if (!principalCan(p, action, namespace)) {
    throw new RegistryError("forbidden", `This needs the '${action}' grant on '${namespace}'`);
  }
}

// --- tokens -------------------------------------------------------------------

/** Refuse a token body with unknown fields, a bad label or an expiry not in the future. */
function checkTokenBody(body: Record<string, unknown>, now: Date): void {
  const unknown = Object.keys(body).filter((k) => !TOKEN_FIELDS.has(k));
  if (unknown.length > 0) {
    throw new RegistryError(
      "invalid_input",
      `Unknown field '${echo(unknown[0]!)}' (a token takes ${[...TOKEN_FIELDS].join(", ")})`,
    );
  }
  if (body.label !== undefined && (typeof body.label !== "string" || body.label.length > 256)) {
    throw new RegistryError("invalid_input", "label must be text of at most 256 characters");
  }
  if (body.expiresAt !== undefined) {
    const at = typeof body.expiresAt === "string" ? Date.parse(body.expiresAt) : NaN;
    if (!Number.isFinite(at)) {
      throw new RegistryError("invalid_input", "expiresAt must be an ISO 8601 date");
    }
    if (at <= now.getTime()) {
      throw new RegistryError(
        "invalid_input",
        "expiresAt is not in the future: the token would never work",
      );
    }
  }
}

/** Refuse grants on namespaces the caller administers that do not exist. */
async function checkGrantNamespaces(p: Principal, grants: Grant[], deps: AdminDeps) {
  const exists = deps.options.namespaceExists;
  if (!Array.isArray(grants) || !exists) return;
  for (const g of grants) {
    const ns = (g as Partial<Grant> | null)?.namespace;
    // Only namespaces the caller administers: for others createToken
    // refuses (403) without telling whether they exist.
    if (
      typeof ns === "string" && isNamespace(ns) && principalCan(p, "admin", ns) &&
      !(await exists(ns))
    ) {
      throw new RegistryError("invalid_input", `Namespace '${ns}' does not exist`, {
        detail: { namespace: ns },
      });
    }
  }
}

/** `POST /tokens`: create a token (the secret is shown once, here). */
const postToken: AdminHandler = async (c, deps) => {
  const p = await caller(c, deps, { action: "token.create" });
  const body = await readJson(c);
  checkTokenBody(body, deps.ctx.clock());
  const grants = body.grants as Grant[];
  await checkGrantNamespaces(p, grants, deps);
  try {
    const created = await createToken(
      deps.ctx,
      {
        subject: body.subject as string,
        grants,
        ...(body.label !== undefined ? { label: body.label as string } : {}),
        ...(body.expiresAt !== undefined ? { expiresAt: body.expiresAt as string } : {}),
      },
      p,
      { ...deps.ip(c), ...deps.subs },
    );
    return json(created, 201);
  } catch (err) {
    // createToken records its own refusals.
    if (isRegistryError(err)) c.set("audited", true);
    throw err;
  }
};

/** `GET /tokens`: a page of tokens (never their secrets), oldest first, optionally of one subject. */
const getTokens: AdminHandler = async (c, deps) => {
  await admin(c, deps, "token.list");
  const subject = c.req.query("subject");
  const limit = limitParam(c.req.query("limit"), 1000);
  const page = await listTokenPage(deps.ctx, {
    ...(subject ? { subject } : {}),
    ...(limit ? { limit } : {}),
    cursor: c.req.query("cursor") || undefined,
  });
  return json({ tokens: page.items, ...(page.cursor ? { cursor: page.cursor } : {}) });
};

/** `DELETE /tokens/:id`: revoke a token. */
const deleteToken: AdminHandler = async (c, deps) => {
  const id = c.req.param("id")!;
  const p = await admin(c, deps, "token.revoke", id);
  if (!(await revokeToken(deps.ctx, id, p, { ...deps.ip(c), ...deps.subs }))) {
    throw new RegistryError("not_found", `Token '${id}' not found`);
  }
  return json({ id, revoked: true });
};

// --- lifecycle of any package of any surface -----------------------------------
const V = "/packages/:ns/:name{.+}/versions/:version";
const T = "/packages/:ns/:name{.+}/tags/:tag";

/** The version a lifecycle route names. */
function versionRef(c: Context) {
  return {
    namespace: namespaceParam(c.req.param("ns")!),
    name: c.req.param("name")!,
    version: c.req.param("version")!,
  };
}

/** Authenticate a lifecycle call on a version, holding `grant` on its namespace. */
async function versionCaller(c: Context<Env>, deps: AdminDeps, action: string, grant: Action) {
  const target = `${c.req.param("ns")}/${c.req.param("name")}@${c.req.param("version")}`;
  const p = await caller(c, deps, { action, target });
  const ref = versionRef(c);
  require(p, grant, ref.namespace);
  return { p, ref, audit: { actor: p.subject, ...deps.ip(c), ...deps.subs } };
}

/** `POST …/versions/:version/{yank,unyank,undeprecate}`: one handler per verb. */
function lifecycleVerb(action: string, op: typeof yankVersion): AdminHandler {
  return async (c, deps) => {
    const { ref, audit } = await versionCaller(c, deps, action, "yank");
    return json(lifecycleBody(await op(deps.ctx, { ...ref, ...audit })));
  };
}

/** `POST …/versions/:version/deprecate`: deprecate with a message. */
const deprecate: AdminHandler = async (c, deps) => {
  const { ref, audit } = await versionCaller(c, deps, "version.deprecate", "yank");
  const body = await readJson(c);
  const r = await deprecateVersion(deps.ctx, {
    ...ref,
    message: body.message as string,
    ...audit,
  });
  return json(lifecycleBody(r));
};

/** `DELETE …/versions/:version`: delete a version (admin of its namespace). */
const deleteVersionRoute: AdminHandler = async (c, deps) => {
  const { ref, audit } = await versionCaller(c, deps, "version.delete", "admin");
  return json(lifecycleBody(await deleteVersion(deps.ctx, { ...ref, ...audit })));
};

/** Authenticate a dist-tag call, holding `yank` on the namespace. */
async function tagCaller(c: Context<Env>, deps: AdminDeps, action: string) {
  const p = await caller(c, deps, {
    action,
    target: `${c.req.param("ns")}/${c.req.param("name")}`,
  });
  const namespace = namespaceParam(c.req.param("ns")!);
  require(p, "yank", namespace);
  return {
    namespace,
    name: c.req.param("name")!,
    tag: c.req.param("tag")!,
    actor: p.subject,
    ...deps.ip(c),
    ...deps.subs,
  };
}

/** `PUT …/tags/:tag`: point a dist-tag at a version. */
const putTag: AdminHandler = async (c, deps) => {
  const call = await tagCaller(c, deps, "tag.set");
  const body = await readJson(c);
  if (typeof body.version !== "string") {
    throw new RegistryError("invalid_input", "'version' must be a string");
  }
  return json(lifecycleBody(await setDistTag(deps.ctx, { ...call, version: body.version })));
};

/** `DELETE …/tags/:tag`: remove a dist-tag. */
const deleteTag: AdminHandler = async (c, deps) => {
  const call = await tagCaller(c, deps, "tag.remove");
  return json(lifecycleBody(await removeDistTag(deps.ctx, call)));
};

// --- audit ------------------------------------------------------------------------

/** The audit filter of a request's query. */
function auditFilter(c: Context) {
  const q = c.req.query();
  const since = isoParam("since", q.since);
  const until = isoParam("until", q.until);
  const outcome = q.outcome;
  if (outcome !== undefined && outcome !== "" && outcome !== "ok" && outcome !== "refused") {
    throw new RegistryError("invalid_input", `Invalid 'outcome' '${outcome}'`);
  }
  return {
    ...(q.actor ? { actor: q.actor } : {}),
    ...(q.action ? { action: q.action } : {}),
    ...(q.target ? { targetPrefix: q.target } : {}),
    ...(outcome ? { outcome: outcome as "ok" | "refused" } : {}),
    ...(since ? { since } : {}),
    ...(until ? { until } : {}),
  };
}

/** `GET /audit`: one page of audit records. */
const getAudit: AdminHandler = async (c, deps) => {
  await admin(c, deps, "audit.read");
  const filter = auditFilter(c);
  const limit = limitParam(c.req.query("limit"), 1000);
  const cursor = c.req.query("cursor");
  const page = await listAudit(deps.ctx, {
    ...filter,
    ...(limit ? { limit } : {}),
    ...(cursor ? { cursor } : {}),
  });
  return json(page);
};

/** `GET /audit.jsonl`: every matching audit record, streamed as JSON lines. */
const exportAuditRoute: AdminHandler = async (c, deps) => {
  await admin(c, deps, "audit.export");
  const lines = exportAudit(deps.ctx, auditFilter(c));
  const encoder = new TextEncoder();
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await lines.next();
      if (next.done) controller.close();
      else controller.enqueue(encoder.encode(next.value));
    },
    async cancel() {
      await lines.return(undefined);
    },
  });
  return new Response(stream, {
    headers: { "content-type": "application/x-ndjson", "cache-control": "no-store" },
  });
};

// --- webhook subscriptions (beside webhooks.json's) ---------------------------------

/** A subscription as listed: never its secret, with where it comes from. */
function shown(sub: WebhookSubscription, source: "file" | "admin") {
  const { secret: _secret, ...rest } = sub;
  return { ...rest, source };
}

/** `GET /webhooks`: the subscriptions of webhooks.json and those created here. */
const getWebhooks: AdminHandler = async (c, deps) => {
  await admin(c, deps, "webhook.list");
  const fixed = deps.options.liveSubscriptions?.fixed ?? [];
  const stored = await listWebhookSubscriptions(deps.ctx);
  return json({
    subscriptions: [
      ...fixed.map((s) => shown(s, "file")),
      ...stored.map((s) => shown(s, "admin")),
    ],
  });
};

/** `POST /webhooks`: create a subscription (the secret is shown once, here). */
const postWebhook: AdminHandler = async (c, deps) => {
  const p = await admin(c, deps, "webhook.create");
  const body = await readJson(c);
  const created = await createWebhookSubscription(
    deps.ctx,
    body,
    p.subject,
    deps.ip(c).ip,
    deps.options.webhookGuard,
  );
  await deps.options.liveSubscriptions?.refresh();
  return json({ ...created, source: "admin" }, 201);
};

/** `DELETE /webhooks/:id`: delete a subscription created here. */
const deleteWebhook: AdminHandler = async (c, deps) => {
  const id = c.req.param("id")!;
  const p = await admin(c, deps, "webhook.delete", id);
  if (!(await deleteWebhookSubscription(deps.ctx, id, p.subject, deps.ip(c).ip))) {
    const declared = deps.options.liveSubscriptions?.fixed.some((s) => s.id === id);
    throw new RegistryError(
      "not_found",
      declared
        ? `Webhook subscription '${id}' is declared in webhooks.json: change it there`
        : `Webhook subscription '${id}' not found`,
    );
  }
  await deps.options.liveSubscriptions?.refresh();
  return json({ id, deleted: true });
};

// --- webhook deliveries --------------------------------------------------------------

/** `GET /webhooks/deliveries`: one page of deliveries in one state. */
const getDeliveries: AdminHandler = async (c, deps) => {
  await admin(c, deps, "webhooks.read");
  const state = c.req.query("state") ?? "pending";
  if (state !== "pending" && state !== "delivered" && state !== "dead") {
    throw new RegistryError("invalid_input", `Invalid 'state' '${state}'`);
  }
  const limit = limitParam(c.req.query("limit"), 1000);
  const cursor = c.req.query("cursor");
  const page = await listDeliveries(deps.ctx, state, {
    ...(limit ? { limit } : {}),
    ...(cursor ? { cursor } : {}),
  });
  return json({
    state,
    items: page.items.map((d) => ({
      id: d.id,
      event: d.event,
      url: d.url,
      subscription: d.subscription,
      status: d.status,
      attempts: d.attempts,
      createdAt: d.createdAt,
      nextAttemptAt: d.nextAttemptAt,
      ...(d.lastStatus !== undefined ? { lastStatus: d.lastStatus } : {}),
      ...(d.lastError !== undefined ? { lastError: d.lastError } : {}),
      ...(d.finishedAt !== undefined ? { finishedAt: d.finishedAt } : {}),
    })),
    ...(page.cursor ? { cursor: page.cursor } : {}),
  });
};

// --- garbage collection ------------------------------------------------------------

/** The collector (and the upstream cache's references it reads) loads with the first `POST /gc`. */
const gcCode = lazily(() => import("../../core/gc.ts"));

/** `POST /gc`: collect garbage now (`?dryRun=1` reports only, `?grace=1h`). */
const postGc: AdminHandler = async (c, deps) => {
  const p = await admin(c, deps, "gc.run");
  const dry = c.req.query("dryRun");
  // Anything but a clear yes or no is refused: a misspelt dry run must not delete.
  if (dry !== undefined && !["1", "true", "0", "false"].includes(dry)) {
    throw new RegistryError("invalid_input", "dryRun must be 1, true, 0 or false");
  }
  const grace = c.req.query("grace");
  const { collectGarbage, DEFAULT_GC_GRACE_MS, parseDuration } = await gcCode();
  const report = await collectGarbage(deps.ctx, {
    dryRun: dry === "1" || dry === "true",
    graceMs: grace ? parseDuration(grace) : deps.options.gcGraceMs ?? DEFAULT_GC_GRACE_MS,
    actor: p.subject,
  });
  return json(report);
};

/** Any other admin path. */
function adminNotFound(): Response {
  return json({ code: "not_found", message: "Route not found" }, 404);
}

/** The admin route table, in mounting order. */
const ADMIN_ROUTES: readonly Route<AdminDeps, Env>[] = [
  { method: "POST", path: "/tokens", handler: postToken },
  { method: "GET", path: "/tokens", handler: getTokens },
  { method: "DELETE", path: "/tokens/:id", handler: deleteToken },
  { method: "POST", path: `${V}/yank`, handler: lifecycleVerb("version.yank", yankVersion) },
  { method: "POST", path: `${V}/unyank`, handler: lifecycleVerb("version.unyank", unyankVersion) },
  {
    method: "POST",
    path: `${V}/undeprecate`,
    handler: lifecycleVerb("version.undeprecate", undeprecateVersion),
  },
  { method: "POST", path: `${V}/deprecate`, handler: deprecate },
  { method: "DELETE", path: V, handler: deleteVersionRoute },
  { method: "PUT", path: T, handler: putTag },
  { method: "DELETE", path: T, handler: deleteTag },
  { method: "GET", path: "/audit", handler: getAudit },
  { method: "GET", path: "/audit.jsonl", handler: exportAuditRoute },
  { method: "GET", path: "/webhooks", handler: getWebhooks },
  { method: "POST", path: "/webhooks", handler: postWebhook },
  { method: "DELETE", path: "/webhooks/:id", handler: deleteWebhook },
  { method: "GET", path: "/webhooks/deliveries", handler: getDeliveries },
  { method: "POST", path: "/gc", handler: postGc },
  { method: "ALL", path: "/*", handler: adminNotFound },
  { method: "ALL", path: "/", handler: adminNotFound },
];
