// Every request body passes through here before any surface reads it. Three
// defences against slow bodies:
// - memory: the runtime hands each read as a view into its own ~64 KiB buffer,
//   so a body sent 10 bytes at a time pins 64 KiB per 10 bytes in whatever
//   keeps its chunks. A chunk that uses under half of its buffer is copied
//   out, so what any reader keeps is proportional to the bytes received.
// - time: a body that sends nothing for `idleMs` while it is being read fails
//   with `timeout` (408 in each surface's format) and is cancelled.
// - count: each client address has at most `maxPerAddress` bodies still
//   arriving; one more is refused before it is read (429). A request made in
//   process (no peer address, "unknown") is not limited.
import { RegistryError } from "../../base/errors.ts";
import { byobReaderOf } from "../../storage/_common.ts";

/** Options of {@linkcode BodyGuard}. */
export interface BodyGuardOptions {
  /** Fail a body that sends no byte for this long while it is read (0: never). */
  idleMs: number;
  /** Bodies one address may have in flight at once (0: no limit). */
  maxPerAddress: number;
}

/** Whether a chunk wastes most of the buffer it pins (so keeping it would amplify). */
function wasteful(chunk: Uint8Array): boolean {
  return chunk.byteLength * 2 < chunk.buffer.byteLength;
}

/** The error of a body that went quiet. */
export function bodyTimeout(idleMs: number): RegistryError {
  return new RegistryError(
    "timeout",
    `Request body sent no data for ${idleMs / 1000} s; send it again faster`,
  );
}

/**
 * The body defences of one server: request bodies counted per client
 * address, each wrapped in a compacting stream with an idle timeout.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BodyGuard } from "./_body_guard.ts";
 * const guard = new BodyGuard({ idleMs: 1000, maxPerAddress: 1 });
 * const req = new Request("http://x/", { method: "POST", body: "hello" });
 * const admitted = guard.admit(req, "127.0.0.1");
 * assert.ok(admitted !== null);
 * assert.equal(guard.admit(new Request(req.url, { method: "POST", body: "x" }), "127.0.0.1"), null);
 * assert.equal(await admitted.request.text(), "hello");
 * admitted.release();
 * assert.equal(guard.pending("127.0.0.1"), 0);
 * ```
 */
export class BodyGuard {
  #idleMs: number;
  #max: number;
  #pending = new Map<string, number>();

  /** Guard bodies with these limits. */
  constructor(options: BodyGuardOptions) {
    this.#idleMs = options.idleMs;
    this.#max = options.maxPerAddress;
  }

  /** Bodies of `address` not yet finished. */
  pending(address: string): number {
    return this.#pending.get(address) ?? 0;
  }

  /**
   * Admit a request with a body: a copy whose body is guarded, and `release`
   * to call when its response is ready (the body's end releases it too).
   * `null` when `address` already has its maximum of bodies in flight.
   */
  admit(req: Request, address: string): { request: Request; release: () => void } | null {
    const held = this.pending(address);
    // "unknown": no peer (a request made in process), so no network client to limit.
    if (this.#max > 0 && held >= this.#max && address !== "unknown") return null;
    this.#pending.set(address, held + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const left = this.pending(address) - 1;
      if (left > 0) this.#pending.set(address, left);
      else this.#pending.delete(address);
    };
    const body = guardedStream(req.body!, this.#idleMs, release);
    // Not `new Request(req, …)`: that follows `req.signal`, and touching the
    // signal of a Deno.serve request makes the runtime warn about its legacy abort.
    const request = new Request(req.url, {
      method: req.method,
      headers: req.headers,
      body,
      duplex: "half",
    } as RequestInit);
    return { request, release };
  }
}

/** Bytes read from the source at a time for a reader that brings no buffer. */
const CHUNK_BYTES = 64 * 1024;

/**
 * `source` with small chunks copied out, an idle timeout, and `onEnd` once it
 * ends. A byte stream: a reader that brings its own buffer (a BYOB reader:
 * the Rack multipart reader, which reuses one) has the source read straight
 * into it, so a large upload allocates nothing per chunk on its way through.
 */
function guardedStream(
  source: ReadableStream<Uint8Array>,
  idleMs: number,
  onEnd: () => void,
): ReadableStream<Uint8Array> {
  const byob = byobReaderOf(source);
  const plain = byob ? null : source.getReader();
  const reader = byob ?? plain!;
  const fail = async (err: unknown) => {
    onEnd();
    await reader.cancel(err).catch(() => {});
  };
  return new ReadableStream({
    type: "bytes",
    async pull(controller: ReadableByteStreamController) {
      const request = controller.byobRequest;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const quiet = idleMs > 0
        ? new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(bodyTimeout(idleMs)), idleMs);
        })
        : undefined;
      try {
        const read: Promise<ReadableStreamReadResult<Uint8Array>> = byob
          ? byob.read(request?.view ? asBytes(request.view) : new Uint8Array(CHUNK_BYTES))
          : nonEmpty(plain!);
        read.catch(() => {}); // a read that loses the race must not reject unhandled
        const r = quiet ? await Promise.race([read, quiet]) : await read;
        if (r.done) {
          onEnd();
          controller.close();
          request?.respond(0);
          return;
        }
        if (request && byob) request.respondWithNewView(r.value);
        else controller.enqueue(wasteful(r.value) ? r.value.slice() : r.value);
      } catch (err) {
        await fail(err);
        controller.error(err);
      } finally {
        clearTimeout(timer);
      }
    },
    async cancel(reason) {
      await fail(reason);
    },
  });
}

/** The next chunk that is not empty (a byte stream takes no empty chunk), or the end. */
async function nonEmpty(
  reader: ReadableStreamDefaultReader<Uint8Array>,
): Promise<ReadableStreamReadResult<Uint8Array>> {
  while (true) {
    const r = await reader.read();
    if (r.done || r.value.byteLength > 0) return r;
  }
}

/** A BYOB request's view as bytes. */
function asBytes(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}
