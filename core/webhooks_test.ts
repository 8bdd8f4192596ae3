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
import { checkTarget, isNonPublicAddress, type PinnedHost, refuseTarget } from "./net_guard.ts";

/** The real client, for receivers on 127.0.0.1 (IP literals: no pin to honour). */
const send = (req: Request) => fetch(req);

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
    fetch: send,
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
  const opts = { fetch: send, resolveSubscription: () => ({ url: r.url, secret: "k" }) };
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
  const opts = { fetch: send, resolveSubscription: () => ({ url: r.url, secret: "k" }) };
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
    checkTarget: (url) => checkTarget(url, { allowHosts: [], resolve: () => Promise.resolve([]) }),
  });
  assert.equal(calls, 0);
  assert.equal(report.retried, 1);
  assert.match((await listDeliveries(ctx, "pending")).items[0]!.lastError!, /private or loopback/);

  const other = context();
  await enqueue(other.ctx, "https://gone.example/x");
  const r2 = await deliverDue(other.ctx, { fetch: send, resolveSubscription: () => null });
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
    fetch: send,
    resolveSubscription: () => ({ url, secret: "k" }),
    checkTarget: (u: string) =>
      checkTarget(u, { allowHosts: ["127.0.0.1"], resolve: () => Promise.resolve([]) }),
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
  const opts = { fetch: send, resolveSubscription: () => ({ url, secret: "k" }) };
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

Deno.test("isNonPublicAddress() sees private IPv4 inside every IPv6 embedding, and the remaining special ranges", () => {
  const nonPublic = {
    "6to4 of 127.0.0.1": "2002:7f00:1::",
    "6to4 of 10.0.0.1, any suffix": "2002:a00:1:5::42",
    "6to4 of 192.168.1.1": "2002:c0a8:101::1",
    "6to4 of 169.254.169.254": "2002:a9fe:a9fe::",
    "IPv4-mapped, hex": "::ffff:7f00:1",
    "IPv4-mapped, long form": "0:0:0:0:0:ffff:a00:1",
    "IPv4-compatible ::a.b.c.d": "::127.0.0.1",
    "IPv4-compatible of a public address (deprecated, never routed)": "::8.8.8.8",
    "NAT64 of 10.0.0.1": "64:ff9b::10.0.0.1",
    "NAT64 of 127.0.0.1, hex": "64:ff9b::7f00:1",
    "local-use NAT64 64:ff9b:1::/48": "64:ff9b:1::808:808",
    "Teredo, client 127.0.0.1 (obfuscated)": "2001:0:4136:e378:8000:63bf:80ff:fffe",
    "Teredo, client 192.168.1.1 (obfuscated)": "2001:0:4136:e378::3f57:fefe",
    "Teredo, server 10.0.0.1": "2001:0:a00:1::f7f7:f7f7",
    "ISATAP of 10.0.0.1": "2001:470:1f05::5efe:a00:1",
    "ISATAP (u bit) of 172.16.0.1": "2607:f8b0::200:5efe:ac10:1",
    "IETF protocol block": "2001:2::1",
    "documentation": "2001:db8::1",
    "documentation 3fff::/20": "3fff::1",
    "multicast": "ff02::1",
    "unique local": "fc00::1",
    "link-local, other spelling": "FE80:0:0:0:0:0:0:1",
    "site-local (deprecated)": "fec0::1",
    "outside global unicast": "4000::1",
    "CGNAT top": "100.127.255.255",
    "benchmarking 198.18/15": "198.19.0.1",
    "IETF protocol assignments 192.0.0/24": "192.0.0.8",
    "TEST-NET-1": "192.0.2.1",
    "TEST-NET-2": "198.51.100.7",
    "TEST-NET-3": "203.0.113.9",
    "6to4 relay anycast": "192.88.99.1",
    "multicast v4": "239.255.255.250",
    "reserved 240/4": "240.0.0.1",
    "broadcast": "255.255.255.255",
    "this network 0/8": "0.1.2.3",
    "not an address": "hooks.example.com",
    "malformed IPv6": "2001::db8::1",
  };
  for (const [what, ip] of Object.entries(nonPublic)) assert.ok(isNonPublicAddress(ip), what);
  const publicOnes = {
    "6to4 of a public address": "2002:808:808::1",
    "NAT64 of a public address": "64:ff9b::8.8.8.8",
    "Teredo with public server and client": "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
    "IPv4-mapped public": "::ffff:8.8.8.8",
    "global unicast": "2a00:1450:4001:80b::200e",
    "ISATAP of a public address": "2001:470:1f05::5efe:808:808",
    "192.0.78.9 (public, outside 192.0.0/24 and 192.0.2/24)": "192.0.78.9",
    "100.128.0.1 (just past CGNAT)": "100.128.0.1",
  };
  for (const [what, ip] of Object.entries(publicOnes)) assert.ok(!isNonPublicAddress(ip), what);
});

Deno.test("checkTarget() refuses unusual IPv4 spellings by what URL parsing makes of them, and localhost names without a lookup", async () => {
  const lookups: string[] = [];
  const guard = {
    allowHosts: [],
    resolve: (host: string) => (lookups.push(host), Promise.resolve(["93.184.216.34"])),
  };
  for (
    const url of [
      "http://2130706433/",
      "http://0x7f.1/",
      "http://127.1/",
      "http://0177.0.0.1/",
      "http://0/",
      "http://127.0.0.1./",
      "http://[::ffff:127.0.0.1]/",
      "http://[::127.0.0.1]/",
      "http://[2002:7f00:1::]:8080/",
      "http://[64:ff9b::a00:1]/",
      "http://localhost:9/",
      "http://LOCALHOST./",
      "http://api.localhost/",
    ]
  ) {
    const checked = await checkTarget(url, guard);
    assert.ok(!checked.ok && /private or loopback/.test(checked.refusal), url);
  }
  assert.deepEqual(lookups, []);
  // The escape hatch compares the normalized host.
  assert.deepEqual(
    await checkTarget("http://2130706433:9/", { ...guard, allowHosts: ["127.0.0.1"] }),
    { ok: true, pin: null },
  );
});

Deno.test("checkTarget() resolves a name once, refuses it when any address is private and pins the checked ones", async () => {
  const answers: Record<string, string[]> = {
    "hooks.example.com": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
    "split.example.com": ["93.184.216.34", "10.0.0.5"],
    "sixtofour.example.com": ["2002:a9fe:a9fe::1"],
  };
  let lookups = 0;
  const guard = {
    allowHosts: [],
    resolve: (host: string) => (lookups++, Promise.resolve(answers[host] ?? [])),
  };
  assert.deepEqual(await checkTarget("https://hooks.example.com/x", guard), {
    ok: true,
    pin: { host: "hooks.example.com", port: 443, addresses: answers["hooks.example.com"] },
  });
  assert.deepEqual(await checkTarget("http://HOOKS.example.com.:8080/x", guard), {
    ok: true,
    pin: { host: "hooks.example.com", port: 8080, addresses: answers["hooks.example.com"] },
  });
  assert.equal(lookups, 2);
  const split = await checkTarget("https://split.example.com/", guard);
  assert.ok(!split.ok);
  assert.equal(
    split.refusal,
    "Webhook host 'split.example.com' resolves to '10.0.0.5', which is on a private or loopback network; allow it with --webhook-allow-hosts",
  );
  const embedded = await checkTarget("https://sixtofour.example.com/", guard);
  assert.ok(!embedded.ok && embedded.refusal.includes("'2002:a9fe:a9fe::1'"));
  assert.deepEqual(await checkTarget("https://nowhere.example.com/", guard), {
    ok: false,
    refusal: "Could not resolve webhook host 'nowhere.example.com'",
    unresolved: true,
  });
});

Deno.test("deliverDue() connects to the address it checked: a name that rebinds to a private address after the check is never resolved again", async () => {
  const { ctx } = context();
  await enqueue(ctx, "https://rebind.example.com/hook");
  // First lookup public, every later one private (a DNS rebinding attacker's answers).
  const lookups: string[] = [];
  const resolve = (host: string) => {
    lookups.push(host);
    return Promise.resolve(lookups.length === 1 ? ["93.184.216.34"] : ["127.0.0.1"]);
  };
  const sent: { url: string; pin: PinnedHost | null }[] = [];
  const report = await deliverDue(ctx, {
    fetch: (req, pin) => (sent.push({ url: req.url, pin }), Promise.resolve(new Response())),
    resolveSubscription: () => ({ url: "https://rebind.example.com/hook", secret: "k" }),
    checkTarget: (url) => checkTarget(url, { allowHosts: [], resolve }),
  });
  assert.equal(report.delivered, 1);
  assert.deepEqual(lookups, ["rebind.example.com"]);
  assert.deepEqual(sent, [{
    url: "https://rebind.example.com/hook",
    pin: { host: "rebind.example.com", port: 443, addresses: ["93.184.216.34"] },
  }]);
});

Deno.test("deliverDue() refuses a private IPv4 inside an IPv6 embedding without sending", async () => {
  for (
    const url of [
      "http://[2002:a9fe:a9fe::]/latest/meta-data/",
      "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
      "http://[64:ff9b::7f00:1]/",
      "http://[::a00:1]/",
    ]
  ) {
    const { ctx } = context();
    await enqueue(ctx, url);
    let calls = 0;
    await deliverDue(ctx, {
      fetch: () => (calls++, Promise.resolve(new Response())),
      resolveSubscription: () => ({ url, secret: "k" }),
      checkTarget: (u) => checkTarget(u, { allowHosts: [], resolve: () => Promise.resolve([]) }),
    });
    assert.equal(calls, 0, url);
    const [row] = (await listDeliveries(ctx, "pending")).items;
    assert.match(row!.lastError!, /private or loopback/, url);
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
