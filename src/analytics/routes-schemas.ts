/** The analytics routes' request and response schemas (TypeBox; the OpenAPI document is built from them). */
import { Type } from "@sinclair/typebox";
import { ErrorBody, IsoTimestamp, StringEnum } from "../http/index.ts";
import { GRAINS, OUTCOMES } from "./facts.ts";
import { FUNNEL_STEPS, GROUPS, type Group } from "./queries.ts";

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

export const PaymentsQuery = Type.Object(
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
    time_zone: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        description: "IANA zone: day buckets start at its midnight (granularity day; default UTC).",
      }),
    ),
    reporting_currency: Type.Optional(
      Type.String({
        pattern: "^[A-Z]{3}$",
        description:
          "Adds `reporting`: totals converted into this currency at the recorded rate of each bucket's day (POST /v1/analytics/exchange_rates), with the rates used.",
      }),
    ),
    ...Scoping,
  },
  { additionalProperties: false },
);

const Point = Type.Object({
  t: Type.String({ format: "date-time", description: "The bucket's start (UTC)." }),
  count: Type.Integer(),
  amount: Type.Integer({ description: "Minor units of the series' currency." }),
});

const RateUsed = Type.Object({
  from_currency: Type.String(),
  day: Type.String({ description: "The UTC day of the amounts converted." }),
  rate: Type.String({ description: "Decimal: reporting-currency units per unit of from_currency." }),
  rate_day: Type.String({
    description: "The day the rate was recorded for (that day or the newest before).",
  }),
});

const Reporting = Type.Object({
  currency: Type.String(),
  totals: Type.Array(
    Type.Object({
      key: Type.Record(Type.String(), Type.String()),
      count: Type.Integer(),
      amount: Type.Integer({ description: "Minor units of the reporting currency." }),
    }),
    { description: "Per key of the series without its currency, over the whole period." },
  ),
  rates: Type.Array(RateUsed),
});

export const PaymentsAnalytics = Type.Object({
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
  reporting: Type.Optional(Reporting),
});

/** The endpoints of metrics other than payments' outcomes: the rollup metrics each counts. */
export const METRIC_ENDPOINTS = [
  {
    path: "refunds",
    operationId: "getRefundAnalytics",
    summary: "Succeeded refunds over time",
    metrics: ["refunded"],
    groupBy: [] as Group[],
  },
  {
    path: "declines",
    operationId: "getDeclineAnalytics",
    summary: "Declined payments by reason (failure code) per operator",
    metrics: ["failed"],
    groupBy: ["operator", "reason"] as Group[],
  },
  {
    path: "retries",
    operationId: "getRetryAnalytics",
    summary: "Retried subscription charges and the revenue they recovered",
    metrics: ["retry_attempted", "retry_recovered"],
    groupBy: [] as Group[],
  },
  {
    path: "wallets",
    operationId: "getWalletAnalytics",
    summary: "Wallet top-ups (amount paid) and wallet spend",
    metrics: ["wallet_top_up", "wallet_spend"],
    groupBy: [] as Group[],
  },
  {
    path: "vouchers",
    operationId: "getVoucherAnalytics",
    summary: "Voucher redemptions (amount: a money voucher's value; product: the batch)",
    metrics: ["voucher_redeemed"],
    groupBy: [] as Group[],
  },
] as const;

export const MetricQuery = Type.Object(
  {
    from: Type.Optional({ ...IsoTimestamp, description: "Start (inclusive); default 24 hours before `to`." }),
    to: Type.Optional({ ...IsoTimestamp, description: "End (exclusive); default now." }),
    granularity: Type.Optional(StringEnum(GRAINS, { description: "Bucket size (default hour)." })),
    group_by: Type.Optional(
      Type.String({
        pattern: `^${groupList}(,${groupList})*$`,
        maxLength: 200,
        description: "Comma-separated keys besides the metric and the currency.",
      }),
    ),
    app: Dim("A checkout app id."),
    operator: Dim("An operator (MCC+MNC)."),
    country: Dim("ISO 3166-1 alpha-2."),
    method: Dim("A payment-method type."),
    currency: Dim("ISO 4217."),
    ...Scoping,
  },
  { additionalProperties: false },
);

export const MetricAnalytics = Type.Object({
  object: Type.Literal("analytics"),
  from: Type.String({ format: "date-time" }),
  to: Type.String({ format: "date-time" }),
  granularity: StringEnum(GRAINS),
  series: Type.Array(
    Type.Object({
      key: Type.Record(Type.String(), Type.String(), {
        description: "`metric`, `currency` and each group asked for ('' = none).",
      }),
      points: Type.Array(Point),
    }),
  ),
});

export const SubscriptionsQuery = Type.Object(
  {
    from: Type.Optional({ ...IsoTimestamp, description: "Start (inclusive); default 30 days before `to`." }),
    to: Type.Optional({ ...IsoTimestamp, description: "End (exclusive); default now." }),
    granularity: Type.Optional(StringEnum(GRAINS, { description: "Bucket size (default day)." })),
    operator: Dim("An operator (MCC+MNC)."),
    country: Dim("ISO 3166-1 alpha-2."),
    method: Dim("A payment-method type."),
    product: Dim("A price id."),
    ...Scoping,
  },
  { additionalProperties: false },
);

export const SubscriptionsBody = Type.Object({
  object: Type.Literal("analytics_subscriptions"),
  from: Type.String({ format: "date-time" }),
  to: Type.String({ format: "date-time" }),
  granularity: StringEnum(GRAINS),
  series: Type.Array(
    Type.Object({
      key: Type.Object({ currency: Type.String() }),
      points: Type.Array(
        Type.Object({
          t: Type.String({ format: "date-time" }),
          active: Type.Integer({
            description: "Subscriptions created and not canceled by the bucket's end.",
          }),
          new: Type.Integer(),
          canceled: Type.Integer(),
          churn_bp: Type.Union([Type.Integer(), Type.Null()], {
            description: "Canceled / active at the bucket's start, in basis points.",
          }),
          mrr: Type.Integer({ description: "Monthly recurring revenue at the bucket's end, minor units." }),
        }),
        { description: "Every bucket of the period." },
      ),
    }),
  ),
});

export const DistributionQuery = Type.Object(
  {
    from: Type.Optional({ ...IsoTimestamp, description: "Start (inclusive); default 24 hours before `to`." }),
    to: Type.Optional({ ...IsoTimestamp, description: "End (exclusive); default now." }),
    granularity: Type.Optional(
      StringEnum(GRAINS, { description: "Rollup grain read (default minute); the period aligns to it." }),
    ),
    operator: Dim("An operator (MCC+MNC)."),
    provider: Dim("A provider (connector) name."),
    ...Scoping,
  },
  { additionalProperties: false },
);

export const DistributionBody = Type.Object({
  object: StringEnum(["analytics_providers", "analytics_webhooks"] as const),
  from: Type.String({ format: "date-time" }),
  to: Type.String({ format: "date-time" }),
  data: Type.Array(
    Type.Object({
      provider: Type.String(),
      operator: Type.String(),
      count: Type.Integer({ description: "Provider calls, or webhook deliveries." }),
      errors: Type.Integer({ description: "Calls whose outcome was unknown or not sent." }),
      error_rate_bp: Type.Union([Type.Integer(), Type.Null()]),
      p50_ms: Type.Union([Type.Integer(), Type.Null()], {
        description: "Nearest-rank median, values rounded up to two significant digits.",
      }),
      p99_ms: Type.Union([Type.Integer(), Type.Null()]),
    }),
  ),
});

export const RateBody = Type.Object(
  {
    from_currency: Type.String({ pattern: "^[A-Z]{3}$" }),
    to_currency: Type.String({ pattern: "^[A-Z]{3}$", description: "The reporting currency." }),
    day: Type.String({ pattern: "^\\d{4}-\\d{2}-\\d{2}$", description: "UTC day from which it applies." }),
    rate: Type.String({
      maxLength: 25,
      description: "Decimal string: to_currency units per from_currency unit.",
    }),
  },
  { additionalProperties: false },
);

export const Rate = Type.Object({
  object: Type.Literal("analytics_exchange_rate"),
  from_currency: Type.String(),
  to_currency: Type.String(),
  day: Type.String(),
  rate: Type.String(),
});

export const RatesQuery = Type.Object(
  { to_currency: Type.Optional(Type.String({ pattern: "^[A-Z]{3}$" })) },
  { additionalProperties: false },
);

export const FunnelQuery = Type.Object(
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

export const FunnelBody = Type.Object({
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

export const RebuildBody = Type.Object(
  {
    from: { ...IsoTimestamp, description: "Midnight UTC: the first day to rebuild." },
    to: { ...IsoTimestamp, description: "Midnight UTC: the day after the last one." },
  },
  { additionalProperties: false },
);

export const RebuildResult = Type.Object({
  object: Type.Literal("analytics_rebuild"),
  from: Type.String({ format: "date-time" }),
  to: Type.String({ format: "date-time" }),
  events: Type.Integer({ description: "Events counted again." }),
});

export const Csv = Type.String({ description: "RFC 4180 CSV with a header line." });
export const errors = {
  400: { ...ErrorBody, description: "A parameter is missing or invalid (`param` names it)." },
  401: { ...ErrorBody, description: "No valid key." },
  403: { ...ErrorBody, description: "The key may not read analytics." },
  429: { ...ErrorBody, description: "Too many requests." },
};
