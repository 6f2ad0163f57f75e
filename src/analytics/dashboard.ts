import type { Queryable } from "../db/db.ts";
import { isCurrency } from "../platform/money.ts";
import type { Grain } from "./facts.ts";
import { readCursor } from "./feed.ts";
import { distributionSummary, reportingOrMissing, subscriptionsAnalytics } from "./metrics.ts";
import {
  type AnalyticsScope,
  type Funnel,
  funnel,
  funnelByOperator,
  type OperatorFunnel,
  paymentsAnalytics,
} from "./queries.ts";
import { ROLLUP_CURSOR } from "./rollups.ts";

/** Test or live data: the switch on the page, kept in the URL and the stream's. */
export const MODES = ["test", "live"] as const;
export type DashboardMode = (typeof MODES)[number];

/** The dashboard's ranges and the grain each is drawn at. */
export const RANGES = {
  "1h": ["minute", 3_600_000],
  "24h": ["hour", 86_400_000],
  "7d": ["hour", 604_800_000],
  "30d": ["day", 2_592_000_000],
} as const satisfies Record<string, readonly [Grain, number]>;
export type Range = keyof typeof RANGES;

export const FILTERS = ["app", "country", "operator", "method"] as const;
export type DashboardFilters = Partial<Record<(typeof FILTERS)[number], string>>;

export interface DashboardData {
  /** Which ingest the numbers reflect: the rollup cursor (the SSE event id). */
  version: string;
  mode: string;
  from: string;
  to: string;
  granularity: Grain;
  tiles: {
    succeeded: number;
    failed: number;
    canceled: number;
    /** succeeded / (succeeded + failed), in basis points; null without any. */
    acceptance_bp: number | null;
    revenue: Array<{ currency: string; amount: number }>;
  };
  /** Aligned series for uPlot: bucket starts in seconds, counts per bucket. */
  chart: { t: number[]; succeeded: number[]; failed: number[] };
  funnel: Funnel["steps"];
  /** The funnel per operator (the operators with the most journeys). */
  operatorFunnels: OperatorFunnel[];
  /**
   * Revenue converted into the reporting currency, when one is chosen: the total, or the
   * currencies that have no rate for some day of the period (then no total: never a guess).
   */
  reporting: { currency: string; amount: number | null; missing: string[] } | null;
  refunds: { count: number; amounts: Array<{ currency: string; amount: number }> };
  /** Active subscriptions and monthly recurring revenue at the end of the period, per currency. */
  subscriptions: Array<{ currency: string; active: number; mrr: number }>;
  /** Provider latency and errors per provider and operator over the period. */
  providers: Array<{
    provider: string;
    operator: string;
    count: number;
    error_rate_bp: number | null;
    p99_ms: number | null;
  }>;
}

export interface DashboardOptions {
  /** Totals converted into this ISO 4217 currency at the recorded daily rates. */
  reportingCurrency?: string | undefined;
}

export async function rollupVersion(db: Queryable): Promise<string> {
  const c = await readCursor(db, ROLLUP_CURSOR);
  return `${c.xid}-${c.seq}`;
}

/** Everything one dashboard view shows, from the rollups (and the funnel from checkout's steps). */
export async function dashboardData(
  db: Queryable,
  scope: AnalyticsScope,
  range: Range,
  filters: DashboardFilters,
  nowMs: number,
  options: DashboardOptions = {},
): Promise<DashboardData> {
  const version = await rollupVersion(db);
  const [granularity, span] = RANGES[range];
  const result = await paymentsAnalytics(db, scope, {
    fromMs: nowMs - span,
    toMs: nowMs,
    granularity,
    groupBy: ["status"],
    filters,
  });
  const step = { minute: 60_000, hour: 3_600_000, day: 86_400_000 }[granularity];
  const fromMs = Date.parse(result.from);
  const toMs = Date.parse(result.to);
  const t: number[] = [];
  for (let ms = fromMs; ms < toMs; ms += step) t.push(ms / 1000);
  const index = new Map(t.map((s, i) => [s, i]));
  const chart = { t, succeeded: t.map(() => 0), failed: t.map(() => 0) };
  const tiles = { succeeded: 0, failed: 0, canceled: 0 };
  const revenue = new Map<string, number>();
  for (const s of result.series) {
    const status = s.key.status as "succeeded" | "failed" | "canceled";
    for (const p of s.points) {
      tiles[status] += p.count;
      const i = index.get(Date.parse(p.t) / 1000);
      if (i !== undefined && status !== "canceled") chart[status][i]! += p.count;
      if (status === "succeeded")
        revenue.set(s.key.currency!, (revenue.get(s.key.currency!) ?? 0) + p.amount);
    }
  }
  const decided = tiles.succeeded + tiles.failed;
  const steps = await funnel(db, scope, { fromMs: nowMs - span, toMs: nowMs, ...filters });
  const operatorFunnels = await funnelByOperator(db, scope, {
    fromMs: nowMs - span,
    toMs: nowMs,
    ...filters,
  });
  const reporting = options.reportingCurrency
    ? await reportingTotal(
        db,
        options.reportingCurrency,
        result.series.filter((s) => s.key.status === "succeeded"),
      )
    : null;
  const refundRows = await paymentsAnalytics(db, scope, {
    fromMs: nowMs - span,
    toMs: nowMs,
    granularity,
    groupBy: [],
    statuses: ["refunded"],
    filters,
  });
  const refunds = {
    count: refundRows.series.reduce((n, s) => n + s.points.reduce((m, p) => m + p.count, 0), 0),
    amounts: refundRows.series
      .map((s) => ({ currency: s.key.currency!, amount: s.points.reduce((m, p) => m + p.amount, 0) }))
      .sort((a, b) => a.currency.localeCompare(b.currency)),
  };
  const { app: _app, ...subscriptionFilters } = filters;
  const subscriptions = await subscriptionsAnalytics(db, scope, {
    fromMs: nowMs - span,
    toMs: nowMs,
    granularity,
    filters: subscriptionFilters,
  });
  const latency = await distributionSummary(db, scope, "provider_latency", {
    fromMs: nowMs - span,
    toMs: nowMs,
    granularity,
    ...(filters.operator !== undefined ? { operator: filters.operator } : {}),
  });
  return {
    version,
    mode: scope.mode,
    from: result.from,
    to: result.to,
    granularity,
    tiles: {
      ...tiles,
      acceptance_bp: decided === 0 ? null : Math.round((tiles.succeeded * 10_000) / decided),
      revenue: [...revenue]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([currency, amount]) => ({ currency, amount })),
    },
    chart,
    funnel: steps.steps,
    operatorFunnels,
    reporting,
    refunds,
    subscriptions: subscriptions.series.map((s) => {
      const last = s.points.at(-1);
      return { currency: s.key.currency, active: last?.active ?? 0, mrr: last?.mrr ?? 0 };
    }),
    providers: latency.data
      .map((d) => ({
        provider: d.provider,
        operator: d.operator,
        count: d.count,
        error_rate_bp: d.error_rate_bp,
        p99_ms: d.p99_ms,
      }))
      .sort((a, b) => a.operator.localeCompare(b.operator) || a.provider.localeCompare(b.provider)),
  };
}

/** Succeeded amounts converted and summed, or the currencies without a rate (never summed raw). */
async function reportingTotal(
  db: Queryable,
  currency: string,
  series: Array<{ key: Record<string, string>; points: Array<{ t: string; count: number; amount: number }> }>,
): Promise<NonNullable<DashboardData["reporting"]>> {
  // Inner currencies (not ISO 4217) have no rate at all.
  const unknown = series.map((s) => s.key.currency!).filter((c) => !isCurrency(c));
  const known = series.filter((s) => isCurrency(s.key.currency!));
  const result = await reportingOrMissing(db, currency, known);
  const missing = [
    ...new Set([...unknown, ...("missing" in result ? result.missing.map((m) => m.currency) : [])]),
  ];
  if (missing.length > 0 || "missing" in result) {
    return { currency, amount: null, missing: missing.sort() };
  }
  return { currency, amount: result.totals.reduce((n, t) => n + t.amount, 0), missing: [] };
}

/** The currencies a total can be shown in: those with recorded rates, and those of the revenue. */
export async function reportingChoices(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ c: string }>(
    "select distinct to_currency as c from analytics_exchange_rates order by 1 limit 50",
  );
  return rows.map((r) => r.c);
}

/** The values the filters offer: what the last 30 days of rollups have seen. */
export async function filterChoices(
  db: Queryable,
  scope: AnalyticsScope,
  nowMs: number,
): Promise<Record<(typeof FILTERS)[number], string[]>> {
  const params: unknown[] = [scope.mode, new Date(nowMs - 31 * 86_400_000)];
  let where = "grain = 'day' and mode = $1 and bucket >= $2";
  if (scope.merchantId !== null) {
    params.push(scope.merchantId);
    where += " and merchant_id = $3";
  }
  const out = { app: [], country: [], operator: [], method: [] } as Record<
    (typeof FILTERS)[number],
    string[]
  >;
  for (const column of FILTERS) {
    const { rows } = await db.query<{ v: string }>(
      `select distinct ${column} as v from analytics_rollups where ${where} and ${column} <> '' order by 1 limit 200`,
      params,
    );
    out[column] = rows.map((r) => r.v);
  }
  return out;
}
