// A streaming multipart/form-data reader: parts are yielded one at a time and
// their bodies are streams pulled straight from the request, so a 100 MiB
// archive is never buffered. A part's unread body is drained by `next()`.
//
// A request body that is a byte stream is read into one reused buffer, and a
// part's body is a byte stream too: a reader that brings its own buffer (the
// S3 store fills its part buffer so) gets the bytes copied straight into it,
// and a 100 MiB upload allocates nothing per chunk on its way. Otherwise each
// chunk handed on is a copy of its own.
import { rackError } from "../../core/rack/errors.ts";
import { byobReaderOf, collectBytes } from "../../storage/_common.ts";

const encoder = new TextEncoder();
const CRLF = encoder.encode("\r\n");
const HEADER_END = encoder.encode("\r\n\r\n");
/** Bytes of the reused read buffer. */
const READ_BYTES = 64 * 1024;
/** Largest header block of one part. */
const MAX_HEADER_BYTES = 16 * 1024;

/** One part of a multipart body. */
export interface MultipartPart {
  /** The `name` of Content-Disposition. */
  name: string;
  /** The `filename` of Content-Disposition (file parts only). */
  filename?: string;
  /** The part's Content-Type, lowercased without parameters. */
  contentType?: string;
  /** The part's bytes; read or leave before calling `next()` again. */
  body: ReadableStream<Uint8Array>;
}

function malformed(message: string): Error {
  return rackError("UPLOAD_FAILED", message);
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  const first = needle[0]!;
  const last = haystack.length - needle.length;
  let i = haystack.indexOf(first, from);
  outer: while (i !== -1 && i <= last) {
    for (let j = 1; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) {
        i = haystack.indexOf(first, i + 1);
        continue outer;
      }
    }
    return i;
  }
  return -1;
}

/** `a` then `b`, in a new buffer. */
function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}

/**
 * `chunk` itself when it fills most of the buffer it views, else a copy: a
 * small view kept (queued, or held by a reader) would pin the runtime's whole
 * read buffer.
 */
function kept(chunk: Uint8Array): Uint8Array {
  return chunk.byteLength * 2 < chunk.buffer.byteLength ? chunk.slice() : chunk;
}

/** The boundary parameter of a multipart Content-Type, or `null`. */
export function multipartBoundary(contentType: string | null): string | null {
  if (!contentType || !/^multipart\/form-data\s*(;|$)/i.test(contentType)) return null;
  const m = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType);
  return m?.[1] ?? m?.[2] ?? null;
}

/** Reads a multipart body part by part. */
export class MultipartReader {
  #reader: ReadableStreamDefaultReader<Uint8Array> | null;
  #byob: ReadableStreamBYOBReader | null;
  /** The reused read buffer of a byte-stream body. */
  #scratch = new Uint8Array(READ_BYTES);
  /** What a BYOB reader of the current part could not take yet (a view of `#scratch`). */
  #pending: Uint8Array | undefined;
  #delimiter: Uint8Array;
  #buf: Uint8Array;
  #eof = false;
  #state: "preamble" | "boundary" | "body" | "done" = "preamble";
  #total = 0;
  #maxBytes: number;
  #onLimit: () => Error;
  #current: ReadableStream<Uint8Array> | undefined;

  /** Read `body` split by `boundary`, refusing more than `maxBytes` in all. */
  constructor(
    body: ReadableStream<Uint8Array>,
    boundary: string,
    options: { maxBytes: number; onLimit: () => Error },
  ) {
    this.#byob = byobReaderOf(body);
    this.#reader = this.#byob ? null : body.getReader();
    this.#delimiter = encoder.encode(`\r\n--${boundary}`);
    // A leading CRLF lets the first boundary (which has none) match the delimiter.
    this.#buf = CRLF.slice();
    this.#maxBytes = options.maxBytes;
    this.#onLimit = options.onLimit;
  }

  /** The next chunk of the request, counted against the limit; `null` at its end. */
  async #read(): Promise<Uint8Array | null> {
    if (this.#eof) return null;
    let r: ReadableStreamReadResult<Uint8Array>;
    if (this.#byob) {
      // The read reuses the buffer: what is kept of the last read must be copied out first.
      if (this.#buf.buffer === this.#scratch.buffer) this.#buf = this.#buf.slice();
      r = await this.#byob.read(this.#scratch);
      if (r.value) this.#scratch = new Uint8Array(r.value.buffer as ArrayBuffer);
    } else r = await this.#reader!.read();
    if (r.done) {
      this.#eof = true;
      return null;
    }
    this.#total += r.value.byteLength;
    if (this.#total > this.#maxBytes) {
      const err = this.#onLimit();
      await this.cancel(err);
      throw err;
    }
    return r.value;
  }

  /** Append the next chunk of the request to the buffer; `false` at its end. */
  async #fill(): Promise<boolean> {
    const chunk = await this.#read();
    if (chunk === null) return false;
    this.#buf = this.#buf.byteLength === 0 ? kept(chunk) : concat(this.#buf, chunk);
    return true;
  }

  /**
   * The next chunk of the current part's body, or `null` at its end. The body
   * is handed on as views of the request's chunks, not copies: a 100 MiB
   * upload would otherwise allocate (and leave for the garbage collector) its
   * size again at each copy. Only a short tail that might begin a delimiter is
   * held back and joined with the next chunk, and only that seam is copied.
   */
  async #bodyChunk(): Promise<Uint8Array | null> {
    const seam = this.#delimiter.length - 1;
    while (true) {
      const i = indexOf(this.#buf, this.#delimiter);
      if (i === 0) {
        this.#buf = this.#buf.subarray(this.#delimiter.length);
        this.#state = "boundary";
        return null;
      }
      const end = i > 0 ? i : this.#buf.byteLength - seam;
      if (end > 0) {
        const chunk = kept(this.#buf.subarray(0, end));
        this.#buf = this.#buf.subarray(end);
        return chunk;
      }
      // What is left is shorter than a delimiter: look at the seam with the next chunk.
      const next = await this.#read();
      if (next === null) throw malformed("Malformed multipart body: unexpected end");
      const tail = this.#buf;
      const joined = concat(tail, next.subarray(0, seam));
      const at = indexOf(joined, this.#delimiter);
      if (next.byteLength <= seam || (at !== -1 && at < tail.byteLength)) {
        // A delimiter starts in the tail (or the chunk is tiny): join them whole.
        this.#buf = concat(tail, next);
        continue;
      }
      // No delimiter starts in the tail: it is body, and the chunk is taken as it is.
      this.#buf = kept(next);
      if (tail.byteLength > 0) return tail.slice();
    }
  }

  /**
   * The current part's body: a byte stream. A BYOB reader gets the bytes
   * copied into its buffer; any other reader gets a copy of each chunk (the
   * parser's chunks are views of the request's, or of a reused buffer).
   */
  #partBody(): ReadableStream<Uint8Array> {
    const body: ReadableStream<Uint8Array> = new ReadableStream({
      type: "bytes",
      pull: async (controller: ReadableByteStreamController) => {
        const request = controller.byobRequest;
        try {
          const chunk = this.#current !== body ? null : this.#pending ?? await this.#bodyChunk();
          this.#pending = undefined;
          if (chunk === null) {
            controller.close();
            request?.respond(0);
          } else if (request?.view) {
            const view = request.view;
            const n = Math.min(view.byteLength, chunk.byteLength);
            new Uint8Array(view.buffer, view.byteOffset, n).set(chunk.subarray(0, n));
            if (n < chunk.byteLength) this.#pending = chunk.subarray(n);
            request.respond(n);
          } else controller.enqueue(chunk.slice()); // enqueue takes the buffer away: a copy
        } catch (err) {
          controller.error(err);
        }
      },
    });
    return body;
  }

  /** Release the request body. */
  async cancel(reason?: unknown): Promise<void> {
    this.#state = "done";
    await (this.#byob ?? this.#reader!).cancel(reason).catch(() => {});
  }

  /** The next part, or `null` after the closing boundary. */
  async next(): Promise<MultipartPart | null> {
    if (this.#state === "body") {
      // Drain what the caller left unread; a stale body stream then closes.
      this.#current = undefined;
      this.#pending = undefined;
      while (this.#state === "body") await this.#bodyChunk();
    }
    if (this.#state === "preamble") {
      while (this.#state === "preamble") await this.#bodyChunk();
    }
    if (this.#state === "done") return null;
    // After a delimiter: "--" closes the body, else optional padding then CRLF.
    while (this.#buf.byteLength < 2) {
      if (!(await this.#fill())) throw malformed("Malformed multipart body: unexpected end");
    }
    if (this.#buf[0] === 0x2d && this.#buf[1] === 0x2d) {
      this.#state = "done";
      return null;
    }
    let eol: number;
    while ((eol = indexOf(this.#buf, CRLF)) === -1) {
      if (this.#buf.byteLength > 256) {
        throw malformed("Malformed multipart body: bad boundary line");
      }
      if (!(await this.#fill())) throw malformed("Malformed multipart body: unexpected end");
    }
    this.#buf = this.#buf.subarray(eol + 2);
    while (this.#buf.byteLength < 2) {
      if (!(await this.#fill())) throw malformed("Malformed multipart body: unexpected end");
    }
    let headerText = "";
    if (this.#buf[0] === 0x0d && this.#buf[1] === 0x0a) {
      this.#buf = this.#buf.subarray(2);
    } else {
      let end: number;
      while ((end = indexOf(this.#buf, HEADER_END)) === -1) {
        if (this.#buf.byteLength > MAX_HEADER_BYTES) {
          throw malformed("Malformed multipart body: part headers too large");
        }
        if (!(await this.#fill())) throw malformed("Malformed multipart body: unexpected end");
      }
      headerText = new TextDecoder().decode(this.#buf.subarray(0, end));
      this.#buf = this.#buf.subarray(end + 4);
    }
    const headers = new Map<string, string>();
    for (const line of headerText.split("\r\n")) {
      const colon = line.indexOf(":");
      if (colon > 0) {
        headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
    }
    const disposition = headers.get("content-disposition") ?? "";
    const name = /;\s*name="([^"]*)"/i.exec(disposition)?.[1] ??
      /;\s*name=([^;\s]+)/i.exec(disposition)?.[1] ?? "";
    const filename = /;\s*filename="([^"]*)"/i.exec(disposition)?.[1] ??
      /;\s*filename\*?=([^;\s]+)/i.exec(disposition)?.[1];
    const type = headers.get("content-type")?.split(";")[0]?.trim().toLowerCase();
    this.#state = "body";
    const body = this.#partBody();
    this.#current = body;
    const part: MultipartPart = { name, body };
    if (filename !== undefined) part.filename = filename;
    if (type) part.contentType = type;
    return part;
  }
}

/** Read a small text part, refusing more than `max` bytes. */
export async function readTextPart(part: MultipartPart, max: number): Promise<string> {
  const bytes = await collectBytes(
    part.body,
    max,
    () => malformed(`Form field '${part.name}' is too large`),
  );
  return new TextDecoder().decode(bytes);
}
