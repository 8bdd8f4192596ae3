/** @jsxImportSource hono/jsx */
/**
 * A ggui gadget's or blueprint's page at `/ui/ggui/@scope/name[@version]`:
 * description, exports with usage and example, the versions the reader may
 * see, the CLI's install line and the integrity facts, read through the same
 * core functions as `GET /pkg/...` (a version the reader may not read is the
 * not-found page).
 *
 * @module
 */
import type { GguiContext } from "../../core/ggui/_common.ts";
import { listArtifactVersions, type VersionListBody } from "../../core/ggui/list_versions.ts";
import { readArtifact, type ReadBody } from "../../core/ggui/read.ts";
import { htmlPage } from "./_http.ts";
import { renderPage } from "./_layout.tsx";
import { CopyBlock } from "./_pages.tsx";
import { notFound, type UiRequest } from "./_request.tsx";

const GGUI_PAGE_RE = /^\/ui\/ggui\/(@[a-z0-9-]{1,64})\/([a-z0-9-]{1,64})(?:@([^/@]{1,128}))?$/;

function str(v: unknown): string {
  return typeof v === "string" ? v : v === undefined ? "" : JSON.stringify(v);
}

/** A manifest's description, exports (with usage and example) and blueprint contract. */
function GguiDescription(props: { manifest: ReadBody["manifest"] }) {
  const m = props.manifest;
  const exports = Array.isArray(m.exports) ? m.exports as Record<string, unknown>[] : [];
  return (
    <section aria-label="Description">
      <h2>Description</h2>
      <p id="description">{str(m.description) || "No description."}</p>
      {exports.length > 0
        ? (
          <>
            <h2>Exports</h2>
            {exports.map((e, i) => (
              <div key={i}>
                <h3>
                  <code>{str(e.hook ?? e.component ?? e.name)}</code>
                </h3>
                <p>{str(e.description)}</p>
                {e.usage ? <p class="muted">{str(e.usage)}</p> : ""}
                {e.example ? <pre tabindex={0}>{str(e.example)}</pre> : ""}
              </div>
            ))}
          </>
        )
        : ""}
      {m.contract
        ? (
          <>
            <h2>Contract</h2>
            <pre tabindex={0}>{JSON.stringify(m.contract, null, 2)}</pre>
          </>
        )
        : ""}
    </section>
  );
}

/** One fact of the integrity list, when it has a value. */
function Fact(props: { term: string; value: string | undefined }) {
  return props.value
    ? (
      <>
        <dt>{props.term}</dt>
        <dd>
          <code>{props.value}</code>
        </dd>
      </>
    )
    : "";
}

/** The integrity facts: bundle SRI, compiled digest, signature and scope verification. */
function GguiIntegrity(props: { body: ReadBody }) {
  const { body } = props;
  return (
    <dl class="facts">
      <Fact term="Bundle SRI" value={body.bundleSri} />
      <Fact term="Compiled SHA-256" value={body.compiledDigest} />
      <dt>Signature</dt>
      <dd>
        {body.authorPublicKey
          ? (
            <>
              Ed25519, key <code>{body.authorPublicKey}</code>
            </>
          )
          : body.signatureUrl
          ? "sigstore"
          : "none"}
      </dd>
      {body.scopeVerification
        ? (
          <>
            <dt>Scope</dt>
            <dd>
              {body.scopeVerification}
              {body.verifiedDomain ? ` (${body.verifiedDomain})` : ""}
            </dd>
          </>
        )
        : ""}
    </dl>
  );
}

/** The versions the reader may see (the first 200), with yanked and private marks. */
function GguiVersions(props: { id: string; list: VersionListBody }) {
  const { id, list } = props;
  return (
    <>
      <h2>Versions ({list.versions.length})</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">Version</th>
            <th scope="col">Published</th>
            <th scope="col">State</th>
          </tr>
        </thead>
        <tbody>
          {list.versions.slice(0, 200).map((v) => (
            <tr key={v.version}>
              <td>
                <a href={`/ui/ggui/${id}@${v.version}`}>{v.version}</a>
              </td>
              <td>{v.publishedAt}</td>
              <td>
                {v.yanked ? <span class="badge yanked">yanked</span> : ""}
                {v.visibility === "private" ? <span class="badge private">private</span> : ""}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function GguiBody(
  props: { id: string; list: VersionListBody; version: string; body: ReadBody; origin: string },
) {
  const { id, list, version, body, origin } = props;
  const entry = list.versions.find((v) => v.version === version);
  const kind = str(body.manifest.kind);
  return (
    <>
      <h1>
        {id} <code>{version}</code> <span class="badge">{kind}</span>{" "}
        {entry?.yanked ? <span class="badge yanked">yanked</span> : ""}
        {entry?.visibility === "private" ? <span class="badge private">private</span> : ""}
      </h1>
      <p class="muted">Published {body.publishedAt} by {body.publishedBy}</p>
      <div class="grid">
        <GguiDescription manifest={body.manifest} />
        <aside>
          <h2>Install</h2>
          <CopyBlock
            id="install-ggui"
            text={`ggui ${kind || "gadget"} install ${id}@${version} --registry=${origin}`}
          />
          <h2>Integrity</h2>
          <GguiIntegrity body={body} />
        </aside>
      </div>
      <GguiVersions id={id} list={list} />
    </>
  );
}

/** `GET /ui/ggui/@scope/name[@version]`. */
export async function gguiPage(req: UiRequest): Promise<Response> {
  const { c, options } = req;
  const ctx: GguiContext | undefined = options.ggui;
  const m = GGUI_PAGE_RE.exec(c.req.path);
  if (!ctx || !m) return notFound(req);
  const [, scope, name, wanted] = m as unknown as [string, string, string, string | undefined];
  const authn = req.reader ?? undefined;
  const listed = await listArtifactVersions(ctx, { authn, scope, name });
  if (listed.status !== 200) return notFound(req);
  const list = listed.body as VersionListBody;
  const version = wanted ?? (list.versions.find((v) => !v.yanked) ?? list.versions[0])?.version;
  if (version === undefined) return notFound(req);
  const read = await readArtifact(ctx, { authn, scope, name, version });
  if (read.status !== 200 && read.status !== 410) return notFound(req);
  const id = `${scope}/${name}`;
  const html = await renderPage(
    `${id}@${version}`,
    req.viewer,
    <GguiBody
      id={id}
      list={list}
      version={version}
      body={read.body as ReadBody}
      origin={new URL(c.req.url).origin}
    />,
  );
  return htmlPage(c.req.raw, html);
}
