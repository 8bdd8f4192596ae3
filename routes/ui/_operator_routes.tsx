/** @jsxImportSource hono/jsx */
/**
 * Operator pages for global admins: tokens (create with a grant and an
 * expiry, the secret shown once; revoke) and the audit log with its filters.
 * Signed out, they send the person to sign in; signed in without the admin
 * grant, they answer 403. Every form carries the session's CSRF token.
 *
 * @module
 */
import type { Child } from "hono/jsx";
import type { Principal } from "../../core/auth.ts";
import { listAudit } from "../../core/audit.ts";
import { isRegistryError } from "../../base/errors.ts";
import { type Action, ACTIONS } from "../../core/rows.ts";
import { createToken, listTokens, revokeToken } from "../../core/tokens.ts";
import { htmlPage, seeOther } from "./_http.ts";
import { renderPage } from "./_layout.tsx";
import { formOf } from "./_forms.ts";
import { sameSecret } from "./_cookies.ts";
import type { UiRequest } from "./_request.tsx";

/** The admin viewing, or the answer for anyone else. */
async function adminOf(req: UiRequest): Promise<Principal | Response> {
  const p = req.reader;
  if (p === null) return seeOther("/ui/sign-in");
  if (p.admin) return p;
  return await page(req, "Refused", <p class="error">This page needs an admin token.</p>, 403);
}

/** An operator page: never stored by a cache (it carries the session's CSRF token). */
export async function page(req: UiRequest, title: string, body: Child, status = 200) {
  const res = htmlPage(req.c.req.raw, await renderPage(title, req.viewer, body), { status });
  res.headers.set("cache-control", "no-store");
  return res;
}

/** The posted form when its CSRF token is the session's; `null` otherwise. */
export async function checkedForm(req: UiRequest): Promise<Record<string, string> | null> {
  const form = await formOf(req.c.req.raw);
  if (!form || req.viewer.csrf === undefined) return null;
  return sameSecret(form.csrf ?? "", req.viewer.csrf) ? form : null;
}

/** The answer to a form whose CSRF token is missing or not the session's. */
export function refused(req: UiRequest): Promise<Response> {
  return page(req, "Refused", <p class="error">The form has expired: reload the page.</p>, 403);
}

/** The form that creates a token: subject, label, one namespace's actions, expiry. */
function CreateTokenForm(props: { csrf: string }) {
  return (
    <>
      <h2>Create a token</h2>
      <form action="/ui/tokens" method="post">
        <input type="hidden" name="csrf" value={props.csrf} />
        <p>
          <label>
            Subject <input type="text" name="subject" required maxlength={128} />
          </label>
        </p>
        <p>
          <label>
            Label <input type="text" name="label" maxlength={256} />
          </label>
        </p>
        <p>
          <label>
            Namespace{" "}
            <input type="text" name="namespace" required placeholder="@acme" maxlength={66} />
          </label>
        </p>
        <fieldset>
          <legend>Actions</legend>
          {ACTIONS.map((a) => (
            <label key={a}>
              <input type="checkbox" name={`action-${a}`} value="on" /> {a}
              {" "}
            </label>
          ))}
        </fieldset>
        <p>
          <label>
            Expires in days (empty: never){" "}
            <input type="text" name="days" inputmode="numeric" maxlength={4} />
          </label>
        </p>
        <button type="submit">Create token</button>
      </form>
    </>
  );
}

/** Every stored token with its grants, expiry and state, and a Revoke form for the live ones. */
function TokensTable(props: { csrf: string; tokens: Awaited<ReturnType<typeof listTokens>> }) {
  return (
    <>
      <h2>Tokens ({props.tokens.length})</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">Id</th>
            <th scope="col">Subject</th>
            <th scope="col">Grants</th>
            <th scope="col">Expires</th>
            <th scope="col">State</th>
          </tr>
        </thead>
        <tbody>
          {props.tokens.map((t) => (
            <tr key={t.id}>
              <td>
                <code>{t.id}</code> {t.label}
              </td>
              <td>{t.subject}</td>
              <td>{t.grants.map((g) => `${g.namespace}: ${g.actions.join(", ")}`).join("; ")}</td>
              <td>{t.expiresAt ?? "never"}</td>
              <td>
                {t.revokedAt
                  ? <span class="badge yanked">revoked {t.revokedAt}</span>
                  : (
                    <form action={`/ui/tokens/${encodeURIComponent(t.id)}/revoke`} method="post">
                      <input type="hidden" name="csrf" value={props.csrf} />
                      <button type="submit" aria-label={`Revoke ${t.id}`}>Revoke</button>
                    </form>
                  )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function TokensBody(props: {
  csrf: string;
  tokens: Awaited<ReturnType<typeof listTokens>>;
  created?: { id: string; secret: string };
  error?: string;
}) {
  return (
    <>
      <h1>Tokens</h1>
      {props.created
        ? (
          <div class="notice" role="status">
            <p>
              Token <code>{props.created.id}</code> created. Copy its secret now: it is shown once.
            </p>
            <pre id="secret">{props.created.secret}</pre>
          </div>
        )
        : ""}
      {props.error ? <p class="error" role="alert">{props.error}</p> : ""}
      <CreateTokenForm csrf={props.csrf} />
      <TokensTable csrf={props.csrf} tokens={props.tokens} />
    </>
  );
}

/** `GET /ui/tokens`. */
export async function tokensPage(req: UiRequest): Promise<Response> {
  const admin = await adminOf(req);
  if (admin instanceof Response) return admin;
  const tokens = await listTokens(req.options.ctx);
  return page(req, "Tokens", <TokensBody csrf={req.viewer.csrf!} tokens={tokens} />);
}

/** `POST /ui/tokens`: create one; the answer shows its secret once and is never stored by a cache. */
export async function createTokenForm(req: UiRequest): Promise<Response> {
  const admin = await adminOf(req);
  if (admin instanceof Response) return admin;
  const form = await checkedForm(req);
  if (!form) return refused(req);
  const { ctx } = req.options;
  const actions = ACTIONS.filter((a) => form[`action-${a}`] === "on") as Action[];
  const days = (form.days ?? "").trim();
  let created: { id: string; secret: string } | undefined;
  let error: string | undefined;
  if (days !== "" && !/^[1-9]\d{0,3}$/.test(days)) error = "Expiry must be a whole number of days";
  else {
    try {
      const made = await createToken(
        ctx,
        {
          subject: (form.subject ?? "").trim(),
          grants: [{ namespace: (form.namespace ?? "").trim(), actions }],
          ...(form.label ? { label: form.label } : {}),
          ...(days === "" ? {} : {
            expiresAt: new Date(ctx.clock().getTime() + Number(days) * 86_400_000).toISOString(),
          }),
        },
        admin,
        req.options.clientIp ? { ip: req.options.clientIp(req.c) } : {},
      );
      created = { id: made.token.id, secret: made.secret };
    } catch (err) {
      if (!isRegistryError(err)) throw err;
      error = `Cannot create the token: ${err.message}`;
    }
  }
  const tokens = await listTokens(ctx);
  const body = (
    <TokensBody
      csrf={req.viewer.csrf!}
      tokens={tokens}
      {...(created ? { created } : {})}
      {...(error ? { error } : {})}
    />
  );
  return page(req, "Tokens", body, error ? 400 : 200);
}

/** `POST /ui/tokens/:id/revoke`. */
export async function revokeTokenForm(req: UiRequest): Promise<Response> {
  const admin = await adminOf(req);
  if (admin instanceof Response) return admin;
  const form = await checkedForm(req);
  if (!form) return refused(req);
  const id = req.c.req.param("id") ?? "";
  await revokeToken(
    req.options.ctx,
    id,
    admin,
    req.options.clientIp ? { ip: req.options.clientIp(req.c) } : {},
  );
  return seeOther("/ui/tokens");
}

/** The audit log's filters, as the page reads them from its query. */
interface AuditFilter {
  actor: string;
  action: string;
  target: string;
  outcome: string;
}

/** The filter form of the audit page. */
function AuditFilterForm(props: { filter: AuditFilter }) {
  const { filter } = props;
  return (
    <form action="/ui/audit" method="get" class="pager">
      <label>
        Actor <input type="text" name="actor" value={filter.actor} />
      </label>
      <label>
        Action <input type="text" name="action" value={filter.action} />
      </label>
      <label>
        Target <input type="text" name="target" value={filter.target} />
      </label>
      <label>
        Outcome{" "}
        <select name="outcome">
          <option value="">any</option>
          <option value="ok" selected={filter.outcome === "ok"}>ok</option>
          <option value="refused" selected={filter.outcome === "refused"}>refused</option>
        </select>
      </label>
      <button type="submit">Filter</button>
    </form>
  );
}

/** One page of audit records. */
function AuditTable(props: { items: Awaited<ReturnType<typeof listAudit>>["items"] }) {
  return (
    <table id="audit">
      <thead>
        <tr>
          <th scope="col">At</th>
          <th scope="col">Actor</th>
          <th scope="col">Action</th>
          <th scope="col">Target</th>
          <th scope="col">Outcome</th>
        </tr>
      </thead>
      <tbody>
        {props.items.map((r) => (
          <tr key={r.id}>
            <td>{r.at}</td>
            <td>{r.actor}</td>
            <td>{r.action}</td>
            <td>{r.target}</td>
            <td>{r.outcome}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** One page of the audit log under a filter; a filter or cursor the log refuses is an empty page. */
async function auditRecords(req: UiRequest, filter: AuditFilter, cursor: string | undefined) {
  try {
    return await listAudit(req.options.ctx, {
      ...(filter.actor ? { actor: filter.actor } : {}),
      ...(filter.action ? { action: filter.action } : {}),
      ...(filter.target ? { targetPrefix: filter.target } : {}),
      ...(filter.outcome ? { outcome: filter.outcome as "ok" | "refused" } : {}),
      ...(cursor ? { cursor } : {}),
      limit: 100,
    });
  } catch (err) {
    if (!isRegistryError(err)) throw err;
    return { items: [] } as Awaited<ReturnType<typeof listAudit>>;
  }
}

/** `GET /ui/audit?actor=&action=&target=&outcome=&cursor=`: the audit log, newest first. */
export async function auditPage(req: UiRequest): Promise<Response> {
  const admin = await adminOf(req);
  if (admin instanceof Response) return admin;
  const q = req.c.req.query();
  const text = (v: string | undefined) => (v ?? "").slice(0, 256).trim();
  const filter: AuditFilter = {
    actor: text(q.actor),
    action: text(q.action),
    target: text(q.target),
    outcome: q.outcome === "ok" || q.outcome === "refused" ? q.outcome : "",
  };
  const result = await auditRecords(req, filter, q.cursor);
  const next = new URLSearchParams({
    ...filter,
    ...(result.cursor ? { cursor: result.cursor } : {}),
  });
  const body = (
    <>
      <h1>Audit log</h1>
      <AuditFilterForm filter={filter} />
      <AuditTable items={result.items} />
      {result.cursor
        ? (
          <p>
            <a href={`/ui/audit?${next}`}>Older records</a>
          </p>
        )
        : ""}
    </>
  );
  return page(req, "Audit log", body);
}
