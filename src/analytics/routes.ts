import { type Static, Type } from "@sinclair/typebox";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Db } from "../db/db.ts";
import { ErrorBody, IsoTimestamp, type Routes, StringEnum, sendJson } from "../http/index.ts";
import type { Clock } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import { GRAINS, OUTCOMES } from "./facts.ts";
import {
  type AnalyticsScope,
  FUNNEL_STEPS,
  funnel,
  funnelCsv,
  GROUPS,
  type Group,
  paymentsAnalytics,
  paymentsCsv,
} from "./queries.ts";
import { rebuildRollups } from "./rollups.ts";

export interface AnalyticsRouteDeps {
  db: Db;
  clock: Clock;
}

const DAY_MS = 86_400_000;
const groupList = `(${GROUPS.join("|")})`;
const Dim = (description: string) => Type.Optional(Type.String({ minLength: 1, maxLength: 64, description }));

const Scoping = {
  merchant: Type.Optional(
    Type.String({
      maxLength: 64,
      description: "Admin key only: one merchant's numbers (default: every merchant).",
    }),
  ),
  mode: Type.Optional(
    StringEnum(["test", "live"] as const, {
      description: "Admin key only: test or live data (default test).",
    }),
  ),
};

const PaymentsQuery = Type.Object(
  {
    from: Type.Optional({ ...IsoTimestamp, description: "Start (inclusive); default 24 hours before `to`." }),
    to: Type.Optional({ ...IsoTimestamp, description: "End (exclusive); default now." }),
    granularity: Type.Optional(StringEnum(GRAINS, { description: "Bucket size (default hour)." })),
    group_by: Type.Optional(
      Type.String({
        pattern: `^${groupList}(,${groupList})*$`,
        maxLength: 200,
        description: `Comma-separated: ${GROUPS.join(", ")}. Every series is per currency in any case.`,
      }),
    ),
    status: Type.Optional(
      Type.String({
        pattern: `^(${OUTCOMES.join("|")})(,(${OUTCOMES.join("|")}))*$`,
        maxLength: 100,
        description: "Comma-separated outcomes to count (default all of succeeded, failed, canceled).",
      }),
    ),
    app: Dim("A checkout app id."),
    operator: Dim("An operator (MCC+MNC)."),
    country: Dim("ISO 3166-1 alpha-2."),
    method: Dim("A payment-method type (carrier, card, sandbox, wallet)."),
    currency: Dim("ISO 4217."),
    ...Scoping,
  },
  { additionalProperties: false },
);

const Point = Type.Object({
  t: Type.String({ format: "date-time", description: "The bucket's start (UTC)." }),
  count: Type.Integer(),
  amount: Type.Integer({ description: "Minor units of the series' currency." }),
});

const PaymentsAnalytics = Type.Object({
  object: Type.Literal("analytics"),
  from: Type.String({ format: "date-time" }),
  to: Type.String({ format: "date-time" }),
  granularity: StringEnum(GRAINS),
  series: Type.Array(
    Type.Object({
      key: Type.Record(Type.String(), Type.String(), {
        description: "The series' currency and the value of each group asked for ('' = none).",
      }),
      points: Type.Array(Point, { description: "Buckets with payments, in order; empty ones are left out." }),
    }),
  ),
});

const FunnelQuery = Type.Object(
  {
    from: Type.Optional({ ...IsoTimestamp, description: "Start (inclusive); default 24 hours before `to`." }),
    to: Type.Optional({ ...IsoTimestamp, description: "End (exclusive); default now." }),
    app: Dim("A checkout app id."),
    operator: Dim("Journeys with a step on this operator (MCC+MNC)."),
    country: Dim("Journeys with a step in this country."),
    method: Dim("Journeys that chose this method."),
    ...Scoping,
  },
  { additionalProperties: false },
);

const FunnelBody = Type.Object({
  object: Type.Literal("analytics_funnel"),
  from: Type.String({ format: "date-time" }),
  to: Type.String({ format: "date-time" }),
  steps: Type.Array(
    Type.Object({
      step: Type.String({ description: `One of ${FUNNEL_STEPS.join(", ")}.` }),
      count: Type.Integer({ description: "Journeys (checkout sessions) that reached the step." }),
    }),
  ),
  journeys: Type.Integer(),
});

const RebuildBody = Type.Object(
  {
    from: { ...IsoTimestamp, description: "Midnight UTC: the first day to rebuild." },
    to: { ...IsoTimestamp, description: "Midnight UTC: the day after the last one." },
  },
  { additionalProperties: false },
);

const RebuildResult = Type.Object({
  object: Type.Literal("analytics_rebuild"),
  from: Type.String({ format: "date-time" }),
  to: Type.String({ format: "date-time" }),
  events: Type.Integer({ description: "Events counted again." }),
});

const Csv = Type.String({ description: "RFC 4180 CSV with a header line." });
const errors = {
  400: { ...ErrorBody, description: "A parameter is missing or invalid (`param` names it)." },
  401: { ...ErrorBody, description: "No valid key." },
  403: { ...ErrorBody, description: "The key may not read analytics." },
  429: { ...ErrorBody, description: "Too many requests." },
};

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
      const result = await paymentsAnalytics(deps.db, scope, {
        ...range(deps.clock, query),
        granularity: query.granularity ?? "hour",
        groupBy: (query.group_by?.split(",") ?? []) as Group[],
        ...(query.status ? { statuses: query.status.split(",") } : {}),
        filters: {
          app: query.app,
          operator: query.operator,
          country: query.country,
          method: query.method,
          currency: query.currency,
        },
      });
      return wantsCsv(request)
        ? sendCsv(reply, "payments", paymentsCsv(result))
        : sendJson(reply, 200, result);
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
      const result = await funnel(deps.db, scope, {
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
