import assert from "node:assert/strict";
import { listDeliveries, newOutboxRows, outboxMutations } from "../core/webhooks.ts";
import type { RegistryContext } from "../core/context.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import { startWebhookSender } from "./webhook_sender.ts";

function context(): RegistryContext {
  return {
    storage: new MemoryRegistryStorage(),
    bundles: new MemoryBundleStorage(),
    clock: () => new Date(),
  };
}

async function enqueue(ctx: RegistryContext, url: string) {
  const rows = newOutboxRows(
    [{ event: "uploaded", url, subscription: "sub1", body: '{"event":"uploaded"}' }],
    ctx.clock(),
  );
  assert.ok((await ctx.storage.commit({ checks: [], mutations: outboxMutations(rows) })).ok);
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 10_000) {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** `promise`, or a rejection after `ms` (a guard against hanging, not a timing check). */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("startWebhookSender() does not follow a receiver's redirect to another server and dead-letters the delivery", async () => {
  let internalHits = 0;
  const internal = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    internalHits++;
    return new Response("ok");
  });
  await using _internal = { [Symbol.asyncDispose]: () => internal.shutdown() };
  let bounced = 0;
  const bouncer = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    await req.body?.cancel();
    bounced++;
    return new Response(null, {
      status: 307,
      headers: { location: `http://127.0.0.1:${internal.addr.port}/internal` },
    });
  });
  await using _bouncer = { [Symbol.asyncDispose]: () => bouncer.shutdown() };
  const url = `http://127.0.0.1:${bouncer.addr.port}/hook`;
  const ctx = context();
  await enqueue(ctx, url);
  const sender = startWebhookSender(ctx, {
    subscriptions: () => [{ id: "sub1", url, secret: "k" }],
    allowHosts: ["127.0.0.1"],
    retryDelaysMs: [10, 10, 10],
    pollMs: 20,
  });
  try {
    await until(
      "a dead letter",
      async () => (await listDeliveries(ctx, "dead")).items.length === 1,
    );
  } finally {
    await sender.stop();
  }
  assert.equal(bounced, 4);
  assert.equal(internalHits, 0);
  const [dead] = (await listDeliveries(ctx, "dead")).items;
  assert.equal(dead!.attempts, 4);
  assert.equal(dead!.lastStatus, 307);
  assert.equal(
    dead!.lastError,
    "Receiver answered 307 (redirects are not followed); point the subscription at the final URL",
  );
});

Deno.test("startWebhookSender() stop() aborts a delivery in flight and leaves it pending, no attempt counted", async () => {
  let arrived!: () => void;
  const inFlight = new Promise<void>((r) => arrived = r);
  let release!: () => void;
  const held = new Promise<void>((r) => release = r);
  const receiver = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    await req.body?.cancel();
    arrived();
    await held; // a receiver that would keep it for up to the 30 s timeout
    return new Response("ok");
  });
  await using _receiver = { [Symbol.asyncDispose]: () => (release(), receiver.shutdown()) };
  const url = `http://127.0.0.1:${receiver.addr.port}/hook`;
  const ctx = context();
  await enqueue(ctx, url);
  const sender = startWebhookSender(ctx, {
    subscriptions: () => [{ id: "sub1", url, secret: "k" }],
    allowHosts: ["127.0.0.1"],
    pollMs: 20,
  });
  await inFlight;
  // Resolves although the receiver still holds the request.
  await within(5000, "stop()", sender.stop());
  const pending = (await listDeliveries(ctx, "pending")).items;
  assert.equal(pending.length, 1);
  assert.equal(pending[0]!.attempts, 0);
  assert.equal(pending[0]!.leaseUntil, undefined);
  assert.equal((await listDeliveries(ctx, "delivered")).items.length, 0);
});

Deno.test("startWebhookSender() delivers to a subscription another process created after its last refresh", async () => {
  let hits = 0;
  const receiver = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    await req.body?.cancel();
    hits++;
    return new Response("ok");
  });
  await using _receiver = { [Symbol.asyncDispose]: () => receiver.shutdown() };
  const url = `http://127.0.0.1:${receiver.addr.port}/hook`;
  const ctx = context();
  await enqueue(ctx, url);
  // This process has not seen sub1 yet; the store (read on refresh) has it.
  const list: { id: string; url: string; secret: string }[] = [];
  let refreshes = 0;
  const sender = startWebhookSender(ctx, {
    subscriptions: () => list,
    refreshSubscriptions: () => {
      refreshes++;
      list.splice(0, list.length, { id: "sub1", url, secret: "k" });
      return Promise.resolve();
    },
    allowHosts: ["127.0.0.1"],
    retryDelaysMs: [10, 10, 10],
    pollMs: 20,
  });
  try {
    await until(
      "the delivery",
      async () => (await listDeliveries(ctx, "delivered")).items.length === 1,
    );
  } finally {
    await sender.stop();
  }
  assert.equal(hits, 1);
  assert.equal(refreshes, 1);
  assert.equal((await listDeliveries(ctx, "dead")).items.length, 0);
});

Deno.test("startWebhookSender() sends to the address it checked, not to what the name resolves to later (DNS rebinding)", async () => {
  // The internal service a rebinding attacker wants reached, and the real receiver.
  let internalHits = 0;
  const internal = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    internalHits++;
    return new Response("ok");
  });
  await using _internal = { [Symbol.asyncDispose]: () => internal.shutdown() };
  const hosts: (string | null)[] = [];
  const receiver = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    await req.body?.cancel();
    hosts.push(req.headers.get("host"));
    return new Response("ok");
  });
  await using _receiver = { [Symbol.asyncDispose]: () => receiver.shutdown() };
  // The name answers a public address first, then the internal one.
  const lookups: string[] = [];
  const resolve = (host: string) => {
    lookups.push(host);
    return Promise.resolve(lookups.length === 1 ? ["93.184.216.34"] : ["127.0.0.1"]);
  };
  // Stands in for the Internet: the public address is the receiver; any other address is the internal service.
  const dialed: string[] = [];
  const connect = (address: string) => {
    dialed.push(address);
    const port = address === "93.184.216.34" ? receiver.addr.port : internal.addr.port;
    return Deno.connect({ hostname: "127.0.0.1", port });
  };
  const url = "http://rebind.example.com:8080/hook";
  const ctx = context();
  await enqueue(ctx, url);
  const sender = startWebhookSender(ctx, {
    subscriptions: () => [{ id: "sub1", url, secret: "k" }],
    resolve,
    connect,
    pollMs: 20,
  });
  try {
    await until(
      "the delivery",
      async () => (await listDeliveries(ctx, "delivered")).items.length === 1,
    );
  } finally {
    await sender.stop();
  }
  assert.deepEqual(lookups, ["rebind.example.com"]);
  assert.deepEqual(dialed, ["93.184.216.34"]);
  assert.deepEqual(hosts, ["rebind.example.com:8080"]);
  assert.equal(internalHits, 0);
});

Deno.test("startWebhookSender() refuses a name that resolves to a private address and connects nowhere", async () => {
  const dialed: string[] = [];
  const url = "https://hooks.example.com/hook";
  const ctx = context();
  await enqueue(ctx, url);
  const sender = startWebhookSender(ctx, {
    subscriptions: () => [{ id: "sub1", url, secret: "k" }],
    resolve: () => Promise.resolve(["93.184.216.34", "2002:c0a8:101::1"]),
    connect: (address) => {
      dialed.push(address);
      return Promise.reject(new Deno.errors.ConnectionRefused(address));
    },
    retryDelaysMs: [10_000],
    pollMs: 20,
  });
  try {
    await until(
      "a failed attempt",
      async () => (await listDeliveries(ctx, "pending")).items[0]?.attempts === 1,
    );
  } finally {
    await sender.stop();
  }
  assert.deepEqual(dialed, []);
  assert.equal(
    (await listDeliveries(ctx, "pending")).items[0]!.lastError,
    "Webhook host 'hooks.example.com' resolves to '2002:c0a8:101::1', which is on a private or loopback network; allow it with --webhook-allow-hosts",
  );
});
