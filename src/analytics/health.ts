import type { Db, Queryable } from "../db/db.ts";
import { insertEvents } from "../events/index.ts";
import { idFloor } from "../platform/ids.ts";
import type { Mode } from "../platform/scope.ts";
import { PAYER_ABANDONED_FAILURES } from "./model.ts";

/**
 * Operator health: each operator's acceptance over the last 15 minutes against the same window one
 * week earlier, per merchant and mode (a merchant sees its own traffic only). A drop of at least
 * `DROP_DEGRADED` (absolute, 0–1) raises `operator.degraded`; once the gap is back under
 * `DROP_RECOVERED` the operator is `recovered`. The event is written with the verdict, in one
 * transaction, so webhooks deliver each change exactly when it is recorded. Time is the caller's
 * (the worker's clock, or a test clock).
 */
export const HEALTH_WINDOW_MS = 15 * 60_000;
export const BASELINE_OFFSET_MS = 7 * 86_400_000;
export const DROP_DEGRADED = 0.2;
export const DROP_RECOVERED = 0.1;
/** Below this many decided payments in a window, acceptance says nothing either way. */
export const DECIDED_MIN = 10;

export interface OperatorWindow {
  accepted: number;
  declined: number;
  abandoned: number;
  rate: number | null;
}

export interface OperatorLatency {
  p50_ms: number | null;
  p99_ms: number | null;
  error_rate: number | null;
  exchanges: number;
}

export interface OperatorHealth {
  id: string;
  object: "operator_health";
  operator: string;
  status: "healthy" | "degraded";
  acceptance_rate: number | null;
  baseline_acceptance_rate: number | null;
  decided: number;
  baseline_decided: number;
  abandoned: number;
  latency: OperatorLatency;
  window_start: string;
  window_end: string;
  baseline_start: string;
  baseline_end: string;
  since: string | null;
}

const ABANDONED = [...PAYER_ABANDONED_FAILURES];

function rate(accepted: number, declined: number): number | null {
  const decided = accepted + declined;
  return decided === 0 ? null : Math.round((accepted / decided) * 10_000) / 10_000;
}

/**
 * Acceptance per (merchant, mode, operator) over [from, to), from the minute rollups: accepted is
 * succeeded or authorized, declined is failed for a reason other than the payer walking away.
 */
async function windows(
  db: Queryable,
  fromMs: number,
  toMs: number,
  scope?: { merchantId: string; mode: string },
) {
  const params: unknown[] = [new Date(fromMs), new Date(toMs), ABANDONED];
  const where = scope ? "and merchant_id = $4 and mode = $5" : "";
  if (scope) params.push(scope.merchantId, scope.mode);
  const { rows } = await db.query<{
    merchant_id: string;
    mode: string;
    operator: string;
    accepted: bigint;
    declined: bigint;
    abandoned: bigint;
  }>(
    `select merchant_id, mode, operator,
            coalesce(sum(count) filter (where outcome in ('succeeded', 'requires_capture')), 0)::bigint as accepted,
            coalesce(sum(count) filter (where outcome = 'failed' and reason <> all($3::text[])), 0)::bigint as declined,
            coalesce(sum(count) filter (where outcome = 'requires_action'
              or (outcome in ('failed', 'canceled') and reason = any($3::text[]))), 0)::bigint as abandoned
       from analytics_minute
      where metric = 'payments' and operator <> '' and bucket >= $1 and bucket < $2 ${where}
      group by 1, 2, 3`,
    params,
  );
  const out = new Map<string, OperatorWindow & { merchantId: string; mode: string; operator: string }>();
  for (const row of rows) {
    const accepted = Number(row.accepted);
    const declined = Number(row.declined);
    out.set(`${row.merchant_id}\u0000${row.mode}\u0000${row.operator}`, {
      merchantId: row.merchant_id,
      mode: row.mode,
      operator: row.operator,
      accepted,
      declined,
      abandoned: Number(row.abandoned),
      rate: rate(accepted, declined),
    });
  }
  return out;
}

/** Provider latency and error rate per operator over [from, to), from the interaction log. */
export async function operatorLatency(
  db: Queryable,
  scope: { merchantId: string; mode: string },
  fromMs: number,
  toMs: number,
): Promise<Map<string, OperatorLatency>> {
  const { rows } = await db.query<{
    operator: string;
    p50: number | null;
    p99: number | null;
    errors: bigint;
    n: bigint;
  }>(
    `select operator,
            percentile_disc(0.5) within group (order by latency_ms) as p50,
            percentile_disc(0.99) within group (order by latency_ms) as p99,
            count(*) filter (where outcome like 'not_sent%' or outcome like 'unknown%' or outcome like 'lost%')::bigint as errors,
            count(*)::bigint as n
       from provider_interactions
      where operator is not null and id >= $1 and id < $2 and merchant_id = $3 and mode = $4
      group by operator`,
    [idFloor("ix", fromMs), idFloor("ix", toMs), scope.merchantId, scope.mode],
  );
  return new Map(
    rows.map((row) => [
      row.operator,
      {
        p50_ms: row.p50 === null ? null : Number(row.p50),
        p99_ms: row.p99 === null ? null : Number(row.p99),
        error_rate:
          Number(row.n) === 0 ? null : Math.round((Number(row.errors) / Number(row.n)) * 10_000) / 10_000,
        exchanges: Number(row.n),
      },
    ]),
  );
}

function verdict(
  previous: "healthy" | "degraded",
  current: OperatorWindow | undefined,
  baseline: OperatorWindow | undefined,
): "healthy" | "degraded" {
  const decided = (w: OperatorWindow | undefined) => (w ? w.accepted + w.declined : 0);
  if (decided(current) < DECIDED_MIN || decided(baseline) < DECIDED_MIN) return previous;
  const drop = baseline!.rate! - current!.rate!;
  if (previous === "healthy") return drop >= DROP_DEGRADED ? "degraded" : "healthy";
  return drop < DROP_RECOVERED ? "healthy" : "degraded";
}

interface StoredHealth {
  merchant_id: string;
  mode: string;
  operator: string;
  status: "healthy" | "degraded";
  since: Date;
}

/**
 * Judges every operator with traffic in either window and records changes with their events.
 * Returns the events raised.
 */
export async function checkOperatorHealth(
  db: Db,
  nowMs: number,
): Promise<{ type: string; operator: string; merchantId: string }[]> {
  const current = await windows(db, nowMs - HEALTH_WINDOW_MS, nowMs);
  const baseline = await windows(
    db,
    nowMs - BASELINE_OFFSET_MS - HEALTH_WINDOW_MS,
    nowMs - BASELINE_OFFSET_MS,
  );
  const { rows } = await db.query<StoredHealth>(
    "select merchant_id, mode, operator, status, since from analytics_operator_health",
  );
  const stored = new Map(rows.map((r) => [`${r.merchant_id}\u0000${r.mode}\u0000${r.operator}`, r]));
  const raised: { type: string; operator: string; merchantId: string }[] = [];
  for (const key of new Set([...current.keys(), ...baseline.keys(), ...stored.keys()])) {
    const now = current.get(key);
    const before = baseline.get(key);
    const [merchantId, mode, operator] = key.split("\u0000") as [string, string, string];
    const previous = stored.get(key)?.status ?? "healthy";
    const next = verdict(previous, now, before);
    const changed = next !== previous;
    await db.transaction(async (tx) => {
      await tx.query(
        `insert into analytics_operator_health
           (merchant_id, mode, operator, status, acceptance_rate, baseline_acceptance_rate, attempts, baseline_attempts, since, checked)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
         on conflict (merchant_id, mode, operator) do update
           set status = excluded.status, acceptance_rate = excluded.acceptance_rate,
               baseline_acceptance_rate = excluded.baseline_acceptance_rate, attempts = excluded.attempts,
               baseline_attempts = excluded.baseline_attempts, checked = excluded.checked,
               since = case when analytics_operator_health.status = excluded.status
                            then analytics_operator_health.since else excluded.since end`,
        [
          merchantId,
          mode,
          operator,
          next,
          now?.rate ?? null,
          before?.rate ?? null,
          now ? now.accepted + now.declined : 0,
          before ? before.accepted + before.declined : 0,
          new Date(nowMs),
        ],
      );
      if (!changed) return;
      const type = next === "degraded" ? "operator.degraded" : "operator.recovered";
      const latency = await operatorLatency(tx, { merchantId, mode }, nowMs - HEALTH_WINDOW_MS, nowMs);
      await insertEvents(tx, [
        {
          merchantId,
          mode: mode as Mode,
          type,
          object: healthObject(operator, next, now, before, latency.get(operator), nowMs, nowMs),
          createdMs: nowMs,
        },
      ]);
      raised.push({ type, operator, merchantId });
    });
  }
  return raised;
}

export function healthObject(
  operator: string,
  status: "healthy" | "degraded",
  now: OperatorWindow | undefined,
  before: OperatorWindow | undefined,
  latency: OperatorLatency | undefined,
  nowMs: number,
  sinceMs: number | null,
): OperatorHealth & Record<string, unknown> {
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    id: operator,
    object: "operator_health",
    operator,
    status,
    acceptance_rate: now?.rate ?? null,
    baseline_acceptance_rate: before?.rate ?? null,
    decided: now ? now.accepted + now.declined : 0,
    baseline_decided: before ? before.accepted + before.declined : 0,
    abandoned: now?.abandoned ?? 0,
    latency: latency ?? { p50_ms: null, p99_ms: null, error_rate: null, exchanges: 0 },
    window_start: iso(nowMs - HEALTH_WINDOW_MS),
    window_end: iso(nowMs),
    baseline_start: iso(nowMs - BASELINE_OFFSET_MS - HEALTH_WINDOW_MS),
    baseline_end: iso(nowMs - BASELINE_OFFSET_MS),
    since: sinceMs === null ? null : iso(sinceMs),
  };
}

/** The operators of one merchant and mode as they stand now (the API and the dashboard). */
export async function listOperatorHealth(
  db: Queryable,
  scope: { merchantId: string; mode: string },
  nowMs: number,
): Promise<OperatorHealth[]> {
  const current = await windows(db, nowMs - HEALTH_WINDOW_MS, nowMs, scope);
  const baseline = await windows(
    db,
    nowMs - BASELINE_OFFSET_MS - HEALTH_WINDOW_MS,
    nowMs - BASELINE_OFFSET_MS,
    scope,
  );
  const latency = await operatorLatency(db, scope, nowMs - HEALTH_WINDOW_MS, nowMs);
  const { rows } = await db.query<StoredHealth>(
    "select merchant_id, mode, operator, status, since from analytics_operator_health where merchant_id = $1 and mode = $2",
    [scope.merchantId, scope.mode],
  );
  const stored = new Map(rows.map((r) => [r.operator, r]));
  const operators = new Set<string>([...stored.keys(), ...latency.keys()]);
  for (const w of [...current.values(), ...baseline.values()]) operators.add(w.operator);
  const key = (operator: string) => `${scope.merchantId}\u0000${scope.mode}\u0000${operator}`;
  return [...operators].sort().map((operator) => {
    const s = stored.get(operator);
    return healthObject(
      operator,
      s?.status ?? "healthy",
      current.get(key(operator)),
      baseline.get(key(operator)),
      latency.get(operator),
      nowMs,
      s ? s.since.getTime() : null,
    );
  });
}
