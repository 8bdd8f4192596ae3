/** @jsxImportSource hono/jsx */
/**
 * A Rack registry package's page at `/ui/rack/@ns/path[@version]`: its
 * `registry.json` description and facts, the files it installs, the
 * versions table, the Rack CLI's command and a curl line, and the digests.
 * A package the reader may not read is the not-found page.
 *
 * @module
 */
import { htmlPage } from "./_http.ts";
import { renderPage } from "./_layout.tsx";
import { CopyBlock, pageOf, sriOf, VersionsTable } from "./_pages.tsx";
import { rackRefOf, type RackView, rackView } from "./_rack_data.ts";
import { notFound, type UiRequest } from "./_request.tsx";

function text(v: unknown): string {
  return typeof v === "string" ? v : "";
}

function list(v: unknown): string {
  return Array.isArray(v) ? v.filter((t) => typeof t === "string").join(", ") : "";
}

/** The item's own fields worth a line each (strings only; a link only over http(s)). */
function Facts(props: { item: Record<string, unknown> }) {
  const { item } = props;
  const homepage = text(item.homepage);
  const rows: [string, string][] = [
    ["Type", text(item.type)],
    ["Author", text(item.author)],
    ["License", text(item.license)],
    ["Repository", text(item.repository)],
    ["Tags", list(item.tags)],
    ["Depends on", list(item.registryDependencies)],
  ];
  return (
    <dl class="facts">
      {rows.filter(([, v]) => v !== "").map(([k, v]) => (
        <>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </>
      ))}
      {/^https?:\/\//i.test(homepage)
        ? (
          <>
            <dt>Homepage</dt>
            <dd>
              <a href={homepage} rel="nofollow noopener">{homepage}</a>
            </dd>
          </>
        )
        : ""}
    </dl>
  );
}

/** The files `registry.json` declares, linked to the file browser when stored. */
function ItemFiles(props: { view: RackView; base: string }) {
  const { view, base } = props;
  const declared = Array.isArray(view.shown.item.files) ? view.shown.item.files : [];
  const entries = declared.filter((f): f is Record<string, unknown> =>
    f !== null && typeof f === "object"
  ).slice(0, 500);
  if (entries.length === 0) return <p class="muted">No files declared.</p>;
  return (
    <table id="item-files">
      <thead>
        <tr>
          <th scope="col">Target</th>
          <th scope="col">Type</th>
          <th scope="col">Source</th>
        </tr>
      </thead>
      <tbody>
        {entries.map((f, i) => {
          const path = text(f.path).replace(/^\.\//, "");
          const stored = path !== "" && Object.hasOwn(view.shown.files, path);
          return (
            <tr key={i}>
              <td>
                <code>{text(f.target)}</code>
              </td>
              <td>{text(f.type)}</td>
              <td>
                {stored
                  ? <a href={base + path}>{path}</a>
                  : path || <span class="muted">inline</span>}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

function RackBody(props: { view: RackView; origin: string; page: number }) {
  const { view, origin } = props;
  const v = view.shown;
  const id = `${view.namespace}/${view.name}`;
  const registry = view.shown.files["registry.json"];
  const auth = view.gated ? ' -H "Authorization: Bearer $RACK_TOKEN"' : "";
  const rackrc = JSON.stringify({ registries: { [view.namespace]: origin } });
  return (
    <>
      <h1>
        {id} <code>{v.version}</code> <span class="badge">rack</span>{" "}
        {v.version === view.latest ? <span class="badge">latest</span> : ""}
        {v.yanked ? <span class="badge yanked">yanked</span> : ""}
      </h1>
      <p class="muted">
        Published {v.publishedAt} by {v.publishedBy} ·{" "}
        <a href={`/ui/files/${id}@${v.version}/`}>Browse files</a> ·{" "}
        <a href={`/${view.namespace}`}>{view.namespace}</a>
      </p>
      <div class="grid">
        <section aria-label="Description">
          <h2>Description</h2>
          <p id="description">{text(v.item.description) || "No description."}</p>
          <Facts item={v.item} />
          <h2>Files</h2>
          <ItemFiles view={view} base={`/ui/files/${id}@${v.version}/`} />
        </section>
        <aside>
          <h2>Install</h2>
          <p class="muted">With the Rack CLI, this registry named in ~/.rackrc:</p>
          <CopyBlock id="rackrc" text={rackrc} />
          <CopyBlock id="install-rack" text={`rk add ${id}@${v.version}`} />
          <p class="muted">The registry item with curl:</p>
          <CopyBlock
            id="install-curl"
            text={`curl${auth} ${origin}/registries/${id}/${v.version}`}
          />
          <h2>Integrity</h2>
          {registry
            ? (
              <dl class="facts">
                <dt>registry.json SHA-256</dt>
                <dd>
                  <code>{registry.sha256}</code>
                </dd>
                <dt>SRI</dt>
                <dd>
                  <code>{sriOf(registry.sha256)}</code>
                </dd>
                <dt>Signature</dt>
                <dd>none (Rack packages are not signed)</dd>
              </dl>
            )
            : ""}
        </aside>
      </div>
      <VersionsTable
        lines={view.versions}
        page={props.page}
        latest={view.latest}
        tags={view.tags}
        href={(version) => `/ui/rack/${id}@${version}`}
        pageHref={(p) => `/ui/rack/${id}@${v.version}?page=${p}#versions`}
      />
    </>
  );
}

/** `GET /ui/rack/@ns/path[@version]`. */
export async function rackPage(req: UiRequest): Promise<Response> {
  const { c, options } = req;
  const ref = rackRefOf(c.req.path.slice("/ui/rack/".length));
  const auth = await options.rackAuth?.();
  const view = ref && auth && await rackView(options.ctx, { auth, ref, reader: req.reader });
  if (!view) return notFound(req);
  const html = await renderPage(
    `${view.namespace}/${view.name}@${view.shown.version}`,
    req.viewer,
    <RackBody view={view} origin={new URL(c.req.url).origin} page={pageOf(c.req.query("page"))} />,
  );
  return htmlPage(c.req.raw, html);
}
