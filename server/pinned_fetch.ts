/**
 * `fetch` over a connection to addresses checked beforehand (DNS pinning):
 * the webhook guard resolves a host once and checks every address; this
 * module then makes sure the request goes to one of those addresses and that
 * nothing resolves the name again, while the request keeps its URL, its
 * `Host` header and, for https, the TLS server name and the certificate check
 * against the host name.
 *
 * Deno's `fetch` has no resolver hook, so each call runs a one-request SOCKS5
 * relay on 127.0.0.1 (random port, one-time credentials) and hands `fetch` a
 * client that uses it: Deno passes the host name to the relay unresolved and
 * does TLS itself through the tunnel, and the relay opens the TCP connection
 * to a pinned address and nothing else.
 *
 * @module
 */
import type { PinnedHost } from "../core/net_guard.ts";

/** Opens the relay's outgoing connection (injected by tests; `Deno.connect` by default). */
export type Connect = (address: string, port: number, signal?: AbortSignal) => Promise<Deno.Conn>;

/** Options of {@linkcode pinnedFetch}. */
export interface PinnedFetchOptions {
  /** Extra root certificates (PEM), for tests. */
  caCerts?: string[];
  /** Opens a TCP connection to an address (tests route a "public" address to a local server). */
  connect?: Connect;
}

/**
 * The A and AAAA addresses of a host name through DNS (empty when it has
 * none); the sender's {@linkcode import("../core/net_guard.ts").Resolver}.
 */
export async function resolveHost(host: string, signal?: AbortSignal): Promise<string[]> {
  const options = signal ? { signal } : {};
  const [a, aaaa] = await Promise.allSettled([
    Deno.resolveDns(host, "A", options),
    Deno.resolveDns(host, "AAAA", options),
  ]);
  return [
    ...(a.status === "fulfilled" ? a.value : []),
    ...(aaaa.status === "fulfilled" ? aaaa.value : []),
  ];
}

/** A host name as the guard compares it: lower case, no trailing dot. */
function bare(host: string): string {
  return host.toLowerCase().replace(/\.$/, "");
}

const defaultConnect: Connect = (address, port, signal) =>
  Deno.connect({ hostname: address, port, ...(signal ? { signal } : {}) });

/** Reads exactly `n` bytes (the handshake never sends more than asked before our reply). */
async function readExact(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const buf = new Uint8Array(n);
  for (let off = 0; off < n;) {
    const got = await conn.read(buf.subarray(off));
    if (got === null) throw new Error("SOCKS client closed the connection");
    off += got;
  }
  return buf;
}

interface Relay {
  port: number;
  username: string;
  password: string;
  close(): Promise<void>;
}

/**
 * A SOCKS5 relay (RFC 1928, username/password per RFC 1929) that accepts
 * its one-time credentials, CONNECT to exactly `pin.host`:`pin.port`, and
 * connects to the first pinned address that answers.
 */
function startRelay(pin: PinnedHost, connect: Connect): Relay {
  const username = crypto.randomUUID();
  const password = crypto.randomUUID();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  const stopping = new AbortController();
  const track = (conn: Deno.Conn) => (open.add(conn), conn);
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

  async function handshake(conn: Deno.Conn): Promise<Deno.Conn | null> {
    const [version, count] = await readExact(conn, 2);
    const methods = await readExact(conn, count!);
    if (version !== 5 || !methods.includes(2)) {
      await conn.write(new Uint8Array([5, 0xff])); // no acceptable method
      return null;
    }
    await conn.write(new Uint8Array([5, 2]));
    const [, userLength] = await readExact(conn, 2);
    const user = text(await readExact(conn, userLength!));
    const [passLength] = await readExact(conn, 1);
    const pass = text(await readExact(conn, passLength!));
    const authorized = user === username && pass === password;
    await conn.write(new Uint8Array([1, authorized ? 0 : 1]));
    if (!authorized) return null;
    const [, command, , addressType] = await readExact(conn, 4);
    let host = "";
    if (addressType === 3) host = text(await readExact(conn, (await readExact(conn, 1))[0]!));
    else await readExact(conn, addressType === 1 ? 4 : 16);
    const portBytes = await readExact(conn, 2);
    const port = portBytes[0]! << 8 | portBytes[1]!;
    const reply = (code: number) => conn.write(new Uint8Array([5, code, 0, 1, 0, 0, 0, 0, 0, 0]));
    // Only the checked name and port: 0x02 "not allowed by ruleset".
    if (command !== 1 || bare(host) !== pin.host || port !== pin.port) {
      await reply(2);
      return null;
    }
    for (const address of pin.addresses) {
      try {
        const upstream = track(await connect(address, pin.port, stopping.signal));
        await reply(0);
        return upstream;
      } catch {
        // try the next checked address
      }
    }
    await reply(5); // connection refused
    return null;
  }

  async function serve(conn: Deno.Conn): Promise<void> {
    try {
      const upstream = await handshake(conn);
      if (!upstream) return;
      await Promise.allSettled([
        conn.readable.pipeTo(upstream.writable),
        upstream.readable.pipeTo(conn.writable),
      ]);
    } catch {
      // a broken handshake: the fetch sees the failure
    } finally {
      try {
        conn.close();
      } catch {
        // already closed by the pipes
      }
    }
  }

  const accepting = (async () => {
    try {
      for await (const conn of listener) serve(track(conn));
    } catch {
      // listener closed
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    username,
    password,
    async close() {
      stopping.abort();
      listener.close();
      for (const conn of open) {
        try {
          conn.close();
        } catch {
          // closed already
        }
      }
      await accepting;
    },
  };
}

/**
 * Send `request` to one of `pin.addresses` (in order, the next when one
 * refuses the connection), never resolving `pin.host`; https certificates are
 * verified against `pin.host`. Redirects are not followed. Answers the status
 * and headers; the body is discarded (a webhook receiver's body is never read).
 *
 * @example
 * ```ts ignore
 * import { pinnedFetch } from "./pinned_fetch.ts";
 * const pin = { host: "hooks.example.com", port: 443, addresses: ["93.184.216.34"] };
 * const res = await pinnedFetch(new Request("https://hooks.example.com/x", { method: "POST", body: "{}" }), pin);
 * console.log(res.status);
 * ```
 */
export async function pinnedFetch(
  request: Request,
  pin: PinnedHost,
  options: PinnedFetchOptions = {},
): Promise<Response> {
  const url = new URL(request.url);
  if (bare(url.hostname) !== pin.host) {
    throw new TypeError(`Pinned host '${pin.host}' does not match the URL '${request.url}'`);
  }
  let relay: Relay;
  try {
    relay = startRelay(pin, options.connect ?? defaultConnect);
  } catch (err) {
    // A platform without listening sockets: fail the attempt, never send unpinned.
    throw new Error(
      `Could not start the relay that pins the connection to '${pin.host}' (${
        err instanceof Error ? err.message : String(err)
      }); list the host in --webhook-allow-hosts to send to it unpinned`,
    );
  }
  let client: Deno.HttpClient | undefined;
  try {
    client = Deno.createHttpClient({
      ...(options.caCerts ? { caCerts: options.caCerts } : {}),
      proxy: {
        transport: "socks5",
        url: `socks5://127.0.0.1:${relay.port}`,
        basicAuth: { username: relay.username, password: relay.password },
      },
    });
    const res = await fetch(request, { client, redirect: "manual" });
    await res.body?.cancel();
    return new Response(null, { status: res.status, headers: res.headers });
  } finally {
    client?.close();
    await relay.close();
  }
}
