import type { Db } from "../db/db.ts";
import { type Funnel, queryFunnel } from "./funnel.ts";
import { listOperatorHealth, type OperatorHealth } from "./health.ts";
import { INGEST_CURSOR } from "./ingest.ts";
import { type Granularity, PAYER_ABANDONED_FAILURES } from "./model.ts";
import { readCursor } from "./outbox.ts";
import { type Filter, querySeries, type Scope, type Series } from "./series.ts";
import { querySummary, type Summary } from "./summary.ts";

/**
 * Everything the dashboard shows for one merchant and one set of filters, computed from the same
 * queries as `GET /v1/analytics/...`, so the page and the API always agree. The page renders it
 * once on the server; the stream sends it again whenever the ingest has moved.
 */
export const RANGES = {
  "1h": 3_600_000,
  "24h": 86_400_000,
  "7d": 7 * 86_400_000,
  "30d": 30 * 86_400_000,
} as const;
export type RangeName = keyof typeof RANGES;
const GRANULARITY_OF: Record<RangeName, Granularity> = {
  "1h": "minute",
  "24h": "hour",
  "7d": "hour",
  "30d": "day",
};

export interface DashboardFilters {
  range: RangeName;
  app?: string;
  country?: string;
  operator?: string;
  method?: string;
}

export interface ChartData {
  /** Bucket starts, Unix seconds (uPlot's x axis). */
  x: number[];
  lines: { label: string; values: (number | null)[] }[];
}

export interface DashboardView {
  position: string;
  timeZone: string;
  currency: string;
  fromMs: number;
  toMs: number;
  granularity: Granularity;
  summary: Summary;
  charts: { payments: ChartData; revenue: ChartData; acceptance: ChartData };
  funnel: Funnel;
  operators: OperatorHealth[];
}

function chart(
  series: Series,
  label: (key: Record<string, string>) => string,
  value: "count" | "amount",
): ChartData {
  const x = (series.series[0]?.points ?? []).map((p) => Date.parse(p.t) / 1000);
  return {
    x,
    lines: series.series.map((s) => ({ label: label(s.key), values: s.points.map((p) => p[value]) })),
  };
}

/** Acceptance per operator and bucket: accepted / (accepted + declined), the payer-abandoned apart. */
function acceptanceChart(series: Series): ChartData {
  const x = (series.series[0]?.points ?? []).map((p) => Date.parse(p.t) / 1000);
  const byOperator = new Map<string, { accepted: number[]; declined: number[] }>();
  for (const s of series.series) {
    const operator = s.key.operator || "—";
    const sums = byOperator.get(operator) ?? { accepted: x.map(() => 0), declined: x.map(() => 0) };
    const accepted = s.key.status === "succeeded" || s.key.status === "requires_capture";
    const declined = s.key.status === "failed" && !PAYER_ABANDONED_FAILURES.has(s.key.reason ?? "");
    s.points.forEach((p, i) => {
      if (accepted) sums.accepted[i]! += p.count;
      if (declined) sums.declined[i]! += p.count;
    });
    byOperator.set(operator, sums);
  }
  return {
    x,
    lines: [...byOperator.entries()].map(([operator, sums]) => ({
      label: operator,
      values: sums.accepted.map((a, i) => {
        const decided = a + sums.declined[i]!;
        return decided === 0 ? null : Math.round((a / decided) * 1000) / 10;
      }),
    })),
  };
}

export async function currentPosition(db: Db): Promise<string> {
  const cursor = await readCursor(db, INGEST_CURSOR);
  return String(cursor?.eventsConsumed ?? 0n);
}

export async function dashboardView(
  db: Db,
  scope: Scope,
  filters: DashboardFilters,
  settings: { timeZone: string; currency: string },
  nowMs: number,
): Promise<DashboardView> {
  const position = await currentPosition(db);
  const granularity = GRANULARITY_OF[filters.range];
  const step = granularity === "minute" ? 60_000 : granularity === "hour" ? 3_600_000 : 86_400_000;
  // Up to the end of the current bucket, so that the newest payments are on the chart.
  const toMs = Math.floor(nowMs / step) * step + step;
  const fromMs = toMs - RANGES[filters.range];
  const where: Partial<Record<Filter, string>> = {};
  for (const name of ["app", "country", "operator", "method"] as const) {
    if (filters[name]) where[name] = filters[name];
  }
  const base = {
    fromMs,
    toMs,
    granularity,
    timeZone: settings.timeZone,
    reportingCurrency: settings.currency,
  };
  const [summary, byStatus, revenue, acceptance, funnel, operators] = await Promise.all([
    querySummary(db, scope, { fromMs, toMs, nowMs }, where, settings.currency),
    querySeries(db, scope, { ...base, metric: "payments", groupBy: ["status"], filters: where }),
    querySeries(db, scope, {
      ...base,
      metric: "payments",
      groupBy: ["method"],
      filters: { ...where, status: "succeeded" },
    }),
    querySeries(db, scope, {
      ...base,
      metric: "payments",
      groupBy: ["operator", "status", "reason"],
      filters: where,
    }),
    queryFunnel(db, scope, { fromMs, toMs, groupBy: "operator", ...where }),
    listOperatorHealth(db, scope, nowMs),
  ]);
  return {
    position,
    timeZone: settings.timeZone,
    currency: settings.currency,
    fromMs,
    toMs,
    granularity,
    summary,
    charts: {
      payments: chart(byStatus, (k) => k.status ?? "", "count"),
      revenue: chart(revenue, (k) => k.method || "—", "amount"),
      acceptance: acceptanceChart(acceptance),
    },
    funnel,
    operators,
  };
}
