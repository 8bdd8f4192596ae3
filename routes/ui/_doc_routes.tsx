/** @jsxImportSource hono/jsx */
/**
 * A JSR version's API docs at `/ui/doc/@scope/name[@version]`: each
 * entrypoint's exported symbols with their signatures (highlighted) and doc
 * comments (Markdown, raw HTML off), from `deno doc --json` computed once
 * per version (routes/ui/_api_docs.ts). A version the reader may not read is
 * the not-found page.
 *
 * @module
 */
import { raw } from "hono/html";
import { type ApiDocs, apiDocs } from "./_api_docs.ts";
import { jsrPackageView } from "./_data.ts";
import type { DocModule } from "./_doc_symbols.ts";
import { highlight } from "./_highlight.ts";
import { htmlPage } from "./_http.ts";
import { renderPage } from "./_layout.tsx";
import { renderMarkdown } from "./_markdown.ts";
import { refOf } from "./_reader_routes.tsx";
import { notFound, type UiRequest } from "./_request.tsx";

/** Most symbols shown per module (the rest are counted). */
const MAX_SHOWN_SYMBOLS = 500;

function ModuleDocs(props: { module: DocModule }) {
  const { module } = props;
  const shown = module.symbols.slice(0, MAX_SHOWN_SYMBOLS);
  return (
    <section aria-label={`Module ${module.entry}`}>
      <h2>
        <code>{module.entry}</code> <span class="muted">{module.path}</span>
      </h2>
      {module.symbols.length === 0 ? <p class="muted">No exported symbols.</p> : ""}
      {shown.map((s) => (
        <article class="symbol" id={`${module.entry}:${s.name}`} key={s.name}>
          <h3>
            <code>{s.name}</code> <span class="badge">{s.kind}</span>
            {s.deprecated !== undefined ? <span class="badge yanked">deprecated</span> : ""}
          </h3>
          <pre class="code" tabindex={0}>{raw(highlight("x.ts", s.signature))}</pre>
          {s.deprecated
            ? <div class="notice">{raw(renderMarkdown(`**Deprecated**: ${s.deprecated}`))}</div>
            : ""}
          {s.doc ? <div class="readme">{raw(renderMarkdown(s.doc))}</div> : ""}
          {s.examples.map((e, i) => <div class="readme" key={i}>{raw(renderMarkdown(e))}</div>)}
          {s.members.length > 0
            ? (
              <ul class="members">
                {s.members.map((m, i) => (
                  <li key={i}>
                    <code>{m.signature}</code>
                    {m.doc ? <span class="muted">{m.doc}</span> : ""}
                  </li>
                ))}
              </ul>
            )
            : ""}
        </article>
      ))}
      {module.symbols.length > shown.length
        ? <p class="notice">{module.symbols.length - shown.length} more symbols are not shown.</p>
        : ""}
    </section>
  );
}

function DocsBody(props: { id: string; version: string; docs: ApiDocs }) {
  const { id, version, docs } = props;
  return (
    <>
      <h1>
        <a href={`/${id}@${version}`}>{id}@{version}</a> / API
      </h1>
      {docs.state === "ready"
        ? (
          <>
            {docs.modules.map((m) => <ModuleDocs module={m} key={m.entry} />)}
            {docs.truncated
              ? <p class="notice">The docs are cut: the package has too many symbols.</p>
              : ""}
          </>
        )
        : docs.state === "unavailable"
        ? (
          <p class="notice" id="docs-state">
            API docs are not generated on this server (it cannot run deno, e.g. on Deno Deploy).
          </p>
        )
        : docs.state === "pending"
        ? (
          <p class="notice" id="docs-state">
            The API docs are being generated: reload in a moment.
          </p>
        )
        : <p class="notice" id="docs-state">The API docs could not be generated: {docs.reason}</p>}
    </>
  );
}

/** Whether a URL's host is this machine (a request over loopback names the server itself). */
function isLoopback(url: URL): boolean {
  return ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
}

/** `GET /ui/doc/@scope/name[@version]`. */
export async function docsPage(req: UiRequest): Promise<Response> {
  const { c, options } = req;
  const ref = refOf(c.req.path.slice("/ui/doc/".length));
  const view = ref && await jsrPackageView(options.ctx, ref, req.reader);
  if (!view) return notFound(req);
  const url = new URL(c.req.url);
  // deno doc may import only from this registry: its configured URL, or the
  // request's own origin when that is loopback (never a Host header's word).
  const origin = options.selfOrigin ?? (isLoopback(url) ? url.origin : undefined);
  const docs = await apiDocs(options.ctx, {
    id: { namespace: view.namespace, name: view.name, version: view.shown.version },
    exports: view.shown.exports,
    files: view.shown.files,
    runner: options.docRunner ?? null,
    ...(origin ? { origin } : {}),
  });
  const id = `${view.namespace}/${view.name}`;
  const html = await renderPage(
    `${id}@${view.shown.version} API`,
    req.viewer,
    <DocsBody id={id} version={view.shown.version} docs={docs} />,
  );
  const res = htmlPage(c.req.raw, html);
  if (docs.state === "pending") res.headers.set("cache-control", "no-store");
  return res;
}
