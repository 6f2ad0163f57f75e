import { Temporal } from "temporal-polyfill";
import type { Queryable } from "../db/db.ts";
import { ApiError } from "../platform/errors.ts";
import { GRAIN_MS, type Grain, OUTCOMES } from "./facts.ts";

/** Whose numbers: one merchant (a secret key), or every merchant (the admin, `merchantId` null). */
export interface AnalyticsScope {
  merchantId: string | null;
  mode: string;
}

/** What a series may be split by: `status` is the payment's outcome, the rest are rollup keys. */
export const GROUPS = [
  "status",
  "operator",
  "country",
  "app",
  "method",
  "currency",
  "product",
  "reason",
] as const;
export type Group = (typeof GROUPS)[number];

const COLUMN_OF_GROUP: Record<Group, string> = {
  status: "metric",
  operator: "operator",
  country: "country",
  app: "app",
  method: "method",
  currency: "currency",
  product: "product",
  reason: "reason",
};

export interface PaymentsQuery {
  fromMs: number;
  toMs: number;
  granularity: Grain;
  groupBy: readonly Group[];
  filters: Partial<Record<"app" | "operator" | "country" | "method" | "currency", string>>;
  /** Outcomes to count (default: all three), or other metrics of the rollups. */
  statuses?: readonly string[];
  /** Series keyed by `metric` as well (the endpoints of other metrics than outcomes). */
  byMetric?: boolean;
  /** Day buckets start at midnight in this IANA zone (default UTC). */
  timeZone?: string;
}

/** Checks an IANA zone name; names the field at fault. */
export function timeZoneOf(name: string, param = "time_zone"): string {
  try {
    return Temporal.Instant.fromEpochMilliseconds(0).toZonedDateTimeISO(name).timeZoneId;
  } catch {
    throw new ApiError("parameter_invalid", param, `Unknown IANA time zone: '${name}'.`);
  }
}

/** Local midnight at or before `ms` in a zone. */
export function localDayStart(ms: number, timeZone: string): number {
  return Temporal.Instant.fromEpochMilliseconds(ms).toZonedDateTimeISO(timeZone).startOfDay().toInstant()
    .epochMilliseconds;
}

/** Whether a zone is a whole number of hours from UTC over a period (then hour rollups make its days). */
function wholeHours(timeZone: string, fromMs: number, toMs: number): boolean {
  for (let ms = fromMs; ; ms = Math.min(ms + 30 * 86_400_000, toMs)) {
    const offsetNs =
      Temporal.Instant.fromEpochMilliseconds(ms).toZonedDateTimeISO(timeZone).offsetNanoseconds;
    if (offsetNs % 3_600_000_000_000 !== 0) return false;
    if (ms >= toMs) return true;
  }
}

export interface Point {
  t: string;
  count: number;
  amount: number;
}

export interface Series {
  key: Record<string, string>;
  points: Point[];
}

export interface PaymentsAnalytics {
  object: "analytics";
  from: string;
  to: string;
  granularity: Grain;
  series: Series[];
}

/** More points than a chart can show is a mistake in the request, not a reason to scan. */
export const POINTS_MAX = 10_080;

/** Aligns [from, to) to the grain and checks its size; names the field at fault. */
export function period(fromMs: number, toMs: number, grain: Grain): { fromMs: number; toMs: number } {
  const step = GRAIN_MS[grain];
  const from = Math.floor(fromMs / step) * step;
  const to = Math.ceil(toMs / step) * step;
  if (to <= from) throw new ApiError("parameter_invalid", "to", "to must be after from.");
  if ((to - from) / step > POINTS_MAX) {
    throw new ApiError(
      "parameter_invalid",
      "from",
      `At most ${POINTS_MAX} points per series: choose a shorter period or a coarser granularity.`,
    );
  }
  return { fromMs: from, toMs: to };
}

function safeNumber(value: bigint | number | string): number {
  const n = typeof value === "bigint" ? value : BigInt(value);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`sum ${n} exceeds the JSON-safe range`);
  return Number(n);
}

/**
 * Payments by outcome over time, from the rollups of the granularity asked for. Every series is
 * per currency (amounts of different currencies are never added), plus the groups asked for.
 * Buckets without payments are left out.
 */
export async function paymentsAnalytics(
  db: Queryable,
  scope: AnalyticsScope,
  query: PaymentsQuery,
): Promise<PaymentsAnalytics> {
  const zone =
    query.timeZone && query.timeZone !== "UTC" && query.granularity === "day" ? query.timeZone : null;
  let { fromMs, toMs } = period(query.fromMs, query.toMs, query.granularity);
  // Days in the zone: local midnights, summed from hour rollups (minute ones for a zone that is
  // not a whole number of hours from UTC).
  let source: Grain = query.granularity;
  let bucketSql = "bucket";
  if (zone) {
    fromMs = localDayStart(query.fromMs, zone);
    toMs = localDayStart(query.toMs - 1, zone);
    toMs = Temporal.Instant.fromEpochMilliseconds(toMs)
      .toZonedDateTimeISO(zone)
      .add({ days: 1 })
      .startOfDay()
      .toInstant().epochMilliseconds;
    source = wholeHours(zone, fromMs, toMs) ? "hour" : "minute";
    period(fromMs, toMs, source === "minute" ? "hour" : "day");
  }
  const groups: Array<Group | "metric"> = [
    ...new Set<Group | "metric">([
      ...(query.byMetric ? (["metric"] as const) : []),
      "currency",
      ...query.groupBy,
    ]),
  ];
  const columns = groups.map((g) => (g === "metric" ? "metric" : COLUMN_OF_GROUP[g]));
  const params: unknown[] = [source, scope.mode, new Date(fromMs), new Date(toMs)];
  const where = ["grain = $1", "mode = $2", "bucket >= $3", "bucket < $4"];
  const add = (sql: string, value: unknown) => {
    params.push(value);
    where.push(sql.replace("?", `$${params.length}`));
  };
  if (scope.merchantId !== null) add("merchant_id = ?", scope.merchantId);
  add("metric = any(?::text[])", query.statuses?.length ? query.statuses : [...OUTCOMES]);
  for (const [name, value] of Object.entries(query.filters)) {
    if (value !== undefined) add(`${name} = ?`, value);
  }
  if (zone) {
    params.push(zone);
    bucketSql = `(date_trunc('day', bucket at time zone $${params.length}) at time zone $${params.length})`;
  }
  const { rows } = await db.query<Record<string, string> & { bucket: Date; count: bigint; amount: bigint }>(
    `select ${bucketSql} as bucket, ${columns.map((c, i) => `${c} as g${i}`).join(", ")},
            sum(count)::int8 as count, sum(amount)::int8 as amount
       from analytics_rollups
      where ${where.join(" and ")}
      group by 1, ${columns.join(", ")}
      order by ${columns.join(", ")}, 1`,
    params,
  );
  const series = new Map<string, Series>();
  for (const row of rows) {
    const key: Record<string, string> = {};
    groups.forEach((g, i) => {
      key[g] = row[`g${i}`] ?? "";
    });
    const id = JSON.stringify(key);
    let s = series.get(id);
    if (!s) {
      s = { key, points: [] };
      series.set(id, s);
    }
    s.points.push({
      t: new Date(row.bucket).toISOString(),
      count: safeNumber(row.count),
      amount: safeNumber(row.amount),
    });
  }
  return {
    object: "analytics",
    from: new Date(fromMs).toISOString(),
    to: new Date(toMs).toISOString(),
    granularity: query.granularity,
    series: [...series.values()],
  };
}

/** The steps of a checkout journey, in the order a payer meets them (checkout's STEPS). */
export const FUNNEL_STEPS = [
  "page_opened",
  "method_chosen",
  "msisdn_entered",
  "pin_sent",
  "pin_accepted",
  "pin_rejected",
  "mo_instructions_shown",
  "card_submitted",
  "charged",
  "declined",
  "abandoned",
] as const;

export interface FunnelQuery {
  fromMs: number;
  toMs: number;
  app?: string;
  operator?: string;
  country?: string;
  method?: string;
}

export interface Funnel {
  object: "analytics_funnel";
  from: string;
  to: string;
  /** How many journeys (checkout sessions) reached each step; a journey counts once per step. */
  steps: Array<{ step: string; count: number }>;
  journeys: number;
}

/**
 * The conversion funnel, straight from the journeys checkout records (`checkout_steps`,
 * partitioned by day and indexed by merchant and time): a journey is a checkout session, counted
 * once per step it reached within the period.
 */
/** The journeys of a funnel query: checkout steps of the period, scope and filters. */
function funnelWhere(scope: AnalyticsScope, query: FunnelQuery): { params: unknown[]; where: string[] } {
  if (query.toMs <= query.fromMs) throw new ApiError("parameter_invalid", "to", "to must be after from.");
  const params: unknown[] = [scope.mode, new Date(query.fromMs), new Date(query.toMs)];
  const where = ["mode = $1", "created >= $2", "created < $3"];
  const add = (sql: string, value: unknown) => {
    params.push(value);
    where.push(sql.replace("?", `$${params.length}`));
  };
  if (scope.merchantId !== null) add("merchant_id = ?", scope.merchantId);
  if (query.app !== undefined) add("app_id = ?", query.app);
  // Operator, country and method are known only from some step on (the payer's number, the
  // method chosen): a journey belongs to an operator if any of its steps names it.
  const base = [...where];
  for (const [column, value] of [
    ["operator", query.operator],
    ["country", query.country],
    ["method", query.method],
  ] as const) {
    if (value === undefined) continue;
    params.push(value);
    where.push(
      `session_id in (select session_id from checkout_steps where ${[...base, `${column} = $${params.length}`].join(" and ")})`,
    );
  }
  return { params, where };
}

export async function funnel(db: Queryable, scope: AnalyticsScope, query: FunnelQuery): Promise<Funnel> {
  const { params, where } = funnelWhere(scope, query);
  const { rows } = await db.query<{ step: string; count: bigint }>(
    `select step, count(distinct session_id)::int8 as count from checkout_steps
      where ${where.join(" and ")} group by step`,
    params,
  );
  const { rows: total } = await db.query<{ n: bigint }>(
    `select count(distinct session_id)::int8 as n from checkout_steps where ${where.join(" and ")}`,
    params,
  );
  const byStep = new Map(rows.map((r) => [r.step, safeNumber(r.count)]));
  const known = new Set<string>(FUNNEL_STEPS);
  return {
    object: "analytics_funnel",
    from: new Date(query.fromMs).toISOString(),
    to: new Date(query.toMs).toISOString(),
    steps: [
      ...FUNNEL_STEPS.map((step) => ({ step, count: byStep.get(step) ?? 0 })),
      ...rows.filter((r) => !known.has(r.step)).map((r) => ({ step: r.step, count: safeNumber(r.count) })),
    ],
    journeys: safeNumber(total[0]?.n ?? 0n),
  };
}

/** The steps a carrier-billing journey goes through, in order: the per-operator funnel's bars. */
export const OPERATOR_FUNNEL_STEPS = [
  "page_opened",
  "method_chosen",
  "msisdn_entered",
  "pin_sent",
  "pin_accepted",
  "charged",
] as const;

export interface OperatorFunnel {
  operator: string;
  journeys: number;
  steps: Array<{ step: string; count: number }>;
}

/**
 * The funnel cut by operator, in one query: for each operator, what `funnel` answers with
 * `operator=` (a journey belongs to an operator when any of its steps in the period names it, so
 * its earlier steps count too). Journeys that never name one (left before the number) are in no
 * operator's funnel. The operators with the most journeys first, at most `limit`.
 */
export async function funnelByOperator(
  db: Queryable,
  scope: AnalyticsScope,
  query: FunnelQuery,
  limit = 8,
): Promise<OperatorFunnel[]> {
  const { params, where } = funnelWhere(scope, query);
  const { rows } = await db.query<{ operator: string; step: string; count: bigint }>(
    `with s as (select session_id, step, operator from checkout_steps where ${where.join(" and ")}),
          j as (select distinct session_id, operator from s where operator is not null and operator <> '')
     select j.operator, s.step, count(distinct s.session_id)::int8 as count
       from s join j on j.session_id = s.session_id
      group by j.operator, s.step
     union all
     select operator, '' as step, count(distinct session_id)::int8 as count from j group by operator`,
    params,
  );
  const byOperator = new Map<string, { journeys: number; steps: Map<string, number> }>();
  for (const r of rows) {
    const o = byOperator.get(r.operator) ?? { journeys: 0, steps: new Map<string, number>() };
    byOperator.set(r.operator, o);
    if (r.step === "") o.journeys = safeNumber(r.count);
    else o.steps.set(r.step, safeNumber(r.count));
  }
  return [...byOperator]
    .sort(([a, x], [b, y]) => y.journeys - x.journeys || a.localeCompare(b))
    .slice(0, limit)
    .map(([operator, o]) => ({
      operator,
      journeys: o.journeys,
      steps: OPERATOR_FUNNEL_STEPS.map((step) => ({ step, count: o.steps.get(step) ?? 0 })),
    }));
}

/** RFC 4180 CSV: fields quoted when needed; a leading formula character is defused. */
export function toCsv(
  header: readonly string[],
  rows: ReadonlyArray<ReadonlyArray<string | number>>,
): string {
  const field = (value: string | number) => {
    let s = String(value);
    if (/^[=+\-@\t\r]/.test(s) && typeof value === "string") s = `'${s}`;
    return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  return [header, ...rows].map((r) => r.map(field).join(",")).join("\r\n") + "\r\n";
}

export function paymentsCsv(result: PaymentsAnalytics): string {
  const keys = [...new Set(result.series.flatMap((s) => Object.keys(s.key)))];
  return toCsv(
    ["t", ...keys, "count", "amount"],
    result.series.flatMap((s) =>
      s.points.map((p) => [p.t, ...keys.map((k) => s.key[k] ?? ""), p.count, p.amount]),
    ),
  );
}

export function funnelCsv(result: Funnel): string {
  return toCsv(
    ["step", "count"],
    result.steps.map((s) => [s.step, s.count]),
  );
}
