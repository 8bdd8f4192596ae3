/**
 * The pages answered on the prepared-read path (`routes/shared/_prepared_reads.ts`),
 * before Hono: a signed-out visitor's home page and JSR package page, which
 * are the same for every signed-out visitor and kept (`_reader_routes.tsx`).
 * A request qualifies only when the pages claim it (a `GET`/`HEAD` asking
 * for HTML) and it carries no session cookie at all: a signed-in request,
 * and one with a stale cookie (its answer clears it), declines to the Hono
 * route, which checks the session. A page that is not kept yet is rendered
 * as the Hono route would; a package the visitor may not see declines, so
 * the Hono route answers it exactly as a missing one.
 *
 * @module
 */
import { CachingRegistryStorage } from "../../core/read_cache.ts";
import type { FastAnswer, PreparedRead } from "../shared/_route_table.ts";
import { cookieOf, SESSION_COOKIE } from "./_cookies.ts";
import { type JsrPackageHead, jsrPackageHead, jsrPackageHeadNow } from "./_data.ts";
import { claims, htmlPage, matchesEtag, type PreparedPage } from "./_http.ts";
import {
  homeQueryOf,
  type PackageTarget,
  packageTargetOf,
  signedOutHome,
  signedOutHomeNow,
  signedOutPackagePage,
  signedOutPackagePageNow,
} from "./_reader_routes.tsx";
import type { UiDeps } from "./_request.tsx";
import { requestHeader } from "../ops/_request_header.ts";

/** Whether the signed-out page answers: the pages claim the request and it has no session. */
function signedOut(req: Request, path: string): boolean {
  return claims(req, path) && cookieOf(req, SESSION_COOKIE) === undefined;
}

/** Each kept page's 304, finished once (`htmlPage`'s own) and cloned per request. */
const notModified = new WeakMap<PreparedPage, Response>();

function notModifiedOf(page: PreparedPage): Response {
  let res = notModified.get(page);
  if (res === undefined) {
    const asked = new Request("http://localhost/", { headers: { "if-none-match": page.etag } });
    notModified.set(page, res = htmlPage(asked, page));
  }
  return res.clone();
}

/**
 * A kept page's answer. Without a condition it is fully determined by the
 * page's ETag, so the path keeps it finished (and compressed) under it when
 * `keep` says so; a request holding the page gets the page's 304.
 */
function answerOf(req: Request, page: PreparedPage, keep: boolean): FastAnswer {
  const held = requestHeader(req, "if-none-match");
  if (held === null) {
    const build = () => htmlPage(req, page);
    return keep ? { key: `ui page ${page.etag}`, build } : { build };
  }
  if (matchesEtag(held, page.etag)) return { build: () => notModifiedOf(page) };
  return { build: () => htmlPage(req, page) };
}

function answered(
  req: Request,
  page: PreparedPage | Promise<PreparedPage>,
  keep = true,
): FastAnswer | Promise<FastAnswer> {
  return page instanceof Promise
    ? page.then((p) => answerOf(req, p, keep))
    : answerOf(req, page, keep);
}

/**
 * `GET /` signed out: the kept home or search page. Only the home page
 * itself is kept finished on the path: searches are as many as visitors
 * type, and would crowd the hot reads out of its budget.
 */
export const preparedHome: PreparedRead<UiDeps> = (req, _params, deps) => {
  if (!signedOut(req, "/")) return null;
  deps.metricsRing.tick(Date.now());
  const query = homeQueryOf(req.url);
  const plain = query.q === "" && query.format === "" && query.cursor === "";
  return answered(req, signedOutHomeNow(deps, query) ?? signedOutHome(deps, query), plain);
};

/**
 * Signed-out package heads being read, by package and version: requests
 * arriving while the rows are read (at each read-cache expiry, under load)
 * share that read rather than each reading the store, unless this process
 * committed since it began (its own commits are seen at once). A private
 * package and a missing one share alike.
 */
const headsBeingRead = new WeakMap<
  object,
  Map<string, { epoch: number; read: Promise<JsrPackageHead | null> }>
>();

function signedOutHead(deps: UiDeps, ref: PackageTarget["ref"]): Promise<JsrPackageHead | null> {
  const storage = deps.ctx.storage;
  if (!(storage instanceof CachingRegistryStorage)) return jsrPackageHead(deps.ctx, ref, null);
  let reads = headsBeingRead.get(storage);
  if (!reads) headsBeingRead.set(storage, reads = new Map());
  const key = `${ref.namespace}/${ref.name}@${ref.version ?? ""}`;
  const hit = reads.get(key);
  if (hit && hit.epoch === storage.epoch) return hit.read;
  const entry = { epoch: storage.epoch, read: jsrPackageHead(deps.ctx, ref, null) };
  reads.set(key, entry);
  const done = () => reads.get(key) === entry && reads.delete(key);
  entry.read.then(done, done);
  return entry.read;
}

/** `GET /@scope/name[@version]` signed out: the kept package page; a miss declines. */
export const preparedPackagePage: PreparedRead<UiDeps> = (req, params, deps) => {
  const path = `/${params.scope}/${params.pkg}`;
  const target = signedOut(req, path) ? packageTargetOf(path, req.url) : null;
  if (target === null) return null;
  deps.metricsRing.tick(Date.now());
  const head = jsrPackageHeadNow(deps.ctx, target.ref, null);
  if (head === undefined) {
    return signedOutHead(deps, target.ref).then((h) =>
      h && answered(req, signedOutPackagePage(deps, h, target))
    );
  }
  if (head === null) return null;
  return answered(
    req,
    signedOutPackagePageNow(head, target) ?? signedOutPackagePage(deps, head, target),
  );
};
