// The slow-body attack of issue 15, rerun against a real server: bodies sent
// 10 bytes at a time on several connections at once, to every kind of body
// reader (ggui JSON, the admin API's JSON, a JSR tarball, a Rack multipart
// upload). The runtime hands each read as a view into its own ~64 KiB buffer;
// a reader that keeps those views holds ~6,500 times the bytes received
// (measured before the fix: 2,000 chunks of 10 bytes, ~20 KB sent, held
// ~125 MiB of external memory). The server's memory is read after a full GC
// while the bodies are still arriving, so the figure is what the bodies hold.
import assert from "node:assert/strict";
import { startServer } from "./_server.ts";

const TOKEN = "slow-body-token";
const ADMIN = "slow-body-admin";
const CONNECTIONS = 2;
const CHUNKS = 500;
const CHUNK = new TextEncoder().encode("0123456789");
/** 2 × 500 chunks × 64 KiB = 62.5 MiB if every chunk pinned its buffer. */
const MAX_GROWTH_MIB = 8;

/** One slow body per route: its request head and the start of its body. */
const ATTACKS: { name: string; head: string; opening?: string }[] = [
  {
    name: "ggui POST /conformance/check (anonymous JSON)",
    head: "POST /conformance/check HTTP/1.1\r\nContent-Type: application/json\r\n" +
      "Content-Length: 30000000\r\n",
  },
  {
    name: "admin POST /admin/tokens (JSON under the 64 KiB cap)",
    head: `POST /admin/tokens HTTP/1.1\r\nAuthorization: Bearer ${ADMIN}\r\n` +
      "Content-Type: application/json\r\nContent-Length: 60000\r\n",
  },
  {
    name: "JSR tarball upload",
    head: `POST /api/scopes/slow/packages/body/versions/1.0.0 HTTP/1.1\r\n` +
      `Authorization: Bearer ${TOKEN}\r\nContent-Encoding: gzip\r\nContent-Length: 10000000\r\n`,
  },
  {
    name: "Rack multipart upload",
    head: `POST /registries HTTP/1.1\r\nAuthorization: Bearer ${ADMIN}\r\n` +
      "Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: 30000000\r\n",
    opening: '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.tar.gz"\r\n' +
      "Content-Type: application/gzip\r\n\r\n",
  },
];

/** The child server and a way to read its memory. */
async function startChild() {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--v8-flags=--expose-gc",
      new URL("./_slow_body_server.ts", import.meta.url).pathname,
      TOKEN,
      ADMIN,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  const nextLine = async (): Promise<string> => {
    while (!pending.includes("\n")) {
      const { done, value } = await lines.read();
      if (done) throw new Error("the server exited");
      pending += value;
    }
    const i = pending.indexOf("\n");
    const line = pending.slice(0, i);
    pending = pending.slice(i + 1);
    return line;
  };
  const url = new URL((await nextLine()).replace(/^listening /, ""));
  const stdin = child.stdin.getWriter();
  return {
    port: Number(url.port),
    async external(): Promise<number> {
      await stdin.write(new TextEncoder().encode("measure\n"));
      return (JSON.parse(await nextLine()) as Deno.MemoryUsage).external;
    },
    async [Symbol.asyncDispose]() {
      await stdin.close().catch(() => {});
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await lines.cancel().catch(() => {});
      await child.status;
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

for (const attack of ATTACKS) {
  Deno.test(`a body sent 10 bytes at a time holds memory in proportion to its bytes: ${attack.name}`, async () => {
    await using server = await startChild();
    const before = await server.external();
    const conns: Deno.TcpConn[] = [];
    try {
      for (let i = 0; i < CONNECTIONS; i++) {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
        conn.setNoDelay(true);
        await conn.write(
          new TextEncoder().encode(`${attack.head}Host: 127.0.0.1\r\n\r\n${attack.opening ?? ""}`),
        );
        conns.push(conn);
      }
      // Separate writes a little apart, so the server reads them one by one.
      for (let n = 0; n < CHUNKS; n++) {
        for (const conn of conns) await conn.write(CHUNK);
        await sleep(1);
      }
      await sleep(300);
      const growth = (await server.external() - before) / (1024 * 1024);
      const sentKiB = (CONNECTIONS * CHUNKS * CHUNK.byteLength) / 1024;
      console.log(`${attack.name}: ${sentKiB.toFixed(0)} KiB sent, ${growth.toFixed(2)} MiB held`);
      assert.ok(
        growth < MAX_GROWTH_MIB,
        `${sentKiB} KiB sent 10 bytes at a time hold ${growth.toFixed(1)} MiB`,
      );
    } finally {
      for (const conn of conns) conn.close();
    }
  });
}

/** A response head read from `conn`, or `null` when the server closed it first. */
async function readHead(conn: Deno.TcpConn): Promise<string | null> {
  const buf = new Uint8Array(4096);
  let text = "";
  while (!text.includes("\r\n\r\n")) {
    const n = await conn.read(buf).catch(() => null);
    if (n === null) return text === "" ? null : text;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  return text;
}

/** `pending`, or `"open"` if it has not settled within `ms` (a bound for a hang, not a timing). */
async function within<T>(pending: Promise<T>, ms: number): Promise<T | "open"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"open">((r) => timer = setTimeout(() => r("open"), ms));
  try {
    return await Promise.race([pending, late]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("main.ts closes connections that trickle their request heads (--header-timeout-ms)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "slow_heads_" });
  try {
    await using server = await startServer([
      "--storage=memory",
      "--bundles=memory",
      `--data-dir=${dir}`,
      "--header-timeout-ms=300",
    ]);
    const port = Number(new URL(server.url).port);
    const conns: Deno.TcpConn[] = [];
    let writing = true;
    try {
      for (let i = 0; i < 20; i++) {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        await conn.write(new TextEncoder().encode("GET /healthz HTTP/1.1\r\nHost: x\r\n"));
        conns.push(conn);
      }
      // A header line every 100 ms on each, as the attack sent one a second.
      const trickle = (async () => {
        for (let i = 0; writing && i < 100; i++) {
          await sleep(100);
          for (const conn of conns) {
            await conn.write(new TextEncoder().encode(`X-Slow-${i}: 1\r\n`)).catch(() => {});
          }
        }
      })();
      const heads = await within(Promise.all(conns.map(readHead)), 10_000);
      writing = false;
      await trickle;
      assert.notEqual(heads, "open", "trickling connections were still open 10 s on");
      assert.deepEqual(heads, conns.map(() => null), "each was closed without an answer");
    } finally {
      writing = false;
      for (const conn of conns) conn.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main.ts refuses bodies over --max-pending-bodies from one address with 429 and times out a quiet one with 408", async () => {
  const dir = await Deno.makeTempDir({ prefix: "slow_bodies_" });
  try {
    await using server = await startServer([
      "--storage=memory",
      "--bundles=memory",
      `--data-dir=${dir}`,
      "--max-pending-bodies=4",
      "--body-timeout-ms=2000", // long enough for all ten to connect on a loaded machine
    ]);
    const port = Number(new URL(server.url).port);
    const conns: Deno.TcpConn[] = [];
    try {
      // Ten bodies from one address that send their first byte and then nothing.
      for (let i = 0; i < 10; i++) {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port });
        await conn.write(new TextEncoder().encode(
          "POST /conformance/check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
            "Content-Length: 1000\r\n\r\n{",
        ));
        conns.push(conn);
      }
      // Four are admitted and time out (408); the six over the limit are refused (429).
      const heads = await within(Promise.all(conns.map(readHead)), 10_000);
      assert.notEqual(heads, "open", "slow bodies were still unanswered 10 s on");
      const statuses = (heads as (string | null)[]).map((h) => h?.slice(9, 12) ?? "closed");
      assert.deepEqual(
        statuses.toSorted(),
        ["408", "408", "408", "408", "429", "429", "429", "429", "429", "429"],
      );
    } finally {
      for (const conn of conns) conn.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
