/** @jsxImportSource hono/jsx */
/**
 * The reader pages' handlers: home and search, a JSR package's page, its
 * file browser and raw files. A package, version or file the reader may
 * not see answers {@linkcode notFound}, exactly as a missing one.
 *
 * @module
 */
import { jsrRef } from "../../core/jsr/publish.ts";
import type { FileEntry, FileMap } from "../../core/rows.ts";
import { rackRefOf, rackView } from "./_rack_data.ts";
import {
  highlighter,
  jsrPackageFiles,
  type JsrPackageHead,
  jsrPackageHead,
  jsrPackageView,
  looksBinary,
  readmeHtml,
  readmePath,
  readText,
} from "./_data.ts";
import { formatOf, isPageCursor, MAX_BACK, MAX_QUERY_CHARS, searchPage } from "./_search.ts";
import {
  brieflyKeptPage,
  brieflyKeptPageNow,
  htmlPage,
  keptPage,
  keptPageNow,
  PACKAGE_PAGE_RE,
  type PreparedPage,
  RAW_CSP,
  SECURITY_HEADERS,
} from "./_http.ts";
import { renderPage, type Viewer } from "./_layout.tsx";
import { FileBody, FolderBody, HomeBody, PackageBody, pageOf } from "./_pages.tsx";
import { notFound, type UiRequest, type UiRoutesOptions } from "./_request.tsx";
import type { JsrReader } from "../../core/jsr/read.ts";
import { getQueryParam } from "hono/utils/url";

/** The longest file shown (the rest is cut with a note). */
const MAX_SHOWN_BYTES = 1024 * 1024;

/** The `back` trail of page cursors from a query parameter (anything malformed: none). */
function backOf(text: string | undefined): string[] {
  const back = (text ?? "").split(",").filter((c) => c !== "");
  return back.length <= MAX_BACK && back.every(isPageCursor) ? back : [];
}

/** A query parameter of a request URL, read exactly as Hono's `c.req.query(name)` reads it. */
function queryOf(url: string, name: string): string | undefined {
  return getQueryParam(url, name) as string | undefined;
}

/** What the home page shows: a search (or recent packages), one page of it. */
export interface HomeQuery {
  q: string;
  format: string;
  cursor: string;
  /** The earlier pages' cursors (Previous without script). */
  back: string[];
}

/** The home page's query from its request URL. */
export function homeQueryOf(url: string): HomeQuery {
  const cursor = (queryOf(url, "cursor") ?? "").slice(0, 5000);
  return {
    q: (queryOf(url, "q") ?? "").slice(0, MAX_QUERY_CHARS).trim(),
    format: formatOf(queryOf(url, "format")),
    cursor,
    back: cursor === "" ? [] : backOf(queryOf(url, "back")),
  };
}

/** The home page for `reader`, rendered. */
async function renderHome(
  options: UiRoutesOptions,
  query: HomeQuery,
  who: { reader: JsrReader; viewer: Viewer },
): Promise<string> {
  const { back, ...search } = query;
  const result = await searchPage(options.ctx, { ...search, reader: who.reader });
  return await renderPage(
    query.q ? `Search: ${query.q}` : "Packages",
    { ...who.viewer, q: query.q },
    <HomeBody query={search} back={back} result={result} />,
  );
}

const homeKey = (query: HomeQuery) =>
  JSON.stringify([query.q, query.format, query.cursor, query.back]);

/**
 * The home page as every signed-out reader sees it, kept as briefly as any
 * cached read ({@linkcode brieflyKeptPage}).
 */
export function signedOutHome(options: UiRoutesOptions, query: HomeQuery): Promise<PreparedPage> {
  const render = () => renderHome(options, query, { reader: null, viewer: {} });
  return brieflyKeptPage(options.ctx.storage, homeKey(query), render);
}

/** {@linkcode signedOutHome} without waiting: the kept page, when it is. */
export function signedOutHomeNow(
  options: UiRoutesOptions,
  query: HomeQuery,
): PreparedPage | undefined {
  return brieflyKeptPageNow(options.ctx.storage, homeKey(query));
}

/**
 * `GET /`: recent packages, or the results of a search, one page at a time
 * on the search index; `back` lists the earlier pages' cursors so that
 * Previous works without script.
 */
export async function home(req: UiRequest): Promise<Response> {
  const query = homeQueryOf(req.c.req.url);
  // Signed out, every reader gets the same page: kept as briefly as any cached read.
  const page = req.reader === null
    ? await signedOutHome(req.options, query)
    : await renderHome(req.options, query, req);
  return htmlPage(req.c.req.raw, page);
}

/** A package reference from `@scope/name@version`, or `null` when it cannot name one. */
export function refOf(text: string): { namespace: string; name: string; version?: string } | null {
  const m = PACKAGE_PAGE_RE.exec(`/${text}`);
  if (!m) return null;
  try {
    const ref = m[3] === undefined ? jsrRef(m[1]!, m[2]!) : jsrRef(m[1]!, m[2]!, m[3]);
    return ref;
  } catch {
    return null;
  }
}

/** What a package page request names: the package, the versions table's page, the origin. */
export interface PackageTarget {
  ref: { namespace: string; name: string; version?: string };
  /** The versions table's page. */
  page: number;
  /** The origin the install lines name. */
  origin: string;
}

/** The package page a request names (`/@scope/name[@version]`), or `null`. */
export function packageTargetOf(path: string, url: string): PackageTarget | null {
  const ref = refOf(path.slice(1));
  return ref && { ref, page: pageOf(queryOf(url, "page")), origin: originOf(url) };
}

/**
 * A request URL's origin, as `new URL(url).origin` gives it: a request's URL
 * is already serialized (host lower-cased, default port dropped), so its
 * start is its origin unless it holds credentials.
 */
export function originOf(url: string): string {
  return /^https?:\/\/[^/?#@\\]*(?=[/?#]|$)/.exec(url)?.[0] ?? new URL(url).origin;
}

/** The package page for this viewer, rendered. */
async function renderPackage(
  options: UiRoutesOptions,
  head: JsrPackageHead,
  target: PackageTarget,
  viewer: Viewer,
): Promise<string> {
  const view = await jsrPackageFiles(options.ctx, head);
  const readme = readmePath(view.shown.files);
  const rendered = readme ? await readmeHtml(options.ctx, readme, view.shown.files[readme]!) : null;
  return await renderPage(
    `${view.namespace}/${view.name}@${view.shown.version}`,
    viewer,
    <PackageBody view={view} origin={target.origin} readme={rendered} page={target.page} />,
  );
}

const packageKey = (head: JsrPackageHead, target: PackageTarget) =>
  `${target.origin} ${head.shown.version} ${target.page}`;

/**
 * The package page as every signed-out reader sees it: rendered once per
 * version list (a new list at every change of the package), origin,
 * version and table page, and kept ({@linkcode keptPage}). `head` is the
 * signed-out reader's.
 */
export function signedOutPackagePage(
  options: UiRoutesOptions,
  head: JsrPackageHead,
  target: PackageTarget,
): Promise<PreparedPage> {
  const render = () => renderPackage(options, head, target, {});
  return keptPage(head.versions, packageKey(head, target), render);
}

/** {@linkcode signedOutPackagePage} without waiting: the kept page, when it is. */
export function signedOutPackagePageNow(
  head: JsrPackageHead,
  target: PackageTarget,
): PreparedPage | undefined {
  return keptPageNow(head.versions, packageKey(head, target));
}

/** `GET /@scope/name[@version]`: the package page (the latest version without one). */
export async function packagePage(req: UiRequest): Promise<Response> {
  const { c, options } = req;
  const target = packageTargetOf(c.req.path, c.req.url);
  const head = target && await jsrPackageHead(options.ctx, target.ref, req.reader);
  if (!head) return notFound(req);
  const page = req.reader === null
    ? await signedOutPackagePage(options, head, target!)
    : await renderPackage(options, head, target!, req.viewer);
  return htmlPage(c.req.raw, page);
}

/** A version's files as the reader may see them, with its id and page. */
interface VersionFiles {
  /** `@scope/name` (a Rack package: `@ns/path/…`). */
  id: string;
  version: string;
  files: FileMap;
  /** The version's page. */
  home: string;
}

/**
 * `/ui/<kind>/@scope/name@version/<path>`: the version's files (a JSR or a
 * Rack package; a package has one format) and the file path; `null` when
 * malformed or not readable.
 */
async function fileTarget(
  req: UiRequest,
  kind: string,
): Promise<{ of: VersionFiles; file: string } | null> {
  const parts = req.c.req.path.slice(`/ui/${kind}/`.length).split("/");
  const at = parts.findIndex((p, i) => i > 0 && p.includes("@"));
  if (at < 1) return null;
  let file: string;
  try {
    file = decodeURIComponent(parts.slice(at + 1).join("/")).replace(/\/+$/, "");
  } catch {
    return null;
  }
  const of = await versionFilesOf(req, parts.slice(0, at + 1).join("/"));
  return of && { of, file };
}

async function versionFilesOf(req: UiRequest, text: string): Promise<VersionFiles | null> {
  const { ctx, rackAuth } = req.options;
  const jsr = refOf(text);
  if (jsr?.version !== undefined) {
    const view = await jsrPackageView(ctx, jsr, req.reader);
    if (view && view.shown.version === jsr.version) {
      const id = `${view.namespace}/${view.name}`;
      return { id, version: jsr.version, files: view.shown.files, home: `/${id}@${jsr.version}` };
    }
  }
  const rack = rackRefOf(text);
  const auth = await rackAuth?.();
  if (rack?.version === undefined || !auth) return null;
  const view = await rackView(ctx, { auth, ref: rack, reader: req.reader });
  if (!view || view.shown.version !== rack.version) return null;
  const id = `${view.namespace}/${view.name}`;
  return {
    id,
    version: rack.version,
    files: view.shown.files,
    home: `/ui/rack/${id}@${rack.version}`,
  };
}

/** `GET /ui/files/@scope/name@version/<path>`: a folder listing or one file, highlighted. */
export async function fileBrowser(req: UiRequest): Promise<Response> {
  const { c, options } = req;
  const target = await fileTarget(req, "files");
  if (!target) return notFound(req);
  const { id, version, files, home } = target.of;
  const entry: FileEntry | undefined = Object.hasOwn(files, target.file)
    ? files[target.file]
    : undefined;
  const title = `${id}@${version}/${target.file}`;
  if (!entry) {
    const dir = target.file;
    const isDir = dir === "" || Object.keys(files).some((p) => p.startsWith(`${dir}/`));
    if (!isDir) return notFound(req);
    const body = <FolderBody id={id} version={version} home={home} dir={dir} files={files} />;
    return htmlPage(c.req.raw, await renderPage(title, req.viewer, body));
  }
  const text = await readText(options.ctx, entry, MAX_SHOWN_BYTES);
  let html: string | null = null;
  let note: string | undefined;
  if (text === null || looksBinary(text.text)) note = "A binary file: use the raw link.";
  else {
    html = (await highlighter()).highlight(target.file, text.text);
    if (text.truncated) note = "The file is cut at 1 MiB here: the raw link has all of it.";
  }
  const body = (
    <FileBody
      id={id}
      version={version}
      home={home}
      path={target.file}
      entry={entry}
      html={html}
      {...(note ? { note } : {})}
    />
  );
  return htmlPage(c.req.raw, await renderPage(title, req.viewer, body));
}

/**
 * `GET /ui/raw/@scope/name@version/<path>`: a file's bytes as
 * `text/plain` (binary as `application/octet-stream`) under a sandboxing
 * policy, so an HTML or SVG file never runs as a page of this origin.
 */
export async function rawFile(req: UiRequest): Promise<Response> {
  const { c, options } = req;
  const target = await fileTarget(req, "raw");
  if (!target) return notFound(req);
  const files = target.of.files;
  const entry = Object.hasOwn(files, target.file) ? files[target.file] : undefined;
  if (!entry) return notFound(req);
  const body = await options.ctx.bundles.get(entry.sha256);
  if (!body) return notFound(req);
  const textual = /^(text\/|application\/(json|javascript|typescript|xml)|image\/svg)/.test(
    entry.type,
  );
  if (c.req.method === "HEAD") await body.stream.cancel();
  return new Response(c.req.method === "HEAD" ? null : body.stream, {
    headers: {
      ...SECURITY_HEADERS,
      "content-security-policy": RAW_CSP,
      "content-type": textual ? "text/plain; charset=utf-8" : "application/octet-stream",
      "content-length": String(entry.size),
      "cache-control": "private, no-cache",
      etag: `"${entry.sha256}"`,
      vary: "Cookie",
    },
  });
}
