import assert from "node:assert/strict";
import { listen, type ListenOptions, sweepPeriodMs } from "./listen.ts";

const encoder = new TextEncoder();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function start(
  options: Partial<ListenOptions> = {},
  handler: Deno.ServeHandler<Deno.NetAddr> = () => new Response("ok"),
) {
  const server = listen(
    { port: 0, hostname: "127.0.0.1", headerTimeoutMs: 200, ...options },
    handler,
  );
  return Object.assign(server, { [Symbol.asyncDispose]: () => server.shutdown() });
}

async function connect(port: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  conn.setNoDelay(true);
  return conn;
}

/**
 * Whether the server closed `conn` within `ms` (reading what it sends on the
 * way). A bounded wait, not a timing assertion: the timeouts under test are
 * 200 ms, the bound is generous for a loaded machine.
 */
async function closedWithin(conn: Deno.TcpConn, ms: number): Promise<boolean> {
  const buf = new Uint8Array(4096);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"open">((r) => timer = setTimeout(() => r("open"), ms));
  try {
    while (true) {
      const n = await Promise.race([conn.read(buf).catch(() => null), late]);
      if (n === "open") return false;
      if (n === null) return true;
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Send one request on `conn` and read its whole response (small, with Content-Length). */
async function roundTrip(conn: Deno.TcpConn, path = "/"): Promise<string> {
  await conn.write(encoder.encode(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`));
  const buf = new Uint8Array(4096);
  let text = "";
  while (!/\r\n\r\n[\s\S]*ok$/.test(text)) {
    const n = await conn.read(buf);
    if (n === null) throw new Error(`connection closed after: ${text}`);
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  return text;
}

Deno.test("listen() closes a connection that trickles its request head past the head timeout", async () => {
  await using server = start();
  const conn = await connect(server.addr.port);
  try {
    await conn.write(encoder.encode("GET / HTTP/1.1\r\nHost: x\r\n"));
    // One header line every 50 ms, as a slowloris client does, in the background.
    let writing = true;
    const trickle = (async () => {
      for (let i = 0; writing && i < 100; i++) {
        await sleep(50);
        await conn.write(encoder.encode(`X-Slow-${i}: 1\r\n`)).catch(() => (writing = false));
      }
    })();
    const closed = await closedWithin(conn, 5000);
    writing = false;
    await trickle;
    assert.ok(closed, "the connection was still open 5 s after a 200 ms head timeout");
  } finally {
    conn.close();
  }
});

Deno.test("listen() answers requests on a kept-alive connection, then closes it once idle past the timeout", async () => {
  await using server = start();
  const conn = await connect(server.addr.port);
  try {
    assert.match(await roundTrip(conn), /^HTTP\/1\.1 200/);
    assert.match(await roundTrip(conn), /^HTTP\/1\.1 200/);
    assert.ok(await closedWithin(conn, 5000), "an idle kept-alive connection stayed open");
  } finally {
    conn.close();
  }
});

Deno.test("listen() lets a request run longer than the head timeout, body and all", async () => {
  await using server = start({}, async (req) => {
    const text = await req.text();
    await sleep(400);
    return new Response(`got ${text.length}`);
  });
  const body = new ReadableStream<Uint8Array>({
    async start(c) {
      for (let i = 0; i < 5; i++) {
        c.enqueue(encoder.encode("0123456789"));
        await sleep(100);
      }
      c.close();
    },
  });
  const res = await fetch(`http://127.0.0.1:${server.addr.port}/`, { method: "POST", body });
  assert.equal(await res.text(), "got 50");
});

Deno.test("listen() closes connections over maxConnectionsPerAddress at once and serves the rest", async () => {
  await using server = start({ maxConnectionsPerAddress: 2, headerTimeoutMs: 0 });
  const conns = [await connect(server.addr.port), await connect(server.addr.port)];
  try {
    await sleep(50); // both accepted
    const third = await connect(server.addr.port);
    conns.push(third);
    assert.ok(await closedWithin(third, 5000), "a third connection from one address stayed open");
    assert.match(await roundTrip(conns[0]!), /^HTTP\/1\.1 200/);
    assert.match(await roundTrip(conns[1]!), /^HTTP\/1\.1 200/);
  } finally {
    for (const c of conns) c.close();
  }
});

Deno.test("listen() shutdown() closes idle connections and resolves finished", async () => {
  const server = start({ headerTimeoutMs: 60_000 });
  const conn = await connect(server.addr.port);
  try {
    assert.match(await roundTrip(conn), /^HTTP\/1\.1 200/);
    await server.shutdown();
    await server.finished;
    assert.ok(await closedWithin(conn, 5000));
  } finally {
    conn.close();
  }
});

Deno.test("listen() sets no timer per request: one sweep times out every connection", async () => {
  await using server = start({ headerTimeoutMs: 60_000 });
  const conn = await connect(server.addr.port);
  const real = { set: globalThis.setTimeout, clear: globalThis.clearTimeout };
  let timers = 0;
  try {
    assert.match(await roundTrip(conn), /^HTTP\/1\.1 200/);
    globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
      timers++;
      return real.set(...args);
    }) as typeof setTimeout;
    globalThis.clearTimeout = ((id?: number) => {
      timers++;
      real.clear(id);
    }) as typeof clearTimeout;
    for (let i = 0; i < 50; i++) assert.match(await roundTrip(conn), /^HTTP\/1\.1 200/);
    assert.ok(timers < 10, `${timers} timer calls for 50 requests on one connection`);
  } finally {
    globalThis.setTimeout = real.set;
    globalThis.clearTimeout = real.clear;
    conn.close();
  }
});

Deno.test("sweepPeriodMs() sweeps a few times per timeout, between 10 ms and 1 s", () => {
  assert.equal(sweepPeriodMs(10_000), 1000);
  assert.equal(sweepPeriodMs(200), 50);
  assert.equal(sweepPeriodMs(20), 10);
});

Deno.test("listen() finishes a response that streams longer than the head timeout", async () => {
  // Answered at once, its body still streaming when the connection has been idle too long.
  await using server = start({}, () =>
    new Response(
      new ReadableStream<Uint8Array>({
        async start(c) {
          for (let i = 0; i < 8; i++) {
            c.enqueue(encoder.encode("0123456789"));
            await sleep(100);
          }
          c.close();
        },
      }),
    ));
  const res = await fetch(`http://127.0.0.1:${server.addr.port}/`);
  assert.equal((await res.text()).length, 80);
});

Deno.test("listen() chains no promise on a request answered at once", async () => {
  await using server = start({ headerTimeoutMs: 60_000 });
  const conn = await connect(server.addr.port);
  // Counts `.then` calls made through the prototype (the runtime's own use
  // its primordials, and `await` none): the listener's per-request ones.
  const proto = Promise.prototype as unknown as { then: (...args: unknown[]) => unknown };
  const then = proto.then;
  let chained = 0;
  try {
    assert.match(await roundTrip(conn), /^HTTP\/1\.1 200/);
    proto.then = function (this: unknown, ...args: unknown[]) {
      chained++;
      return then.apply(this, args);
    };
    for (let i = 0; i < 50; i++) assert.match(await roundTrip(conn), /^HTTP\/1\.1 200/);
  } finally {
    proto.then = then;
    conn.close();
  }
  assert.ok(chained < 10, `${chained} promise chains for 50 requests answered at once`);
});
