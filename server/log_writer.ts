/**
 * A buffered line writer for the request log: one JSON line per request,
 * collected in memory and written to the sink in batches, off the response
 * path.
 *
 * - A line is only queued when a request is answered; batches go out every
 *   ~100 ms, or soon after ~64 KiB are waiting, from a timer, never from the
 *   request that queued them. A synchronous write to stdout per request cost
 *   about 30 % of the server's throughput (docs/bench.md).
 * - The default sink writes asynchronously (`Deno.stdout.write`), one batch
 *   at a time: a slow reader of stdout (a full pipe, a stalled log shipper)
 *   delays the log, never a response.
 * - The queue is bounded (default 8 MiB). When stdout cannot keep up and the
 *   queue is full, new lines are dropped and counted
 *   (`onDrop`; the server exports `registry_log_lines_dropped_total`):
 *   answering requests matters more than logging them, and an unbounded queue
 *   would turn a stalled pipe into unbounded memory.
 * - On a graceful stop the server awaits {@linkcode LineWriter.close}, which
 *   writes whatever is queued; on `unload` (e.g. `Deno.exit`) what is queued
 *   is written synchronously as a last resort.
 *
 * @module
 */

/** Options of {@linkcode bufferedLineWriter}. */
export interface LineWriterOptions {
  /**
   * Write some bytes, answering how many were written, at once or as a
   * promise (default: `Deno.stdout.write`, asynchronous).
   */
  sink?: (bytes: Uint8Array) => number | Promise<number>;
  /** Synchronous sink used only on `unload`, when nothing can be awaited (default: stdout). */
  syncSink?: (bytes: Uint8Array) => number;
  /** Longest time a line waits in memory, in ms (default 100). */
  intervalMs?: number;
  /** Write soon (on the next turn) when this many bytes (about: UTF-16 code units) are waiting (default 64 KiB). */
  maxBytes?: number;
  /** Most bytes (about) queued while the sink is slow; later lines are dropped (default 8 MiB). */
  maxQueuedBytes?: number;
  /** Called once per dropped line. */
  onDrop?: () => void;
}

/** A writer of whole lines; see {@linkcode bufferedLineWriter}. */
export interface LineWriter {
  /** Queue one line (without its newline). Never blocks, never throws. */
  write(line: string): void;
  /** Write every queued line; resolves when the sink has taken them. */
  flush(): Promise<void>;
  /** Flush, stop the timer and resolve when everything queued is written. */
  close(): Promise<void>;
  /** Lines dropped because the queue was full. */
  readonly dropped: number;
}

const encoder = new TextEncoder();

/**
 * A line writer that batches lines into few writes, off the response path.
 *
 * @example Collect lines in memory
 * ```ts
 * import assert from "node:assert/strict";
 * import { bufferedLineWriter } from "./log_writer.ts";
 * const chunks: string[] = [];
 * const out = bufferedLineWriter({
 *   sink: (bytes) => (chunks.push(new TextDecoder().decode(bytes)), bytes.byteLength),
 * });
 * out.write('{"a":1}');
 * out.write('{"b":2}');
 * assert.equal(chunks.length, 0);
 * await out.close();
 * assert.deepEqual(chunks, ['{"a":1}\n{"b":2}\n']);
 * ```
 */
export function bufferedLineWriter(options: LineWriterOptions = {}): LineWriter {
  const sink = options.sink ?? ((bytes: Uint8Array) => Deno.stdout.write(bytes));
  const syncSink = options.syncSink ?? ((bytes: Uint8Array) => Deno.stdout.writeSync(bytes));
  const intervalMs = options.intervalMs ?? 100;
  const maxBytes = options.maxBytes ?? 64 * 1024;
  const maxQueued = options.maxQueuedBytes ?? 8 * 1024 * 1024;
  let lines: string[] = [];
  let size = 0;
  let dropped = 0;
  let timer: number | undefined;
  /** The timer set runs on the next turn (no need to set it again). */
  let soon = false;
  /** The batch being written, if any: one at a time keeps lines in order. */
  let writing: Promise<void> | undefined;
  let closed = false;

  function take(): Uint8Array | null {
    if (lines.length === 0) return null;
    const text = lines.join("\n") + "\n";
    lines = [];
    size = 0;
    return encoder.encode(text);
  }

  async function writeAll(bytes: Uint8Array): Promise<void> {
    while (bytes.byteLength > 0) {
      const n = await sink(bytes);
      if (!(n > 0)) break;
      bytes = bytes.subarray(n);
    }
  }

  /** Write batches until the queue is empty; a broken sink drops its batch, never the process. */
  async function drain(): Promise<void> {
    for (let bytes = take(); bytes !== null; bytes = take()) {
      try {
        await writeAll(bytes);
      } catch {
        // dropped with the sink's fault
      }
    }
  }

  function pump(): Promise<void> {
    if (writing) return writing;
    // `.finally` runs on a later turn even when drain() finished at once.
    const run: Promise<void> = drain().finally(() => {
      if (writing !== run) return;
      writing = undefined;
      // Lines queued while the last batch was finishing wait for no other request.
      if (lines.length > 0) schedule(closed || size >= maxBytes ? 0 : intervalMs);
    });
    writing = run;
    return run;
  }

  function schedule(delay: number): void {
    if (timer !== undefined) {
      // A timer is set already: a sooner one replaces a later one, once.
      if (delay > 0 || soon) return;
      clearTimeout(timer);
    }
    soon = delay === 0;
    const id = setTimeout(() => {
      timer = undefined;
      soon = false;
      pump();
    }, delay) as unknown as number;
    timer = id;
    // A queued line never keeps the process alive; close and unload write it.
    Deno.unrefTimer(id);
  }

  function onUnload(): void {
    const bytes = take();
    if (bytes === null) return;
    try {
      let rest = bytes;
      while (rest.byteLength > 0) {
        const n = syncSink(rest);
        if (!(n > 0)) break;
        rest = rest.subarray(n);
      }
    } catch {
      // the process is going away
    }
  }
  globalThis.addEventListener("unload", onUnload);

  return {
    write(line: string): void {
      if (size + line.length + 1 > maxQueued) {
        dropped++;
        try {
          options.onDrop?.();
        } catch {
          // a counter must never break a response
        }
        return;
      }
      lines.push(line);
      size += line.length + 1;
      if (closed) pump();
      // While a batch is being written its end schedules the next: a line
      // then costs no timer (at thousands of lines a second, timers were
      // most of the log's cost).
      else if (writing === undefined) schedule(size >= maxBytes ? 0 : intervalMs);
    },
    flush: pump,
    async close(): Promise<void> {
      closed = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      // The batch under way, then whatever was queued behind it.
      await pump();
      await pump();
      globalThis.removeEventListener("unload", onUnload);
    },
    get dropped() {
      return dropped;
    },
  };
}
