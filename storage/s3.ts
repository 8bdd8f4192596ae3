/**
 * Blobs in an S3-API bucket (AWS S3, Cloudflare R2, MinIO, GCS's XML API),
 * spoken over `fetch` and signed with AWS Signature V4 by `aws4fetch`: no
 * filesystem and no Node streams, so it runs on Deno Deploy as well.
 *
 * Layout under the bucket and an optional prefix:
 *
 * ```text
 * <prefix>blobs/<sha256>     one object per blob, content-addressed
 * <prefix>uploads/<random>   a large upload in progress (multipart), then copied into place
 * ```
 *
 * **Writes.** `put` hashes and counts while it reads. A blob that fits in one
 * part (`partBytes`, 5 MiB by default) is buffered, checked, and only then
 * written with one PUT to its final key. A larger one goes up as a multipart
 * upload to a temporary key under `uploads/`, part by part (one part in memory
 * at a time, in a whole-part buffer pooled for the next upload; a byte stream
 * is read straight into it); once the stream ends and its size and digest check, the upload
 * is completed, copied to `blobs/<sha256>` and the temporary object deleted. A
 * failed check, a too-large body or a fault aborts the multipart upload: a
 * wrong digest never stores anything under `blobs/`. What a crash leaves
 * (multipart uploads never completed, temporary objects never deleted) is
 * swept by {@linkcode S3BundleStorage.sweepUploads}, which GC calls. Every
 * request signs its payload's SHA-256 (never `UNSIGNED-PAYLOAD`); bodies of
 * 1 MiB and more are written from the part buffer by `directSend`, since
 * `fetch` would copy each one (see `_direct_send.ts`).
 *
 * **Reads.** A full read streams the object while hashing it and errors the
 * stream with `blob_corrupt` instead of delivering its last chunk when the
 * bytes do not match the key. A range read serves only an object whose whole
 * bytes were verified in this process, remembered by its ETag; the ranged GET
 * carries `If-Match` with that ETag and its answer's ETag is compared as well,
 * so an object replaced behind the registry's back is hashed again (and
 * refused) rather than served.
 *
 * **Faults.** Each request has a timeout; network errors, 429 and 5xx answers
 * are retried a bounded number of times with backoff (every body sent is an
 * in-memory part, so a retry resends it whole). What still fails is a
 * `RegistryError` with code `unavailable`, which every surface answers with a
 * 503 and `Retry-After`; {@linkcode S3BundleStorage.open} checks the bucket
 * first and says in one line what is wrong with it.
 *
 * @example
 * ```ts ignore
 * import { S3BundleStorage } from "./s3.ts";
 * const blobs = await S3BundleStorage.open({
 *   bucket: "registry",
 *   prefix: "bundles/",
 *   endpoint: "http://127.0.0.1:9000",
 *   accessKeyId: "minio",
 *   secretAccessKey: "minio-secret",
 * });
 * const info = await blobs.put(new TextEncoder().encode("hi"));
 * ```
 *
 * @module
 */
import { AwsClient } from "aws4fetch";
import { incrementalHash, randomHex, sha256Hex } from "../base/digest.ts";
import { RegistryError } from "../base/errors.ts";
import { isSha256, SHA256_RE } from "../base/names.ts";
import { blobCursorAfter, encodeCursor, pageLimit } from "./_common.ts";
import { type DirectSend, directSend } from "./_direct_send.ts";
import { byobReaderOf } from "./_common.ts";
import { assertRange, blobCorrupt, digestMismatch, tooLarge } from "./memory.ts";
import type {
  BlobBody,
  BlobInfo,
  BundleStorage,
  ByteRange,
  ListOptions,
  Page,
  PutBlobOptions,
} from "./types.ts";

/** S3 refuses parts below 5 MiB (except the last). */
const MIN_PART_BYTES = 5 * 1024 * 1024;
/**
 * Default size of one multipart part, and the largest blob sent with one PUT:
 * the smallest S3 accepts, since a part is held twice while it is sent (the
 * part buffer, and the copy `fetch` makes of a `Uint8Array` body).
 */
const DEFAULT_PART_BYTES = MIN_PART_BYTES;
/**
 * Bodies this large or larger (parts, big single PUTs) go out with
 * {@linkcode directSend}, written from the part buffer itself; smaller ones
 * with `fetch` (which copies them, and keeps connections alive).
 */
const DIRECT_MIN_BYTES = 1024 * 1024;
/** At most this many verified ETags are remembered per storage. */
const MAX_VERIFIED = 100_000;
const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PREFIX_RE = /^(?:[A-Za-z0-9_.-]+\/)*$/;

/** Options of {@linkcode S3BundleStorage.open}. */
export interface S3BundleStorageOptions {
  /** The bucket's name. */
  bucket: string;
  /** Key prefix inside the bucket, ending in `/` (default none). */
  prefix?: string;
  /** The endpoint URL (default `https://s3.<region>.amazonaws.com`). */
  endpoint?: string;
  /** Signing region (default `us-east-1`; R2 uses `auto`). */
  region?: string;
  /** Access key id. */
  accessKeyId: string;
  /** Secret access key. */
  secretAccessKey: string;
  /** Session token of temporary credentials. */
  sessionToken?: string;
  /** Address the bucket as `<endpoint>/<bucket>` (default) or as `<bucket>.<endpoint host>`. */
  style?: "path" | "virtual";
  /** Multipart part size, also the largest single PUT (default and least 5 MiB). */
  partBytes?: number;
  /** Attempts per request for network errors, 429 and 5xx (default 3). */
  attempts?: number;
  /** Timeout of one request attempt until its headers arrive, in ms (default 30 000). */
  timeoutMs?: number;
  /** Delay before the first retry, doubled each time, in ms (default 200). */
  retryDelayMs?: number;
  /** Dates `touchedAt` of a put (default: the system clock). */
  now?: () => Date;
  /**
   * The fetch to use (injected in fault tests): then every request goes
   * through it, large bodies too.
   */
  fetch?: typeof fetch;
}

/** A request's failure: the storage is unreachable or refusing. */
function unavailable(action: string, why: string, cause?: unknown): RegistryError {
  return new RegistryError("unavailable", `Could not ${action}: bundle storage ${why}`, {
    cause,
  });
}

/** Whether an HTTP proxy is configured in the environment (which `fetch` honours). */
function proxied(): boolean {
  try {
    return ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
      .some((name) => Deno.env.get(name));
  } catch {
    return false; // no permission to read the environment: no proxy from there either
  }
}

/** The text of a simple XML element (S3's answers are flat enough for this). */
function xmlText(xml: string, tag: string): string | undefined {
  const m = xml.match(new RegExp(`<${tag}>([^<]*)</${tag}>`));
  return m ? decodeXml(m[1]!) : undefined;
}

function xmlBlocks(xml: string, tag: string): string[] {
  return [...xml.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, "g"))].map((m) => m[1]!);
}

function decodeXml(text: string): string {
  return text.replace(
    /&(quot|amp|lt|gt|apos|#\d+);/g,
    (_, e: string) =>
      e === "quot"
        ? '"'
        : e === "amp"
        ? "&"
        : e === "lt"
        ? "<"
        : e === "gt"
        ? ">"
        : e === "apos"
        ? "'"
        : String.fromCharCode(Number(e.slice(1))),
  );
}

function escapeXml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Bytes a part buffer starts with: most blobs are small. */
const SMALL_PART_BYTES = 64 * 1024;

/**
 * Whole-part buffers kept for the next upload. A buffer that lives through an
 * upload (seconds) is old by its end, and V8 frees old buffers only at its
 * next full collection, after some tens of MiB more: a fresh 5 MiB buffer per
 * upload (grown through its doublings, 13 MiB of allocations) would pile up
 * that much. One idle buffer serves uploads that follow each other (a Rack
 * archive then its files); uploads at the same time allocate their own.
 */
class PartPool {
  #idle: Uint8Array[] = [];
  constructor(readonly partBytes: number, readonly maxIdle = 1) {}
  take(): Uint8Array {
    return this.#idle.pop() ?? new Uint8Array(this.partBytes);
  }
  give(buf: Uint8Array): void {
    if (buf.byteLength === this.partBytes && this.#idle.length < this.maxIdle) this.#idle.push(buf);
  }
}

/** A buffer of at most one part: 64 KiB at first, then a whole part's from the pool. */
class PartBuffer {
  #buf: Uint8Array;
  #size = 0;
  #pool: PartPool;
  constructor(pool: PartPool) {
    this.#pool = pool;
    this.#buf = new Uint8Array(Math.min(pool.partBytes, SMALL_PART_BYTES));
  }
  get capacity(): number {
    return this.#pool.partBytes;
  }
  get size(): number {
    return this.#size;
  }
  /** Copy in as much of `chunk` as fits; answers how many bytes were taken. */
  fill(chunk: Uint8Array): number {
    const n = Math.min(chunk.byteLength, this.capacity - this.#size);
    if (this.#size + n > this.#buf.byteLength) this.#grow();
    this.#buf.set(chunk.subarray(0, n), this.#size);
    this.#size += n;
    return n;
  }
  /** The free space, for a BYOB read to fill (then {@linkcode PartBuffer.filled}). */
  room(): Uint8Array<ArrayBuffer> {
    if (this.#size === this.#buf.byteLength) this.#grow();
    return this.#buf.subarray(this.#size) as Uint8Array<ArrayBuffer>;
  }
  /** Take what a BYOB read put into `room()`: the read handed the buffer back as `read`. */
  filled(read: Uint8Array): void {
    this.#buf = new Uint8Array(read.buffer as ArrayBuffer);
    this.#size += read.byteLength;
  }
  #grow(): void {
    const whole = this.#pool.take();
    whole.set(this.#buf.subarray(0, this.#size));
    this.#buf = whole;
  }
  /**
   * The bytes held (a copy-free view), emptying the buffer. The view stays
   * valid until the next `fill`: the buffer is reused for the next part, so
   * the caller sends a part (and waits for the answer) before filling again.
   */
  take(): Uint8Array {
    const out = this.#buf.subarray(0, this.#size);
    this.#size = 0;
    return out;
  }
  /** Hand a whole-part buffer back to the pool; the part buffer is not used after. */
  release(): void {
    this.#pool.give(this.#buf);
    this.#buf = new Uint8Array(0);
    this.#size = 0;
  }
}

/**
 * Reads of a byte stream straight into the part buffer (no chunk allocated),
 * each counted by `onBytes`; they answer an empty chunk. Once the part is
 * full, the next read goes to a side buffer and answers its bytes, for the
 * caller to send the full part (more bytes follow) and copy them in.
 */
function readInto(
  reader: ReadableStreamBYOBReader,
  part: PartBuffer,
  onBytes: (bytes: Uint8Array) => void,
): () => Promise<ReadableStreamReadResult<Uint8Array>> {
  const empty = new Uint8Array(0);
  let side = new Uint8Array(SMALL_PART_BYTES);
  return async () => {
    if (part.size === part.capacity) {
      const r = await reader.read(side);
      if (r.done) return { done: true, value: undefined };
      side = new Uint8Array(r.value.buffer as ArrayBuffer);
      return r;
    }
    const r = await reader.read(part.room());
    if (r.value === undefined) throw new TypeError("Cannot read into the part buffer");
    part.filled(r.value);
    if (r.done) return { done: true, value: undefined };
    onBytes(r.value);
    return { done: false, value: empty };
  };
}

/** A multipart upload in progress. */
interface Multipart {
  key: string;
  id: string;
  etags: string[];
}

/**
 * Blobs in an S3-API bucket. See the module documentation.
 */
export class S3BundleStorage implements BundleStorage {
  #client: AwsClient;
  #fetch: typeof fetch;
  #direct: DirectSend | undefined;
  #base: string;
  #bucket: string;
  #prefix: string;
  #parts: PartPool;
  #attempts: number;
  #timeoutMs: number;
  #retryDelayMs: number;
  #now: () => Date;
  #verified = new Map<string, string>();
  #closed = false;

  private constructor(options: S3BundleStorageOptions) {
    const region = options.region ?? "us-east-1";
    this.#client = new AwsClient({
      accessKeyId: options.accessKeyId,
      secretAccessKey: options.secretAccessKey,
      ...(options.sessionToken ? { sessionToken: options.sessionToken } : {}),
      service: "s3",
      region,
      retries: 0, // retried here, with a timeout per attempt
    });
    this.#fetch = options.fetch ?? fetch;
    // An HTTP proxy is honoured by fetch only.
    this.#direct = options.fetch || proxied() ? undefined : directSend;
    this.#bucket = options.bucket;
    this.#prefix = options.prefix ?? "";
    const endpoint = new URL(options.endpoint ?? `https://s3.${region}.amazonaws.com`);
    const origin = endpoint.origin + endpoint.pathname.replace(/\/+$/, "");
    this.#base = options.style === "virtual"
      ? `${endpoint.protocol}//${options.bucket}.${endpoint.host}${
        endpoint.pathname.replace(/\/+$/, "")
      }`
      : `${origin}/${options.bucket}`;
    this.#parts = new PartPool(options.partBytes ?? DEFAULT_PART_BYTES);
    this.#attempts = options.attempts ?? 3;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#retryDelayMs = options.retryDelayMs ?? 200;
    this.#now = options.now ?? (() => new Date());
  }

  /**
   * Check the options and the bucket (one listing of at most one key), then
   * answer the storage. A missing bucket, refused credentials or an endpoint
   * that is down or failing is an `Error` whose message says so in one line.
   */
  static async open(options: S3BundleStorageOptions): Promise<S3BundleStorage> {
    if (!BUCKET_RE.test(options.bucket)) {
      throw new RangeError(`Cannot use bucket name '${options.bucket}'`);
    }
    if (
      options.prefix !== undefined &&
      (!PREFIX_RE.test(options.prefix) || options.prefix.split("/").some((s) => /^\.\.?$/.test(s)))
    ) {
      throw new RangeError(
        `Cannot use key prefix '${options.prefix}': use letters, digits, '_', '.', '-' and a final '/'`,
      );
    }
    if (options.partBytes !== undefined && options.partBytes < MIN_PART_BYTES) {
      throw new RangeError(`Cannot use parts under ${MIN_PART_BYTES} bytes`);
    }
    if (!options.accessKeyId || !options.secretAccessKey) {
      throw new TypeError("Cannot open an S3 bucket without an access key id and secret");
    }
    const storage = new S3BundleStorage(options);
    await storage.#probe();
    return storage;
  }

  /** Where blobs live, as messages name it (`s3:bucket/prefix/ at http://…`). */
  get describe(): string {
    return `s3:${this.#bucket}/${this.#prefix} at ${this.#base}`;
  }

  async #probe(): Promise<void> {
    const where = `bucket '${this.#bucket}' at ${this.#base}`;
    let res: Response;
    try {
      res = await this.#send(
        "check the bucket",
        "GET",
        `?prefix=${this.#q(this.#prefix)}&max-keys=1`,
      );
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new Error(`Could not open ${where}: ${why}`, { cause: err });
    }
    const body = await res.text();
    if (res.ok) return;
    const code = xmlText(body, "Code") ?? `HTTP ${res.status}`;
    const reason = code === "NoSuchBucket"
      ? "the bucket does not exist"
      : res.status === 403
      ? `the credentials were refused (${code})`
      : `it answered ${res.status} ${code}`;
    throw new Error(`Could not open ${where}: ${reason}`);
  }

  #assertOpen(): void {
    if (this.#closed) throw new TypeError("Cannot use a closed S3BundleStorage");
  }

  #q(text: string): string {
    return encodeURIComponent(text);
  }

  #blobKey(sha256: string): string {
    return `${this.#prefix}blobs/${sha256}`;
  }

  #url(key: string, query = ""): string {
    return `${this.#base}/${key.split("/").map(encodeURIComponent).join("/")}${query}`;
  }

  /**
   * One signed request to `<base>/<path>`, retried on network errors, 429 and
   * 5xx with doubling delays. A last 5xx or 429 answer is returned as is (for
   * the caller to refuse); a network error or timeout on the last attempt
   * throws `unavailable`.
   */
  async #send(
    action: string,
    method: string,
    path: string,
    init: { headers?: Record<string, string>; body?: Uint8Array | string } = {},
  ): Promise<Response> {
    const url = path.startsWith("?") ? `${this.#base}${path}` : path;
    // Every payload's hash is signed (S3 refuses bytes that do not match it),
    // not UNSIGNED-PAYLOAD: parts come hashed by the caller, the rest is small.
    const headers = {
      ...init.headers,
      "x-amz-content-sha256": init.headers?.["x-amz-content-sha256"] ?? sha256Hex(init.body ?? ""),
    };
    let last: unknown;
    for (let attempt = 1; attempt <= this.#attempts; attempt++) {
      if (attempt > 1) {
        await new Promise((r) => setTimeout(r, this.#retryDelayMs * 2 ** (attempt - 2)));
      }
      try {
        const direct = this.#direct !== undefined && init.body instanceof Uint8Array &&
            init.body.byteLength >= DIRECT_MIN_BYTES
          ? this.#direct
          : undefined;
        const signed = await this.#client.sign(url, {
          method,
          headers,
          ...(init.body !== undefined && !direct ? { body: init.body as BodyInit } : {}),
        });
        // The timeout covers the wait for the answer's head only: a body may then stream for
        // as long as its reader takes (AbortSignal.timeout would cut a slow download short).
        const abort = new AbortController();
        const timer = setTimeout(
          () => abort.abort(new DOMException("timed out", "TimeoutError")),
          this.#timeoutMs,
        );
        let res: Response;
        try {
          res = direct
            ? await direct(signed.url, {
              method,
              headers: signed.headers,
              body: init.body as Uint8Array,
              signal: abort.signal,
            })
            : await this.#fetch(signed, { signal: abort.signal });
        } finally {
          clearTimeout(timer);
        }
        if ((res.status >= 500 || res.status === 429) && attempt < this.#attempts) {
          await res.body?.cancel();
          continue;
        }
        return res;
      } catch (err) {
        last = err;
      }
    }
    const timedOut = last instanceof DOMException &&
      (last.name === "TimeoutError" || last.name === "AbortError");
    throw unavailable(
      action,
      timedOut ? `did not answer within ${this.#timeoutMs} ms` : "is unreachable",
      last,
    );
  }

  /** Refuse an unexpected answer: `unavailable` (the body is read for its code, then dropped). */
  async #refuse(action: string, res: Response): Promise<never> {
    const text = await res.text().catch(() => "");
    const code = xmlText(text, "Code") ?? "";
    throw unavailable(action, `answered ${res.status}${code ? ` ${code}` : ""}`);
  }

  async put(
    body: ReadableStream<Uint8Array> | Uint8Array,
    options: PutBlobOptions = {},
  ): Promise<BlobInfo> {
    this.#assertOpen();
    const { sha256, size } = await this.#upload(body, {
      action: "store a blob",
      maxBytes: options.maxBytes ?? Number.MAX_SAFE_INTEGER,
      keyFor: (sha256) => {
        if (options.expectedSha256 !== undefined && options.expectedSha256 !== sha256) {
          throw digestMismatch(options.expectedSha256, sha256);
        }
        return this.#blobKey(sha256);
      },
    });
    return { sha256, size, touchedAt: this.#now().toISOString() };
  }

  /**
   * Stream `body` to the key `keyFor` names once the bytes are hashed: one PUT
   * when it fits in a part, else a multipart upload to a temporary key under
   * `uploads/`, completed, copied into place and deleted. `keyFor` may throw
   * (a wrong digest): nothing is stored then, and a started upload is aborted.
   */
  async #upload(
    body: ReadableStream<Uint8Array> | Uint8Array,
    options: {
      action: string;
      maxBytes: number;
      keyFor: (sha256: string) => string;
      contentType?: string;
    },
  ): Promise<{ sha256: string; size: number }> {
    const { maxBytes } = options;
    if (body instanceof Uint8Array && body.byteLength > maxBytes) throw tooLarge(maxBytes);
    const hash = incrementalHash();
    const part = new PartBuffer(this.#parts);
    const headers: Record<string, string> = options.contentType
      ? { "content-type": options.contentType }
      : {};
    let size = 0;
    let upload: Multipart | null = null;
    const flush = async () => {
      upload ??= await this.#startUpload(headers);
      await this.#uploadPart(upload, part.take());
    };
    const add = async (chunk: Uint8Array) => {
      hash.update(chunk);
      size += chunk.byteLength;
      let offset = 0;
      while (offset < chunk.byteLength) {
        offset += part.fill(chunk.subarray(offset));
        if (part.size === part.capacity && offset < chunk.byteLength) await flush();
      }
    };
    try {
      if (body instanceof Uint8Array) await add(body);
      else {
        const byob = byobReaderOf(body);
        const plain = byob ? null : body.getReader();
        const reader = byob ?? plain!;
        const read = byob
          ? readInto(byob, part, (bytes) => {
            hash.update(bytes);
            size += bytes.byteLength;
          })
          : () => plain!.read();
        try {
          while (true) {
            const { done, value } = await read();
            if (size > maxBytes || (!done && size + value.byteLength > maxBytes)) {
              await reader.cancel().catch(() => {});
              throw tooLarge(maxBytes);
            }
            if (done) break;
            if (value.byteLength === 0) continue; // read into the part buffer itself
            // A full part goes up only once more bytes follow: the last part may be a full one.
            if (part.size === part.capacity) await flush();
            await add(value);
          }
        } finally {
          reader.releaseLock();
        }
      }
      const sha256 = hash.hex();
      const key = options.keyFor(sha256);
      if (upload === null) {
        // The payload's hash is signed (S3 checks the bytes against it): here, the blob's own.
        const res = await this.#send(options.action, "PUT", this.#url(key), {
          headers: { ...headers, "x-amz-content-sha256": sha256 },
          body: part.take(),
        });
        if (!res.ok) await this.#refuse(options.action, res);
        await res.body?.cancel();
      } else {
        const done: Multipart = upload;
        upload = null;
        await this.#uploadPart(done, part.take()).catch(async (err) => {
          await this.#abort(done);
          throw err;
        });
        await this.#complete(done);
        await this.#copy(done.key, key);
        await this.#deleteKey("delete an upload", done.key);
      }
      return { sha256, size };
    } catch (err) {
      if (upload !== null) await this.#abort(upload);
      throw err;
    } finally {
      part.release();
    }
  }

  /**
   * Write an object under a key of the caller's choosing (not content-addressed,
   * outside the blob layout: Rack's R2 key layout is written with it),
   * replacing what was there. Streams as {@linkcode S3BundleStorage.put} does.
   */
  async putObject(
    key: string,
    body: ReadableStream<Uint8Array> | Uint8Array,
    options: { contentType?: string } = {},
  ): Promise<{ sha256: string; size: number }> {
    this.#assertOpen();
    return await this.#upload(body, {
      action: `write object '${key}'`,
      maxBytes: Number.MAX_SAFE_INTEGER,
      keyFor: () => key,
      ...(options.contentType ? { contentType: options.contentType } : {}),
    });
  }

  /** Read an object by key: its bytes as a stream, or `null` when absent. */
  async getObject(
    key: string,
  ): Promise<{ stream: ReadableStream<Uint8Array>; size: number; etag: string } | null> {
    this.#assertOpen();
    const action = `read object '${key}'`;
    const res = await this.#send(action, "GET", this.#url(key));
    if (res.status === 404) {
      await res.body?.cancel();
      return null;
    }
    if (!res.ok || res.body === null) await this.#refuse(action, res);
    return {
      stream: res.body!,
      size: Number(res.headers.get("content-length") ?? "0"),
      etag: res.headers.get("etag") ?? "",
    };
  }

  /** Delete an object by key (absent is no error). */
  async deleteObject(key: string): Promise<void> {
    this.#assertOpen();
    await this.#deleteKey(`delete object '${key}'`, key);
  }

  /** Every object key under `prefix`, in key order. */
  async *listObjects(prefix: string): AsyncGenerator<{ key: string; size: number }> {
    this.#assertOpen();
    for await (const item of this.#walk(prefix)) yield { key: item.key, size: item.size };
  }

  async #startUpload(headers: Record<string, string> = {}): Promise<Multipart> {
    const key = `${this.#prefix}uploads/${randomHex(16)}`;
    const res = await this.#send("start an upload", "POST", this.#url(key, "?uploads"), {
      headers,
    });
    if (!res.ok) await this.#refuse("start an upload", res);
    const id = xmlText(await res.text(), "UploadId");
    if (!id) throw unavailable("start an upload", "answered no upload id");
    return { key, id, etags: [] };
  }

  async #uploadPart(upload: Multipart, bytes: Uint8Array): Promise<void> {
    if (bytes.byteLength === 0 && upload.etags.length > 0) return;
    const n = upload.etags.length + 1;
    const res = await this.#send(
      "upload a part",
      "PUT",
      this.#url(upload.key, `?partNumber=${n}&uploadId=${this.#q(upload.id)}`),
      { headers: { "x-amz-content-sha256": sha256Hex(bytes) }, body: bytes },
    );
    if (!res.ok) await this.#refuse("upload a part", res);
    await res.body?.cancel();
    const etag = res.headers.get("etag");
    if (!etag) throw unavailable("upload a part", "answered no ETag");
    upload.etags.push(etag);
  }

  async #complete(upload: Multipart): Promise<void> {
    const parts = upload.etags.map((etag, i) =>
      `<Part><PartNumber>${i + 1}</PartNumber><ETag>${escapeXml(etag)}</ETag></Part>`
    ).join("");
    const res = await this.#send(
      "complete an upload",
      "POST",
      this.#url(upload.key, `?uploadId=${this.#q(upload.id)}`),
      { body: `<CompleteMultipartUpload>${parts}</CompleteMultipartUpload>` },
    );
    // S3 may answer 200 with an <Error> body when completing fails late.
    const text = res.ok ? await res.text() : "";
    if (!res.ok || text.includes("<Error>")) {
      await this.#abort(upload);
      if (!res.ok) await this.#refuse("complete an upload", res);
      throw unavailable("complete an upload", `failed (${xmlText(text, "Code") ?? "error"})`);
    }
  }

  /** Abort a multipart upload, best effort: what is left is swept by GC. */
  async #abort(upload: Multipart): Promise<void> {
    try {
      const res = await this.#send(
        "abort an upload",
        "DELETE",
        this.#url(upload.key, `?uploadId=${this.#q(upload.id)}`),
      );
      await res.body?.cancel();
    } catch {
      // sweepUploads aborts it later
    }
  }

  async #copy(from: string, to: string): Promise<void> {
    const res = await this.#send("store a blob", "PUT", this.#url(to), {
      headers: { "x-amz-copy-source": `/${this.#bucket}/${from}` },
    });
    const text = res.ok ? await res.text() : "";
    if (!res.ok) await this.#refuse("store a blob", res);
    if (text.includes("<Error>")) {
      throw unavailable("store a blob", `failed to copy (${xmlText(text, "Code") ?? "error"})`);
    }
  }

  async #deleteKey(action: string, key: string): Promise<void> {
    const res = await this.#send(action, "DELETE", this.#url(key));
    if (!res.ok && res.status !== 404) await this.#refuse(action, res);
    await res.body?.cancel();
  }

  /** HEAD a blob: its size, ETag and last-modified time, or `null`. */
  async #head(sha256: string): Promise<{ size: number; etag: string; modified: Date } | null> {
    const res = await this.#send("read a blob", "HEAD", this.#url(this.#blobKey(sha256)));
    await res.body?.cancel();
    if (res.status === 404) return null;
    if (!res.ok) await this.#refuse("read a blob", res);
    return {
      size: Number(res.headers.get("content-length") ?? "0"),
      etag: res.headers.get("etag") ?? "",
      modified: new Date(res.headers.get("last-modified") ?? 0),
    };
  }

  #remember(sha256: string, etag: string): void {
    this.#verified.delete(sha256);
    this.#verified.set(sha256, etag);
    if (this.#verified.size > MAX_VERIFIED) {
      this.#verified.delete(this.#verified.keys().next().value!);
    }
  }

  async get(sha256: string, range?: ByteRange): Promise<BlobBody | null> {
    this.#assertOpen();
    if (!isSha256(sha256)) return null;
    if (range === undefined) {
      const res = await this.#send("read a blob", "GET", this.#url(this.#blobKey(sha256)));
      if (res.status === 404) {
        await res.body?.cancel();
        return null;
      }
      if (!res.ok || res.body === null) await this.#refuse("read a blob", res);
      const size = Number(res.headers.get("content-length") ?? "0");
      const etag = res.headers.get("etag") ?? "";
      const stream = verifying(res.body!, {
        sha256,
        size,
        onVerified: () => this.#remember(sha256, etag),
      });
      return { size, sha256, stream };
    }
    const head = await this.#head(sha256);
    if (head === null) return null;
    assertRange(range, head.size);
    if (this.#verified.get(sha256) !== head.etag && !(await this.#verifyWhole(sha256))) {
      return { size: head.size, sha256, stream: failed(sha256) };
    }
    const etag = this.#verified.get(sha256)!;
    const res = await this.#send("read a blob", "GET", this.#url(this.#blobKey(sha256)), {
      headers: { range: `bytes=${range.start}-${range.end - 1}`, "if-match": etag },
    });
    // Replaced since it was verified (If-Match, or a server that ignores it: the ETag).
    if (res.status === 412 || (res.ok && res.headers.get("etag") !== etag)) {
      await res.body?.cancel();
      this.#verified.delete(sha256);
      return { size: head.size, sha256, stream: failed(sha256) };
    }
    if (res.status === 404) {
      await res.body?.cancel();
      return null;
    }
    if (res.status !== 206 || res.body === null) await this.#refuse("read a blob", res);
    // Some servers (s3rver for `bytes=0-0`) answer more than asked: the answer
    // must start where asked and cover the range; the extra bytes are dropped.
    const served = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.headers.get("content-range") ?? "");
    if (
      !served || Number(served[1]) !== range.start || Number(served[2]) < range.end - 1 ||
      Number(served[3]) !== head.size
    ) {
      await res.body?.cancel();
      throw unavailable("read a blob", "answered a range other than the one asked");
    }
    return { size: head.size, sha256, stream: exactly(res.body!, range.end - range.start, sha256) };
  }

  /** Hash a whole object; remember its ETag when the bytes match the key. */
  async #verifyWhole(sha256: string): Promise<boolean> {
    const res = await this.#send("read a blob", "GET", this.#url(this.#blobKey(sha256)));
    if (!res.ok || res.body === null) {
      if (res.status === 404) return false;
      await this.#refuse("read a blob", res);
    }
    const hash = incrementalHash();
    for await (const chunk of res.body!) hash.update(chunk);
    if (hash.hex() !== sha256) return false;
    this.#remember(sha256, res.headers.get("etag") ?? "");
    return true;
  }

  async stat(sha256: string): Promise<BlobInfo | null> {
    this.#assertOpen();
    if (!isSha256(sha256)) return null;
    const head = await this.#head(sha256);
    return head && { sha256, size: head.size, touchedAt: head.modified.toISOString() };
  }

  async delete(sha256: string): Promise<boolean> {
    this.#assertOpen();
    if (!isSha256(sha256)) return false;
    this.#verified.delete(sha256);
    if ((await this.#head(sha256)) === null) return false;
    await this.#deleteKey("delete a blob", this.#blobKey(sha256));
    return true;
  }

  /** One page of objects under `prefix` after `marker` (ListObjects, version 1: the widest supported). */
  async #listKeys(
    prefix: string,
    marker: string | undefined,
    max: number,
  ): Promise<{ items: { key: string; size: number; modified: string }[]; truncated: boolean }> {
    const query = `?prefix=${this.#q(prefix)}&max-keys=${max}` +
      (marker === undefined ? "" : `&marker=${this.#q(marker)}`);
    const res = await this.#send("list blobs", "GET", query);
    if (!res.ok) await this.#refuse("list blobs", res);
    const xml = await res.text();
    const items = xmlBlocks(xml, "Contents").map((c) => ({
      key: xmlText(c, "Key") ?? "",
      size: Number(xmlText(c, "Size") ?? "0"),
      modified: xmlText(c, "LastModified") ?? "",
    }));
    return { items, truncated: xmlText(xml, "IsTruncated") === "true" };
  }

  /** Every key under `prefix` after `after`, in order, until `enough` says stop. */
  async *#walk(prefix: string, after?: string) {
    let marker = after === undefined ? undefined : prefix + after;
    while (true) {
      const page = await this.#listKeys(prefix, marker, 1000);
      for (const item of page.items) yield item;
      if (!page.truncated || page.items.length === 0) return;
      marker = page.items[page.items.length - 1]!.key;
    }
  }

  async list(options?: ListOptions): Promise<Page<BlobInfo>> {
    this.#assertOpen();
    const limit = pageLimit(options);
    const reverse = options?.reverse ?? false;
    const after = blobCursorAfter(options);
    const prefix = `${this.#prefix}blobs/`;
    const found: BlobInfo[] = [];
    // S3 lists forwards only: a reverse page walks from the start (rare: export, tools).
    for await (const item of this.#walk(prefix, reverse ? undefined : after)) {
      const sha256 = item.key.slice(prefix.length);
      if (!SHA256_RE.test(sha256)) continue;
      if (reverse && after !== undefined && sha256 >= after) break;
      found.push({ sha256, size: item.size, touchedAt: new Date(item.modified).toISOString() });
      if (!reverse && found.length > limit) break;
    }
    if (reverse) found.reverse();
    const items = found.slice(0, limit);
    return found.length > limit
      ? { items, cursor: encodeCursor([items[items.length - 1]!.sha256]) }
      : { items };
  }

  /**
   * Abort multipart uploads and delete temporary objects started before
   * `olderThan` (left by a crash or an abort that failed). Answers how many
   * were removed. A server without ListMultipartUploads (501) only has its
   * temporary objects swept.
   */
  async sweepUploads(olderThan: Date): Promise<number> {
    this.#assertOpen();
    const prefix = `${this.#prefix}uploads/`;
    let swept = 0;
    const res = await this.#send("list uploads", "GET", `?uploads&prefix=${this.#q(prefix)}`);
    if (res.ok) {
      for (const u of xmlBlocks(await res.text(), "Upload")) {
        const key = xmlText(u, "Key") ?? "";
        const id = xmlText(u, "UploadId") ?? "";
        const started = Date.parse(xmlText(u, "Initiated") ?? "");
        if (!key.startsWith(prefix) || !id || !(started < olderThan.getTime())) continue;
        const aborted = await this.#send(
          "abort an upload",
          "DELETE",
          this.#url(key, `?uploadId=${this.#q(id)}`),
        );
        await aborted.body?.cancel();
        if (aborted.ok || aborted.status === 404) swept++;
      }
    } else if (res.status === 501) {
      await res.body?.cancel();
    } else await this.#refuse("list uploads", res);
    for await (const item of this.#walk(prefix)) {
      if (!(Date.parse(item.modified) < olderThan.getTime())) continue;
      await this.#deleteKey("delete an upload", item.key);
      swept++;
    }
    return swept;
  }

  /** Test hook: overwrite a stored blob's bytes behind the storage's back. */
  async tamperForTest(sha256: string, bytes: Uint8Array): Promise<void> {
    const res = await this.#send("store a blob", "PUT", this.#url(this.#blobKey(sha256)), {
      body: bytes,
    });
    await res.body?.cancel();
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }

  /** Same as {@linkcode S3BundleStorage.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** A stream that errors with `blob_corrupt` at once. */
function failed(sha256: string): ReadableStream<Uint8Array> {
  return new ReadableStream({ start: (c) => c.error(blobCorrupt(sha256)) });
}

/**
 * Pass `source` through, hashing it and holding back one chunk: at the end the
 * held chunk is delivered only if the size and digest match, otherwise the
 * stream errors with `blob_corrupt`.
 */
function verifying(
  source: ReadableStream<Uint8Array>,
  options: { sha256: string; size: number; onVerified: () => void },
): ReadableStream<Uint8Array> {
  const hash = incrementalHash();
  let held: Uint8Array | null = null;
  let seen = 0;
  return source.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        hash.update(chunk);
        seen += chunk.byteLength;
        if (held !== null) controller.enqueue(held);
        held = chunk;
      },
      flush(controller) {
        if (seen !== options.size || hash.hex() !== options.sha256) {
          controller.error(blobCorrupt(options.sha256));
          return;
        }
        options.onVerified();
        if (held !== null) controller.enqueue(held);
      },
    }),
  );
}

/** Pass exactly `length` bytes, dropping the rest; fewer is `blob_corrupt` (the object shrank). */
function exactly(
  source: ReadableStream<Uint8Array>,
  length: number,
  sha256: string,
): ReadableStream<Uint8Array> {
  let seen = 0;
  return source.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        const wanted = Math.min(chunk.byteLength, length - seen);
        seen += wanted;
        if (wanted > 0) {
          controller.enqueue(wanted === chunk.byteLength ? chunk : chunk.subarray(0, wanted));
        }
        if (seen === length) controller.terminate();
      },
      flush(controller) {
        if (seen !== length) controller.error(blobCorrupt(sha256));
      },
    }),
  );
}
