// Reference servers for the load benchmark, each answering a fixed payload:
//   hono   — a bare Hono route on Deno.serve answering a fixed 300-byte JSON
//   file   — the same bytes streamed from a file on each request
//   memory — the same bytes from memory (a Uint8Array)
//   headers — JSON of <size-bytes> with the twelve headers a `/pkg` read
//             carries (type, length, cache-control, vary, ETag, three CORS,
//             three rate-limit, request id), answered the cheapest way Deno
//             allows (a frozen response cloned): what those headers alone
//             cost, with no work behind them
//   extra-headers — the 300-byte JSON from a cloned finished response with
//             content-type and <size-bytes> more headers (x-h1…, 40-byte
//             values): what each header costs a response, nothing else
//   same   — the responses captured in <file-path> (JSON: path → status,
//             headers, base64 body), each a finished response prepared once
//             and cloned per request: exactly the bytes and headers a
//             registry read sends, with no work behind them (the hot reads'
//             same-bytes reference; <size-bytes> is ignored)
// Usage: deno run -A bench/_reference.ts <hono|file|memory|headers|extra-headers|same> <size-bytes> <file-path>
import { Hono } from "hono";

const [mode = "hono", sizeText = "300", path = "/tmp/reference.bin"] = Deno.args;
// extra-headers: the argument counts headers; the body is 300 bytes.
const extraHeaders = mode === "extra-headers" ? Number(sizeText) : 0;
const size = mode === "extra-headers" ? 300 : Number(sizeText);
const body = new Uint8Array(size);
if (mode === "hono" || mode === "headers" || size === 300) {
  const json = JSON.stringify({ ok: true, pad: "x".repeat(Math.max(0, size - 22)) });
  body.set(new TextEncoder().encode(json).subarray(0, size));
} else {
  for (let i = 0; i < size; i++) body[i] = (i * 31) & 0xff;
}
if (mode !== "same") await Deno.writeFile(path, body);

const app = new Hono();
app.get("/", (c) => c.body(body, 200, { "content-type": "application/json" }));

// The floor: the same headers answered the cheapest way Deno allows (a frozen
// response cloned, the two headers that change per request appended), no Hono.
const frozen = new Response(body, { status: 200 });
for (
  const [k, v] of Object.entries({
    "content-type": "application/json",
    "cache-control": "private, no-cache",
    vary: "Authorization, Accept-Encoding",
    etag: `"${"0".repeat(64)}"`,
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "GET, POST, DELETE, OPTIONS",
    "access-control-allow-headers": "content-type, authorization",
    "content-length": String(size),
    "x-ratelimit-limit": "1200",
    "x-ratelimit-reset": "1795316460",
  })
) frozen.headers.append(k, v);
let served = 0;
function withHeaders(): Response {
  const res = frozen.clone();
  res.headers.append("x-ratelimit-remaining", String(1_000_000 - (++served % 1_000_000)));
  res.headers.append("x-request-id", crypto.randomUUID());
  return res;
}

const counted = new Response(body, { status: 200 });
counted.headers.append("content-type", "application/json");
for (let i = 1; i <= extraHeaders; i++) counted.headers.append(`x-h${i}`, "v".repeat(40));

/** The captured responses by path, each finished once. */
const same = new Map<string, Response>();
if (mode === "same") {
  const captured = JSON.parse(await Deno.readTextFile(path)) as Record<
    string,
    { status: number; headers: [string, string][]; body: string }
  >;
  for (const [at, r] of Object.entries(captured)) {
    const bytes = Uint8Array.from(atob(r.body), (ch) => ch.charCodeAt(0));
    same.set(at, new Response(bytes, { status: r.status, headers: r.headers }));
  }
}
const missing = new Response("not captured", { status: 404 });
/** The captured response of a request's path (no query in the benchmark's URLs). */
function sameBytes(req: Request): Response {
  const url = req.url;
  return (same.get(url.slice(url.indexOf("/", 8))) ?? missing).clone();
}

const handler = mode === "same"
  ? sameBytes
  : mode === "hono"
  ? app.fetch
  : mode === "headers"
  ? withHeaders
  : mode === "extra-headers"
  ? () => counted.clone()
  : mode === "memory"
  ? () => new Response(body, { headers: { "content-type": "application/octet-stream" } })
  : async () => {
    const file = await Deno.open(path);
    return new Response(file.readable, {
      headers: { "content-type": "application/octet-stream", "content-length": String(size) },
    });
  };

Deno.serve({
  port: 0,
  hostname: "127.0.0.1",
  onListen: ({ port }) => console.log(`listening on http://127.0.0.1:${port}`),
}, handler);
