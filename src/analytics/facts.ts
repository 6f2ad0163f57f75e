import { parsePhoneNumberFromString } from "libphonenumber-js";

/**
 * Pure domain logic of the rollups: which events count, under which key, in which bucket.
 * No database, no clock: the ingest and the rebuild both go through `factOf`, so they agree.
 */

export const GRAINS = ["minute", "hour", "day"] as const;
export type Grain = (typeof GRAINS)[number];

export const GRAIN_MS: Record<Grain, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** What the rollups count, by event type. `attempted` is every payment created. */
export const METRIC_OF_EVENT: Readonly<Record<string, Metric>> = {
  "payment.created": "attempted",
  "payment.succeeded": "succeeded",
  "payment.failed": "failed",
  "payment.canceled": "canceled",
  "refund.succeeded": "refunded",
};
export type Metric =
  | "attempted"
  | "succeeded"
  | "failed"
  | "canceled"
  | "refunded"
  | "retry_attempted"
  | "retry_recovered"
  | "wallet_top_up"
  | "wallet_spend"
  | "voucher_redeemed"
  | "subscription_created"
  | "subscription_canceled";

/**
 * Events that count beyond a payment's own outcome: a subscription's start and end (amount: its
 * monthly recurring revenue, for MRR), a retried charge (metadata `retry_attempt`, set by billing's
 * dunning) and what it recovered, wallet top-ups (`wallet_top_up` on the payment) and wallet spend.
 */
export const SUBSCRIPTION_METRIC: Readonly<Record<string, Metric>> = {
  "subscription.created": "subscription_created",
  "subscription.canceled": "subscription_canceled",
};
/** A payment's final outcomes: what `GET /v1/analytics/payments` counts by `status`. */
export const OUTCOMES = ["succeeded", "failed", "canceled"] as const;

export const DIMENSIONS = ["app", "method", "operator", "country", "currency", "product", "reason"] as const;
export type Dimension = (typeof DIMENSIONS)[number];

export interface FactKey {
  merchant_id: string;
  mode: string;
  metric: Metric;
  app: string;
  method: string;
  operator: string;
  country: string;
  currency: string;
  product: string;
  reason: string;
}

export interface Fact extends FactKey {
  createdMs: number;
  amount: bigint;
}

/** What an event needs from elsewhere: the checkout app of its session, a refund's payment. */
export interface FactContext {
  /** checkout session id → app id */
  appOfSession: ReadonlyMap<string, string | null>;
  /** payment id → the payment object (for refunds, which do not carry the method) */
  paymentOfRefund: ReadonlyMap<string, Record<string, unknown>>;
}

export interface EventInput {
  merchant_id: string;
  mode: string;
  type: string;
  created: Date;
  data: { object?: Record<string, unknown> } | null;
}

function text(value: unknown): string {
  return typeof value === "string" ? value : "";
}

function minorUnits(value: unknown): bigint {
  if (typeof value === "number" && Number.isSafeInteger(value)) return BigInt(value);
  if (typeof value === "string" && /^-?\d+$/.test(value)) return BigInt(value);
  return 0n;
}

/** The country of an operator (MCC+MNC), else of the payer's number. */
export function countryOf(
  method: Record<string, unknown> | null,
  operatorCountry: (operator: string) => string | undefined,
): string {
  if (!method) return "";
  const operator = text(method.operator);
  const fromOperator = operator ? operatorCountry(operator) : undefined;
  if (fromOperator) return fromOperator.toUpperCase();
  const msisdn = text(method.msisdn);
  return (msisdn && parsePhoneNumberFromString(msisdn)?.country) || "";
}

/** The checkout session a payment came from (checkout writes it into the metadata). */
export function sessionOf(payment: Record<string, unknown> | undefined): string {
  const metadata = payment?.metadata;
  return metadata && typeof metadata === "object"
    ? text((metadata as Record<string, unknown>).checkout_session)
    : "";
}

/** Whether an event type counts at all (the ingest skips the others before any lookup). */
export function counts(type: string): boolean {
  return METRIC_OF_EVENT[type] !== undefined || SUBSCRIPTION_METRIC[type] !== undefined;
}

/** Monthly recurring revenue of one subscription, in minor units (rounded down); null if the period is not a plain one. */
export function monthlyAmount(amount: bigint, period: string): bigint | null {
  const m = /^P(\d+)([DWMY])$/.exec(period);
  if (!m) return null;
  const n = BigInt(m[1]!);
  if (n === 0n) return null;
  switch (m[2]) {
    case "M":
      return amount / n;
    case "Y":
      return amount / (12n * n);
    // 365.25 / 12 days a month: amount × 30.4375 / days.
    case "W":
      return (amount * 304_375n) / (70_000n * n);
    default:
      return (amount * 304_375n) / (10_000n * n);
  }
}

function subscriptionFact(event: EventInput, metric: Metric, object: Record<string, unknown>): Fact {
  const amount = minorUnits(object.amount);
  const recurring = object.recurring as { period?: unknown } | undefined;
  const method = (object.payment_method ?? null) as Record<string, unknown> | null;
  return {
    merchant_id: event.merchant_id,
    mode: event.mode,
    metric,
    app: "",
    method: text(method?.type),
    operator: text(object.operator) || text(method?.operator),
    country: text(object.country),
    currency: text(object.currency),
    product: text(object.price),
    reason: metric === "subscription_canceled" ? text(object.cancel_reason) : "",
    createdMs: event.created.getTime(),
    amount: monthlyAmount(amount, text(recurring?.period)) ?? 0n,
  };
}

/** Every fact an event gives: a payment's outcome, and what else it stands for (a retry, a top-up). */
export function factsOfEvent(
  event: EventInput,
  context: FactContext,
  operatorCountry: (operator: string) => string | undefined,
): Fact[] {
  const object = event.data?.object;
  if (!object) return [];
  const subscriptionMetric = SUBSCRIPTION_METRIC[event.type];
  if (subscriptionMetric) return [subscriptionFact(event, subscriptionMetric, object)];
  const fact = factOf(event, context, operatorCountry);
  if (!fact) return [];
  const out = [fact];
  const metadata = (object.metadata ?? {}) as Record<string, unknown>;
  const retried = typeof metadata === "object" && text(metadata.retry_attempt) !== "";
  if (retried && fact.metric === "attempted") out.push({ ...fact, metric: "retry_attempted" });
  if (retried && fact.metric === "succeeded") out.push({ ...fact, metric: "retry_recovered" });
  if (fact.metric === "succeeded" && object.wallet_top_up) out.push({ ...fact, metric: "wallet_top_up" });
  if (fact.metric === "succeeded" && fact.method === "wallet") out.push({ ...fact, metric: "wallet_spend" });
  return out;
}

/** A voucher redemption (not an event: its own feed rows, migration 0210). Amount: a money voucher's value. */
export function voucherFact(row: {
  merchant_id: string;
  mode: string;
  batch_id: string;
  created: Date;
  granted: Record<string, unknown> | null;
}): Fact {
  const granted = row.granted ?? {};
  return {
    merchant_id: row.merchant_id,
    mode: row.mode,
    metric: "voucher_redeemed",
    app: "",
    method: "voucher",
    operator: "",
    country: "",
    currency: text(granted.currency),
    product: row.batch_id,
    reason: text(granted.entitlement),
    createdMs: new Date(row.created).getTime(),
    amount: minorUnits(granted.amount),
  };
}

export function factOf(
  event: EventInput,
  context: FactContext,
  operatorCountry: (operator: string) => string | undefined,
): Fact | null {
  const metric = METRIC_OF_EVENT[event.type];
  const object = event.data?.object;
  if (!metric || !object) return null;
  const payment = metric === "refunded" ? context.paymentOfRefund.get(text(object.payment)) : object;
  const method = (payment?.payment_method ?? null) as Record<string, unknown> | null;
  const session = sessionOf(payment);
  // A succeeded payment counts what was captured (a manual capture may take less).
  const captured = minorUnits(object.amount_captured);
  const amount = metric === "succeeded" && captured > 0n ? captured : minorUnits(object.amount);
  return {
    merchant_id: event.merchant_id,
    mode: event.mode,
    metric,
    app: (session && context.appOfSession.get(session)) || "",
    method: text(method?.type),
    operator: text(method?.operator),
    country: countryOf(method, operatorCountry),
    currency: text(object.currency),
    product: text(payment?.price),
    reason: metric === "failed" ? text(object.failure_code) : "",
    createdMs: event.created.getTime(),
    amount,
  };
}

export function bucketStart(ms: number, grain: Grain): number {
  return Math.floor(ms / GRAIN_MS[grain]) * GRAIN_MS[grain];
}

export interface Aggregate extends FactKey {
  grain: Grain;
  bucketMs: number;
  count: bigint;
  amount: bigint;
}

/**
 * Sums items into one row per key, grain and bucket. An item's key is built once and each grain's
 * bucket is a number under it (start times the grain count, plus the grain's index: exact below
 * 2^53): a string key per grain was the largest part of the ingest's own CPU.
 */
export function sumPerGrain<T, Row>(
  items: readonly T[],
  keyOf: (item: T) => string,
  timeMsOf: (item: T) => number,
  start: (item: T, grain: Grain, bucketMs: number) => Row,
  add: (row: Row, item: T) => void,
): Row[] {
  const sums = new Map<string, Map<number, Row>>();
  const out: Row[] = [];
  for (const item of items) {
    const key = keyOf(item);
    let buckets = sums.get(key);
    if (!buckets) {
      buckets = new Map();
      sums.set(key, buckets);
    }
    for (let g = 0; g < GRAINS.length; g++) {
      const grain = GRAINS[g]!;
      const bucketMs = bucketStart(timeMsOf(item), grain);
      const bucketKey = bucketMs * GRAINS.length + g;
      const row = buckets.get(bucketKey);
      if (row) add(row, item);
      else {
        const started = start(item, grain, bucketMs);
        buckets.set(bucketKey, started);
        out.push(started);
      }
    }
  }
  return out;
}

function factKey(fact: Fact): string {
  let key = `${fact.merchant_id}\u0000${fact.mode}\u0000${fact.metric}`;
  for (const dimension of DIMENSIONS) key += `\u0000${fact[dimension]}`;
  return key;
}

/** Sums facts per grain, bucket and key: one row per rollup row to add to. */
export function aggregate(facts: readonly Fact[]): Aggregate[] {
  return sumPerGrain(
    facts,
    factKey,
    (fact) => fact.createdMs,
    (fact, grain, bucketMs) => {
      const { createdMs: _createdMs, amount, ...dims } = fact;
      return { ...dims, grain, bucketMs, count: 1n, amount };
    },
    (row, fact) => {
      row.count += 1n;
      row.amount += fact.amount;
    },
  );
}
