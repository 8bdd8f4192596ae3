// A proxy in front of an S3 endpoint (s3rver) that records every request,
// answers 503 to the ones a test refuses (a bucket failing part-way) and keeps
// the ones it holds waiting until released (a write in flight when the
// writer is killed).

import { sha256Hex } from "../base/digest.ts";

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
  /**
   * Record each PUT's body hash beside the one it declares (x-amz-content-sha256)
   * and its Content-Length, buffering the body (default off).
   */
  checkPayloads: boolean;
  /** What `checkPayloads` recorded. */
  payloads: { line: string; declared: string | null; actual: string; length: string | null }[];
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
    checkPayloads: false,
    payloads: [],
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
      let body: BodyInit | null = req.body;
      if (proxy.checkPayloads && req.method === "PUT" && req.body) {
        const bytes = new Uint8Array(await req.arrayBuffer());
        proxy.payloads.push({
          line,
          declared: req.headers.get("x-amz-content-sha256"),
          actual: sha256Hex(bytes),
          length: req.headers.get("content-length"),
        });
        body = bytes;
      }
      const res = await fetch(`${upstream}${url.pathname}${url.search}`, {
        method: req.method,
        headers,
        body,
        redirect: "manual",
        ...(body ? { duplex: "half" } : {}),
      } as RequestInit);
      return new Response(res.body, { status: res.status, headers: res.headers });
    },
  );
  proxy.endpoint = `http://127.0.0.1:${server.addr.port}`;
  return proxy;
}
