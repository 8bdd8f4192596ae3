/**
 * A background loop over the store's due work (webhook deliveries, Rack
 * mirror writes): run a step, sleep until the next item is due (at most the
 * poll interval, at least 10 ms), again, until stopped.
 *
 * @module
 */

/** Options of {@linkcode startPollLoop}. */
export interface PollLoopOptions {
  /** The longest sleep between steps, ms. */
  pollMs: number;
  /** The clock the due times are read against, ms since the epoch. */
  now: () => number;
  /**
   * One round of work; answers when the next item is due (`null`: nothing
   * known, sleep the poll interval). `signal` aborts when the loop stops.
   */
  step: (signal: AbortSignal) => Promise<Date | null | undefined>;
  /** A step's failure (the loop goes on). */
  onError: (err: unknown) => void;
  /** How long `stop()` waits for the step in hand, ms (default: until it ends). */
  stopWaitMs?: number;
  /** The controller `stop()` aborts (default: the loop's own), for work set up before the loop. */
  stopping?: AbortController;
}

/** A running loop. */
export interface PollLoop {
  /** Stop: abort the step in hand, wake the sleep, wait for the loop (see `stopWaitMs`). */
  stop(): Promise<void>;
}

/**
 * Start the loop.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { startPollLoop } from "./_poll_loop.ts";
 * let rounds = 0;
 * const loop = startPollLoop({
 *   pollMs: 5,
 *   now: Date.now,
 *   step: () => Promise.resolve((rounds++, null)),
 *   onError: () => {},
 * });
 * await new Promise((r) => setTimeout(r, 50));
 * await loop.stop();
 * assert.ok(rounds >= 1);
 * ```
 */
export function startPollLoop(options: PollLoopOptions): PollLoop {
  let stopped = false;
  let wake: (() => void) | undefined;
  const stopping = options.stopping ?? new AbortController();
  const loop = (async () => {
    while (!stopped) {
      let sleep = options.pollMs;
      try {
        const due = await options.step(stopping.signal);
        if (due) sleep = Math.max(10, Math.min(options.pollMs, due.getTime() - options.now()));
      } catch (err) {
        options.onError(err);
      }
      if (stopped) break;
      await new Promise<void>((r) => {
        const t = setTimeout(r, sleep);
        wake = () => {
          clearTimeout(t);
          r();
        };
      });
    }
  })();
  return {
    async stop() {
      stopped = true;
      stopping.abort();
      wake?.();
      if (options.stopWaitMs === undefined) return await loop;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([loop, new Promise((r) => timer = setTimeout(r, options.stopWaitMs))]);
      clearTimeout(timer);
    },
  };
}
