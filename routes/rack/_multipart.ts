// A streaming multipart/form-data reader: parts are yielded one at a time and
// their bodies are streams pulled straight from the request, so a 100 MiB
// archive is never buffered. A part's unread body is drained by `next()`.
import { rackError } from "../../core/rack/errors.ts";
import { collectBytes } from "../../storage/_common.ts";

const encoder = new TextEncoder();
const CRLF = encoder.encode("\r\n");
const HEADER_END = encoder.encode("\r\n\r\n");
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

/** The boundary parameter of a multipart Content-Type, or `null`. */
export function multipartBoundary(contentType: string | null): string | null {
  if (!contentType || !/^multipart\/form-data\s*(;|$)/i.test(contentType)) return null;
  const m = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType);
  return m?.[1] ?? m?.[2] ?? null;
}

/** Reads a multipart body part by part. */
export class MultipartReader {
  #reader: ReadableStreamDefaultReader<Uint8Array>;
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
    this.#reader = body.getReader();
    this.#delimiter = encoder.encode(`\r\n--${boundary}`);
    // A leading CRLF lets the first boundary (which has none) match the delimiter.
    this.#buf = CRLF.slice();
    this.#maxBytes = options.maxBytes;
    this.#onLimit = options.onLimit;
  }

  async #fill(): Promise<boolean> {
    if (this.#eof) return false;
    const r = await this.#reader.read();
    if (r.done) {
      this.#eof = true;
      return false;
    }
    this.#total += r.value.byteLength;
    if (this.#total > this.#maxBytes) {
      const err = this.#onLimit();
      await this.#reader.cancel(err).catch(() => {});
      throw err;
    }
    // A small chunk is copied: kept as it is, it would pin the runtime's whole read buffer.
    if (this.#buf.byteLength === 0) {
      this.#buf = r.value.byteLength * 2 < r.value.buffer.byteLength ? r.value.slice() : r.value;
    } else {
      const next = new Uint8Array(this.#buf.byteLength + r.value.byteLength);
      next.set(this.#buf);
      next.set(r.value, this.#buf.byteLength);
      this.#buf = next;
    }
    return true;
  }

  /** The next chunk of the current part's body, or `null` at its end. */
  async #bodyChunk(): Promise<Uint8Array | null> {
    while (true) {
      const i = indexOf(this.#buf, this.#delimiter);
      if (i === 0) {
        this.#buf = this.#buf.subarray(this.#delimiter.length);
        this.#state = "boundary";
        return null;
      }
      if (i > 0) {
        const chunk = this.#buf.slice(0, i);
        this.#buf = this.#buf.subarray(i);
        return chunk;
      }
      const safe = this.#buf.byteLength - (this.#delimiter.length - 1);
      if (safe > 0) {
        const chunk = this.#buf.slice(0, safe);
        this.#buf = this.#buf.subarray(safe);
        return chunk;
      }
      if (!(await this.#fill())) throw malformed("Malformed multipart body: unexpected end");
    }
  }

  /** Release the request body. */
  async cancel(reason?: unknown): Promise<void> {
    this.#state = "done";
    await this.#reader.cancel(reason).catch(() => {});
  }

  /** The next part, or `null` after the closing boundary. */
  async next(): Promise<MultipartPart | null> {
    if (this.#state === "body") {
      // Drain what the caller left unread; a stale body stream then closes.
      this.#current = undefined;
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
    const body = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        if (this.#current !== body) return controller.close();
        try {
          const chunk = await this.#bodyChunk();
          if (chunk === null) controller.close();
          else controller.enqueue(chunk);
        } catch (err) {
          controller.error(err);
        }
      },
    }, { highWaterMark: 0 });
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
