// A proxy in front of an S3 endpoint (s3rver) that records every request,
// answers 503 to the ones a test refuses (a bucket failing part-way) and keeps
// the ones it holds waiting until released (a write in flight when the
// writer is killed).

/** A running proxy. */
export interface S3Proxy {
  /** `http://127.0.0.1:<port>`: point the client here. */
  endpoint: string;
  /** Every request seen, as `METHOD /path?query`, in order. */
  seen: string[];
  /** Requests answered 503, as `METHOD /path?query`. */
  refused: string[];
  /** Refuse the requests this says so about (`undefined`: forward everything). */
  refuse: ((method: string, path: string) => boolean) | undefined;
  /** Hold the requests this says so about until `release()`, then refuse them. */
  hold: ((method: string, path: string) => boolean) | undefined;
  /** Requests held so far, as `METHOD /path?query`. */
  held: string[];
  /** Answer every held request (503) and hold no more. */
  release(): void;
  /** Stop the proxy. */
  close(): Promise<void>;
}

/** Start a proxy on a free loopback port forwarding to `upstream`. */
export function startS3Proxy(upstream: string): S3Proxy {
  const proxy: S3Proxy = {
    endpoint: "",
    seen: [],
    refused: [],
    refuse: undefined,
    hold: undefined,
    held: [],
    release: () => {
      proxy.hold = undefined;
      released();
    },
    close: () => server.shutdown(),
  };
  let released: () => void = () => {};
  const releasing = new Promise<void>((r) => released = r);
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    async (req) => {
      const url = new URL(req.url);
      const line = `${req.method} ${decodeURIComponent(url.pathname)}${url.search}`;
      proxy.seen.push(line);
      const path = decodeURIComponent(url.pathname);
      const held = proxy.hold?.(req.method, path) ?? false;
      if (held) {
        proxy.held.push(line);
        await releasing;
      }
      if (held || proxy.refuse?.(req.method, path)) {
        proxy.refused.push(line);
        await req.body?.cancel();
        return new Response(
          "<Error><Code>ServiceUnavailable</Code><Message>refused by the test</Message></Error>",
          { status: 503, headers: { "content-type": "application/xml" } },
        );
      }
      const headers = new Headers(req.headers);
      headers.delete("host");
      const res = await fetch(`${upstream}${url.pathname}${url.search}`, {
        method: req.method,
        headers,
        body: req.body,
        redirect: "manual",
        ...(req.body ? { duplex: "half" } : {}),
      } as RequestInit);
      return new Response(res.body, { status: res.status, headers: res.headers });
    },
  );
  proxy.endpoint = `http://127.0.0.1:${server.addr.port}`;
  return proxy;
}
