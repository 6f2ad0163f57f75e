import type { Queryable } from "../db/db.ts";
import type { Grain } from "./facts.ts";
import { readCursor } from "./feed.ts";
import { type AnalyticsScope, type Funnel, funnel, paymentsAnalytics } from "./queries.ts";
import { ROLLUP_CURSOR } from "./rollups.ts";

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
  return {
    version,
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
  };
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
