/** @jsxImportSource hono/jsx */
/**
 * The dashboard's history: the server's metrics are counters without
 * history, so each app keeps a small bounded ring of samples in memory (one a
 * minute at most, the last sixty), taken on the first request after a minute
 * turns. Minutes without traffic have no sample: their counts land in the
 * next one. Storage used is measured when the dashboard is drawn (a listing
 * of the blobs, bounded). Plots are server-rendered SVG, no script.
 *
 * @module
 */
import { httpRequestDuration, publishesTotal, rateLimitedTotal } from "../../core/metrics.ts";
import type { BundleStorage } from "../../storage/types.ts";

/** One sample of the process's counters (cumulative) and storage. */
export interface MetricsSample {
  /** When (ms since the epoch). */
  at: number;
  /** Requests answered. */
  requests: number;
  /** Publishes that created a version. */
  publishes: number;
  /** Requests answered with a 5xx. */
  errors: number;
  /** Requests refused by a rate limiter. */
  rateLimited: number;
  /** Blob bytes stored, when measured in this minute. */
  storageBytes?: number;
}

/** The counters now, as cumulative totals over every series. */
function readCounters(at: number): MetricsSample {
  return {
    at,
    requests: httpRequestDuration.total(),
    publishes: publishesTotal.total((v) => v[1] === "created"),
    errors: httpRequestDuration.total((v) => (v[2] ?? "").startsWith("5")),
    rateLimited: rateLimitedTotal.total(),
  };
}

/** A bounded ring of samples, one per `stepMs` at most. */
export class MetricsRing {
  #samples: MetricsSample[] = [];
  readonly #size: number;
  readonly #stepMs: number;

  /** Keep `size` samples (default 60), at most one per `stepMs` (default a minute). */
  constructor(size = 60, stepMs = 60_000) {
    this.#size = size;
    this.#stepMs = stepMs;
  }

  /** Take a sample when the last is a step old (cheap: call it on every request). */
  tick(now: number): void {
    const last = this.#samples.at(-1);
    if (last !== undefined && now - last.at < this.#stepMs) return;
    this.#samples.push(readCounters(now));
    if (this.#samples.length > this.#size) this.#samples.shift();
  }

  /** Record storage used in the latest sample. */
  recordStorage(now: number, bytes: number): void {
    this.tick(now);
    this.#samples.at(-1)!.storageBytes = bytes;
  }

  /** The samples, oldest first. */
  samples(): readonly MetricsSample[] {
    return this.#samples;
  }
}

/** Blob bytes stored: a listing of at most `maxPages` pages; `partial` when it stopped early. */
export async function storageUsed(
  bundles: BundleStorage,
  maxPages = 200,
): Promise<{ bytes: number; blobs: number; partial: boolean }> {
  let bytes = 0;
  let blobs = 0;
  let cursor: string | undefined;
  for (let i = 0; i < maxPages; i++) {
    const page = await bundles.list({ limit: 1000, ...(cursor ? { cursor } : {}) });
    for (const b of page.items) {
      bytes += b.size;
      blobs++;
    }
    cursor = page.cursor;
    if (cursor === undefined) return { bytes, blobs, partial: false };
  }
  return { bytes, blobs, partial: true };
}

/** Points of one series: per-interval increases of a counter, or a gauge's values. */
export function seriesOf(
  samples: readonly MetricsSample[],
  field: "requests" | "publishes" | "errors" | "rateLimited" | "storageBytes",
): { at: number; value: number }[] {
  if (field === "storageBytes") {
    return samples.flatMap((s) =>
      s.storageBytes === undefined ? [] : [{ at: s.at, value: s.storageBytes }]
    );
  }
  const out: { at: number; value: number }[] = [];
  for (let i = 1; i < samples.length; i++) {
    out.push({
      at: samples[i]!.at,
      value: Math.max(0, samples[i]![field] - samples[i - 1]![field]),
    });
  }
  return out;
}

const W = 320;
const H = 96;
const PAD = 4;

/** One series as an SVG line chart with its largest value; an empty frame without points. */
export function Plot(props: { title: string; points: { at: number; value: number }[] }) {
  const { points } = props;
  const max = Math.max(1, ...points.map((p) => p.value));
  const t0 = points[0]?.at ?? 0;
  const span = Math.max(1, (points.at(-1)?.at ?? 0) - t0);
  const xy = points.map((p) => {
    const x = points.length === 1 ? W / 2 : PAD + ((p.at - t0) / span) * (W - 2 * PAD);
    const y = H - PAD - (p.value / max) * (H - 2 * PAD);
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  });
  const label = points.length === 0
    ? `${props.title}: no samples yet`
    : `${props.title}: ${points.length} samples, latest ${points.at(-1)!.value}, largest ${max}`;
  return (
    <figure class="plot">
      <svg
        viewBox={`0 0 ${W} ${H}`}
        width={W}
        height={H}
        role="img"
        aria-label={label}
        xmlns="http://www.w3.org/2000/svg"
      >
        <rect x="0" y="0" width={W} height={H} fill="none" stroke="currentColor" opacity="0.3" />
        {xy.length > 1
          ? <polyline points={xy.join(" ")} fill="none" stroke="currentColor" stroke-width="2" />
          : ""}
        {xy.map((p) => {
          const [cx, cy] = p.split(",");
          return <circle key={p} cx={cx} cy={cy} r="2" fill="currentColor" />;
        })}
      </svg>
      <figcaption>{label}</figcaption>
    </figure>
  );
}
