import { getOperator } from "../connectors/index.ts";

/**
 * What the rollups count, as pure functions over outbox events: no database here.
 *
 * - `payments`: every payment once, in the minute it was created, under its current status. A
 *   change of status moves it (count and amount) from the old status to the new one, so the rollup
 *   always equals `count(*), sum(amount)` over the payments table grouped the same way.
 *   Failed and canceled ones carry their failure code as the reason (declines by reason, and the
 *   payer-abandoned ones apart).
 * - `refunds`: each `refund.succeeded` / `refund.failed`, under that outcome.
 * - `retries`: each payment that is a charge retry (billing's attempt number above one), under its
 *   current status: its succeeded amount is the revenue the retries recovered.
 * - `subscriptions`: each `subscription.*` event under its type (created, canceled, renewed, …).
 * - `events`: every event under its type (wallet top-ups, voucher redemptions, checkout sessions…).
 */
export const METRICS = ["payments", "refunds", "retries", "subscriptions", "events"] as const;
export type Metric = (typeof METRICS)[number];

export const GRANULARITIES = ["minute", "hour", "day"] as const;
export type Granularity = (typeof GRANULARITIES)[number];

export const GRANULARITY_MS: Record<Granularity, number> = {
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
};

export const DIMENSIONS = [
  "app",
  "method",
  "operator",
  "country",
  "currency",
  "product",
  "outcome",
  "step",
] as const;
export type Dimension = (typeof DIMENSIONS)[number];

/** The key of one rollup row; '' where a dimension does not apply or is unknown. */
export interface RollupKey {
  merchantId: string;
  mode: string;
  metric: Metric;
  bucketMs: number;
  app: string;
  method: string;
  operator: string;
  country: string;
  currency: string;
  product: string;
  outcome: string;
  reason: string;
  step: string;
}

/** An outbox event as the ingest reads it. */
export interface OutboxEvent {
  id: string;
  txid: string;
  merchantId: string;
  mode: string;
  type: string;
  createdMs: number;
  object: Record<string, unknown>;
}

/** What the ingest remembers of a payment between events. */
export interface PaymentState {
  createdMs: number;
  paymentId: string;
  status: string;
  reason: string;
  /** The amount it counts under that status: captured when succeeded, requested otherwise. */
  amount: bigint;
}

/** Statuses a payer ends in by walking away (a PIN never typed, an MO never sent) rather than a refusal. */
export const PAYER_ABANDONED_FAILURES = new Set([
  "pin_attempts_exceeded",
  "pin_expired",
  "payer_abandoned",
  "expired",
  "session_expired",
  "authentication_abandoned",
]);

function text(value: unknown): string {
  return typeof value === "string" ? value : "";
}

function record(value: unknown): Record<string, unknown> {
  return value && typeof value === "object" && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function integer(value: unknown): bigint {
  if (typeof value === "number" && Number.isSafeInteger(value)) return BigInt(value);
  if (typeof value === "string" && /^-?\d+$/.test(value)) return BigInt(value);
  return 0n;
}

/** The dimensions of a payment (or refund, subscription) object, from its fields and metadata. */
export function dimensionsOf(
  object: Record<string, unknown>,
): Omit<RollupKey, "merchantId" | "mode" | "metric" | "bucketMs" | "outcome" | "reason" | "step"> {
  const method = record(object.payment_method);
  const metadata = record(object.metadata);
  const operatorId = text(method.operator) || text(object.operator) || text(metadata.operator);
  const country =
    text(object.country) ||
    text(record(object.payer).country) ||
    text(metadata.country) ||
    (operatorId ? (getOperator(operatorId)?.country ?? "") : "");
  return {
    app: text(object.app) || text(metadata.app),
    method: text(method.type) || text(object.method),
    operator: operatorId,
    country: country.toUpperCase(),
    currency: text(object.currency),
    product: text(object.product) || text(object.price) || text(metadata.product),
  };
}

/** The amount a payment counts under its status. */
export function countedAmount(object: Record<string, unknown>): bigint {
  return object.status === "succeeded" ? integer(object.amount_captured) : integer(object.amount);
}

function attemptNumber(object: Record<string, unknown>): number {
  const metadata = record(object.metadata);
  const value = Number(object.attempt ?? metadata.attempt ?? metadata.retry_attempt ?? 1);
  return Number.isFinite(value) ? value : 1;
}

export function floorTo(ms: number, granularity: Granularity): number {
  const step = GRANULARITY_MS[granularity];
  return Math.floor(ms / step) * step;
}

/** Sums of count and amount per rollup key, at minute resolution. */
export class Deltas {
  readonly rows = new Map<string, { key: RollupKey; count: bigint; amount: bigint }>();

  add(key: RollupKey, count: bigint, amount: bigint): void {
    const id = [
      key.merchantId,
      key.mode,
      key.metric,
      key.bucketMs,
      key.app,
      key.method,
      key.operator,
      key.country,
      key.currency,
      key.product,
      key.outcome,
      key.reason,
      key.step,
    ].join("\u0000");
    const row = this.rows.get(id);
    if (row) {
      row.count += count;
      row.amount += amount;
    } else {
      this.rows.set(id, { key, count, amount });
    }
  }

  /** The same sums at a coarser bucket. */
  coarsen(granularity: Granularity): Deltas {
    const out = new Deltas();
    for (const { key, count, amount } of this.rows.values()) {
      out.add({ ...key, bucketMs: floorTo(key.bucketMs, granularity) }, count, amount);
    }
    return out;
  }

  /** Rows whose sums cancelled out are not written. */
  nonZero() {
    return [...this.rows.values()].filter((row) => row.count !== 0n || row.amount !== 0n);
  }
}

/** Which rollups a fold writes: all of them, or (a rebuild) only those whose bucket time is in range. */
export interface FoldScope {
  /** Payments created in this range are counted (their state is rebuilt). */
  paymentsCreated?: { fromMs: number; toMs: number };
  /** Events that happened in this range are counted. */
  eventsCreated?: { fromMs: number; toMs: number };
}

function inRange(ms: number, range: { fromMs: number; toMs: number } | undefined): boolean {
  return !range || (ms >= range.fromMs && ms < range.toMs);
}

/** Moves a payment's count and amount from its previous status (if any) to its new one. */
function movePayment(
  deltas: Deltas,
  at: Omit<RollupKey, "metric" | "outcome" | "reason">,
  previous: PaymentState | undefined,
  next: PaymentState,
  retry: boolean,
): void {
  if (
    previous &&
    previous.status === next.status &&
    previous.reason === next.reason &&
    previous.amount === next.amount
  ) {
    return;
  }
  for (const metric of retry ? (["payments", "retries"] as const) : (["payments"] as const)) {
    if (previous) {
      deltas.add({ ...at, metric, outcome: previous.status, reason: previous.reason }, -1n, -previous.amount);
    }
    deltas.add({ ...at, metric, outcome: next.status, reason: next.reason }, 1n, next.amount);
  }
}

/**
 * Folds events, in commit order, into rollup deltas and the payments' new states. `states` holds
 * what is known of the payments concerned and is updated in place; `changed` collects the states
 * to write back.
 */
export function foldEvents(
  events: readonly OutboxEvent[],
  states: Map<string, PaymentState>,
  scope: FoldScope = {},
): { deltas: Deltas; changed: Map<string, PaymentState> } {
  const deltas = new Deltas();
  const changed = new Map<string, PaymentState>();
  for (const event of events) {
    const object = event.object;
    const base = { merchantId: event.merchantId, mode: event.mode };
    const dims = dimensionsOf(object);
    const atEvent = { ...base, ...dims, bucketMs: floorTo(event.createdMs, "minute"), step: "" };
    const eventInScope = inRange(event.createdMs, scope.eventsCreated);
    if (eventInScope)
      deltas.add({ ...atEvent, metric: "events", outcome: event.type, reason: "", currency: "" }, 1n, 0n);

    if (event.type.startsWith("payment.") && typeof object.id === "string" && object.object === "payment") {
      const createdMs = Date.parse(text(object.created));
      if (Number.isFinite(createdMs) && inRange(createdMs, scope.paymentsCreated)) {
        const next: PaymentState = {
          createdMs,
          paymentId: object.id,
          status: text(object.status),
          reason: text(object.failure_code),
          amount: countedAmount(object),
        };
        const atCreation = { ...base, ...dims, bucketMs: floorTo(createdMs, "minute"), step: "" };
        movePayment(deltas, atCreation, states.get(object.id), next, attemptNumber(object) > 1);
        states.set(object.id, next);
        changed.set(object.id, next);
      }
      continue;
    }
    if (!eventInScope) continue;
    if (event.type === "refund.succeeded" || event.type === "refund.failed") {
      deltas.add(
        {
          ...atEvent,
          metric: "refunds",
          outcome: event.type.slice("refund.".length),
          reason: text(object.reason),
        },
        1n,
        integer(object.amount),
      );
    } else if (event.type.startsWith("subscription.")) {
      deltas.add(
        {
          ...atEvent,
          metric: "subscriptions",
          outcome: event.type.slice("subscription.".length),
          reason: "",
        },
        1n,
        integer(object.amount ?? record(object.plan).amount),
      );
    }
  }
  return { deltas, changed };
}
