/** @jsxImportSource hono/jsx */
/**
 * The reader pages' handlers: home and search, a JSR package's page, its
 * file browser and raw files. A package, version or file the reader may
 * not see answers {@linkcode notFound}, exactly as a missing one.
 *
 * @module
 */
import { jsrRef } from "../../core/jsr/publish.ts";
import type { FileEntry } from "../../core/rows.ts";
import {
  FORMAT_FILTERS,
  jsrPackageView,
  looksBinary,
  readmePath,
  readText,
  searchPackages,
} from "./_data.ts";
import { htmlPage, PACKAGE_PAGE_RE, RAW_CSP, SECURITY_HEADERS } from "./_http.ts";
import { renderPage } from "./_layout.tsx";
import { FileBody, FolderBody, HomeBody, PackageBody } from "./_pages.tsx";
import { notFound, type UiRequest } from "./mod.ts";
import { lazily } from "../../base/lazy.ts";

// markdown-it and highlight.js load with the first page that needs them (~50 ms of start-up CPU).
const markdown = lazily(() => import("./_markdown.ts"));
const highlighter = lazily(() => import("./_highlight.ts"));

/** The longest README rendered, and the longest file shown (the rest is cut with a note). */
const MAX_README_BYTES = 1024 * 1024;
const MAX_SHOWN_BYTES = 1024 * 1024;
/** The longest search text kept (longer input is cut, never refused). */
const MAX_QUERY_CHARS = 200;

/** A page number from a query parameter: 1 for anything that is not a small positive integer. */
function pageOf(text: string | undefined): number {
  return text !== undefined && /^[1-9]\d{0,5}$/.test(text) ? Number(text) : 1;
}

/** `GET /`: recent packages, or the results of a search. */
export async function home(req: UiRequest): Promise<Response> {
  const { c } = req;
  const format = c.req.query("format") ?? "";
  const query = {
    q: (c.req.query("q") ?? "").slice(0, MAX_QUERY_CHARS).trim(),
    format: (FORMAT_FILTERS as readonly string[]).includes(format) ? format : "",
    page: pageOf(c.req.query("page")),
  };
  const { hits, total } = await searchPackages(req.options.ctx, query, req.reader);
  const title = query.q ? `Search: ${query.q}` : "Packages";
  const html = await renderPage(
    title,
    { ...req.viewer, q: query.q },
    <HomeBody query={query} hits={hits} total={total} />,
  );
  return htmlPage(c.req.raw, html);
}

/** A package reference from `@scope/name@version`, or `null` when it cannot name one. */
function refOf(text: string): { namespace: string; name: string; version?: string } | null {
  const m = PACKAGE_PAGE_RE.exec(`/${text}`);
  if (!m) return null;
  try {
    const ref = m[3] === undefined ? jsrRef(m[1]!, m[2]!) : jsrRef(m[1]!, m[2]!, m[3]);
    return ref;
  } catch {
    return null;
  }
}

/** `GET /@scope/name[@version]`: the package page (the latest version without one). */
export async function packagePage(req: UiRequest): Promise<Response> {
  const { c, options } = req;
  const ref = refOf(c.req.path.slice(1));
  const view = ref && await jsrPackageView(options.ctx, ref, req.reader);
  if (!view) return notFound(req);
  const readme = readmePath(view.shown.files);
  const text = readme
    ? await readText(options.ctx, view.shown.files[readme]!, MAX_README_BYTES)
    : null;
  const pageNo = pageOf(c.req.query("page"));
  const readmeView = text
    ? { html: (await markdown()).renderMarkdown(text.text), truncated: text.truncated }
    : null;
  const html = await renderPage(
    `${view.namespace}/${view.name}@${view.shown.version}`,
    req.viewer,
    <PackageBody
      view={view}
      origin={new URL(c.req.url).origin}
      readme={readmeView}
      page={pageNo}
    />,
  );
  return htmlPage(c.req.raw, html);
}

/** `/ui/<kind>/@scope/name@version/<path>` split; `null` when malformed. */
function fileTarget(path: string, kind: string) {
  const rest = path.slice(`/ui/${kind}/`.length);
  const parts = rest.split("/");
  if (parts.length < 2) return null;
  const ref = refOf(`${parts[0]}/${parts[1]}`);
  if (!ref || ref.version === undefined) return null;
  let file: string;
  try {
    file = decodeURIComponent(parts.slice(2).join("/"));
  } catch {
    return null;
  }
  return { ref: { ...ref, version: ref.version }, file: file.replace(/\/+$/, "") };
}

/** `GET /ui/files/@scope/name@version/<path>`: a folder listing or one file, highlighted. */
export async function fileBrowser(req: UiRequest): Promise<Response> {
  const { c, options } = req;
  const target = fileTarget(c.req.path, "files");
  const view = target && await jsrPackageView(options.ctx, target.ref, req.reader);
  if (!target || !view || view.shown.version !== target.ref.version) return notFound(req);
  const id = `${view.namespace}/${view.name}`;
  const { files } = view.shown;
  const entry: FileEntry | undefined = Object.hasOwn(files, target.file)
    ? files[target.file]
    : undefined;
  const title = `${id}@${view.shown.version}/${target.file}`;
  if (!entry) {
    const dir = target.file;
    const isDir = dir === "" || Object.keys(files).some((p) => p.startsWith(`${dir}/`));
    if (!isDir) return notFound(req);
    const body = <FolderBody id={id} version={view.shown.version} dir={dir} files={files} />;
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
      version={view.shown.version}
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
  const target = fileTarget(c.req.path, "raw");
  const view = target && await jsrPackageView(options.ctx, target.ref, req.reader);
  if (!target || !view || view.shown.version !== target.ref.version) return notFound(req);
  const files = view.shown.files;
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
