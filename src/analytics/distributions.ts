import { type Grain, sumPerGrain } from "./facts.ts";

/**
 * Pure logic of the distributions (migration 0210): latencies and lags as histograms whose
 * bounds are the values rounded up to two significant digits (at most 10 % above the value), so
 * a percentile read from summed buckets equals the rounded percentile of the values themselves.
 */
export const DISTRIBUTION_METRICS = ["provider_latency", "webhook_lag"] as const;
export type DistributionMetric = (typeof DISTRIBUTION_METRICS)[number];

/** Outcome classes of a provider interaction that count as errors (no answer, or not sent at all). */
export const ERROR_OUTCOMES = new Set(["unknown", "not_sent"]);

export function isErrorOutcome(outcome: string): boolean {
  return ERROR_OUTCOMES.has(outcome.split(":")[0] ?? "");
}

/** The histogram bound of a value: itself below 100, else rounded up to two significant digits. */
export function bound(ms: number): number {
  const v = Math.max(0, Math.ceil(ms));
  if (v < 100) return v;
  const step = 10 ** (String(v).length - 2);
  return Math.ceil(v / step) * step;
}

export interface Sample {
  merchant_id: string;
  mode: string;
  metric: DistributionMetric;
  provider: string;
  operator: string;
  createdMs: number;
  valueMs: number;
  error: boolean;
}

export interface DistributionRow {
  grain: Grain;
  bucketMs: number;
  merchant_id: string;
  mode: string;
  metric: DistributionMetric;
  provider: string;
  operator: string;
  le_ms: number;
  count: bigint;
  errors: bigint;
}

export function distributionKey(r: Omit<DistributionRow, "count" | "errors">): string {
  return [
    r.grain,
    r.merchant_id,
    r.mode,
    String(r.bucketMs).padStart(15, "0"),
    r.metric,
    r.provider,
    r.operator,
    String(r.le_ms).padStart(10, "0"),
  ].join("\u0000");
}

/** Sums samples per grain, bucket, key and bound. */
export function aggregateSamples(samples: readonly Sample[]): DistributionRow[] {
  return sumPerGrain(
    samples,
    (s) =>
      `${s.merchant_id}\u0000${s.mode}\u0000${s.metric}\u0000${s.provider}\u0000${s.operator}\u0000${bound(s.valueMs)}`,
    (s) => s.createdMs,
    (s, grain, bucketMs) => ({
      grain,
      bucketMs,
      merchant_id: s.merchant_id,
      mode: s.mode,
      metric: s.metric,
      provider: s.provider,
      operator: s.operator,
      le_ms: bound(s.valueMs),
      count: 1n,
      errors: s.error ? 1n : 0n,
    }),
    (row, s) => {
      row.count += 1n;
      if (s.error) row.errors += 1n;
    },
  );
}

/** Nearest-rank percentile (as PostgreSQL's percentile_disc) of a histogram; null when empty. */
export function percentile(
  histogram: ReadonlyArray<{ le_ms: number; count: number }>,
  q: number,
): number | null {
  const sorted = [...histogram].sort((a, b) => a.le_ms - b.le_ms);
  const total = sorted.reduce((n, h) => n + h.count, 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (const h of sorted) {
    seen += h.count;
    if (seen >= rank) return h.le_ms;
  }
  return sorted.at(-1)!.le_ms;
}
