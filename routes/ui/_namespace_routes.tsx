/** @jsxImportSource hono/jsx */
/**
 * A namespace's page at `/@scope`: its packages of every format that the
 * reader may read, its owner, and for its admins (global admins, holders of
 * `admin` on it, its owner) who holds which grant there: stored tokens and
 * `auth.json` tokens. A namespace the reader can see nothing of renders
 * exactly the not-found page.
 *
 * @module
 */
import { listArtifactVersions } from "../../core/ggui/list_versions.ts";
import { readPackageView, visibleStates } from "../../core/package_view.ts";
import type { RackAuth } from "../../core/rack/auth.ts";
import type { PackageRow, ScopeRow, TokenRow } from "../../core/rows.ts";
import { listAll } from "../../core/store.ts";
import { grantsAllow, listTokens, principalCan } from "../../core/tokens.ts";
import * as keys from "../../storage/keys.ts";
import { htmlPage } from "./_http.ts";
import { renderPage } from "./_layout.tsx";
import { rackReadable } from "./_rack_data.ts";
import { notFound, type UiRequest } from "./_request.tsx";

/** Most packages one namespace page lists. */
const MAX_LISTED = 500;

/** One package of the namespace as the list shows it. */
interface Listed {
  name: string;
  format: string;
  href?: string;
  latest?: string;
}

/** Whether the reader may read a package of this row, and its page link. */
async function visible(req: UiRequest, row: PackageRow, auth: RackAuth): Promise<Listed | null> {
  const { ctx, ggui } = req.options;
  const base = { name: row.name, format: row.format };
  const id = `${row.namespace}/${row.name}`;
  if (row.format === "jsr") {
    const view = await readPackageView(ctx.storage, row);
    const states = visibleStates(view, row.namespace, req.reader);
    return states.length === 0 ? null : { ...base, href: `/${id}`, ...latestOf(row) };
  }
  if (row.format.startsWith("rack.")) {
    if (!rackReadable(auth, row.namespace, req.reader, ctx.clock())) return null;
    if (row.versionCount === 0) return null;
    return { ...base, href: `/ui/rack/${id}`, ...latestOf(row) };
  }
  if (!ggui) return null;
  const listed = await listArtifactVersions(ggui, {
    authn: req.reader ?? undefined,
    scope: row.namespace,
    name: row.name,
  });
  return listed.status === 200 ? { ...base, href: `/ui/ggui/${id}` } : null;
}

/** The public latest only: a private latest version's number is not shown in a list. */
function latestOf(row: PackageRow): { latest?: string } {
  const v = row.publicSummary?.version;
  return typeof v === "string" ? { latest: v } : {};
}

/** Who holds grants on the namespace (stored tokens covering it, its auth.json tokens). */
interface Holder {
  who: string;
  grant: string;
  expires: string;
  state: string;
}

function holdersOf(
  tokens: Omit<TokenRow, "sha256">[],
  namespace: string,
  auth: RackAuth,
  now: Date,
): Holder[] {
  const out: Holder[] = [];
  for (const t of tokens) {
    for (const g of t.grants) {
      if (!g.actions.some((a) => grantsAllow([g], a, namespace))) continue;
      out.push({
        who: `${t.subject}${t.label ? ` (${t.label})` : ""} · token ${t.id}`,
        grant: `${g.actions.join(", ")} on ${g.namespace}`,
        expires: t.expiresAt ?? "never",
        state: t.revokedAt
          ? "revoked"
          : t.expiresAt && Date.parse(t.expiresAt) <= now.getTime()
          ? "expired"
          : "live",
      });
    }
  }
  const policy = auth.namespaces.get(namespace);
  policy?.tokens.forEach((entry, i) => {
    const expired = entry.expiresAt !== undefined && entry.expiresAt < now.getTime();
    out.push({
      who: `auth.json token ${entry.mark ?? `#${i + 1}`}`,
      grant: `${entry.publish ? "publish" : "read"} on ${namespace}`,
      expires: entry.expiresAt === undefined ? "never" : new Date(entry.expiresAt).toISOString(),
      state: expired ? "expired" : "live",
    });
  });
  return out;
}

function NamespaceBody(
  props: {
    namespace: string;
    owner: ScopeRow | null;
    declared: string | null;
    packages: Listed[];
    holders: Holder[] | null;
  },
) {
  const { namespace, owner, packages, holders } = props;
  return (
    <>
      <h1>{namespace}</h1>
      <dl class="facts">
        <dt>Owner</dt>
        <dd id="owner">
          {owner ? owner.ownerSubject : "unclaimed"}
          {owner?.verification === "verified" ? ` (verified ${owner.verifiedDomain ?? ""})` : ""}
        </dd>
        {props.declared ? <dt>Rack policy</dt> : ""}
        {props.declared ? <dd>{props.declared}</dd> : ""}
      </dl>
      <h2>Packages ({packages.length})</h2>
      <ul class="hits" id="packages">
        {packages.map((p) => (
          <li key={`${p.format}:${p.name}`}>
            <a href={p.href}>{namespace}/{p.name}</a> <span class="badge">{p.format}</span>{" "}
            {p.latest ? <code>{p.latest}</code> : ""}
          </li>
        ))}
      </ul>
      {holders
        ? (
          <>
            <h2>Grants</h2>
            <table id="grants">
              <thead>
                <tr>
                  <th scope="col">Holder</th>
                  <th scope="col">Grant</th>
                  <th scope="col">Expires</th>
                  <th scope="col">State</th>
                </tr>
              </thead>
              <tbody>
                {holders.map((h, i) => (
                  <tr key={i}>
                    <td>{h.who}</td>
                    <td>{h.grant}</td>
                    <td>{h.expires}</td>
                    <td>{h.state}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )
        : ""}
    </>
  );
}

/** `GET /@scope` (a browser's navigation): the namespace page. */
export async function namespacePage(req: UiRequest): Promise<Response> {
  const { c, options } = req;
  const namespace = c.req.path.slice(1);
  if (!/^@[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$/.test(namespace)) return notFound(req);
  const auth = (await options.rackAuth?.()) ?? { namespaces: new Map() };
  const owner = (await options.ctx.storage.get<ScopeRow>(keys.scopeKey(namespace)))?.value ?? null;
  const reader = req.reader;
  const isAdmin = reader !== null &&
    (principalCan(reader, "admin", namespace) || owner?.ownerSubject === reader.subject);
  const packages: Listed[] = [];
  const rows = listAll<PackageRow>(options.ctx.storage, keys.packagesInNamespace(namespace));
  for await (const e of rows) {
    const shown = await visible(req, e.value, auth);
    if (shown) packages.push(shown);
    if (packages.length >= MAX_LISTED) break;
  }
  if (packages.length === 0 && !isAdmin) return notFound(req);
  const now = options.ctx.clock();
  const policy = auth.namespaces.get(namespace);
  const html = await renderPage(
    namespace,
    req.viewer,
    <NamespaceBody
      namespace={namespace}
      owner={owner}
      declared={policy
        ? (policy.anonymous ? "declared, anyone reads" : "declared, token readers")
        : null}
      packages={packages}
      holders={isAdmin ? holdersOf(await listTokens(options.ctx), namespace, auth, now) : null}
    />,
  );
  return htmlPage(c.req.raw, html);
}
