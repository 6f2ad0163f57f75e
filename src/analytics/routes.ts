import { type Static, type TSchema, Type } from "@sinclair/typebox";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Db } from "../db/db.ts";
import type { Routes } from "../http/index.ts";
import type { Clock } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import { type FunnelQuery, funnelCsv, queryFunnel } from "./funnel.ts";
import { listOperatorHealth } from "./health.ts";
import { GRANULARITIES, type Granularity, type Metric } from "./model.ts";
import {
  csvField,
  FILTERS,
  type Filter,
  GROUP_BY,
  type GroupBy,
  querySeries,
  type Scope,
  seriesCsv,
} from "./series.ts";
import { querySummary } from "./summary.ts";

/**
 * `GET /v1/analytics/...`: every number of the dashboard as JSON, and as CSV with
 * `Accept: text/csv`. A merchant's secret key sees its own data; the admin key names the merchant
 * (`merchant`, `mode`).
 */
export interface AnalyticsRoutesContext {
  db: Db;
  clock: Clock;
}

const DAY_MS = 86_400_000;

/** ISO 8601 or Unix seconds. */
export function parseInstant(value: string | undefined, param: string, fallbackMs: number): number {
  if (value === undefined || value === "") return fallbackMs;
  const ms = /^\d{1,12}$/.test(value) ? Number(value) * 1000 : Date.parse(value);
  if (!Number.isFinite(ms))
    throw new ApiError("parameter_invalid", param, `'${param}' must be an ISO 8601 time or Unix seconds.`);
  return ms;
}

export function validTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** The merchant and mode a request may read. */
export function analyticsScope(request: FastifyRequest): Scope {
  const auth = request.auth;
  const query = (request.query ?? {}) as { merchant?: string; mode?: string };
  if (auth?.kind === "admin") {
    if (!query.merchant)
      throw new ApiError("parameter_missing", "merchant", "The admin key names the merchant: 'merchant'.");
    return { merchantId: query.merchant, mode: query.mode === "live" ? "live" : "test" };
  }
  if (auth?.kind !== "merchant" || auth.keyType !== "secret") throw new ApiError("secret_key_required");
  return { merchantId: auth.merchantId, mode: auth.mode };
}

export async function reportingSettings(
  db: Db,
  scope: Scope,
): Promise<{ timeZone: string; currency: string }> {
  const { rows } = await db.query<{
    time_zone: string | null;
    reporting_currency: string | null;
    default_currency: string | null;
  }>(
    `select s.time_zone, s.reporting_currency, m.default_currency
       from merchants m left join analytics_settings s on s.merchant_id = m.id where m.id = $1`,
    [scope.merchantId],
  );
  const row = rows[0];
  return {
    timeZone: row?.time_zone ?? "UTC",
    currency: row?.reporting_currency ?? row?.default_currency ?? "EUR",
  };
}

const Common = {
  from: Type.Optional(
    Type.String({ maxLength: 40, description: "ISO 8601 or Unix seconds; default: 24 h before `to`" }),
  ),
  to: Type.Optional(Type.String({ maxLength: 40, description: "ISO 8601 or Unix seconds; default: now" })),
  merchant: Type.Optional(Type.String({ maxLength: 64, description: "With the admin key: whose data" })),
  mode: Type.Optional(Type.Union([Type.Literal("test"), Type.Literal("live")])),
  app: Type.Optional(Type.String({ maxLength: 64 })),
  country: Type.Optional(Type.String({ maxLength: 2 })),
  operator: Type.Optional(Type.String({ maxLength: 64 })),
  method: Type.Optional(Type.String({ maxLength: 32 })),
};

const SeriesQuerySchema = Type.Object(
  {
    ...Common,
    granularity: Type.Optional(Type.Union(GRANULARITIES.map((g) => Type.Literal(g)))),
    group_by: Type.Optional(
      Type.String({ maxLength: 200, description: `Comma-separated: ${GROUP_BY.join(", ")}` }),
    ),
    currency: Type.Optional(Type.String({ maxLength: 8 })),
    product: Type.Optional(Type.String({ maxLength: 64 })),
    status: Type.Optional(Type.String({ maxLength: 40 })),
    type: Type.Optional(Type.String({ maxLength: 80 })),
    time_zone: Type.Optional(Type.String({ maxLength: 64, description: "IANA zone for day buckets" })),
    reporting_currency: Type.Optional(Type.String({ maxLength: 8 })),
  },
  { additionalProperties: false },
);

const FunnelQuerySchema = Type.Object(
  {
    ...Common,
    group_by: Type.Optional(
      Type.Union([
        Type.Literal("operator"),
        Type.Literal("country"),
        Type.Literal("app"),
        Type.Literal("method"),
      ]),
    ),
  },
  { additionalProperties: false },
);

const SummaryQuerySchema = Type.Object(
  { ...Common, reporting_currency: Type.Optional(Type.String({ maxLength: 8 })) },
  { additionalProperties: false },
);
const OperatorsQuerySchema = Type.Object(
  { merchant: Common.merchant, mode: Common.mode },
  { additionalProperties: false },
);

const Point = Type.Object({
  t: Type.String({ format: "date-time" }),
  count: Type.Integer(),
  amount: Type.Integer(),
});
const SeriesResponse = Type.Object({
  object: Type.Literal("analytics"),
  metric: Type.String(),
  from: Type.String(),
  to: Type.String(),
  granularity: Type.String(),
  time_zone: Type.String(),
  group_by: Type.Array(Type.String()),
  currency: Type.Union([Type.String(), Type.Null()]),
  unconverted_currencies: Type.Array(Type.String()),
  series: Type.Array(
    Type.Object({ key: Type.Record(Type.String(), Type.String()), points: Type.Array(Point) }),
  ),
});
const FunnelStep = Type.Object({
  step: Type.String(),
  count: Type.Integer(),
  conversion: Type.Union([Type.Number(), Type.Null()]),
});
const FunnelResponse = Type.Object({
  object: Type.Literal("funnel"),
  from: Type.String(),
  to: Type.String(),
  filters: Type.Record(Type.String(), Type.String()),
  steps: Type.Array(FunnelStep),
  series: Type.Array(
    Type.Object({ key: Type.Record(Type.String(), Type.String()), steps: Type.Array(FunnelStep) }),
  ),
});
const Money = Type.Object({
  by_currency: Type.Array(Type.Object({ currency: Type.String(), amount: Type.Integer() })),
  total: Type.Integer(),
  currency: Type.String(),
  unconverted_currencies: Type.Array(Type.String()),
});
const Rate = Type.Union([Type.Number(), Type.Null()]);
const SummaryResponse = Type.Object({
  object: Type.Literal("analytics_summary"),
  from: Type.String(),
  to: Type.String(),
  payments: Type.Object({ total: Type.Integer(), by_status: Type.Record(Type.String(), Type.Integer()) }),
  acceptance: Type.Object({
    rate: Rate,
    accepted: Type.Integer(),
    declined: Type.Integer(),
    abandoned: Type.Integer(),
    open: Type.Integer(),
  }),
  revenue: Money,
  refunds: Type.Object({ count: Type.Integer(), amount: Money }),
  retries: Type.Object({ attempts: Type.Integer(), succeeded: Type.Integer(), recovered: Money }),
  declines: Type.Array(Type.Object({ reason: Type.String(), count: Type.Integer() })),
  subscriptions: Type.Object({
    active: Type.Integer(),
    new: Type.Integer(),
    canceled: Type.Integer(),
    churn_rate: Rate,
    mrr: Money,
  }),
  wallets: Type.Object({ top_ups: Type.Integer(), spend: Type.Integer() }),
  vouchers: Type.Object({ redemptions: Type.Integer() }),
  webhooks: Type.Object({
    pending: Type.Integer(),
    oldest_pending_ms: Type.Union([Type.Integer(), Type.Null()]),
    delivery_lag_p50_ms: Type.Union([Type.Integer(), Type.Null()]),
  }),
  ingest: Type.Object({ lag_ms: Type.Integer(), events_consumed: Type.Integer() }),
});
const OperatorHealthObject = Type.Object({
  id: Type.String(),
  object: Type.Literal("operator_health"),
  operator: Type.String(),
  status: Type.Union([Type.Literal("healthy"), Type.Literal("degraded")]),
  acceptance_rate: Rate,
  baseline_acceptance_rate: Rate,
  decided: Type.Integer(),
  baseline_decided: Type.Integer(),
  abandoned: Type.Integer(),
  latency: Type.Object({
    p50_ms: Type.Union([Type.Integer(), Type.Null()]),
    p99_ms: Type.Union([Type.Integer(), Type.Null()]),
    error_rate: Rate,
    exchanges: Type.Integer(),
  }),
  window_start: Type.String(),
  window_end: Type.String(),
  baseline_start: Type.String(),
  baseline_end: Type.String(),
  since: Type.Union([Type.String(), Type.Null()]),
});
const OperatorsResponse = Type.Object({
  object: Type.Literal("list"),
  data: Type.Array(OperatorHealthObject),
});

function wantsCsv(request: FastifyRequest): boolean {
  const accept = request.headers.accept ?? "";
  return /\btext\/csv\b/i.test(accept) && !/\bapplication\/json\b/i.test(accept.split(",")[0] ?? "");
}

function send(reply: FastifyReply, body: unknown, csv?: () => string, name = "analytics"): FastifyReply {
  if (csv) {
    return reply
      .code(200)
      .type("text/csv; charset=utf-8")
      .header("content-disposition", `attachment; filename="${name}.csv"`)
      .send(csv());
  }
  return reply.code(200).type("application/json; charset=utf-8").send(JSON.stringify(body));
}

function parseGroupBy(value: string | undefined): GroupBy[] {
  if (!value) return [];
  const names = value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const out: GroupBy[] = [];
  for (const name of names) {
    if (!(GROUP_BY as readonly string[]).includes(name)) {
      throw new ApiError(
        "parameter_invalid",
        "group_by",
        `'${name}' cannot be grouped by; use ${GROUP_BY.join(", ")}.`,
      );
    }
    if (!out.includes(name as GroupBy)) out.push(name as GroupBy);
  }
  return out;
}

export function rangeOf(
  query: { from?: string; to?: string },
  nowMs: number,
): { fromMs: number; toMs: number } {
  const toMs = parseInstant(query.to, "to", nowMs);
  const fromMs = parseInstant(query.from, "from", toMs - DAY_MS);
  if (fromMs >= toMs) throw new ApiError("parameter_invalid", "from", "'from' must be before 'to'.");
  if (toMs - fromMs > 400 * DAY_MS)
    throw new ApiError("parameter_invalid", "from", "At most 400 days at once.");
  return { fromMs, toMs };
}

function filtersOf(query: Record<string, string | undefined>): Partial<Record<Filter, string>> {
  const out: Partial<Record<Filter, string>> = {};
  for (const name of FILTERS) {
    const value = query[name];
    if (value !== undefined && value !== "") out[name] = name === "country" ? value.toUpperCase() : value;
  }
  return out;
}

const SERIES_METRICS: { metric: Metric; summary: string }[] = [
  {
    metric: "payments",
    summary: "Payments and amounts per time bucket (by status, operator, country, app, method…)",
  },
  { metric: "refunds", summary: "Refunds per time bucket" },
  { metric: "retries", summary: "Charge retries and the revenue they recovered, per time bucket" },
  { metric: "subscriptions", summary: "Subscription events (created, canceled, renewed…) per time bucket" },
  { metric: "events", summary: "Events by type per time bucket (wallet top-ups, voucher redemptions…)" },
];

/** Registered on the `secretOrAdmin` surface (src/http/app.ts). */
export const analyticsRoutes: Routes<AnalyticsRoutesContext> = async (app, context) => {
  const { db, clock } = context;
  const tags = ["analytics"];
  const errors = (schema: TSchema) => ({ 200: schema });
  for (const { metric, summary } of SERIES_METRICS) {
    app.get(
      `/analytics/${metric}`,
      {
        schema: {
          tags,
          summary,
          operationId: `getAnalytics${metric[0]!.toUpperCase()}${metric.slice(1)}`,
          querystring: SeriesQuerySchema,
          response: errors(SeriesResponse),
        },
      },
      async (request, reply) => {
        const scope = analyticsScope(request);
        const query = request.query as Static<typeof SeriesQuerySchema>;
        const settings = await reportingSettings(db, scope);
        const timeZone = query.time_zone ?? settings.timeZone;
        if (!validTimeZone(timeZone))
          throw new ApiError("parameter_invalid", "time_zone", "Not an IANA time zone.");
        const granularity: Granularity = query.granularity ?? "hour";
        const result = await querySeries(db, scope, {
          metric,
          ...rangeOf(query, clock.nowMs()),
          granularity,
          groupBy: parseGroupBy(query.group_by),
          filters: filtersOf(query),
          timeZone,
          reportingCurrency: (query.reporting_currency ?? settings.currency).toUpperCase(),
        });
        return send(reply, result, wantsCsv(request) ? () => seriesCsv(result) : undefined, metric);
      },
    );
  }

  app.get(
    "/analytics/funnel",
    {
      schema: {
        tags,
        summary: "The checkout conversion funnel: sessions reaching each step",
        operationId: "getAnalyticsFunnel",
        querystring: FunnelQuerySchema,
        response: errors(FunnelResponse),
      },
    },
    async (request, reply) => {
      const scope = analyticsScope(request);
      const query = request.query as Static<typeof FunnelQuerySchema>;
      const funnelQuery: FunnelQuery = { ...rangeOf(query, clock.nowMs()) };
      for (const name of ["app", "operator", "country", "method"] as const) {
        const value = query[name];
        if (value) funnelQuery[name] = name === "country" ? value.toUpperCase() : value;
      }
      if (query.group_by) funnelQuery.groupBy = query.group_by;
      const funnel = await queryFunnel(db, scope, funnelQuery);
      return send(reply, funnel, wantsCsv(request) ? () => funnelCsv(funnel) : undefined, "funnel");
    },
  );

  app.get(
    "/analytics/summary",
    {
      schema: {
        tags,
        summary: "The dashboard's tiles: totals, acceptance, revenue, refunds, retries, subscriptions, lags",
        operationId: "getAnalyticsSummary",
        querystring: SummaryQuerySchema,
        response: errors(SummaryResponse),
      },
    },
    async (request, reply) => {
      const scope = analyticsScope(request);
      const query = request.query as Static<typeof SummaryQuerySchema>;
      const settings = await reportingSettings(db, scope);
      const nowMs = clock.nowMs();
      const summary = await querySummary(
        db,
        scope,
        { ...rangeOf(query, nowMs), nowMs },
        filtersOf(query),
        (query.reporting_currency ?? settings.currency).toUpperCase(),
      );
      return send(reply, summary, wantsCsv(request) ? () => summaryCsv(summary) : undefined, "summary");
    },
  );

  app.get(
    "/analytics/operators",
    {
      schema: {
        tags,
        summary:
          "Operator health: acceptance and latency over 15 minutes against the same window a week earlier",
        operationId: "listAnalyticsOperators",
        querystring: OperatorsQuerySchema,
        response: errors(OperatorsResponse),
      },
    },
    async (request, reply) => {
      const scope = analyticsScope(request);
      const data = await listOperatorHealth(db, scope, clock.nowMs());
      return send(
        reply,
        { object: "list", data },
        wantsCsv(request) ? () => operatorsCsv(data) : undefined,
        "operators",
      );
    },
  );
};

function summaryCsv(summary: Awaited<ReturnType<typeof querySummary>>): string {
  const lines = ["metric,value"];
  const walk = (prefix: string, value: unknown) => {
    if (value && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) walk(prefix ? `${prefix}.${k}` : k, v);
    } else lines.push([prefix, value ?? ""].map(csvField).join(","));
  };
  walk("", summary);
  return `${lines.join("\r\n")}\r\n`;
}

function operatorsCsv(data: Awaited<ReturnType<typeof listOperatorHealth>>): string {
  const lines = [
    "operator,status,acceptance_rate,baseline_acceptance_rate,decided,baseline_decided,abandoned,latency_p50_ms,latency_p99_ms,error_rate",
  ];
  for (const o of data) {
    lines.push(
      [
        o.operator,
        o.status,
        o.acceptance_rate,
        o.baseline_acceptance_rate,
        o.decided,
        o.baseline_decided,
        o.abandoned,
        o.latency.p50_ms,
        o.latency.p99_ms,
        o.latency.error_rate,
      ]
        .map((v) => csvField(v === null ? "" : v))
        .join(","),
    );
  }
  return `${lines.join("\r\n")}\r\n`;
}
