import { type Static, Type } from "@sinclair/typebox";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Db } from "../db/db.ts";
import { type Routes, sendJson } from "../http/index.ts";
import type { Clock } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import {
  distributionSummary,
  listExchangeRates,
  setExchangeRate,
  subscriptionsAnalytics,
  toReporting,
} from "./metrics.ts";
import {
  type AnalyticsScope,
  funnel,
  funnelCsv,
  type Group,
  paymentsAnalytics,
  paymentsCsv,
  timeZoneOf,
  toCsv,
} from "./queries.ts";
import { rebuildRollups } from "./rollups.ts";

import {
  Csv,
  DistributionBody,
  DistributionQuery,
  errors,
  FunnelBody,
  FunnelQuery,
  METRIC_ENDPOINTS,
  MetricAnalytics,
  MetricQuery,
  PaymentsAnalytics,
  PaymentsQuery,
  Rate,
  RateBody,
  RatesQuery,
  RebuildBody,
  RebuildResult,
  SubscriptionsBody,
  SubscriptionsQuery,
} from "./routes-schemas.ts";

export interface AnalyticsRouteDeps {
  db: Db;
  /** Reads that may lag (a replica when DATABASE_READ_URL is set): every report here but the rates. */
  readDb: Db;
  clock: Clock;
}

const DAY_MS = 86_400_000;
function reportingCsv(reporting: {
  currency: string;
  totals: Array<{ key: Record<string, string>; count: number; amount: number }>;
}): string {
  const keys = [...new Set(reporting.totals.flatMap((t) => Object.keys(t.key)))];
  return toCsv(
    [...keys, "count", "amount", "currency"],
    reporting.totals.map((t) => [...keys.map((k) => t.key[k] ?? ""), t.count, t.amount, reporting.currency]),
  );
}

/** Whose numbers a request may see: its merchant's, or (admin) any or all. */
function scopeOf(request: FastifyRequest, query: { merchant?: string; mode?: string }): AnalyticsScope {
  const auth = request.auth;
  if (auth.kind === "merchant") {
    if (query.merchant !== undefined) {
      throw new ApiError("parameter_invalid", "merchant", "Only the admin key chooses the merchant.");
    }
    if (query.mode !== undefined) {
      throw new ApiError("parameter_invalid", "mode", "A key's mode is its own; only the admin key chooses.");
    }
    return { merchantId: auth.merchantId, mode: auth.mode };
  }
  return { merchantId: query.merchant ?? null, mode: query.mode ?? "test" };
}

function range(clock: Clock, query: { from?: string; to?: string }): { fromMs: number; toMs: number } {
  const toMs = query.to !== undefined ? Date.parse(query.to) : clock.nowMs();
  const fromMs = query.from !== undefined ? Date.parse(query.from) : toMs - DAY_MS;
  return { fromMs, toMs };
}

function wantsCsv(request: FastifyRequest): boolean {
  return /\btext\/csv\b/i.test(request.headers.accept ?? "");
}

function sendCsv(reply: FastifyReply, name: string, body: string): FastifyReply {
  return reply
    .code(200)
    .type("text/csv; charset=utf-8")
    .header("content-disposition", `attachment; filename="${name}.csv"`)
    .send(body);
}

function jsonOrCsv(schema: ReturnType<typeof Type.Object>) {
  return {
    200: {
      description: "JSON, or CSV when the request asks for `Accept: text/csv`.",
      content: { "application/json": { schema }, "text/csv": { schema: Csv } },
    },
    ...errors,
  };
}

/** `GET /v1/analytics/...`: a merchant's own numbers (secret key) or any merchant's (admin key). */
export const analyticsRoutes: Routes<AnalyticsRouteDeps> = async (app, deps) => {
  app.get(
    "/analytics/payments",
    {
      schema: {
        tags: ["analytics"],
        operationId: "getPaymentAnalytics",
        summary: "Payments and amounts by outcome over time",
        description:
          "From the per-minute, per-hour and per-day rollups of the events (docs/analytics.md). Counts payments by outcome (succeeded, failed, canceled) when it happened; every series is per currency.",
        querystring: PaymentsQuery,
        response: jsonOrCsv(PaymentsAnalytics),
      },
    },
    async (request, reply) => {
      const query: Static<typeof PaymentsQuery> = request.query;
      const scope = scopeOf(request, query);
      const result = await paymentsAnalytics(deps.readDb, scope, {
        ...range(deps.clock, query),
        granularity: query.granularity ?? "hour",
        groupBy: (query.group_by?.split(",") ?? []) as Group[],
        ...(query.status ? { statuses: query.status.split(",") } : {}),
        ...(query.time_zone !== undefined ? { timeZone: timeZoneOf(query.time_zone) } : {}),
        filters: {
          app: query.app,
          operator: query.operator,
          country: query.country,
          method: query.method,
          currency: query.currency,
        },
      });
      const reporting =
        query.reporting_currency !== undefined
          ? await toReporting(deps.readDb, query.reporting_currency, result.series)
          : undefined;
      if (wantsCsv(request)) {
        return sendCsv(reply, "payments", reporting ? reportingCsv(reporting) : paymentsCsv(result));
      }
      return sendJson(reply, 200, reporting ? { ...result, reporting } : result);
    },
  );

  for (const endpoint of METRIC_ENDPOINTS) {
    app.get(
      `/analytics/${endpoint.path}`,
      {
        schema: {
          tags: ["analytics"],
          operationId: endpoint.operationId,
          summary: endpoint.summary,
          description: `From the rollups (metrics ${endpoint.metrics.join(", ")}); every series is per metric and currency.`,
          querystring: MetricQuery,
          response: jsonOrCsv(MetricAnalytics),
        },
      },
      async (request, reply) => {
        const query: Static<typeof MetricQuery> = request.query;
        const scope = scopeOf(request, query);
        const result = await paymentsAnalytics(deps.readDb, scope, {
          ...range(deps.clock, query),
          granularity: query.granularity ?? "hour",
          groupBy: [...endpoint.groupBy, ...((query.group_by?.split(",") ?? []) as Group[])],
          statuses: endpoint.metrics,
          byMetric: true,
          filters: {
            app: query.app,
            operator: query.operator,
            country: query.country,
            method: query.method,
            currency: query.currency,
          },
        });
        return wantsCsv(request)
          ? sendCsv(reply, endpoint.path, paymentsCsv(result))
          : sendJson(reply, 200, result);
      },
    );
  }

  app.get(
    "/analytics/subscriptions",
    {
      schema: {
        tags: ["analytics"],
        operationId: "getSubscriptionAnalytics",
        summary: "Subscriptions: active, new, canceled, churn and monthly recurring revenue",
        description:
          "Per currency, every bucket. Active and MRR count every subscription created and not canceled since the rollups began; MRR normalizes each price's period to a month.",
        querystring: SubscriptionsQuery,
        response: jsonOrCsv(SubscriptionsBody),
      },
    },
    async (request, reply) => {
      const query: Static<typeof SubscriptionsQuery> = request.query;
      const scope = scopeOf(request, query);
      const toMs = query.to !== undefined ? Date.parse(query.to) : deps.clock.nowMs();
      const fromMs = query.from !== undefined ? Date.parse(query.from) : toMs - 30 * DAY_MS;
      const result = await subscriptionsAnalytics(deps.readDb, scope, {
        fromMs,
        toMs,
        granularity: query.granularity ?? "day",
        filters: {
          operator: query.operator,
          country: query.country,
          method: query.method,
          product: query.product,
        },
      });
      if (!wantsCsv(request)) return sendJson(reply, 200, result);
      return sendCsv(
        reply,
        "subscriptions",
        toCsv(
          ["t", "currency", "active", "new", "canceled", "churn_bp", "mrr"],
          result.series.flatMap((s) =>
            s.points.map((p) => [p.t, s.key.currency, p.active, p.new, p.canceled, p.churn_bp ?? "", p.mrr]),
          ),
        ),
      );
    },
  );

  for (const [path, metric, object, operationId, summary] of [
    [
      "providers",
      "provider_latency",
      "analytics_providers",
      "getProviderAnalytics",
      "Provider latency p50/p99 and error rate per provider and operator",
    ],
    [
      "webhooks",
      "webhook_lag",
      "analytics_webhooks",
      "getWebhookLagAnalytics",
      "Webhook delivery lag p50/p99: from the event to the attempt that delivered it",
    ],
  ] as const) {
    app.get(
      `/analytics/${path}`,
      {
        schema: {
          tags: ["analytics"],
          operationId,
          summary,
          description: "From histograms of the feed (docs/analytics.md), summed over the period.",
          querystring: DistributionQuery,
          response: jsonOrCsv(DistributionBody),
        },
      },
      async (request, reply) => {
        const query: Static<typeof DistributionQuery> = request.query;
        const scope = scopeOf(request, query);
        const summary = await distributionSummary(deps.readDb, scope, metric, {
          ...range(deps.clock, query),
          granularity: query.granularity ?? "minute",
          ...(query.operator !== undefined ? { operator: query.operator } : {}),
          ...(query.provider !== undefined ? { provider: query.provider } : {}),
        });
        if (!wantsCsv(request)) return sendJson(reply, 200, { object, ...summary });
        return sendCsv(
          reply,
          path,
          toCsv(
            ["provider", "operator", "count", "errors", "error_rate_bp", "p50_ms", "p99_ms"],
            summary.data.map((d) => [
              d.provider,
              d.operator,
              d.count,
              d.errors,
              d.error_rate_bp ?? "",
              d.p50_ms ?? "",
              d.p99_ms ?? "",
            ]),
          ),
        );
      },
    );
  }

  app.post(
    "/analytics/exchange_rates",
    {
      schema: {
        tags: ["analytics"],
        operationId: "setAnalyticsExchangeRate",
        summary: "Record the rate of a day for totals in a reporting currency (admin key)",
        body: RateBody,
        response: { 200: Rate, ...errors },
      },
    },
    async (request, reply) => {
      if (request.auth.kind !== "admin") throw new ApiError("admin_key_required");
      const body: Static<typeof RateBody> = request.body;
      return sendJson(reply, 200, await setExchangeRate(deps.db, body, deps.clock.nowMs()));
    },
  );

  app.get(
    "/analytics/exchange_rates",
    {
      schema: {
        tags: ["analytics"],
        operationId: "listAnalyticsExchangeRates",
        summary: "The recorded rates of the reporting currencies, newest day first",
        querystring: RatesQuery,
        response: {
          200: Type.Object({
            object: Type.Literal("list"),
            data: Type.Array(Rate),
            has_more: Type.Boolean(),
          }),
          ...errors,
        },
      },
    },
    async (request, reply) => {
      const query: Static<typeof RatesQuery> = request.query;
      const data = await listExchangeRates(deps.db, query.to_currency);
      return sendJson(reply, 200, { object: "list", data, has_more: false });
    },
  );

  app.get(
    "/analytics/funnel",
    {
      schema: {
        tags: ["analytics"],
        operationId: "getCheckoutFunnel",
        summary: "The checkout conversion funnel",
        description: "How many checkout journeys reached each step, from the steps checkout records.",
        querystring: FunnelQuery,
        response: jsonOrCsv(FunnelBody),
      },
    },
    async (request, reply) => {
      const query: Static<typeof FunnelQuery> = request.query;
      const scope = scopeOf(request, query);
      const result = await funnel(deps.readDb, scope, {
        ...range(deps.clock, query),
        ...(query.app !== undefined ? { app: query.app } : {}),
        ...(query.operator !== undefined ? { operator: query.operator } : {}),
        ...(query.country !== undefined ? { country: query.country } : {}),
        ...(query.method !== undefined ? { method: query.method } : {}),
      });
      return wantsCsv(request) ? sendCsv(reply, "funnel", funnelCsv(result)) : sendJson(reply, 200, result);
    },
  );

  app.post(
    "/analytics/rebuild",
    {
      schema: {
        tags: ["analytics"],
        operationId: "rebuildAnalytics",
        summary: "Recompute the rollups of past days from the events (admin key)",
        body: RebuildBody,
        response: { 200: RebuildResult, ...errors },
      },
    },
    async (request, reply) => {
      if (request.auth.kind !== "admin") throw new ApiError("admin_key_required");
      const body: Static<typeof RebuildBody> = request.body;
      return sendJson(reply, 200, await rebuildRollups(deps, Date.parse(body.from), Date.parse(body.to)));
    },
  );
};
