/**
 * Fixed-window rate limiting over the row seam, so every process sharing a
 * store shares the budget.
 *
 * Two modes:
 *
 * - `shared`: every hit is a compare-and-set increment of the shared counter
 *   row. Exact across processes. Concurrent hits on one key in one process are
 *   folded into a single commit (the batch is admitted in order), so a burst
 *   costs one round trip per batch rather than one contended CAS per request.
 *   Use it for the strict budgets (uploads, publishes, failed authentications).
 * - `local`: hits are counted in process and the delta is folded into the
 *   shared counter at most every `flushIntervalMs` (opportunistically, on a
 *   hit; no timers). Decisions use the last shared value seen plus the local
 *   delta, so N instances over-admit by at most N × (rate × flush interval).
 *   Use it for the general per-IP budget, where a store round trip per request
 *   would cost more than the limit is worth.
 *
 * Window rows are `["rate", limiter, window, client]`; the first write of a
 * window deletes the same client's previous window row in the same commit,
 * and {@linkcode RateLimiter.sweep} deletes rows of windows that are over.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RateLimiter } from "./rate_limit.ts";
 * import { MemoryRegistryStorage } from "../storage/memory.ts";
 * const storage = new MemoryRegistryStorage();
 * const limiter = new RateLimiter({ storage, clock: () => new Date(0) }, {
 *   name: "ip",
 *   limit: 2,
 *   mode: "shared",
 * });
 * assert.ok((await limiter.hit("1.2.3.4")).allowed);
 * assert.ok((await limiter.hit("1.2.3.4")).allowed);
 * assert.ok(!(await limiter.hit("1.2.3.4")).allowed);
 * await storage.close();
 * ```
 *
 * @module
 */
import type { Clock } from "./context.ts";
import { sha256Hex } from "../base/digest.ts";
import { updateRow } from "./store.ts";
import * as keys from "../storage/keys.ts";
import type { Mutation, RegistryStorage } from "../storage/types.ts";

/** How a limiter counts: exact shared counters, or local counts folded in periodically. */
export type RateLimitMode = "shared" | "local";

/** Options of a {@linkcode RateLimiter}. */
export interface RateLimiterOptions {
  /** The limiter's name: part of its row keys and of the `RateLimit-Policy` header. */
  name: string;
  /** Requests admitted per window per client (default 1200). */
  limit?: number;
  /** Window length in seconds (default 60). */
  windowSeconds?: number;
  /** `shared` (exact, one commit per hit) or `local` (default; folded in periodically). */
  mode?: RateLimitMode;
  /** Local mode: fold the local delta into the shared counter at most this often (default 250 ms). */
  flushIntervalMs?: number;
  /** Local mode: most clients tracked in process before the oldest are flushed and forgotten (default 50 000). */
  maxTrackedClients?: number;
  /** Called with every store fault of a background flush or sweep (they never fail a request). */
  onError?: (error: unknown) => void;
}

/** The decision for one hit. */
export interface RateLimitResult {
  /** Whether the request may proceed. */
  allowed: boolean;
  /** The limit per window. */
  limit: number;
  /** Requests left in this window after this one (0 when refused). */
  remaining: number;
  /** Whole seconds until the window resets (at least 1). */
  resetSeconds: number;
  /** When the window resets, as Unix seconds. */
  resetAt: number;
  /** The window length in seconds. */
  windowSeconds: number;
}

/** The dependencies of a limiter: the row seam and a clock. */
export interface RateLimiterContext {
  /** Where the shared counters live. */
  storage: RegistryStorage;
  /** The current time. */
  clock: Clock;
}

/** A counter row's value. */
interface CounterRow {
  count: number;
}

/** Local-mode state of one client in the current window. */
interface LocalState {
  window: number;
  /** The shared count as last read back (includes our flushed hits). */
  shared: number;
  /** Hits admitted here and not yet sent. */
  pending: number;
  /** Hits sent in the flush under way. */
  inflight: number;
  lastFlush: number;
}

/** Shared-mode hits waiting for the commit under way on their key. */
interface Batch {
  window: number;
  waiters: ((admittedBefore: number | null) => void)[];
}

const NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * A fixed-window limiter over the row seam. See the module doc for the modes.
 */
export class RateLimiter {
  /** The limiter's name. */
  readonly name: string;
  /** Requests per window. */
  readonly limit: number;
  /** Window length in seconds. */
  readonly windowSeconds: number;
  /** The counting mode. */
  readonly mode: RateLimitMode;
  #storage: RegistryStorage;
  #clock: Clock;
  #flushMs: number;
  #maxTracked: number;
  #onError: (error: unknown) => void;
  #local = new Map<string, LocalState>();
  #queues = new Map<string, Batch>();
  #running = new Set<Promise<unknown>>();
  #sweptWindow = -1;

  /** Make a limiter over `ctx.storage`, timed by `ctx.clock`. */
  constructor(ctx: RateLimiterContext, options: RateLimiterOptions) {
    if (!NAME_RE.test(options.name)) {
      throw new TypeError(`Rate limiter name must match ${NAME_RE} (got '${options.name}')`);
    }
    const limit = options.limit ?? 1200;
    const windowSeconds = options.windowSeconds ?? 60;
    if (!Number.isInteger(limit) || limit < 1) {
      throw new RangeError(`Rate limit must be a positive integer (got '${limit}')`);
    }
    if (!Number.isInteger(windowSeconds) || windowSeconds < 1) {
      throw new RangeError(
        `Rate window must be a positive whole number of seconds (got '${windowSeconds}')`,
      );
    }
    this.name = options.name;
    this.limit = limit;
    this.windowSeconds = windowSeconds;
    this.mode = options.mode ?? "local";
    this.#storage = ctx.storage;
    this.#clock = ctx.clock;
    this.#flushMs = options.flushIntervalMs ?? 250;
    this.#maxTracked = options.maxTrackedClients ?? 50_000;
    this.#onError = options.onError ?? (() => {});
  }

  /** Count one request of `client` and decide whether it may proceed. */
  hit(client: string): Promise<RateLimitResult> {
    const now = this.#clock().getTime();
    const window = this.#windowOf(now);
    this.#maybeSweep(window);
    const id = clientId(client);
    return this.mode === "shared"
      ? this.#hitShared(id, window, now)
      : Promise.resolve(this.#hitLocal(id, window, now));
  }

  /**
   * Local mode only: {@linkcode hit} without a promise, for hot paths that
   * must not await (the decision never waits for the store in local mode).
   */
  hitNow(client: string): RateLimitResult {
    if (this.mode !== "local") throw new TypeError("Cannot hitNow() a shared-mode limiter");
    const now = this.#clock().getTime();
    const window = this.#windowOf(now);
    this.#maybeSweep(window);
    return this.#hitLocal(clientId(client), window, now);
  }

  /** Local mode only: {@linkcode peek} without a promise. */
  peekNow(client: string): RateLimitResult {
    if (this.mode !== "local") throw new TypeError("Cannot peekNow() a shared-mode limiter");
    const now = this.#clock().getTime();
    const window = this.#windowOf(now);
    const state = this.#local.get(clientId(client));
    const used = state && state.window === window
      ? state.shared + state.inflight + state.pending
      : 0;
    return this.#result(used < this.limit, Math.max(0, this.limit - used - 1), window, now);
  }

  /**
   * Decide without counting: whether one more request of `client` would be
   * admitted now. For budgets that count only some outcomes (failed
   * authentications): peek before, {@linkcode hit} after a failure.
   */
  async peek(client: string): Promise<RateLimitResult> {
    const now = this.#clock().getTime();
    const window = this.#windowOf(now);
    const id = clientId(client);
    let used: number;
    if (this.mode === "local") {
      // Local mode never reads the store on the request path: a client with no
      // local state this window has used nothing here, and what other
      // processes counted arrives with this process's next fold.
      const state = this.#local.get(id);
      used = state && state.window === window ? state.shared + state.inflight + state.pending : 0;
    } else {
      const row = await this.#storage.get<CounterRow>(this.#key(window, id));
      used = row?.value.count ?? 0;
    }
    return this.#result(used < this.limit, Math.max(0, this.limit - used - 1), window, now);
  }

  /** Local mode: send every pending delta now and wait for all background work. */
  async flush(): Promise<void> {
    const now = this.#clock().getTime();
    for (const [id, state] of this.#local) {
      if (state.pending > 0 && state.inflight === 0) this.#flush(id, state, now);
    }
    await this.settled();
  }

  /** Wait until every background flush and sweep under way has finished. */
  async settled(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }

  /**
   * Delete the counter rows of windows that are over (at most `max` rows).
   * Runs by itself at most once per window per process; exposed for tests and
   * maintenance. Answers how many rows it deleted.
   */
  async sweep(max = 1000): Promise<number> {
    const current = this.#windowOf(this.#clock().getTime());
    const page = await this.#storage.list<CounterRow>(keys.rateCountersPrefix(this.name), {
      limit: Math.min(1000, max),
    });
    const stale = page.items.filter((e) => Number(e.key[2]) < current);
    if (stale.length === 0) return 0;
    await this.#storage.commit({
      checks: [],
      mutations: stale.map((e): Mutation => ({ type: "delete", key: e.key })),
    });
    return stale.length;
  }

  /** How many clients local mode is tracking (for tests of the memory bound). */
  get trackedClients(): number {
    return this.#local.size;
  }

  #windowOf(now: number): number {
    return Math.floor(now / (this.windowSeconds * 1000));
  }

  #key(window: number, id: string) {
    return keys.rateCounterKey(this.name, String(window).padStart(15, "0"), id);
  }

  #result(allowed: boolean, remaining: number, window: number, now: number): RateLimitResult {
    const resetMs = (window + 1) * this.windowSeconds * 1000;
    return {
      allowed,
      limit: this.limit,
      remaining: allowed ? remaining : 0,
      resetSeconds: Math.max(1, Math.ceil((resetMs - now) / 1000)),
      resetAt: Math.ceil(resetMs / 1000),
      windowSeconds: this.windowSeconds,
    };
  }

  #background(p: Promise<unknown>): void {
    const tracked = p.catch((e) => this.#onError(e)).finally(() => this.#running.delete(tracked));
    this.#running.add(tracked);
  }

  #maybeSweep(window: number): void {
    if (this.#sweptWindow === window) return;
    const first = this.#sweptWindow === -1;
    this.#sweptWindow = window;
    // Forget local state of windows that are over (bounded memory).
    for (const [id, state] of this.#local) if (state.window < window) this.#local.delete(id);
    // A fresh process sweeps too: rows of a crashed predecessor must not linger.
    if (first || window > 0) this.#background(this.sweep());
  }

  /** One CAS increment of `by`, deleting the previous window's row when this one is new. */
  #increment(window: number, id: string, by: number, cap: number | null) {
    const key = this.#key(window, id);
    const previous = this.#key(window - 1, id);
    let before = 0;
    return updateRow<CounterRow>(this.#storage, key, (current) => {
      before = current?.count ?? 0;
      const add = cap === null ? by : Math.min(by, Math.max(0, cap - before));
      if (add === 0) return undefined;
      return { count: before + add };
    }, {
      extra: () => (before === 0 ? [{ type: "delete", key: previous }] : []),
    }).then((r) => ({ before, after: r.value?.count ?? before }));
  }

  #hitShared(id: string, window: number, now: number): Promise<RateLimitResult> {
    const qKey = `${window}\u0000${id}`;
    return new Promise<number | null>((resolve) => {
      const queued = this.#queues.get(qKey);
      if (queued) {
        queued.waiters.push(resolve);
        return;
      }
      const batch: Batch = { window, waiters: [resolve] };
      this.#queues.set(qKey, batch);
      // Let the hits of this tick join the batch before it commits.
      queueMicrotask(() => this.#drain(qKey, id, batch));
    }).then((position) => {
      if (position === null) return this.#result(false, 0, window, now);
      return this.#result(position < this.limit, this.limit - position - 1, window, now);
    });
  }

  #drain(qKey: string, id: string, batch: Batch): void {
    const waiters = batch.waiters;
    batch.waiters = [];
    this.#increment(batch.window, id, waiters.length, this.limit).then(
      ({ before }) => waiters.forEach((w, i) => w(before + i)),
      (error) => {
        // Fail open: a store fault must not lock every client out; report it.
        this.#onError(error);
        waiters.forEach((w) => w(0));
      },
    ).finally(() => {
      if (batch.waiters.length > 0) this.#drain(qKey, id, batch);
      else this.#queues.delete(qKey);
    });
  }

  #hitLocal(id: string, window: number, now: number): RateLimitResult {
    let state = this.#local.get(id);
    if (!state || state.window !== window) {
      state = { window, shared: 0, pending: 0, inflight: 0, lastFlush: -Infinity };
      this.#local.delete(id);
      this.#local.set(id, state);
      this.#evictOverflow();
    }
    const used = state.shared + state.inflight + state.pending;
    const allowed = used < this.limit;
    if (allowed) state.pending++;
    if (state.pending > 0 && state.inflight === 0 && now - state.lastFlush >= this.#flushMs) {
      this.#flush(id, state, now);
    }
    return this.#result(allowed, this.limit - used - 1, window, now);
  }

  #flush(id: string, state: LocalState, now: number): void {
    state.inflight = state.pending;
    state.pending = 0;
    state.lastFlush = now;
    this.#background(
      this.#increment(state.window, id, state.inflight, null).then(
        ({ after }) => {
          state.shared = after;
          state.inflight = 0;
        },
        (error) => {
          state.pending += state.inflight;
          state.inflight = 0;
          throw error;
        },
      ),
    );
  }

  #evictOverflow(): void {
    while (this.#local.size > this.#maxTracked) {
      const [id, state] = this.#local.entries().next().value as [string, LocalState];
      this.#local.delete(id);
      if (state.pending > 0 && state.inflight === 0) this.#flush(id, state, state.lastFlush);
    }
  }
}

/** A client identifier fit for a key part: short ones as they are, long ones hashed. */
function clientId(client: string): string {
  return client.length <= 128 ? client : `sha256:${sha256Hex(client)}`;
}
