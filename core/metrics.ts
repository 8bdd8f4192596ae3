/**
 * A small Prometheus registry: counters, gauges and histograms with labels,
 * written in the text exposition format 0.0.4.
 *
 * The operator metrics of the registry are named exports registered in
 * {@linkcode defaultRegistry}, so any surface can count what it does
 * (`publishesTotal.inc({surface: "rack", result: "created"})`) and `/metrics`
 * shows it. Like every Prometheus client, these counters are per process: each
 * instance is scraped on its own and Prometheus sums them. They are never
 * authoritative state.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MetricsRegistry } from "./metrics.ts";
 * const registry = new MetricsRegistry();
 * const hits = registry.counter({ name: "hits_total", help: "Hits.", labelNames: ["route"] });
 * hits.inc({ route: "/a" });
 * assert.ok(registry.expose().includes('hits_total{route="/a"} 1'));
 * ```
 *
 * @module
 */
import type {
  Commit,
  CommitResult,
  Entry,
  ListOptions,
  Page,
  RegistryStorage,
  RowKey,
} from "../storage/types.ts";

/** Label values of one series, by label name. */
export type Labels<L extends string> = { readonly [K in L]: string | number };

/** What every metric needs. */
export interface MetricOptions<L extends string> {
  /** The metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`). */
  name: string;
  /** One line of help text. */
  help: string;
  /** The label names, in exposition order. */
  labelNames?: readonly L[];
  /** Most series kept; further label combinations are dropped (default 2000). */
  maxSeries?: number;
}

/** Options of a histogram. */
export interface HistogramOptions<L extends string> extends MetricOptions<L> {
  /** Upper bounds, ascending; `+Inf` is implied. */
  buckets: readonly number[];
}

const METRIC_NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A metric that can write itself out. */
interface Exposable {
  readonly name: string;
  write(out: string[]): void;
}

/** Format a sample value the way Prometheus reads it. */
export function formatValue(value: number): string {
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  if (Number.isNaN(value)) return "NaN";
  return String(value);
}

/** Escape a label value: backslash, double quote and line feed. */
export function escapeLabelValue(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function escapeHelp(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

abstract class Metric<L extends string> implements Exposable {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  readonly #maxSeries: number;

  constructor(options: MetricOptions<L>) {
    if (!METRIC_NAME_RE.test(options.name)) {
      throw new TypeError(`Metric name must match ${METRIC_NAME_RE} (got '${options.name}')`);
    }
    for (const l of options.labelNames ?? []) {
      if (!LABEL_NAME_RE.test(l) || l.startsWith("__") || l === "le") {
        throw new TypeError(`Label name of '${options.name}' is not allowed (got '${l}')`);
      }
    }
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames ?? [];
    this.#maxSeries = options.maxSeries ?? 2000;
  }

  /** Ids of frozen label objects (a hot path passes the same ones again). */
  readonly #ids = new WeakMap<object, string>();

  /**
   * The series id of some labels (values in label-name order). The id of a
   * frozen labels object is worked out once: callers on a hot path keep
   * their labels frozen and pass them again.
   */
  protected id(labels: Partial<Labels<L>> | undefined): string {
    if (this.labelNames.length === 0) return "";
    const frozen = labels !== undefined && Object.isFrozen(labels);
    if (frozen) {
      const known = this.#ids.get(labels);
      if (known !== undefined) return known;
    }
    let id = "";
    for (const l of this.labelNames) id += `${labels?.[l] ?? ""}\u0000`;
    if (frozen) this.#ids.set(labels, id);
    return id;
  }

  /** Whether one more series may be added. */
  protected room(size: number): boolean {
    return size < this.#maxSeries;
  }

  /** The `{a="x",b="y"}` text of a series id, with optional extra pairs. */
  protected labelText(id: string, extra = ""): string {
    if (this.labelNames.length === 0) return extra ? `{${extra}}` : "";
    const values = id.split("\u0000");
    const pairs = this.labelNames.map((l, i) => `${l}="${escapeLabelValue(values[i] ?? "")}"`);
    if (extra) pairs.push(extra);
    return `{${pairs.join(",")}}`;
  }

  protected header(out: string[], type: string): void {
    out.push(`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${type}`);
  }

  abstract write(out: string[]): void;
}

/** A monotonically increasing count. */
export class Counter<L extends string = never> extends Metric<L> {
  #values = new Map<string, number>();

  /** Add `value` (default 1, never negative) to the series of `labels`. */
  inc(labels?: Labels<L>, value = 1): void {
    if (!(value >= 0)) {
      throw new RangeError(`Counter '${this.name}' cannot go down (got '${value}')`);
    }
    const id = this.id(labels);
    const current = this.#values.get(id);
    if (current === undefined && !this.room(this.#values.size)) return;
    this.#values.set(id, (current ?? 0) + value);
  }

  /** The current value of one series (0 when never counted). */
  get(labels?: Labels<L>): number {
    return this.#values.get(this.id(labels)) ?? 0;
  }

  /** The sum over every series, or over those whose label values `where` accepts. */
  total(where?: (values: readonly string[]) => boolean): number {
    let sum = 0;
    for (const [id, v] of this.#values) if (!where || where(id.split("\u0000"))) sum += v;
    return sum;
  }

  /** Write HELP, TYPE and every series. */
  write(out: string[]): void {
    this.header(out, "counter");
    for (const [id, v] of this.#values) {
      out.push(`${this.name}${this.labelText(id)} ${formatValue(v)}`);
    }
  }
}

/** A value that goes up and down; optionally read fresh at every exposition. */
export class Gauge<L extends string = never> extends Metric<L> {
  #values = new Map<string, number>();
  #collect: (() => void) | undefined;

  /** Make a gauge; `collect` runs before each exposition to set fresh values. */
  constructor(options: MetricOptions<L> & { collect?: (gauge: Gauge<L>) => void }) {
    super(options);
    const collect = options.collect;
    this.#collect = collect ? () => collect(this) : undefined;
  }

  /** Set the series of `labels` to `value`. */
  set(labels: Labels<L> | undefined, value: number): void {
    const id = this.id(labels);
    if (!this.#values.has(id) && !this.room(this.#values.size)) return;
    this.#values.set(id, value);
  }

  /** Add `value` (default 1; negative to go down). */
  inc(labels?: Labels<L>, value = 1): void {
    this.set(labels, this.get(labels) + value);
  }

  /** The current value of one series (0 when never set). */
  get(labels?: Labels<L>): number {
    return this.#values.get(this.id(labels)) ?? 0;
  }

  /** Write HELP, TYPE and every series, after collecting. */
  write(out: string[]): void {
    this.#collect?.();
    this.header(out, "gauge");
    for (const [id, v] of this.#values) {
      out.push(`${this.name}${this.labelText(id)} ${formatValue(v)}`);
    }
  }
}

interface HistogramSeries {
  counts: number[];
  sum: number;
  count: number;
}

/** Observations counted into cumulative buckets, with their sum and count. */
export class Histogram<L extends string = never> extends Metric<L> {
  /** The upper bounds, ascending, without `+Inf`. */
  readonly buckets: readonly number[];
  #series = new Map<string, HistogramSeries>();

  /** Make a histogram over `buckets` (ascending, finite). */
  constructor(options: HistogramOptions<L>) {
    super(options);
    const b = options.buckets;
    if (b.length === 0 || b.some((x, i) => !Number.isFinite(x) || (i > 0 && x <= b[i - 1]!))) {
      throw new RangeError(`Buckets of '${options.name}' must be finite and ascending`);
    }
    this.buckets = [...b];
  }

  /** Record one observation in the series of `labels`. */
  observe(labels: Labels<L> | undefined, value: number): void {
    const id = this.id(labels);
    let s = this.#series.get(id);
    if (!s) {
      if (!this.room(this.#series.size)) return;
      s = { counts: new Array(this.buckets.length).fill(0), sum: 0, count: 0 };
      this.#series.set(id, s);
    }
    // Non-cumulative here; made cumulative when written.
    const buckets = this.buckets;
    for (let i = 0; i < buckets.length; i++) {
      if (value <= buckets[i]!) {
        s.counts[i]!++;
        break;
      }
    }
    s.sum += value;
    s.count++;
  }

  /** Time `fn` (seconds, monotonic clock) into the series of `labels`. */
  async time<T>(labels: Labels<L> | undefined, fn: () => Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      return await fn();
    } finally {
      this.observe(labels, (performance.now() - start) / 1000);
    }
  }

  /** How many observations one series holds. */
  count(labels?: Labels<L>): number {
    return this.#series.get(this.id(labels))?.count ?? 0;
  }

  /** Observations over every series, or over those whose label values `where` accepts. */
  total(where?: (values: readonly string[]) => boolean): number {
    let sum = 0;
    for (const [id, s] of this.#series) if (!where || where(id.split("\u0000"))) sum += s.count;
    return sum;
  }

  /** Write HELP, TYPE and, per series, `_bucket` lines up to `+Inf`, `_sum` and `_count`. */
  write(out: string[]): void {
    this.header(out, "histogram");
    for (const [id, s] of this.#series) {
      let cumulative = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        cumulative += s.counts[i]!;
        const le = `le="${formatValue(this.buckets[i]!)}"`;
        out.push(`${this.name}_bucket${this.labelText(id, le)} ${cumulative}`);
      }
      out.push(`${this.name}_bucket${this.labelText(id, 'le="+Inf"')} ${s.count}`);
      out.push(`${this.name}_sum${this.labelText(id)} ${formatValue(s.sum)}`);
      out.push(`${this.name}_count${this.labelText(id)} ${s.count}`);
    }
  }
}

/** The media type of the text exposition format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** A set of metrics exposed together. Names are unique within a registry. */
export class MetricsRegistry {
  #metrics = new Map<string, Exposable>();

  /** Register a metric made elsewhere. */
  register<M extends Exposable>(metric: M): M {
    if (this.#metrics.has(metric.name)) {
      throw new TypeError(`Metric '${metric.name}' is already registered`);
    }
    this.#metrics.set(metric.name, metric);
    return metric;
  }

  /** Make and register a counter. */
  counter<L extends string = never>(options: MetricOptions<L>): Counter<L> {
    return this.register(new Counter<L>(options));
  }

  /** Make and register a gauge. */
  gauge<L extends string = never>(
    options: MetricOptions<L> & { collect?: (gauge: Gauge<L>) => void },
  ): Gauge<L> {
    return this.register(new Gauge<L>(options));
  }

  /** Make and register a histogram. */
  histogram<L extends string = never>(options: HistogramOptions<L>): Histogram<L> {
    return this.register(new Histogram<L>(options));
  }

  /** The registered metric of that name, if any. */
  get(name: string): unknown {
    return this.#metrics.get(name);
  }

  /** Every metric in the text exposition format 0.0.4 (ends with a line feed). */
  expose(): string {
    const out: string[] = [];
    for (const m of this.#metrics.values()) m.write(out);
    return out.length === 0 ? "" : `${out.join("\n")}\n`;
  }
}

/**
 * The operator's registry: every operator metric below, private activity
 * included. `/metrics` shows it only to a scrape with the metrics token.
 */
export const defaultRegistry: MetricsRegistry = new MetricsRegistry();

/**
 * What `/metrics` shows without the metrics token: the same metric names,
 * counting only public activity (requests without credentials, and publishes
 * of public versions; see {@linkcode publicMetrics}), so that no series moves
 * when something private is published or read (docs/operations.md).
 */
export const publicRegistry: MetricsRegistry = new MetricsRegistry();

/** Buckets of `http_request_duration_seconds` (the Rack original's). */
export const HTTP_DURATION_BUCKETS: readonly number[] = [
  0.001,
  0.005,
  0.01,
  0.05,
  0.1,
  0.5,
  1,
  5,
  10,
];

/** Buckets of the storage operation latency histogram (finer: store calls are fast). */
export const STORAGE_DURATION_BUCKETS: readonly number[] = [
  0.0001,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  1,
];

/** Request latency by method, matched route pattern and status code. */
export const httpRequestDuration: Histogram<"method" | "route" | "status_code"> = defaultRegistry
  .histogram({
    name: "http_request_duration_seconds",
    help: "Duration of HTTP requests in seconds",
    labelNames: ["method", "route", "status_code"],
    buckets: HTTP_DURATION_BUCKETS,
  });

/** Response body bytes served, by matched route pattern. */
export const httpResponseBytes: Counter<"route"> = defaultRegistry.counter({
  name: "http_response_bytes_total",
  help: "Response body bytes sent, by route pattern",
  labelNames: ["route"],
});

/** Publishes by surface (`ggui`, `rack`, …) and result (`created` or an error code). */
export const publishesTotal: Counter<"surface" | "result"> = defaultRegistry.counter({
  name: "registry_publishes_total",
  help: "Publish attempts by surface and result (created or an error code)",
  labelNames: ["surface", "result"],
});

/** Publishes refused because the version already existed (or lost a race). */
export const versionConflictsTotal: Counter<"surface"> = defaultRegistry.counter({
  name: "registry_version_conflicts_total",
  help: "Publishes refused because the version already exists",
  labelNames: ["surface"],
});

/** Requests answered 429, by limiter name. */
export const rateLimitedTotal: Counter<"limiter"> = defaultRegistry.counter({
  name: "registry_rate_limited_total",
  help: "Requests refused by a rate limiter",
  labelNames: ["limiter"],
});

/** Request-log lines dropped because stdout could not keep up (the log's queue was full). */
export const logLinesDroppedTotal: Counter<never> = defaultRegistry.counter({
  name: "registry_log_lines_dropped_total",
  help: "Request-log lines dropped because stdout could not keep up",
  labelNames: [],
});

/** Failed authentications by surface and reason (`missing`, `invalid`, `expired`, `forbidden`…). */
export const authFailuresTotal: Counter<"surface" | "reason"> = defaultRegistry.counter({
  name: "registry_auth_failures_total",
  help: "Failed authentications by surface and reason",
  labelNames: ["surface", "reason"],
});

/** Webhook delivery attempts by result (`delivered`, `retry`, `dead`, `refused`). */
export const webhookDeliveriesTotal: Counter<"result"> = defaultRegistry.counter({
  name: "registry_webhook_deliveries_total",
  help: "Webhook delivery attempts by result",
  labelNames: ["result"],
});

/** Rack mirror items by result: `mirrored` (written and removed), `failed` (an attempt that will be retried). */
export const rackMirrorItemsTotal: Counter<"result"> = defaultRegistry.counter({
  name: "registry_rack_mirror_items_total",
  help: "Rack mirror items worked by this process, by result",
  labelNames: ["result"],
});

/** The Rack mirror's outbox as a mirror loop last read it (see {@linkcode observeRackMirrorBacklog}). */
export interface RackMirrorBacklog {
  /** Items waiting (due, leased, or waiting for a retry). */
  queued: number;
  /** Of those, items that failed at least once. */
  retrying: number;
  /** When the oldest waiting item committed, or `null` when none waits. */
  oldestCreatedAt: Date | null;
}

let rackMirrorSeen: { backlog: RackMirrorBacklog; clock: () => Date } | undefined;

/** Record the outbox a mirror loop just read; the gauges below show it at each scrape. */
export function observeRackMirrorBacklog(backlog: RackMirrorBacklog, clock: () => Date): void {
  rackMirrorSeen = { backlog, clock };
}

/** Items waiting in the Rack mirror's outbox (shared by every process on the store). */
export const rackMirrorQueued: Gauge = defaultRegistry.gauge({
  name: "registry_rack_mirror_queued_items",
  help: "Rack mirror items waiting in the outbox, as last read by this process",
  collect: (g) => {
    if (rackMirrorSeen) g.set(undefined, rackMirrorSeen.backlog.queued);
  },
});

/** Waiting items that failed at least once (the bucket refuses or is down). */
export const rackMirrorRetrying: Gauge = defaultRegistry.gauge({
  name: "registry_rack_mirror_retrying_items",
  help: "Rack mirror items waiting for a retry after a failed write",
  collect: (g) => {
    if (rackMirrorSeen) g.set(undefined, rackMirrorSeen.backlog.retrying);
  },
});

/** How far the bucket is behind the store: the age of the oldest waiting item (0 when none). */
export const rackMirrorLagSeconds: Gauge = defaultRegistry.gauge({
  name: "registry_rack_mirror_lag_seconds",
  help: "Age of the oldest Rack mirror item still waiting, in seconds (0 when caught up)",
  collect: (g) => {
    if (!rackMirrorSeen) return;
    const oldest = rackMirrorSeen.backlog.oldestCreatedAt;
    const now = rackMirrorSeen.clock().getTime();
    g.set(undefined, oldest === null ? 0 : Math.max(0, (now - oldest.getTime()) / 1000));
  },
});

/** The public-activity twins of the operator metrics, registered in {@linkcode publicRegistry}. */
export interface PublicMetrics {
  /** `http_request_duration_seconds` of requests without credentials (or marked public). */
  httpRequestDuration: Histogram<"method" | "route" | "status_code">;
  /** `http_response_bytes_total` of those requests. */
  httpResponseBytes: Counter<"route">;
  /** `registry_publishes_total` of publishes of public versions (and anonymous attempts). */
  publishesTotal: Counter<"surface" | "result">;
  /** `registry_version_conflicts_total` of those publishes. */
  versionConflictsTotal: Counter<"surface">;
  /** `registry_rate_limited_total` of requests without credentials. */
  rateLimitedTotal: Counter<"limiter">;
}

/**
 * The public-activity twins. Whoever counts into an operator metric that has
 * one counts into the twin too when the activity is public: a request without
 * credentials (it can only see what anyone sees), or one its surface marked
 * public (a publish of a public version). Failed authentications are no
 * private activity: `registry_auth_failures_total` is in both registries as it is.
 */
export const publicMetrics: PublicMetrics = {
  httpRequestDuration: publicRegistry.histogram({
    name: httpRequestDuration.name,
    help: httpRequestDuration.help,
    labelNames: httpRequestDuration.labelNames,
    buckets: HTTP_DURATION_BUCKETS,
  }),
  httpResponseBytes: publicRegistry.counter({
    name: httpResponseBytes.name,
    help: httpResponseBytes.help,
    labelNames: httpResponseBytes.labelNames,
  }),
  publishesTotal: publicRegistry.counter({
    name: publishesTotal.name,
    help: publishesTotal.help,
    labelNames: publishesTotal.labelNames,
  }),
  versionConflictsTotal: publicRegistry.counter({
    name: versionConflictsTotal.name,
    help: versionConflictsTotal.help,
    labelNames: versionConflictsTotal.labelNames,
  }),
  rateLimitedTotal: publicRegistry.counter({
    name: rateLimitedTotal.name,
    help: rateLimitedTotal.help,
    labelNames: rateLimitedTotal.labelNames,
  }),
};
publicRegistry.register(authFailuresTotal);

/** Latency of row-storage operations by operation and outcome. */
export const storageOperationDuration: Histogram<"operation" | "outcome"> = defaultRegistry
  .histogram({
    name: "registry_storage_operation_duration_seconds",
    help: "Latency of row storage operations in seconds",
    labelNames: ["operation", "outcome"],
    buckets: STORAGE_DURATION_BUCKETS,
  });

/** The metrics {@linkcode instrumentStorage} records into. */
export interface StorageMetrics {
  /** The latency histogram. */
  storageOperationDuration: Histogram<"operation" | "outcome">;
}

/**
 * Wrap row storage so every get/getMany/list/commit is timed into
 * `registry_storage_operation_duration_seconds{operation,outcome}` (outcome:
 * `ok`, `conflict` for a commit whose checks failed, `error` when it threw).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { instrumentStorage, storageOperationDuration } from "./metrics.ts";
 * import { MemoryRegistryStorage } from "../storage/memory.ts";
 * const storage = instrumentStorage(new MemoryRegistryStorage());
 * await storage.get(["a"]);
 * assert.ok(storageOperationDuration.count({ operation: "get", outcome: "ok" }) >= 1);
 * await storage.close();
 * ```
 */
export function instrumentStorage(
  storage: RegistryStorage,
  metrics: StorageMetrics = { storageOperationDuration },
): RegistryStorage {
  const h = metrics.storageOperationDuration;
  async function timed<T>(operation: string, fn: () => Promise<T>, outcome?: (r: T) => string) {
    const start = performance.now();
    let result = "error";
    try {
      const r = await fn();
      result = outcome ? outcome(r) : "ok";
      return r;
    } finally {
      h.observe({ operation, outcome: result }, (performance.now() - start) / 1000);
    }
  }
  return {
    get: <T>(key: RowKey) => timed("get", () => storage.get<T>(key)),
    getMany: <T>(keys: readonly RowKey[]) => timed("getMany", () => storage.getMany<T>(keys)),
    list: <T>(prefix: RowKey, options?: ListOptions): Promise<Page<Entry<T>>> =>
      timed("list", () => storage.list<T>(prefix, options)),
    commit: (commit: Commit): Promise<CommitResult> =>
      timed("commit", () => storage.commit(commit), (r) => (r.ok ? "ok" : "conflict")),
    close: () => storage.close(),
  };
}
