// One HTTP/1.1 request whose body is written straight from the caller's
// buffer, over a connection of its own (TCP, or TLS for https:), closed after
// the answer. The S3 backend sends its large bodies (multipart parts, 5 MiB
// each) this way because `fetch` copies a `Uint8Array` body into a new buffer
// per request, which outlives the request's few hundred milliseconds, so V8
// frees it only at its next full collection: a 150 MiB upload left some tens
// of MiB of such copies behind at its peak. A streamed `fetch` body is not an
// option: it goes out chunked, without the Content-Length S3 requires.
//
// The answer is read whole (S3 answers a PUT with headers and at most a short
// XML body), so a `Response` over those bytes is handed back as `fetch` would.

const encoder = new TextEncoder();
/** Largest answer accepted (head and body): S3's answers to a PUT are tiny. */
const MAX_ANSWER_BYTES = 1024 * 1024;
/** Request headers this module writes itself. */
const OWN_HEADERS = new Set(["host", "content-length", "connection", "transfer-encoding"]);

/** The request: a method, headers already signed, and the bytes to send. */
export interface DirectRequest {
  /** `PUT` or `POST`. */
  method: string;
  /** Headers to send (Host, Content-Length and Connection are written here). */
  headers: Headers;
  /** The body, sent without a copy; not changed until the answer arrives. */
  body: Uint8Array;
  /** Aborts the request (closes the connection). */
  signal?: AbortSignal;
}

/** A `fetch`-like function for requests with an in-memory body. */
export type DirectSend = (url: string, request: DirectRequest) => Promise<Response>;

/** The request line and headers. */
function requestHead(url: URL, request: DirectRequest): Uint8Array {
  let head = `${request.method} ${url.pathname}${url.search} HTTP/1.1\r\n` +
    `host: ${url.host}\r\ncontent-length: ${request.body.byteLength}\r\nconnection: close\r\n`;
  for (const [name, value] of request.headers) {
    if (OWN_HEADERS.has(name)) continue;
    if (/[\r\n]/.test(name + value)) throw new TypeError(`Cannot send header '${name}'`);
    head += `${name}: ${value}\r\n`;
  }
  return encoder.encode(`${head}\r\n`);
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.byteLength;) at += await conn.write(bytes.subarray(at));
}

/** Whether `bytes` hold a whole answer by its Content-Length (else it ends when the peer closes). */
function whole(bytes: Uint8Array): boolean {
  const end = headEnd(bytes);
  if (end === -1) return false;
  const head = new TextDecoder("latin1").decode(bytes.subarray(0, end));
  if (/^HTTP\/1\.[01] 1\d\d/.test(head)) return false;
  const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
  return length !== null && !/\r\ntransfer-encoding:/i.test(head) &&
    bytes.byteLength >= end + 4 + Number(length[1]);
}

/** Where the head of an answer ends (its blank line), or -1. */
function headEnd(bytes: Uint8Array): number {
  for (let i = bytes.indexOf(0x0d); i !== -1; i = bytes.indexOf(0x0d, i + 1)) {
    if (bytes[i + 1] === 0x0a && bytes[i + 2] === 0x0d && bytes[i + 3] === 0x0a) return i;
  }
  return -1;
}

/** The peer's answer: until it is whole by its Content-Length, or the peer closes. */
async function readAnswer(conn: Deno.Conn): Promise<Uint8Array> {
  let buf = new Uint8Array(16 * 1024);
  let size = 0;
  while (!whole(buf.subarray(0, size))) {
    if (size === buf.byteLength) {
      if (size >= MAX_ANSWER_BYTES) throw new TypeError("Answer too large");
      const grown = new Uint8Array(size * 2);
      grown.set(buf);
      buf = grown;
    }
    const n = await conn.read(buf.subarray(size));
    if (n === null) break;
    size += n;
  }
  return buf.subarray(0, size);
}

/** A chunked body decoded (trailers dropped). */
function unchunk(bytes: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  const text = new TextDecoder("latin1");
  let at = 0;
  while (true) {
    const eol = bytes.indexOf(0x0a, at);
    if (eol === -1) throw new TypeError("Malformed chunked answer");
    const size = parseInt(text.decode(bytes.subarray(at, eol)).trim().split(";")[0]!, 16);
    if (!Number.isFinite(size) || size < 0) throw new TypeError("Malformed chunked answer");
    if (size === 0) break;
    parts.push(bytes.subarray(eol + 1, eol + 1 + size));
    at = eol + 1 + size + 2;
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.byteLength;
  }
  return out;
}

/** Parse a whole HTTP/1.1 answer; interim (1xx) answers are skipped. */
export function parseAnswer(bytes: Uint8Array, method: string): Response {
  const text = new TextDecoder("latin1");
  while (true) {
    const end = headEnd(bytes);
    if (end === -1) throw new TypeError("Malformed answer: no end of headers");
    const [statusLine, ...lines] = text.decode(bytes.subarray(0, end)).split("\r\n");
    const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine!);
    if (!m) throw new TypeError("Malformed answer: bad status line");
    const status = Number(m[1]);
    let body = bytes.subarray(end + 4);
    if (status < 200) {
      bytes = body;
      continue;
    }
    const headers = new Headers();
    for (const line of lines) {
      const colon = line.indexOf(":");
      if (colon > 0) headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
    const empty = method === "HEAD" || status === 204 || status === 304;
    if (headers.get("transfer-encoding")?.toLowerCase().includes("chunked")) body = unchunk(body);
    else if (headers.has("content-length")) {
      const length = Number(headers.get("content-length"));
      if (!empty && body.byteLength < length) throw new TypeError("Answer cut short");
      body = body.subarray(0, length);
    }
    return new Response(empty ? null : body.slice(), {
      status,
      statusText: m[2] ?? "",
      headers,
    });
  }
}

/** Open a connection to the URL's origin. */
function connect(url: URL): Promise<Deno.Conn> {
  const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (url.protocol === "https:") {
    return Deno.connectTls({ hostname, port: Number(url.port || 443) });
  }
  if (url.protocol === "http:") return Deno.connect({ hostname, port: Number(url.port || 80) });
  throw new TypeError(`Cannot send to '${url.protocol}' URLs`);
}

/**
 * Send one request with its body written from `request.body` as it is (no
 * copy), and answer the server's response. Network failures reject with the
 * runtime's error; an abort rejects with the signal's reason. A server that
 * answers early (a refusal) and closes while the body is still being written
 * has its answer returned all the same.
 *
 * @example
 * ```ts ignore
 * const res = await directSend("http://127.0.0.1:9000/bucket/key", {
 *   method: "PUT",
 *   headers: new Headers({ "x-amz-date": "…", authorization: "…" }),
 *   body: part,
 * });
 * ```
 */
export async function directSend(url: string, request: DirectRequest): Promise<Response> {
  const target = new URL(url);
  const head = requestHead(target, request);
  request.signal?.throwIfAborted();
  const conn = await connect(target);
  if (request.signal?.aborted) {
    conn.close();
    request.signal.throwIfAborted();
  }
  const onAbort = () => conn.close();
  request.signal?.addEventListener("abort", onAbort, { once: true });
  try {
    let writeError: unknown;
    try {
      await writeAll(conn, head);
      await writeAll(conn, request.body);
    } catch (err) {
      writeError = err;
    }
    request.signal?.throwIfAborted();
    let answer: Uint8Array;
    try {
      answer = await readAnswer(conn);
    } catch (err) {
      throw writeError ?? err;
    }
    if (writeError !== undefined && answer.byteLength === 0) throw writeError;
    return parseAnswer(answer, request.method);
  } catch (err) {
    request.signal?.throwIfAborted();
    throw err;
  } finally {
    request.signal?.removeEventListener("abort", onAbort);
    try {
      conn.close();
    } catch { /* closed by an abort */ }
  }
}
