/** @jsxImportSource hono/jsx */
/**
 * Operator pages for global admins: webhook subscriptions and deliveries
 * (dead letters visible, retry one), garbage collection (dry-run report and
 * run) and a small dashboard of the process's metrics. The admin API grants
 * these to global admins only, so anyone else (signed out, or signed in
 * without the admin grant) gets exactly the missing page. Every form carries
 * the session's CSRF token; a form without it changes nothing.
 *
 * @module
 */
import type { Child } from "hono/jsx";
import type { Principal } from "../../core/auth.ts";
import { isRegistryError } from "../../base/errors.ts";
import {
  collectGarbage,
  DEFAULT_GC_GRACE_MS,
  type GcReport,
  parseDuration,
} from "../../core/gc.ts";
import { listDeliveries } from "../../core/webhooks.ts";
import { retryDeadLetter } from "../../core/webhook_retry.ts";
import {
  createWebhookSubscription,
  deleteWebhookSubscription,
  listWebhookSubscriptions,
  WEBHOOK_EVENTS,
} from "../../core/webhook_subscriptions.ts";
import type { OutboxRow } from "../../core/rows.ts";
import { seeOther } from "./_http.ts";
import { checkedForm, page, refused } from "./_operator_routes.tsx";
import { MetricsRing, Plot, seriesOf, storageUsed } from "./_ops_metrics.tsx";
import { notFound, type UiRequest } from "./_request.tsx";

/** The global admin viewing, or the missing page for anyone else. */
async function opsAdmin(req: UiRequest): Promise<Principal | Response> {
  const p = req.reader;
  return p !== null && p.admin ? p : await notFound(req);
}

/** An admin's form handler: the missing page for others, refused without the CSRF token. */
function adminForm(
  handler: (req: UiRequest, admin: Principal, form: Record<string, string>) => Promise<Response>,
) {
  return async (req: UiRequest): Promise<Response> => {
    const admin = await opsAdmin(req);
    if (admin instanceof Response) return admin;
    const form = await checkedForm(req);
    return form ? handler(req, admin, form) : refused(req);
  };
}

/** Links between the operator pages. */
function OpsNav() {
  return (
    <nav aria-label="Operations" class="pager">
      <a href="/ui/dashboard">Dashboard</a> <a href="/ui/webhooks">Webhooks</a>{" "}
      <a href="/ui/gc">Garbage collection</a> <a href="/ui/tokens">Tokens</a>{" "}
      <a href="/ui/audit">Audit log</a>
    </nav>
  );
}

function ipOf(req: UiRequest): string | undefined {
  return req.options.clientIp?.(req.c);
}

/** A delivery target's host (the whole text when it is not a URL: an old row's). */
function hostOf(url: string): string {
  return URL.canParse(url) ? new URL(url).host : url.slice(0, 200);
}

const STATES = ["pending", "delivered", "dead"] as const;
type State = typeof STATES[number];

function Deliveries(props: { csrf: string; state: State; items: OutboxRow[]; cursor?: string }) {
  const { state, items } = props;
  return (
    <>
      <h2 id="deliveries">Deliveries: {state}</h2>
      <nav aria-label="Delivery states" class="pager">
        {STATES.map((s) => (
          <a
            key={s}
            href={`/ui/webhooks?state=${s}#deliveries`}
            aria-current={s === state ? "page" : undefined}
          >
            {s === "dead" ? "dead letters" : s}
          </a>
        ))}
      </nav>
      <table>
        <thead>
          <tr>
            <th scope="col">Id</th>
            <th scope="col">Event</th>
            <th scope="col">Target</th>
            <th scope="col">Attempts</th>
            <th scope="col">Last error</th>
            {state === "dead" ? <th scope="col">Retry</th> : ""}
          </tr>
        </thead>
        <tbody>
          {items.map((d) => (
            <tr key={d.id}>
              <td>
                <code>{d.id}</code>
              </td>
              <td>{d.event}</td>
              <td>{d.subscription} {hostOf(d.url)}</td>
              <td>{d.attempts}</td>
              <td>{d.lastError ?? (d.lastStatus ?? "")}</td>
              {state === "dead"
                ? (
                  <td>
                    <form
                      action={`/ui/webhooks/deliveries/${encodeURIComponent(d.id)}/retry`}
                      method="post"
                    >
                      <input type="hidden" name="csrf" value={props.csrf} />
                      <button type="submit" aria-label={`Retry ${d.id}`}>Retry</button>
                    </form>
                  </td>
                )
                : ""}
            </tr>
          ))}
        </tbody>
      </table>
      {items.length === 0 ? <p class="muted">None.</p> : ""}
      {props.cursor
        ? (
          <p>
            <a
              href={`/ui/webhooks?${new URLSearchParams({
                state,
                cursor: props.cursor,
              })}#deliveries`}
            >
              Older deliveries
            </a>
          </p>
        )
        : ""}
    </>
  );
}

function CreateSubscription(props: { csrf: string }) {
  return (
    <form action="/ui/webhooks" method="post">
      <input type="hidden" name="csrf" value={props.csrf} />
      <p>
        <label>
          URL{" "}
          <input
            type="url"
            name="url"
            required
            maxlength={2048}
            placeholder="https://hooks.example/x"
          />
        </label>
      </p>
      <fieldset>
        <legend>Events</legend>
        {WEBHOOK_EVENTS.map((e) => (
          <label key={e}>
            <input type="checkbox" name={`event-${e}`} value="on" /> {e}
            {" "}
          </label>
        ))}
      </fieldset>
      <p>
        <label>
          Description <input type="text" name="description" maxlength={200} />
        </label>
      </p>
      <button type="submit">Create subscription</button>
    </form>
  );
}

interface ShownSubscription {
  id: string;
  url: string;
  events: readonly string[];
  enabled?: boolean;
  description?: string;
  source: "file" | "admin";
}

function Subscriptions(props: { csrf: string; subs: ShownSubscription[] }) {
  return (
    <table id="subscriptions">
      <thead>
        <tr>
          <th scope="col">Id</th>
          <th scope="col">URL</th>
          <th scope="col">Events</th>
          <th scope="col">Source</th>
          <th scope="col">Delete</th>
        </tr>
      </thead>
      <tbody>
        {props.subs.map((s) => (
          <tr key={s.id}>
            <td>
              <code>{s.id}</code> {s.enabled === false ? <span class="badge">disabled</span> : ""}
              {" "}
              {s.description ?? ""}
            </td>
            <td>{s.url}</td>
            <td>{s.events.join(", ")}</td>
            <td>{s.source === "file" ? "webhooks.json" : "admin"}</td>
            <td>
              {s.source === "file"
                ? "change webhooks.json"
                : (
                  <form action={`/ui/webhooks/${encodeURIComponent(s.id)}/delete`} method="post">
                    <input type="hidden" name="csrf" value={props.csrf} />
                    <button type="submit" aria-label={`Delete ${s.id}`}>Delete</button>
                  </form>
                )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The subscriptions, fixed and stored, never with their secrets. */
async function subscriptionsOf(req: UiRequest): Promise<ShownSubscription[]> {
  const fixed = req.options.liveSubscriptions?.fixed ?? [];
  const stored = await listWebhookSubscriptions(req.options.ctx);
  const shown = (s: ShownSubscription) => ({
    id: s.id,
    url: s.url,
    events: s.events,
    source: s.source,
    ...(s.enabled === undefined ? {} : { enabled: s.enabled }),
    ...(s.description === undefined ? {} : { description: s.description }),
  });
  return [
    ...fixed.map((s) => shown({ ...s, source: "file" })),
    ...stored.map((s) => shown({ ...s, source: "admin" })),
  ];
}

/** The webhooks page with an optional notice (a new secret) or error. */
async function webhooksBody(
  req: UiRequest,
  extra: { created?: { id: string; secret: string }; error?: string } = {},
): Promise<{ body: Child; bad: boolean }> {
  const q = req.c.req.query();
  const state: State = STATES.includes(q.state as State) ? q.state as State : "dead";
  const csrf = req.viewer.csrf!;
  let error = extra.error;
  let deliveries: { items: OutboxRow[]; cursor?: string } = { items: [] };
  try {
    deliveries = await listDeliveries(req.options.ctx, state, {
      limit: 50,
      ...(q.cursor ? { cursor: q.cursor.slice(0, 4200) } : {}),
    });
  } catch (err) {
    if (!isRegistryError(err)) throw err;
    error = err.message;
  }
  const body = (
    <>
      <h1>Webhooks</h1>
      <OpsNav />
      {extra.created
        ? (
          <div class="notice" role="status">
            <p>
              Subscription <code>{extra.created.id}</code>{" "}
              created. Copy its signing secret now: it is shown once.
            </p>
            <pre id="secret">{extra.created.secret}</pre>
          </div>
        )
        : ""}
      {error ? <p class="error" role="alert">{error}</p> : ""}
      <h2>Subscriptions</h2>
      <Subscriptions csrf={csrf} subs={await subscriptionsOf(req)} />
      <h2>Create a subscription</h2>
      <CreateSubscription csrf={csrf} />
      <Deliveries
        csrf={csrf}
        state={state}
        items={deliveries.items}
        {...(deliveries.cursor ? { cursor: deliveries.cursor } : {})}
      />
    </>
  );
  return { body, bad: error !== undefined };
}

/** `GET /ui/webhooks?state=&cursor=`: subscriptions and one page of deliveries (dead letters first). */
export async function webhooksPage(req: UiRequest): Promise<Response> {
  const admin = await opsAdmin(req);
  if (admin instanceof Response) return admin;
  const { body, bad } = await webhooksBody(req);
  return page(req, "Webhooks", body, bad ? 400 : 200);
}

/** `POST /ui/webhooks`: create a subscription; its secret is shown once, in this answer. */
export const createWebhookForm = adminForm(async (req, admin, form) => {
  const events = WEBHOOK_EVENTS.filter((e) => form[`event-${e}`] === "on");
  const description = (form.description ?? "").trim();
  let extra: { created?: { id: string; secret: string }; error?: string };
  try {
    const made = await createWebhookSubscription(
      req.options.ctx,
      { url: (form.url ?? "").trim(), events, ...(description ? { description } : {}) },
      admin.subject,
      ipOf(req),
      req.options.webhookGuard,
    );
    await req.options.liveSubscriptions?.refresh();
    extra = { created: { id: made.id, secret: made.secret } };
  } catch (err) {
    if (!isRegistryError(err)) throw err;
    extra = { error: `Cannot create the subscription: ${err.message}` };
  }
  const { body } = await webhooksBody(req, extra);
  return page(req, "Webhooks", body, extra.error ? 400 : 200);
});

/** `POST /ui/webhooks/:id/delete`: delete a subscription made here. */
export const deleteWebhookForm = adminForm(async (req, admin) => {
  const id = req.c.req.param("id") ?? "";
  await deleteWebhookSubscription(req.options.ctx, id, admin.subject, ipOf(req));
  await req.options.liveSubscriptions?.refresh();
  return seeOther("/ui/webhooks");
});

/** `POST /ui/webhooks/deliveries/:id/retry`: send one dead letter again. */
export const retryDeliveryForm = adminForm(async (req, admin) => {
  const id = req.c.req.param("id") ?? "";
  await retryDeadLetter(req.options.ctx, id, admin.subject, ipOf(req));
  return seeOther("/ui/webhooks?state=pending#deliveries");
});

function GcBody(props: { csrf: string; grace: string; report?: GcReport; error?: string }) {
  const r = props.report;
  return (
    <>
      <h1>Garbage collection</h1>
      <OpsNav />
      {props.error ? <p class="error" role="alert">{props.error}</p> : ""}
      {r
        ? (
          <section id="gc-report" aria-label="Report">
            <h2>{r.dryRun ? "Dry run: what a run would delete" : "Run: what was deleted"}</h2>
            <p>
              <strong>{r.orphans.length}</strong> orphan blobs, <strong>{r.bytes}</strong> bytes;
              {" "}
              {r.scanned} blobs scanned, {r.referenced} referenced, {r.young}{" "}
              unreferenced but younger than {r.cutoff}
              {r.held ? " or held by a publish in flight" : ""}; {r.uploadsSwept}{" "}
              abandoned uploads swept.
            </p>
            <ul>
              {r.orphans.slice(0, 50).map((o) => (
                <li key={o.sha256}>
                  <code>{o.sha256}</code> {o.size} bytes, touched {o.touchedAt}
                </li>
              ))}
            </ul>
            {r.orphans.length > 50 ? <p class="muted">and {r.orphans.length - 50} more.</p> : ""}
          </section>
        )
        : ""}
      <form action="/ui/gc" method="get" class="pager">
        <label>
          Grace <input type="text" name="grace" value={props.grace} maxlength={20} />
        </label>
        <button type="submit">Dry run again</button>
      </form>
      <form action="/ui/gc" method="post">
        <input type="hidden" name="csrf" value={props.csrf} />
        <input type="hidden" name="grace" value={props.grace} />
        <button type="submit">Run gc now (grace {props.grace})</button>
      </form>
    </>
  );
}

/** A gc report (or its error) with the grace asked for. */
async function gcReport(req: UiRequest, admin: Principal, graceText: string, dryRun: boolean) {
  const grace = graceText.trim().slice(0, 20) || "1h";
  try {
    const report = await collectGarbage(req.options.ctx, {
      dryRun,
      graceMs: graceText.trim() ? parseDuration(grace) : DEFAULT_GC_GRACE_MS,
      actor: admin.subject,
    });
    return { grace, report };
  } catch (err) {
    if (!isRegistryError(err)) throw err;
    return { grace, error: err.message };
  }
}

/** `GET /ui/gc?grace=`: a dry-run report (changes nothing). */
export async function gcPage(req: UiRequest): Promise<Response> {
  const admin = await opsAdmin(req);
  if (admin instanceof Response) return admin;
  const r = await gcReport(req, admin, req.c.req.query("grace") ?? "", true);
  const body = <GcBody csrf={req.viewer.csrf!} {...r} />;
  return page(req, "Garbage collection", body, r.error ? 400 : 200);
}

/** `POST /ui/gc`: run now and show what was deleted. */
export const runGcForm = adminForm(async (req, admin, form) => {
  const r = await gcReport(req, admin, form.grace ?? "", false);
  const body = <GcBody csrf={req.viewer.csrf!} {...r} />;
  return page(req, "Garbage collection", body, r.error ? 400 : 200);
});

/** `GET /ui/dashboard`: the last hour of this process's metrics as SVG plots. */
export async function dashboardPage(req: UiRequest): Promise<Response> {
  const admin = await opsAdmin(req);
  if (admin instanceof Response) return admin;
  const ring = req.options.metricsRing ?? new MetricsRing();
  const used = await storageUsed(req.options.ctx.bundles);
  ring.recordStorage(Date.now(), used.bytes);
  const samples = ring.samples();
  const body = (
    <>
      <h1>Dashboard</h1>
      <OpsNav />
      <p class="muted">
        This process's counters, sampled at most once a minute on incoming requests and kept in
        memory ({samples.length}{" "}
        of at most 60 samples, an hour; a restart starts again). Each point is the increase since
        the sample before. Storage used is measured when this page is drawn: {used.blobs} blobs,
        {" "}
        {used.bytes} bytes{used.partial ? " (at least: listing stopped early)" : ""}.
      </p>
      <div class="plots">
        <Plot title="Requests" points={seriesOf(samples, "requests")} />
        <Plot title="Publishes" points={seriesOf(samples, "publishes")} />
        <Plot title="Errors (5xx)" points={seriesOf(samples, "errors")} />
        <Plot title="Rate-limit refusals" points={seriesOf(samples, "rateLimited")} />
        <Plot title="Storage used (bytes)" points={seriesOf(samples, "storageBytes")} />
      </div>
    </>
  );
  return page(req, "Dashboard", body);
}
