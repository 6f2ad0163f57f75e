import type { Db, Queryable } from "../db/db.ts";
import { insertEvents, type NewEvent } from "../events/index.ts";
import type { Clock } from "../platform/clock.ts";
import { percentile } from "./distributions.ts";

/**
 * Operator health: each operator's acceptance and provider latency (p99) over the last 15 minutes
 * against the same window one week earlier. A drop in acceptance or a rise in latency beyond the
 * thresholds raises `operator.degraded` (once, until it is `operator.recovered`), written to the
 * outbox for every merchant with traffic on the operator, so webhooks deliver it like any event.
 */
export const HEALTH = {
  window_ms: 15 * 60_000,
  baseline_offset_ms: 7 * 86_400_000,
  /** Decided payments (succeeded + failed) a window needs before it says anything. */
  volume_min: 20,
  /** Degraded: acceptance this many basis points below the baseline. */
  drop_bp: 2000,
  /** Recovered: back within this many basis points of the baseline (hysteresis: no flapping). */
  recover_bp: 1000,
  /** Degraded: p99 latency above both this many times the baseline's and the baseline + margin. */
  latency_factor: 2,
  latency_margin_ms: 500,
  /** Recovered: p99 back under both of these (hysteresis). */
  latency_recover_factor: 1.5,
  latency_recover_margin_ms: 250,
} as const;

export interface WindowStats {
  succeeded: number;
  failed: number;
  /** The provider calls' p99 latency and how many calls it is over (absent: not measured). */
  latency?: { p99Ms: number; calls: number };
}

export interface HealthChange {
  state: HealthState;
  /** What moved the operator: its acceptance or its latency (a recovery: the acceptance). */
  reason: "acceptance" | "latency";
  nowBp: number | null;
  beforeBp: number | null;
  latencyNowMs: number | null;
  latencyBeforeMs: number | null;
}

export type HealthState = "healthy" | "degraded";

function acceptanceBp(s: WindowStats): number | null {
  const decided = s.succeeded + s.failed;
  return decided < HEALTH.volume_min ? null : Math.round((s.succeeded * 10_000) / decided);
}

function comparableLatency(
  now: WindowStats,
  before: WindowStats,
): { nowMs: number; beforeMs: number } | null {
  if (!now.latency || !before.latency) return null;
  if (now.latency.calls < HEALTH.volume_min || before.latency.calls < HEALTH.volume_min) return null;
  return { nowMs: now.latency.p99Ms, beforeMs: before.latency.p99Ms };
}

/**
 * Pure: the state an operator moves to, or null when it stays (or there is too little to say).
 * Healthy → degraded when either signal is out of bounds; degraded → healthy only when every
 * signal that can be measured is back inside the (tighter) recovery bounds.
 */
export function nextState(previous: HealthState, now: WindowStats, before: WindowStats): HealthChange | null {
  const nowBp = acceptanceBp(now);
  const beforeBp = acceptanceBp(before);
  const acceptance = nowBp !== null && beforeBp !== null ? { nowBp, beforeBp } : null;
  const latency = comparableLatency(now, before);
  if (!acceptance && !latency) return null;
  const change = (state: HealthState, reason: HealthChange["reason"]): HealthChange => ({
    state,
    reason,
    nowBp,
    beforeBp,
    latencyNowMs: latency?.nowMs ?? null,
    latencyBeforeMs: latency?.beforeMs ?? null,
  });
  if (previous === "healthy") {
    if (acceptance && acceptance.nowBp < acceptance.beforeBp - HEALTH.drop_bp)
      return change("degraded", "acceptance");
    const slowAbove = latency
      ? Math.max(latency.beforeMs * HEALTH.latency_factor, latency.beforeMs + HEALTH.latency_margin_ms)
      : Number.POSITIVE_INFINITY;
    if (latency && latency.nowMs > slowAbove) return change("degraded", "latency");
    return null;
  }
  const acceptanceBack = !acceptance || acceptance.nowBp >= acceptance.beforeBp - HEALTH.recover_bp;
  const latencyBack =
    !latency ||
    latency.nowMs <=
      Math.max(
        latency.beforeMs * HEALTH.latency_recover_factor,
        latency.beforeMs + HEALTH.latency_recover_margin_ms,
      );
  return acceptanceBack && latencyBack ? change("healthy", acceptance ? "acceptance" : "latency") : null;
}

/** The p99 of provider calls per mode and operator over [from, to), from the minute histograms. */
async function windowLatency(
  tx: Queryable,
  fromMs: number,
  toMs: number,
): Promise<Map<string, { p99Ms: number; calls: number }>> {
  const { rows } = await tx.query<{ mode: string; operator: string; le_ms: number; n: bigint }>(
    `select mode, operator, le_ms, sum(count)::int8 as n from analytics_distributions
      where grain = 'minute' and bucket >= $1 and bucket < $2 and metric = 'provider_latency'
        and operator <> ''
      group by mode, operator, le_ms`,
    [new Date(fromMs), new Date(toMs)],
  );
  const histograms = new Map<string, Array<{ le_ms: number; count: number }>>();
  for (const r of rows) {
    const key = `${r.mode}/${r.operator}`;
    histograms.set(key, [...(histograms.get(key) ?? []), { le_ms: r.le_ms, count: Number(r.n) }]);
  }
  const out = new Map<string, { p99Ms: number; calls: number }>();
  for (const [key, histogram] of histograms) {
    const p99Ms = percentile(histogram, 0.99);
    if (p99Ms !== null) out.set(key, { p99Ms, calls: histogram.reduce((n, h) => n + h.count, 0) });
  }
  return out;
}

export interface HealthDeps {
  db: Db;
  clock: Clock;
}

async function windowStats(
  tx: Queryable,
  fromMs: number,
  toMs: number,
): Promise<Map<string, WindowStats & { merchants: Set<string> }>> {
  const { rows } = await tx.query<{
    mode: string;
    operator: string;
    merchant_id: string;
    metric: string;
    n: bigint;
  }>(
    `select mode, operator, merchant_id, metric, sum(count)::int8 as n from analytics_rollups
      where grain = 'minute' and bucket >= $1 and bucket < $2 and operator <> ''
        and metric in ('succeeded', 'failed')
      group by mode, operator, merchant_id, metric`,
    [new Date(fromMs), new Date(toMs)],
  );
  const out = new Map<string, WindowStats & { merchants: Set<string> }>();
  for (const r of rows) {
    const key = `${r.mode}/${r.operator}`;
    let s = out.get(key);
    if (!s) {
      s = { succeeded: 0, failed: 0, merchants: new Set() };
      out.set(key, s);
    }
    s[r.metric as "succeeded" | "failed"] += Number(r.n);
    s.merchants.add(r.merchant_id);
  }
  return out;
}

/**
 * Compares every operator's last 15 minutes (whole minutes of the rollups) with a week earlier and
 * records each change of state with its events, in one transaction: an alert is raised once.
 * Returns how many operators changed.
 */
export async function checkOperatorHealth(deps: HealthDeps): Promise<number> {
  const nowMs = deps.clock.nowMs();
  const toMs = Math.floor(nowMs / 60_000) * 60_000;
  const fromMs = toMs - HEALTH.window_ms;
  return deps.db.transaction(async (tx) => {
    // One checker at a time across workers: the state row decides who raises the alert.
    await tx.query("lock table analytics_operator_health in exclusive mode");
    const current = await windowStats(tx, fromMs, toMs);
    const baseline = await windowStats(
      tx,
      fromMs - HEALTH.baseline_offset_ms,
      toMs - HEALTH.baseline_offset_ms,
    );
    const latencyNow = await windowLatency(tx, fromMs, toMs);
    const latencyBefore = await windowLatency(
      tx,
      fromMs - HEALTH.baseline_offset_ms,
      toMs - HEALTH.baseline_offset_ms,
    );
    const { rows: known } = await tx.query<{ operator: string; mode: string; state: HealthState }>(
      "select operator, mode, state from analytics_operator_health",
    );
    const states = new Map(known.map((k) => [`${k.mode}/${k.operator}`, k.state]));
    const events: NewEvent[] = [];
    let changed = 0;
    for (const [key, now] of [...current].sort(([a], [b]) => a.localeCompare(b))) {
      const [mode, operator] = key.split("/") as [string, string];
      const withLatency = (stats: WindowStats, latency: { p99Ms: number; calls: number } | undefined) =>
        latency ? { ...stats, latency } : stats;
      const next = nextState(
        states.get(key) ?? "healthy",
        withLatency(now, latencyNow.get(key)),
        withLatency(baseline.get(key) ?? { succeeded: 0, failed: 0 }, latencyBefore.get(key)),
      );
      if (!next) continue;
      changed++;
      await tx.query(
        `insert into analytics_operator_health (operator, mode, state, acceptance_now, acceptance_before, changed,
           reason, latency_p99_now_ms, latency_p99_before_ms)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         on conflict (operator, mode) do update set state = excluded.state, acceptance_now = excluded.acceptance_now,
           acceptance_before = excluded.acceptance_before, changed = excluded.changed, reason = excluded.reason,
           latency_p99_now_ms = excluded.latency_p99_now_ms, latency_p99_before_ms = excluded.latency_p99_before_ms`,
        [
          operator,
          mode,
          next.state,
          next.nowBp,
          next.beforeBp,
          new Date(nowMs),
          next.reason,
          next.latencyNowMs,
          next.latencyBeforeMs,
        ],
      );
      const object = {
        id: `ophealth_${operator}`,
        object: "operator_health",
        operator,
        state: next.state,
        reason: next.reason,
        acceptance_bp: next.nowBp,
        baseline_acceptance_bp: next.beforeBp,
        latency_p99_ms: next.latencyNowMs,
        baseline_latency_p99_ms: next.latencyBeforeMs,
        window_start: new Date(fromMs).toISOString(),
        window_end: new Date(toMs).toISOString(),
        decided: now.succeeded + now.failed,
      };
      for (const merchantId of [...now.merchants].sort()) {
        events.push({
          merchantId,
          mode: mode as "test" | "live",
          type: next.state === "degraded" ? "operator.degraded" : "operator.recovered",
          object,
          createdMs: nowMs,
        });
      }
    }
    await insertEvents(tx, events);
    return changed;
  });
}

export interface OperatorHealthSummary {
  operator: string;
  succeeded: number;
  failed: number;
  /** succeeded / decided in basis points; null without a decided payment. */
  acceptance_bp: number | null;
  /** Provider calls measured, and their latency percentiles (values rounded up to two digits). */
  calls: number;
  p50_ms: number | null;
  p95_ms: number | null;
  /** The last state the health check found (platform-wide), and when it changed. */
  state: HealthState | null;
  changed: Date | null;
}

/**
 * Each operator's figures over [from, to) for one merchant (or all, `merchantId` null) in one
 * mode, from the hourly rollups and latency histograms the health check reads, beside the
 * health check's last verdict. For the back office's operator page.
 */
export async function operatorHealthSummary(
  db: Queryable,
  scope: { merchantId: string | null; mode: string },
  range: { fromMs: number; toMs: number },
): Promise<Map<string, OperatorHealthSummary>> {
  const params: unknown[] = [scope.mode, new Date(range.fromMs), new Date(range.toMs)];
  let merchant = "";
  if (scope.merchantId !== null) {
    params.push(scope.merchantId);
    merchant = " and merchant_id = $4";
  }
  const where = `grain = 'hour' and mode = $1 and bucket >= $2 and bucket < $3 and operator <> ''${merchant}`;
  const outcomes = await db.query<{ operator: string; metric: string; n: bigint }>(
    `select operator, metric, sum(count)::int8 as n from analytics_rollups
      where ${where} and metric in ('succeeded', 'failed') group by operator, metric`,
    params,
  );
  const latency = await db.query<{ operator: string; le_ms: number; n: bigint }>(
    `select operator, le_ms, sum(count)::int8 as n from analytics_distributions
      where ${where} and metric = 'provider_latency' group by operator, le_ms`,
    params,
  );
  const states = await db.query<{ operator: string; state: HealthState; changed: Date }>(
    "select operator, state, changed from analytics_operator_health where mode = $1",
    [scope.mode],
  );
  const out = new Map<string, OperatorHealthSummary>();
  const of = (operator: string) => {
    let s = out.get(operator);
    if (!s) {
      s = {
        operator,
        succeeded: 0,
        failed: 0,
        acceptance_bp: null,
        calls: 0,
        p50_ms: null,
        p95_ms: null,
        state: null,
        changed: null,
      };
      out.set(operator, s);
    }
    return s;
  };
  for (const r of outcomes.rows) of(r.operator)[r.metric as "succeeded" | "failed"] += Number(r.n);
  const histograms = new Map<string, Array<{ le_ms: number; count: number }>>();
  for (const r of latency.rows)
    histograms.set(r.operator, [
      ...(histograms.get(r.operator) ?? []),
      { le_ms: r.le_ms, count: Number(r.n) },
    ]);
  for (const [operator, histogram] of histograms) {
    const s = of(operator);
    s.calls = histogram.reduce((n, h) => n + h.count, 0);
    s.p50_ms = percentile(histogram, 0.5);
    s.p95_ms = percentile(histogram, 0.95);
  }
  for (const r of states.rows) {
    const s = of(r.operator);
    s.state = r.state;
    s.changed = r.changed;
  }
  for (const s of out.values()) {
    const decided = s.succeeded + s.failed;
    s.acceptance_bp = decided === 0 ? null : Math.round((s.succeeded * 10_000) / decided);
  }
  return out;
}
