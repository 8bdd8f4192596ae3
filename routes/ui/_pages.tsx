/** @jsxImportSource hono/jsx */
/**
 * The reader pages' bodies: home with search, a JSR package, a version's
 * files, and the not-found page (also what a hidden package renders).
 *
 * @module
 */
import { raw } from "hono/html";
import type { FileEntry } from "../../core/rows.ts";
import type { JsrPackageView, VersionLine } from "./_data.ts";
import {
  FORMAT_FILTERS,
  MAX_BACK,
  type PackageHit,
  type PackageQuery,
  type SearchPage,
} from "./_search.ts";

/** Versions per page of a package's versions table. */
export const VERSIONS_PAGE_SIZE = 50;

/** A page number from a query parameter: 1 for anything that is not a small positive integer. */
export function pageOf(text: string | undefined): number {
  return text !== undefined && /^[1-9]\d{0,5}$/.test(text) ? Number(text) : 1;
}

/**
 * A command to copy: the text in a focusable block, and a Copy button that
 * stays hidden unless the same-origin script `/ui/copy.js` runs (the page
 * works without it: the text can be selected by hand).
 */
export function CopyBlock(props: { id: string; text: string }) {
  return (
    <div class="copy">
      <pre id={props.id} tabindex={0}>{props.text}</pre>
      <button type="button" class="copy-button" data-copy={props.id} hidden>Copy</button>
    </div>
  );
}

/** The page URL of a hit (JSR at jsr.io's own URLs). */
function hitHref(hit: PackageHit): string | undefined {
  if (hit.format === "jsr") return `/${hit.namespace}/${hit.name}`;
  if (hit.format.startsWith("ggui.")) return `/ui/ggui/${hit.namespace}/${hit.name}`;
  if (hit.format === "rack.registry") return `/ui/rack/${hit.namespace}/${hit.name}`;
  return undefined;
}

/** `/?q=…&format=…&cursor=…&back=…` for a page of a search. */
function searchHref(query: PackageQuery, cursor: string, back: readonly string[]): string {
  const p = new URLSearchParams();
  if (query.q) p.set("q", query.q);
  if (query.format) p.set("format", query.format);
  if (cursor) p.set("cursor", cursor);
  if (cursor && back.length > 0) p.set("back", back.join(","));
  const qs = p.toString();
  return qs ? `/?${qs}` : "/";
}

/** What a page of results says about its place: a count on the last page, a range before it. */
function countLine(result: SearchPage): string {
  const { before, hits, next } = result;
  const shown = before + hits.length;
  if (next === undefined && before === 0) return shown === 1 ? "1 package" : `${shown} packages`;
  const range = hits.length === 0 ? "no packages on this page" : `packages ${before + 1}–${shown}`;
  return next === undefined ? `${range} of ${shown}` : `${range} · more follow`;
}

/** The search form: text and format. */
function SearchForm(props: { query: PackageQuery }) {
  const { query } = props;
  return (
    <form action="/" method="get" class="pager">
      <label>
        Text <input type="search" name="q" value={query.q} maxlength={200} />
      </label>
      <label>
        Format{" "}
        <select name="format">
          <option value="">all</option>
          {FORMAT_FILTERS.map((f) => (
            <option key={f} value={f} selected={query.format === f}>{f}</option>
          ))}
        </select>
      </label>
      <button type="submit">Search</button>
    </form>
  );
}

/** One hit of a search. */
function HitItem(props: { hit: PackageHit }) {
  const h = props.hit;
  const href = hitHref(h);
  const label = `${h.namespace}/${h.name}`;
  return (
    <li>
      {href ? <a href={href}>{label}</a> : <strong>{label}</strong>}{" "}
      <span class="badge">{h.format}</span> <code>{h.latest}</code>
      {h.description ? <div class="muted">{h.description}</div> : ""}
      <div class="muted">published {h.publishedAt}</div>
    </li>
  );
}

/**
 * Home: the search form with filters, and one page of its results (recent
 * packages without a query), with First, Previous and Next links: `back`
 * holds the cursors of the pages before this one.
 */
export function HomeBody(
  props: { query: PackageQuery; back: readonly string[]; result: SearchPage },
) {
  const { query, back, result } = props;
  const searching = query.q !== "" || query.format !== "";
  const onward = query.cursor ? [...back, query.cursor].slice(-MAX_BACK) : [];
  return (
    <>
      <h1>{searching ? "Search" : "Recently published"}</h1>
      <SearchForm query={query} />
      {result.error ? <p class="error" role="alert">{result.error}</p> : ""}
      <p class="muted" id="count">{countLine(result)}</p>
      <ul class="hits">
        {result.hits.map((h) => <HitItem key={`${h.namespace}/${h.name}`} hit={h} />)}
      </ul>
      <nav class="pager" aria-label="Pages">
        {query.cursor ? <a href={searchHref(query, "", [])}>First</a> : ""}
        {query.cursor && back.length > 0
          ? <a href={searchHref(query, back.at(-1)!, back.slice(0, -1))} rel="prev">Previous</a>
          : ""}
        {query.cursor && back.length === 0
          ? <a href={searchHref(query, "", [])} rel="prev">Previous</a>
          : ""}
        {result.next ? <a href={searchHref(query, result.next, onward)} rel="next">Next</a> : ""}
      </nav>
    </>
  );
}

/** `sha256-<base64>` of a hex SHA-256: the Subresource Integrity form. */
export function sriOf(hex: string): string {
  const bytes = new Uint8Array(hex.match(/../g)!.map((b) => parseInt(b, 16)));
  return `sha256-${btoa(String.fromCharCode(...bytes))}`;
}

/**
 * A versions table, newest first, one page of {@linkcode VERSIONS_PAGE_SIZE}
 * rows (a page past the end shows the last page): published time and
 * publisher, yanked and deprecated states, dist-tags.
 */
export function VersionsTable(props: {
  lines: readonly VersionLine[];
  page: number;
  latest: string | null;
  tags: Record<string, string>;
  href: (version: string) => string;
  pageHref: (page: number) => string;
}) {
  const { lines, latest, href, pageHref } = props;
  const pages = Math.max(1, Math.ceil(lines.length / VERSIONS_PAGE_SIZE));
  const page = Math.min(props.page, pages);
  const start = (page - 1) * VERSIONS_PAGE_SIZE;
  const tagsOf = new Map<string, string[]>();
  for (const [tag, version] of Object.entries(props.tags)) {
    tagsOf.set(version, [...(tagsOf.get(version) ?? []), tag]);
  }
  return (
    <>
      <h2 id="versions">Versions ({lines.length})</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">Version</th>
            <th scope="col">Published</th>
            <th scope="col">By</th>
            <th scope="col">State</th>
          </tr>
        </thead>
        <tbody>
          {lines.slice(start, start + VERSIONS_PAGE_SIZE).map((r) => (
            <tr key={r.version}>
              <td>
                <a href={href(r.version)}>{r.version}</a>
              </td>
              <td>{r.publishedAt.slice(0, 19).replace("T", " ")}</td>
              <td>{r.publishedBy}</td>
              <td>
                {r.version === latest ? <span class="badge">latest</span> : ""}
                {(tagsOf.get(r.version) ?? []).map((t) => <span class="badge" key={t}>{t}</span>)}
                {r.yanked ? <span class="badge yanked">yanked</span> : ""}
                {r.deprecated
                  ? <span class="badge yanked" title={r.deprecated}>deprecated</span>
                  : ""}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <nav class="pager" aria-label="Version pages">
        {page > 1 ? <a href={pageHref(page - 1)}>Newer versions</a> : ""}
        {pages > 1 ? <span class="muted">page {page} of {pages}</span> : ""}
        {page < pages ? <a href={pageHref(page + 1)}>Older versions</a> : ""}
      </nav>
    </>
  );
}

/** A JSR package page: README, versions (paged, newest first), install, integrity. */
export function PackageBody(
  props: {
    view: JsrPackageView;
    origin: string;
    readme: { html: string; truncated: boolean } | null;
    page: number;
  },
) {
  const { view, origin, readme, page } = props;
  const id = `${view.namespace}/${view.name}`;
  const v = view.shown;
  const at = (p: number) => `/${id}@${v.version}?page=${p}#versions`;
  return (
    <>
      <h1>
        {id} <code>{v.version}</code> {v.yanked ? <span class="badge yanked">yanked</span> : ""}
        {v.version === view.latest ? <span class="badge">latest</span> : ""}
      </h1>
      <p class="muted">
        Published {v.publishedAt} by {v.publishedBy} ·{" "}
        <a href={`/ui/files/${id}@${v.version}/`}>Browse files</a> ·{" "}
        <a href={`/ui/doc/${id}@${v.version}`}>API docs</a>
      </p>
      <div class="grid">
        <section aria-label="README">
          <h2>README</h2>
          {readme
            ? (
              <div class="readme" id="readme">
                {raw(readme.html)}
                {readme.truncated ? <p class="notice">The README is cut at 1 MiB.</p> : ""}
              </div>
            )
            : <p class="muted">This version has no README.</p>}
        </section>
        <aside>
          <h2>Install</h2>
          <p class="muted">With Deno (set JSR_URL to this registry):</p>
          <CopyBlock
            id="install-deno"
            text={`JSR_URL=${origin}/ deno add jsr:${id}@^${v.version}`}
          />
          <p class="muted">The version's metadata with curl:</p>
          <CopyBlock id="install-curl" text={`curl ${origin}/${id}/${v.version}_meta.json`} />
          <h2>Integrity</h2>
          <dl class="facts">
            <dt>Metadata SHA-256</dt>
            <dd>
              <code>{v.metaSha256}</code>
            </dd>
            <dt>SRI</dt>
            <dd>
              <code>{sriOf(v.metaSha256)}</code>
            </dd>
            <dt>Signature</dt>
            <dd>none (JSR publishes here are not signed)</dd>
          </dl>
          <h2>Exports</h2>
          <ul>
            {Object.entries(v.exports).map(([k, p]) => (
              <li key={k}>
                <code>{k}</code> →{" "}
                <a href={`/ui/files/${id}@${v.version}/${p.replace(/^\.\//, "")}`}>{p}</a>
              </li>
            ))}
          </ul>
        </aside>
      </div>
      <VersionsTable
        lines={view.versions}
        page={page}
        latest={view.latest}
        tags={view.tags}
        href={(version) => `/${id}@${version}`}
        pageHref={at}
      />
    </>
  );
}

/** The files of a version under a folder (`dir` without slashes at either end, or ""). */
export function FolderBody(
  props: {
    id: string;
    version: string;
    home: string;
    dir: string;
    files: Record<string, FileEntry>;
  },
) {
  const { id, version, home, dir, files } = props;
  const prefix = dir === "" ? "" : `${dir}/`;
  const entries = new Map<string, FileEntry | null>();
  for (const [path, entry] of Object.entries(files)) {
    if (!path.startsWith(prefix)) continue;
    const rest = path.slice(prefix.length);
    const slash = rest.indexOf("/");
    if (slash < 0) entries.set(rest, entry);
    else entries.set(rest.slice(0, slash) + "/", null);
  }
  const names = [...entries.keys()].sort((a, b) =>
    (a.endsWith("/") === b.endsWith("/")) ? a.localeCompare(b) : a.endsWith("/") ? -1 : 1
  );
  const base = `/ui/files/${id}@${version}/${prefix}`;
  return (
    <>
      <h1>
        <a href={home}>{id}@{version}</a> / {prefix}
      </h1>
      <table>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Size</th>
          </tr>
        </thead>
        <tbody>
          {dir !== ""
            ? (
              <tr>
                <td>
                  <a href={`/ui/files/${id}@${version}/${dir.split("/").slice(0, -1).join("/")}`}>
                    ..
                  </a>
                </td>
                <td></td>
              </tr>
            )
            : ""}
          {names.map((n) => {
            const e = entries.get(n);
            return (
              <tr key={n}>
                <td>
                  <a href={base + n}>{n}</a>
                </td>
                <td>{e ? `${e.size} B` : ""}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </>
  );
}

/** One file of a version: its text (highlighted HTML) or a note, with raw link and digests. */
export function FileBody(
  props: {
    id: string;
    version: string;
    home: string;
    path: string;
    entry: FileEntry;
    html: string | null;
    note?: string;
  },
) {
  const { id, version, home, path, entry } = props;
  const dir = path.split("/").slice(0, -1).join("/");
  return (
    <>
      <h1>
        <a href={home}>{id}@{version}</a> /{" "}
        <a href={`/ui/files/${id}@${version}/${dir}`}>{dir === "" ? "files" : dir}</a> /{" "}
        {path.split("/").at(-1)}
      </h1>
      <p>
        <a href={`/ui/raw/${id}@${version}/${path}`}>Raw</a> · {entry.size} B ·{" "}
        <code>{entry.type}</code>
      </p>
      <dl class="facts">
        <dt>SHA-256</dt>
        <dd>
          <code>{entry.sha256}</code>
        </dd>
        <dt>SRI</dt>
        <dd>
          <code>{sriOf(entry.sha256)}</code>
        </dd>
      </dl>
      {props.note ? <p class="notice">{props.note}</p> : ""}
      {props.html !== null
        ? <pre class="code" id="source" tabindex={0}>{raw(props.html)}</pre>
        : ""}
    </>
  );
}

/** What a missing page and a hidden one both show. */
export function NotFoundBody() {
  return (
    <>
      <h1>Not found</h1>
      <p>
        There is no such page or package. <a href="/">Search the registry</a>.
      </p>
    </>
  );
}
