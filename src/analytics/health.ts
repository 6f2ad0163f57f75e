import type { Db, Queryable } from "../db/db.ts";
import { insertEvents, type NewEvent } from "../events/index.ts";
import type { Clock } from "../platform/clock.ts";

/**
 * Operator health: each operator's acceptance over the last 15 minutes against the same window
 * one week earlier. A drop beyond the threshold raises `operator.degraded` (once, until it is
 * `operator.recovered`), written to the outbox for every merchant with traffic on the operator, so
 * webhooks deliver it like any event.
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
} as const;

export interface WindowStats {
  succeeded: number;
  failed: number;
}

export type HealthState = "healthy" | "degraded";

function acceptanceBp(s: WindowStats): number | null {
  const decided = s.succeeded + s.failed;
  return decided < HEALTH.volume_min ? null : Math.round((s.succeeded * 10_000) / decided);
}

/** Pure: the state an operator moves to, or null when it stays (or there is too little to say). */
export function nextState(
  previous: HealthState,
  now: WindowStats,
  before: WindowStats,
): { state: HealthState; nowBp: number; beforeBp: number } | null {
  const nowBp = acceptanceBp(now);
  const beforeBp = acceptanceBp(before);
  if (nowBp === null || beforeBp === null) return null;
  if (previous === "healthy" && nowBp < beforeBp - HEALTH.drop_bp)
    return { state: "degraded", nowBp, beforeBp };
  if (previous === "degraded" && nowBp >= beforeBp - HEALTH.recover_bp)
    return { state: "healthy", nowBp, beforeBp };
  return null;
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
    const { rows: known } = await tx.query<{ operator: string; mode: string; state: HealthState }>(
      "select operator, mode, state from analytics_operator_health",
    );
    const states = new Map(known.map((k) => [`${k.mode}/${k.operator}`, k.state]));
    const events: NewEvent[] = [];
    let changed = 0;
    for (const [key, now] of [...current].sort(([a], [b]) => a.localeCompare(b))) {
      const [mode, operator] = key.split("/") as [string, string];
      const next = nextState(
        states.get(key) ?? "healthy",
        now,
        baseline.get(key) ?? { succeeded: 0, failed: 0 },
      );
      if (!next) continue;
      changed++;
      await tx.query(
        `insert into analytics_operator_health (operator, mode, state, acceptance_now, acceptance_before, changed)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (operator, mode) do update set state = excluded.state, acceptance_now = excluded.acceptance_now,
           acceptance_before = excluded.acceptance_before, changed = excluded.changed`,
        [operator, mode, next.state, next.nowBp, next.beforeBp, new Date(nowMs)],
      );
      const object = {
        id: `ophealth_${operator}`,
        object: "operator_health",
        operator,
        state: next.state,
        acceptance_bp: next.nowBp,
        baseline_acceptance_bp: next.beforeBp,
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
