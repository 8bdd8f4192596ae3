// A proxy in front of an S3 endpoint (s3rver) that records every request and
// answers 503 to the ones a test refuses: a bucket failing part-way.

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
    close: () => server.shutdown(),
  };
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    async (req) => {
      const url = new URL(req.url);
      const line = `${req.method} ${decodeURIComponent(url.pathname)}${url.search}`;
      proxy.seen.push(line);
      if (proxy.refuse?.(req.method, decodeURIComponent(url.pathname))) {
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
