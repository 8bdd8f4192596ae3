// The operator pages for global admins: webhook subscriptions and deliveries
// (a dead letter retried), garbage collection (dry run and run) and the
// dashboard. Anyone else gets the missing page's very bytes; every form
// without the session's CSRF token changes nothing.
import assert from "node:assert/strict";
import type { OutboxRow } from "../core/rows.ts";
import { deliverDue, deliveryId, listDeliveries } from "../core/webhooks.ts";
import { listWebhookSubscriptions } from "../core/webhook_subscriptions.ts";
import { csrfOf, signIn, uiFixture, uiGet as get, uiPost as post } from "./_ui_fixtures.ts";

const PAGES = ["/ui/webhooks", "/ui/webhooks?state=pending", "/ui/gc", "/ui/dashboard"];

/** A dead letter as the sender leaves one after its last attempt. */
function deadLetter(id: string): OutboxRow {
  const at = new Date().toISOString();
  return {
    id,
    event: "package.published",
    url: "https://hooks.example/x",
    subscription: "wh_gone",
    body: "{}",
    createdAt: at,
    attempts: 4,
    nextAttemptAt: at,
    status: "dead",
    lastError: "Receiver answered 500",
    lastStatus: 500,
    finishedAt: at,
  };
}

async function seedDead(f: Awaited<ReturnType<typeof uiFixture>>, id: string) {
  const row = deadLetter(id);
  await f.storage.commit({
    checks: [],
    mutations: [{ type: "set", key: ["outbox_dead", id], value: row as never }],
  });
}

const ctxOf = (f: Awaited<ReturnType<typeof uiFixture>>) => ({
  storage: f.storage,
  bundles: f.bundles,
  clock: () => new Date(),
});

Deno.test("each operator page renders for an admin, small, with an ETag and 304", async () => {
  const f = await uiFixture();
  const { session } = await signIn(f.app, f.admin);
  for (const path of PAGES) {
    const res = await get(f.app, path, session);
    assert.equal(res.status, 200, path);
    const bytes = (await res.arrayBuffer()).byteLength;
    assert.ok(bytes < 60 * 1024, `${path}: ${bytes} bytes`);
    const etag = res.headers.get("etag");
    assert.ok(etag, path);
    assert.match(res.headers.get("content-security-policy")!, /default-src 'none'/);
    // The gc report and the dashboard are measured afresh on each view (the cutoff moves).
    if (path === "/ui/dashboard" || path === "/ui/gc") continue;
    const again = await get(f.app, path, session, { "if-none-match": etag });
    assert.equal(again.status, 304, path);
  }
});

Deno.test("strangers and non-admins get the missing page's very bytes, for pages and forms", async () => {
  const f = await uiFixture();
  await seedDead(f, "d-hidden");
  const orphan = await f.bundles.put(new TextEncoder().encode("orphan bytes"));
  const reader = (await signIn(f.app, f.reader)).session!;
  for (const session of [undefined, reader]) {
    const missing = await get(f.app, "/ui/no-such-page", session);
    assert.equal(missing.status, 404);
    const expected = await missing.text();
    for (const path of PAGES) {
      const res = await get(f.app, path, session);
      assert.equal(res.status, 404, path);
      assert.equal(await res.text(), expected, path);
    }
  }
  // A reader's forms (with their own session's CSRF token) are missing pages too.
  const csrf = /name="csrf" value="([^"]+)"/.exec(
    await (await get(f.app, "/", reader)).text(),
  )![1]!;
  for (
    const [path, fields] of [
      ["/ui/webhooks", { url: "https://hooks.example/y", "event-uploaded": "on" }],
      ["/ui/webhooks/deliveries/d-hidden/retry", {}],
      ["/ui/gc", { grace: "0s" }],
    ] as const
  ) {
    const res = await post(f.app, path, reader, { csrf, ...fields });
    assert.equal(res.status, 404, path);
    await res.body?.cancel();
  }
  assert.equal((await listWebhookSubscriptions(f)).length, 0);
  assert.equal((await listDeliveries(ctxOf(f), "dead")).items.length, 1);
  assert.ok(await f.bundles.stat(orphan.sha256));
});

Deno.test("operator forms refuse a missing or forged CSRF token and change nothing", async () => {
  const f = await uiFixture();
  await seedDead(f, "d-1");
  const orphan = await f.bundles.put(new TextEncoder().encode("orphan"));
  await new Promise((r) => setTimeout(r, 5));
  const { session } = await signIn(f.app, f.admin);
  for (const csrf of [undefined, "forged-token-forged-token"]) {
    const extra: Record<string, string> = csrf ? { csrf } : {};
    for (
      const [path, fields] of [
        ["/ui/webhooks", { url: "https://hooks.example/y", "event-uploaded": "on" }],
        ["/ui/webhooks/deliveries/d-1/retry", {}],
        ["/ui/gc", { grace: "0s" }],
      ] as const
    ) {
      const res = await post(f.app, path, session!, { ...extra, ...fields });
      assert.equal(res.status, 403, `${path} ${csrf}`);
      await res.body?.cancel();
    }
  }
  assert.equal((await listWebhookSubscriptions(f)).length, 0);
  assert.equal((await listDeliveries(ctxOf(f), "dead")).items.length, 1);
  assert.ok(await f.bundles.stat(orphan.sha256));
});

Deno.test("an admin creates a subscription (secret shown once), lists it and deletes it", async () => {
  const f = await uiFixture();
  const { session } = await signIn(f.app, f.admin);
  const csrf = await csrfOf(f.app, session!);
  const res = await post(f.app, "/ui/webhooks", session!, {
    csrf,
    url: "https://hooks.example/ci",
    "event-package.published": "on",
    "event-version.yanked": "on",
    description: "CI",
  });
  assert.equal(res.status, 200);
  const html = await res.text();
  const secret = /<pre id="secret">([^<]+)<\/pre>/.exec(html)![1]!;
  const [stored] = await listWebhookSubscriptions(f);
  assert.deepEqual(stored!.events, ["package.published", "version.yanked"]);
  const list = await (await get(f.app, "/ui/webhooks", session)).text();
  assert.match(list, /hooks\.example\/ci/);
  assert.ok(!list.includes(secret));
  // A private target is refused with the reason, and nothing is stored.
  const bad = await post(f.app, "/ui/webhooks", session!, {
    csrf,
    url: "http://127.0.0.1/x",
    "event-uploaded": "on",
  });
  assert.equal(bad.status, 400);
  assert.match(await bad.text(), /class="error"/);
  assert.equal((await listWebhookSubscriptions(f)).length, 1);
  const del = await post(f.app, `/ui/webhooks/${stored!.id}/delete`, session!, { csrf });
  assert.equal(del.status, 303);
  assert.equal((await listWebhookSubscriptions(f)).length, 0);
});

Deno.test("a dead letter is visible and retry puts it back in the pending outbox", async () => {
  const f = await uiFixture();
  await seedDead(f, "d-7");
  const { session } = await signIn(f.app, f.admin);
  const dead = await (await get(f.app, "/ui/webhooks?state=dead", session)).text();
  assert.match(dead, /d-7/);
  assert.match(dead, /Receiver answered 500/);
  const csrf = await csrfOf(f.app, session!);
  const res = await post(f.app, "/ui/webhooks/deliveries/d-7/retry", session!, { csrf });
  assert.equal(res.status, 303);
  const ctx = ctxOf(f);
  assert.equal((await listDeliveries(ctx, "dead")).items.length, 0);
  const [pending] = (await listDeliveries(ctx, "pending")).items;
  assert.equal(pending!.id, "d-7");
  assert.equal(pending!.attempts, 0);
  assert.equal(pending!.lastError, undefined);
  assert.match(await (await get(f.app, "/ui/webhooks?state=pending", session)).text(), /d-7/);
  assert.match(
    await (await get(f.app, "/ui/audit?action=webhook.retry", session)).text(),
    /d-7/,
  );
  // A sender now delivers it, to a real receiver on a real port.
  const received: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    received.push(req.headers.get("x-webhook-delivery") ?? "");
    return new Response(null, { status: 204 });
  });
  try {
    const url = `http://127.0.0.1:${server.addr.port}/hook`;
    const report = await deliverDue(ctx, {
      fetch: (req) => fetch(req, { redirect: "manual" }),
      resolveSubscription: () => ({ url, secret: "0123456789abcdef" }),
    });
    assert.equal(report.delivered, 1);
    assert.deepEqual(received, [deliveryId(pending!)]);
  } finally {
    await server.shutdown();
  }
  // A bad cursor is a clear page, not an error.
  const badCursor = await get(f.app, "/ui/webhooks?state=dead&cursor=audit~AAAA", session);
  assert.equal(badCursor.status, 400);
  assert.match(await badCursor.text(), /not a cursor of this listing/);
});

Deno.test("gc: the dry run reports an orphan and keeps it; the run deletes it", async () => {
  const f = await uiFixture();
  const bytes = new TextEncoder().encode("nobody references these bytes");
  const orphan = await f.bundles.put(bytes);
  await new Promise((r) => setTimeout(r, 5));
  const { session } = await signIn(f.app, f.admin);
  // The default grace (an hour) keeps it; a grace of 0s reports it.
  assert.match(await (await get(f.app, "/ui/gc", session)).text(), /<strong>0<\/strong> orphan/);
  const dry = await (await get(f.app, "/ui/gc?grace=0s", session)).text();
  assert.match(dry, /<strong>1<\/strong> orphan blobs, <strong>29<\/strong>/);
  assert.ok(dry.includes(orphan.sha256));
  assert.ok(await f.bundles.stat(orphan.sha256));
  const bad = await get(f.app, "/ui/gc?grace=soon", session);
  assert.equal(bad.status, 400);
  assert.match(await bad.text(), /Invalid duration/);
  const csrf = await csrfOf(f.app, session!);
  const run = await post(f.app, "/ui/gc", session!, { csrf, grace: "0s" });
  assert.equal(run.status, 200);
  assert.match(await run.text(), /Run: what was deleted[\s\S]*<strong>1<\/strong> orphan/);
  assert.equal(await f.bundles.stat(orphan.sha256), null);
});

Deno.test("the dashboard draws five SVG plots and the storage used", async () => {
  const f = await uiFixture();
  await f.bundles.put(new TextEncoder().encode("12345"));
  const { session } = await signIn(f.app, f.admin);
  const html = await (await get(f.app, "/ui/dashboard", session)).text();
  assert.equal(html.match(/<svg /g)?.length, 5);
  assert.match(html, /1 blobs, 5 bytes/);
  assert.match(html, /aria-label="Storage used \(bytes\): 1 samples, latest 5/);
  // Drawn on the server: the only script is the site's same-origin copy button.
  assert.deepEqual(html.match(/<script[^>]*>/g), ['<script src="/ui/copy.js" defer="">']);
});
