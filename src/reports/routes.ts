import { type Static, type TSchema, Type } from "@sinclair/typebox";
import type { FastifyRequest } from "fastify";
import { ErrorBody, IsoTimestamp, type Routes, StringEnum, sendJson } from "../http/index.ts";
import { ApiError } from "../platform/errors.ts";
import type { AuthScope } from "../platform/scope.ts";
import { REVENUE_GROUPS, revenueCsv } from "./revenue.ts";
import { type ReportRouteDeps, reportPeriod, revenueFor, sendCsv } from "./service.ts";
import { monthlyStatement, STATEMENT_LINES, statementCsv } from "./statement.ts";
import { liabilityCsv, subscriptionsCsv, subscriptionsReport, voucherLiability } from "./subscriptions.ts";

const Scoping = {
  merchant: Type.Optional(
    Type.String({ maxLength: 64, description: "Admin key and platform staff only (required for them)." }),
  ),
  mode: Type.Optional(
    StringEnum(["test", "live"] as const, { description: "Admin key only (default test)." }),
  ),
};

const Period = {
  from: { ...IsoTimestamp, description: "Start (inclusive)." },
  to: { ...IsoTimestamp, description: "End (exclusive); at most 367 days after `from`." },
};

const RevenueQuery = Type.Object(
  {
    ...Period,
    group_by: Type.Optional(StringEnum(REVENUE_GROUPS, { description: "Rows per group (default day)." })),
    reporting_currency: Type.Optional(
      Type.String({
        pattern: "^[A-Z]{3,8}$",
        description: "Converted totals in this currency (default the merchant's default currency, else EUR).",
      }),
    ),
    time_zone: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        description: "IANA zone of the days (group_by=day; default UTC).",
      }),
    ),
    ...Scoping,
  },
  { additionalProperties: false },
);

const Converted = Type.Union([
  Type.Object({
    gross: Type.Integer({ description: "Minor units of the reporting currency, rounded half to even." }),
    refunds: Type.Integer(),
    net: Type.Integer({ description: "gross - refunds (each rounded on its own)." }),
  }),
  Type.Null({ description: "No rate: the row is left unconverted." }),
]);

const RevenueBody = Type.Object({
  object: Type.Literal("revenue_report"),
  from: Type.String({ format: "date-time" }),
  to: Type.String({ format: "date-time" }),
  group_by: StringEnum(REVENUE_GROUPS),
  time_zone: Type.String(),
  reporting_currency: Type.String(),
  rows: Type.Array(
    Type.Object({
      group: Type.String({ description: "The day, price, country, operator or currency ('' = none)." }),
      currency: Type.String({ description: "The original currency." }),
      count: Type.Integer({ description: "Succeeded payments." }),
      gross: Type.Integer({ description: "Captured amounts, minor units of `currency`." }),
      refund_count: Type.Integer(),
      refunds: Type.Integer({ description: "Succeeded refunds, minor units of `currency`." }),
      net: Type.Integer(),
      converted: Converted,
    }),
  ),
  totals: Type.Array(
    Type.Object({
      group: Type.String(),
      count: Type.Integer(),
      gross: Type.Integer({ description: "Reporting currency: the sum of the converted rows." }),
      refunds: Type.Integer(),
      net: Type.Integer(),
      complete: Type.Boolean({ description: "False when a row of the group could not be converted." }),
    }),
  ),
  total: Type.Object(
    {
      count: Type.Integer(),
      gross: Type.Integer(),
      refunds: Type.Integer(),
      net: Type.Integer(),
      complete: Type.Boolean(),
    },
    { description: "The whole period in the reporting currency: the sum of the groups' totals." },
  ),
  rates: Type.Array(
    Type.Object({
      currency: Type.String(),
      reporting_currency: Type.String(),
      rate: Type.String({ description: "Decimal string as recorded." }),
      inverted: Type.Boolean({
        description: "Recorded from the reporting currency: its exact inverse was used.",
      }),
      exchange_rate: Type.String({ description: "The exchange rate's id (xr_…)." }),
      valid_from: Type.String({ format: "date-time" }),
      source: Type.Union([Type.String(), Type.Null()]),
      applied_at: Type.String({ format: "date-time", description: "The instant whose valid rate was used." }),
    }),
  ),
  unconverted_currencies: Type.Array(Type.String()),
});

const SubscriptionsQuery = Type.Object({ ...Period, ...Scoping }, { additionalProperties: false });

const SubscriptionsBody = Type.Object({
  object: Type.Literal("subscriptions_report"),
  from: Type.String({ format: "date-time" }),
  to: Type.String({ format: "date-time" }),
  data: Type.Array(
    Type.Object({
      day: Type.String({ description: "UTC day." }),
      started: Type.Integer(),
      canceled: Type.Integer(),
      active: Type.Integer({ description: "At the day's end." }),
    }),
  ),
});

const ScopeQuery = Type.Object({ ...Scoping }, { additionalProperties: false });

const LiabilityBody = Type.Object({
  object: Type.Literal("list"),
  data: Type.Array(
    Type.Object({
      object: Type.Literal("voucher_liability"),
      batch: Type.String(),
      currency: Type.String(),
      value: Type.Integer(),
      cards_activated: Type.Integer(),
      cards_redeemed: Type.Integer(),
      cards_voided: Type.Integer(),
      breakage_recognized: Type.Integer(),
      outstanding: Type.Integer({ description: "From the batch's liability account on the ledger." }),
      closed: Type.Boolean(),
    }),
    { description: "Per money-voucher batch." },
  ),
  has_more: Type.Boolean(),
  as_of: Type.String({ format: "date-time" }),
  vouchers: Type.Array(
    Type.Object({
      currency: Type.String(),
      count: Type.Integer({ description: "Activated, unredeemed, unexpired money vouchers." }),
      amount: Type.Integer({ description: "Their face value, minor units." }),
      outstanding: Type.Integer({ description: "The batches' liability on the ledger (after breakage)." }),
    }),
  ),
  wallets: Type.Array(
    Type.Object({
      currency: Type.String(),
      paid: Type.Integer({ description: "What live paid grants still hold." }),
      paid_grants: Type.Integer(),
      promotional: Type.Integer({ description: "What live promotional grants still hold." }),
      promotional_grants: Type.Integer(),
    }),
  ),
});

const StatementParams = Type.Object({
  month: Type.String({ maxLength: 7, description: "YYYY-MM (UTC)." }),
});

const StatementBody = Type.Object({
  object: Type.Literal("statement"),
  month: Type.String(),
  from: Type.String({ format: "date-time" }),
  to: Type.String({ format: "date-time" }),
  final: Type.Boolean({ description: "False while the month is not over." }),
  currencies: Type.Array(
    Type.Object({
      currency: Type.String(),
      account: Type.String({ description: "The ledger account (the merchant's available balance)." }),
      opening_balance: Type.Integer(),
      lines: Type.Array(
        Type.Object({
          line: StringEnum(STATEMENT_LINES),
          count: Type.Integer(),
          credits: Type.Integer(),
          debits: Type.Integer(),
          net: Type.Integer(),
        }),
      ),
      by_code: Type.Array(
        Type.Object({
          code: Type.String({ description: "The ledger transfer code." }),
          line: StringEnum(STATEMENT_LINES),
          count: Type.Integer(),
          credits: Type.Integer(),
          debits: Type.Integer(),
        }),
      ),
      closing_balance: Type.Integer({ description: "Equals the ledger's balance at the month's end." }),
    }),
  ),
});

const errors = {
  400: { ...ErrorBody, description: "A parameter is missing or invalid (`param` names it)." },
  401: { ...ErrorBody, description: "No valid key." },
  403: { ...ErrorBody, description: "The key may not read reports." },
  429: { ...ErrorBody, description: "Too many requests." },
};

function jsonOrCsv(schema: TSchema) {
  return {
    200: {
      description: "JSON, or CSV when the request asks for `Accept: text/csv`.",
      content: {
        "application/json": { schema },
        "text/csv": { schema: Type.String({ description: "RFC 4180 CSV with a header line." }) },
      },
    },
    ...errors,
  };
}

function wantsCsv(request: FastifyRequest): boolean {
  return /\btext\/csv\b/i.test(request.headers.accept ?? "");
}

/** A merchant's key reads its own; the admin key (and platform staff) names the merchant. */
export function reportScope(request: FastifyRequest, query: { merchant?: string; mode?: string }): AuthScope {
  const auth = request.auth;
  if (auth.kind === "merchant") {
    if (query.merchant !== undefined)
      throw new ApiError("parameter_invalid", "merchant", "Only the admin key chooses the merchant.");
    if (query.mode !== undefined)
      throw new ApiError("parameter_invalid", "mode", "A key's mode is its own; only the admin key chooses.");
    return { merchantId: auth.merchantId, mode: auth.mode };
  }
  if (query.merchant === undefined)
    throw new ApiError("parameter_missing", "merchant", "Name the merchant whose report you want.");
  return { merchantId: query.merchant, mode: query.mode === "live" ? "live" : "test" };
}

/** `GET /v1/reports/...`: finance reports of one merchant, as JSON or CSV. */
export const reportRoutes: Routes<ReportRouteDeps> = async (app, deps) => {
  app.get(
    "/reports/revenue",
    {
      schema: {
        tags: ["reports"],
        operationId: "getRevenueReport",
        summary: "Revenue, refunds and net per day, product, country, operator or currency",
        description:
          "Succeeded payments (by creation time; captured amounts) and succeeded refunds (by request time) per group and original currency, and converted into the reporting currency at the rate valid at the period's end, rounded half to even (docs/reports.md).",
        querystring: RevenueQuery,
        response: jsonOrCsv(RevenueBody),
      },
    },
    async (request, reply) => {
      const query: Static<typeof RevenueQuery> = request.query;
      const report = await revenueFor(deps, reportScope(request, query), query);
      return wantsCsv(request) ? sendCsv(reply, "revenue", revenueCsv(report)) : sendJson(reply, 200, report);
    },
  );

  app.get(
    "/reports/subscriptions",
    {
      schema: {
        tags: ["reports"],
        operationId: "getSubscriptionsReport",
        summary: "Subscriptions started, canceled and active per day",
        querystring: SubscriptionsQuery,
        response: jsonOrCsv(SubscriptionsBody),
      },
    },
    async (request, reply) => {
      const query: Static<typeof SubscriptionsQuery> = request.query;
      const { fromMs, toMs } = reportPeriod(query);
      const report = await subscriptionsReport(deps.readDb, reportScope(request, query), fromMs, toMs);
      return wantsCsv(request)
        ? sendCsv(reply, "subscriptions", subscriptionsCsv(report))
        : sendJson(reply, 200, report);
    },
  );

  app.get(
    "/reports/voucher_liability",
    {
      schema: {
        tags: ["reports"],
        operationId: "voucherLiabilityReport",
        summary:
          "Outstanding money vouchers (per batch and per currency) and wallet balances (paid, promotional)",
        querystring: ScopeQuery,
        response: jsonOrCsv(LiabilityBody),
      },
    },
    async (request, reply) => {
      const query: Static<typeof ScopeQuery> = request.query;
      const scope = reportScope(request, query);
      const batches = await deps.voucherBatches.liabilityReport(scope);
      const report = await voucherLiability(deps.readDb, scope, deps.clock.nowMs(), batches);
      return wantsCsv(request)
        ? sendCsv(reply, "voucher_liability", liabilityCsv(report))
        : sendJson(reply, 200, report);
    },
  );

  app.get(
    "/reports/statements/:month",
    {
      schema: {
        tags: ["reports"],
        operationId: "getMonthlyStatement",
        summary: "The merchant's monthly statement from the ledger",
        description:
          "Opening balance, payments, refunds, fees, adjustments, payouts and other movements of the merchant's available balance, and the closing balance, checked against the ledger.",
        params: StatementParams,
        querystring: ScopeQuery,
        response: jsonOrCsv(StatementBody),
      },
    },
    async (request, reply) => {
      const query: Static<typeof ScopeQuery> = request.query;
      const { month }: Static<typeof StatementParams> = request.params;
      const statement = await monthlyStatement(
        deps.readDb,
        reportScope(request, query),
        month,
        deps.clock.nowMs(),
      );
      return wantsCsv(request)
        ? sendCsv(reply, `statement-${statement.month}`, statementCsv(statement))
        : sendJson(reply, 200, statement);
    },
  );
};
