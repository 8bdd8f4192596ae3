import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import type { RegistryContext } from "./context.ts";
import {
  deliverDue,
  deliveryId,
  listDeliveries,
  newOutboxRows,
  nextDueAt,
  outboxMutations,
} from "./webhooks.ts";
import { isNonPublicAddress, refuseTarget } from "./net_guard.ts";

interface Received {
  headers: Headers;
  body: string;
}

/** A real receiver on 127.0.0.1 that answers the given statuses in turn (then 200). */
function receiver(statuses: number[] = []) {
  const received: Received[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    received.push({ headers: req.headers, body: await req.text() });
    return new Response("ok", { status: statuses.shift() ?? 200 });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/hook`,
    received,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

function context(start = Date.parse("2026-11-22T00:00:00Z")) {
  let now = start;
  const ctx: RegistryContext = {
    storage: new MemoryRegistryStorage(),
    bundles: new MemoryBundleStorage(),
    clock: () => new Date(now),
  };
  return { ctx, advance: (ms: number) => void (now += ms) };
}

async function enqueue(ctx: RegistryContext, url: string, events = ["uploaded"]) {
  const rows = newOutboxRows(
    events.map((event) => ({
      event,
      url,
      subscription: "sub1",
      body: JSON.stringify({ event, timestamp: ctx.clock().toISOString() }),
    })),
    ctx.clock(),
  );
  assert.ok((await ctx.storage.commit({ checks: [], mutations: outboxMutations(rows) })).ok);
  return rows;
}

Deno.test("deliverDue() sends a delivery signed exactly as the Rack spec says", async () => {
  await using r = receiver();
  const { ctx } = context();
  const [row] = await enqueue(ctx, r.url, ["uploaded", "version.created"]);
  const report = await deliverDue(ctx, {
    fetch,
    resolveSubscription: () => ({ url: r.url, secret: "s3cret" }),
  });
  assert.deepEqual(report, { attempted: 2, delivered: 2, retried: 0, dead: 0 });
  assert.deepEqual(r.received.map((x) => x.headers.get("x-webhook-event")), [
    "uploaded",
    "version.created",
  ]);
  const first = r.received[0]!;
  const expected = createHmac("sha256", "s3cret").update(first.body).digest("hex");
  assert.equal(first.headers.get("x-webhook-signature"), `sha256=${expected}`);
  const ts = first.headers.get("x-webhook-timestamp")!;
  assert.equal(ts, JSON.parse(first.body).timestamp);
  const timestamped = createHmac("sha256", "s3cret").update(`${ts}.${first.body}`).digest("hex");
  assert.equal(first.headers.get("x-webhook-signature-timestamped"), `sha256=${timestamped}`);
  assert.equal(first.headers.get("user-agent"), "Rack-Registry-Webhook/1.0");
  assert.equal(first.headers.get("content-type"), "application/json");
  assert.equal(first.headers.get("x-webhook-delivery"), deliveryId(row!));
  assert.match(first.headers.get("x-webhook-delivery")!, /^\d+-[0-9a-z]{6}$/);
  assert.equal((await listDeliveries(ctx, "pending")).items.length, 0);
  assert.equal((await listDeliveries(ctx, "delivered")).items.length, 2);
});

Deno.test("deliverDue() retries after 2, 4 and 8 seconds and then dead-letters", async () => {
  await using r = receiver([500, 503, 404, 500]);
  const { ctx, advance } = context();
  await enqueue(ctx, r.url);
  const opts = { fetch, resolveSubscription: () => ({ url: r.url, secret: "k" }) };
  const gaps: number[] = [];
  let last = ctx.clock().getTime();
  for (let i = 0; i < 4; i++) {
    const due = await nextDueAt(ctx);
    assert.ok(due);
    gaps.push(due.getTime() - last);
    advance(due.getTime() - ctx.clock().getTime());
    last = ctx.clock().getTime();
    assert.equal((await deliverDue(ctx, opts)).attempted, 1);
    assert.equal((await deliverDue(ctx, opts)).attempted, 0, "not due again before its delay");
  }
  assert.deepEqual(gaps, [0, 2000, 4000, 8000]);
  assert.equal(r.received.length, 4);
  const ids = new Set(r.received.map((x) => x.headers.get("x-webhook-delivery")));
  assert.equal(ids.size, 1, "one delivery id across retries");
  const dead = await listDeliveries(ctx, "dead");
  assert.equal(dead.items.length, 1);
  assert.equal(dead.items[0]!.attempts, 4);
  assert.equal(dead.items[0]!.lastStatus, 500);
  assert.equal(dead.items[0]!.lastError, "Receiver answered 500");
  assert.equal(await nextDueAt(ctx), null);
});

Deno.test("deliverDue() run by two senders at once delivers each row once", async () => {
  await using r = receiver();
  const { ctx } = context();
  for (let i = 0; i < 5; i++) await enqueue(ctx, r.url);
  const opts = { fetch, resolveSubscription: () => ({ url: r.url, secret: "k" }) };
  const [a, b] = await Promise.all([deliverDue(ctx, opts), deliverDue(ctx, opts)]);
  assert.equal(a.delivered + b.delivered, 5);
  assert.equal(r.received.length, 5);
});

Deno.test("deliverDue() refuses private targets and dead-letters removed subscriptions", async () => {
  const { ctx } = context();
  await enqueue(ctx, "http://127.0.0.1:9/x");
  let calls = 0;
  const report = await deliverDue(ctx, {
    fetch: () => {
      calls++;
      return Promise.resolve(new Response());
    },
    resolveSubscription: () => ({ url: "http://127.0.0.1:9/x", secret: "k" }),
    refuseTarget: (url) =>
      refuseTarget(url, { allowHosts: [], resolve: () => Promise.resolve([]) }),
  });
  assert.equal(calls, 0);
  assert.equal(report.retried, 1);
  assert.match((await listDeliveries(ctx, "pending")).items[0]!.lastError!, /private or loopback/);

  const other = context();
  await enqueue(other.ctx, "https://gone.example/x");
  const r2 = await deliverDue(other.ctx, { fetch, resolveSubscription: () => null });
  assert.equal(r2.dead, 1);
});

Deno.test("deliverDue() never follows a redirect: a 307 to another server fails every attempt and is dead-lettered", async () => {
  // The "internal" server a receiver bounces deliveries to: it must never be hit.
  let internalHits = 0;
  const internal = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    internalHits++;
    return new Response("ok");
  });
  await using _internal = { [Symbol.asyncDispose]: () => internal.shutdown() };
  const redirects: string[] = [];
  const bouncer = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    redirects.push(await req.text());
    return new Response(null, {
      status: 307,
      headers: { location: `http://127.0.0.1:${internal.addr.port}/internal` },
    });
  });
  await using _bouncer = { [Symbol.asyncDispose]: () => bouncer.shutdown() };
  const url = `http://127.0.0.1:${bouncer.addr.port}/hook`;
  const { ctx, advance } = context();
  await enqueue(ctx, url);
  // The receiver's host is allow-listed; the redirect's target is never checked, so never called.
  const opts = {
    fetch,
    resolveSubscription: () => ({ url, secret: "k" }),
    refuseTarget: (u: string) =>
      refuseTarget(u, { allowHosts: ["127.0.0.1"], resolve: () => Promise.resolve([]) }),
  };
  const error =
    "Receiver answered 307 (redirects are not followed); point the subscription at the final URL";
  for (let i = 0; i < 4; i++) {
    advance(((await nextDueAt(ctx))?.getTime() ?? 0) - ctx.clock().getTime());
    assert.equal((await deliverDue(ctx, opts)).attempted, 1);
    const [pending] = (await listDeliveries(ctx, "pending")).items;
    if (i < 3) assert.equal(pending?.lastError, error);
  }
  assert.equal(redirects.length, 4);
  assert.equal(internalHits, 0);
  const dead = (await listDeliveries(ctx, "dead")).items;
  assert.equal(dead.length, 1);
  assert.equal(dead[0]!.lastStatus, 307);
  assert.equal(dead[0]!.lastError, error);
});

Deno.test("deliverDue() treats a redirect followed by an injected client as a failed attempt", async () => {
  const { ctx } = context();
  await enqueue(ctx, "https://hooks.example/x");
  const followed = new Response("ok");
  Object.defineProperty(followed, "redirected", { value: true });
  const report = await deliverDue(ctx, {
    fetch: () => Promise.resolve(followed),
    resolveSubscription: () => ({ url: "https://hooks.example/x", secret: "k" }),
  });
  assert.equal(report.retried, 1);
  assert.match((await listDeliveries(ctx, "pending")).items[0]!.lastError!, /redirects are not/);
});

Deno.test("deliverDue() stopped by its signal mid-attempt gives the row back without counting an attempt", async () => {
  let arrived!: () => void;
  const inFlight = new Promise<void>((r) => arrived = r);
  let release!: () => void;
  const held = new Promise<void>((r) => release = r);
  const received: Received[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    received.push({ headers: req.headers, body: await req.text() });
    if (received.length === 1) {
      arrived();
      await held;
    }
    return new Response("ok");
  });
  await using _server = {
    [Symbol.asyncDispose]: () => (release(), server.shutdown()),
  };
  const url = `http://127.0.0.1:${server.addr.port}/hook`;
  const { ctx } = context();
  const [row] = await enqueue(ctx, url, ["uploaded", "version.created"]);
  const stop = new AbortController();
  const opts = { fetch, resolveSubscription: () => ({ url, secret: "k" }) };
  const round = deliverDue(ctx, { ...opts, signal: stop.signal });
  await inFlight;
  stop.abort();
  assert.deepEqual(await round, { attempted: 0, delivered: 0, retried: 0, dead: 0 });
  assert.equal(received.length, 1, "the next row was not started");
  const pending = (await listDeliveries(ctx, "pending")).items;
  assert.equal(pending.length, 2);
  for (const r of pending) {
    assert.equal(r.attempts, 0);
    assert.equal(r.leaseUntil, undefined);
    assert.equal(r.lastError, undefined);
  }
  // Due again at once, for the next sender: both go, the first with the same delivery id.
  release();
  assert.deepEqual(await deliverDue(ctx, opts), {
    attempted: 2,
    delivered: 2,
    retried: 0,
    dead: 0,
  });
  assert.equal(received[1]!.headers.get("x-webhook-delivery"), deliveryId(row!));
  assert.equal(received[1]!.body, received[0]!.body);
  assert.ok((await listDeliveries(ctx, "delivered")).items.every((r) => r.attempts === 1));
});

Deno.test("isNonPublicAddress() catches loopback, private, link-local and mapped forms", () => {
  for (
    const ip of [
      "127.0.0.1",
      "10.1.2.3",
      "172.16.0.1",
      "172.31.255.255",
      "192.168.1.1",
      "169.254.169.254",
      "100.64.0.1",
      "0.0.0.0",
      "::1",
      "::",
      "fd00::1",
      "fe80::1",
      "::ffff:127.0.0.1",
      "224.0.0.1",
    ]
  ) {
    assert.ok(isNonPublicAddress(ip), ip);
  }
  for (const ip of ["8.8.8.8", "172.32.0.1", "2606:4700::1111", "93.184.216.34"]) {
    assert.ok(!isNonPublicAddress(ip), ip);
  }
});

Deno.test("refuseTarget() allows listed hosts and checks resolved names", async () => {
  const resolve = (host: string) =>
    Promise.resolve(host === "hooks.internal" ? ["10.0.0.5"] : ["93.184.216.34"]);
  assert.equal(
    await refuseTarget("http://127.0.0.1:8080/x", { allowHosts: ["127.0.0.1"], resolve }),
    null,
  );
  assert.match(
    (await refuseTarget("http://hooks.internal/x", { allowHosts: [], resolve }))!,
    /private/,
  );
  assert.equal(
    await refuseTarget("http://hooks.internal/x", { allowHosts: ["hooks.internal"], resolve }),
    null,
  );
  assert.equal(await refuseTarget("https://ci.example/x", { allowHosts: [], resolve }), null);
  assert.match(
    (await refuseTarget("file:///etc/passwd", { allowHosts: [], resolve }))!,
    /http or https/,
  );
  assert.match(
    (await refuseTarget("http://u:p@ci.example/", { allowHosts: [], resolve }))!,
    /credentials/,
  );
});
