/**
 * Reads from an upstream registry, bounded in time and memory: one deadline
 * covers the headers and the whole body, a body larger than its cap is cut
 * off at the cap (and refused), redirects are refused (an upstream that
 * redirects is not the upstream the operator named), and every fetch is
 * counted in `/metrics` and reported to an optional log. Failures are
 * `upstream_unavailable` (502) or `upstream_timeout` (504) with a message
 * naming the upstream and what it did.
 *
 * @module
 */
import { RegistryError } from "../base/errors.ts";
import { defaultRegistry, type Histogram } from "./metrics.ts";
import type { BlobInfo, BundleStorage } from "../storage/types.ts";

/** One fetch from an upstream, as the request log records it. */
export interface UpstreamFetchEvent {
  /** Which upstream (`jsr`, `ggui`). */
  upstream: string;
  /** What was read (`meta`, `version`, `file`, `api`). */
  kind: string;
  /** The upstream URL's path (no query). */
  path: string;
  /** The upstream's status, or 0 when it gave none. */
  status: number;
  /** `fetched`, `not_modified`, `not_found` or an error reason. */
  outcome: string;
  /** Milliseconds from the request to the end of the body. */
  durationMs: number;
  /** Body bytes read. */
  bytes: number;
}

/** How to reach one upstream. */
export interface UpstreamClient {
  /** Metric and log name (`jsr`). */
  name: string;
  /** Base URL with a trailing slash. */
  base: URL;
  /** Deadline of one fetch, headers and body together, in ms. */
  timeoutMs: number;
  /** The HTTP client (default the global `fetch`). */
  fetch?: typeof fetch;
  /** Receives one event per fetch. */
  onFetch?: (event: UpstreamFetchEvent) => void;
}

/** Reads from cache or upstream, by upstream, kind and result (`hit`, `miss`, `stale`, `error`…). */
export const upstreamReadsTotal = defaultRegistry.counter<"upstream" | "kind" | "result">({
  name: "registry_upstream_reads_total",
  help: "Reads of upstream packages by upstream, kind and result (hit = from the cache)",
  labelNames: ["upstream", "kind", "result"],
});
/** Failed upstream fetches by reason. */
export const upstreamErrorsTotal = defaultRegistry.counter<"upstream" | "reason">({
  name: "registry_upstream_errors_total",
  help: "Failed upstream fetches by upstream and reason",
  labelNames: ["upstream", "reason"],
});
/** Body bytes read from upstreams. */
export const upstreamBytesTotal = defaultRegistry.counter<"upstream">({
  name: "registry_upstream_bytes_total",
  help: "Body bytes read from upstreams",
  labelNames: ["upstream"],
});
/** Stale cached metadata served because the upstream could not be reached. */
export const upstreamStaleTotal = defaultRegistry.counter<"upstream">({
  name: "registry_upstream_stale_served_total",
  help: "Stale cached metadata served because the upstream failed",
  labelNames: ["upstream"],
});
/** Latency of upstream fetches. */
export const upstreamFetchDuration: Histogram<"upstream" | "kind"> = defaultRegistry.histogram({
  name: "registry_upstream_fetch_duration_seconds",
  help: "Duration of upstream fetches (headers and body) in seconds",
  labelNames: ["upstream", "kind"],
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
});

/** What a fetch answered. */
export type UpstreamAnswer =
  | { status: 200; bytes: Uint8Array; etag?: string }
  | { status: 200; blob: BlobInfo; etag?: string }
  | { status: 304 | 404 };

/** Options of {@linkcode upstreamGet}. */
export interface UpstreamGetOptions {
  /** What is read (metric label). */
  kind: string;
  /** Largest body accepted. */
  maxBytes: number;
  /** Send `If-None-Match` with this ETag. */
  etag?: string;
  /** Stream the body into blob storage (checked against `expectedSha256`) instead of memory. */
  into?: BundleStorage;
  /** The SHA-256 the body must have (with `into`). */
  expectedSha256?: string;
}

/** An upstream failure (502). */
export function upstreamUnavailable(client: UpstreamClient, what: string): RegistryError {
  return new RegistryError(
    "upstream_unavailable",
    `The ${client.name} upstream ${client.base.origin} ${what}`,
  );
}

/**
 * GET `path` (relative to the upstream's base) within the deadline and size
 * cap. A 404 is an answer; other statuses, redirects, oversize or cut-off
 * bodies and network faults throw.
 */
export async function upstreamGet(
  client: UpstreamClient,
  path: string,
  options: UpstreamGetOptions,
): Promise<UpstreamAnswer> {
  const url = new URL(path, client.base);
  const started = performance.now();
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), client.timeoutMs);
  let status = 0;
  let bytes = 0;
  const finish = (outcome: string) => {
    const ms = performance.now() - started;
    upstreamFetchDuration.observe({ upstream: client.name, kind: options.kind }, ms / 1000);
    if (bytes > 0) upstreamBytesTotal.inc({ upstream: client.name }, bytes);
    client.onFetch?.({
      upstream: client.name,
      kind: options.kind,
      path: url.pathname,
      status,
      outcome,
      durationMs: Math.round(ms * 10) / 10,
      bytes,
    });
  };
  const fail = (reason: string, err: RegistryError): never => {
    upstreamErrorsTotal.inc({ upstream: client.name, reason });
    finish(reason);
    throw err;
  };
  try {
    const headers: Record<string, string> = { accept: "application/json, */*" };
    if (options.etag) headers["if-none-match"] = options.etag;
    let res: Response;
    try {
      res = await (client.fetch ?? fetch)(url, {
        headers,
        redirect: "manual",
        signal: controller.signal,
      });
    } catch (err) {
      if (controller.signal.aborted) return fail("timeout", timedOut(client));
      return fail("network", upstreamUnavailable(client, `could not be reached (${brief(err)})`));
    }
    status = res.status;
    if (status === 304 || status === 404) {
      await res.body?.cancel();
      finish(status === 304 ? "not_modified" : "not_found");
      return { status };
    }
    if (status >= 300 && status < 400) {
      await res.body?.cancel();
      return fail("redirect", upstreamUnavailable(client, `redirected ${url.pathname}`));
    }
    if (status !== 200) {
      await res.body?.cancel();
      return fail("status", upstreamUnavailable(client, `answered ${status} for ${url.pathname}`));
    }
    const declared = Number(res.headers.get("content-length") ?? "NaN");
    const tooLarge = () =>
      upstreamUnavailable(
        client,
        `sent more than ${options.maxBytes} bytes for ${url.pathname}`,
      );
    if (Number.isFinite(declared) && declared > options.maxBytes) {
      await res.body?.cancel();
      return fail("too_large", tooLarge());
    }
    const etag = res.headers.get("etag") ?? undefined;
    const body = res.body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() });
    const counted = body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, c) {
          bytes += chunk.byteLength;
          if (bytes > options.maxBytes) throw new RangeError("over the cap");
          c.enqueue(chunk);
        },
      }),
    );
    try {
      if (options.into) {
        const blob = await options.into.put(counted, {
          maxBytes: options.maxBytes,
          ...(options.expectedSha256 ? { expectedSha256: options.expectedSha256 } : {}),
        });
        finish("fetched");
        return { status: 200, blob, ...(etag ? { etag } : {}) };
      }
      const data = new Uint8Array(await new Response(counted).arrayBuffer());
      finish("fetched");
      return { status: 200, bytes: data, ...(etag ? { etag } : {}) };
    } catch (err) {
      if (controller.signal.aborted) return fail("timeout", timedOut(client));
      if (bytes > options.maxBytes || err instanceof RangeError) {
        return fail("too_large", tooLarge());
      }
      if (err instanceof RegistryError && err.code === "digest_mismatch") {
        return fail(
          "checksum",
          upstreamUnavailable(
            client,
            `sent ${url.pathname} with bytes that do not match its checksum`,
          ),
        );
      }
      if (err instanceof RegistryError && err.code === "too_large") {
        return fail("too_large", tooLarge());
      }
      return fail("network", upstreamUnavailable(client, `broke off ${url.pathname}`));
    }
  } finally {
    clearTimeout(timer);
  }
}

function timedOut(client: UpstreamClient): RegistryError {
  return new RegistryError(
    "upstream_timeout",
    `The ${client.name} upstream ${client.base.origin} did not answer within ${client.timeoutMs} ms`,
  );
}

/** The first line of an error, short (never a stack). */
function brief(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return (text.split("\n")[0] ?? "").slice(0, 120);
}
