/**
 * The rows and answers the batch-writes test (writes.test.ts) builds: a subscription, a
 * settlement, a payment attempt and its settled answer, and a cap ledger that records what the
 * batch gives back.
 */
import type { Settlement } from "../../src/billing/engine.ts";
import type { SubscriptionRow } from "../../src/billing/model.ts";
import type { SettledAttempt } from "../../src/billing/steps/attempts.ts";
import type { CapUsage } from "../../src/billing/steps/caps.ts";
import type { Attempt, Item, SubscriptionPayment } from "../../src/billing/steps/types.ts";
import { newPaymentRow } from "../../src/payments/new-payment.ts";
import { subscriptionRow } from "./subscription-row.ts";

export const NOW = Date.parse("2026-03-01T10:00:00Z");
export const HOUR = 3_600_000;
export const MERCHANT = "mer_writes";

export function sub(id: string, extra: Partial<SubscriptionRow> = {}): SubscriptionRow {
  const at = new Date(NOW - 40 * 24 * HOUR);
  return subscriptionRow({
    id,
    merchant_id: MERCHANT,
    customer_id: `cus_${id}`,
    price_id: "price_w",
    product_id: "prod_w",
    anchor: at,
    created: at,
    period_index: 1,
    current_period_start: at,
    current_period_end: new Date(NOW),
    last_charge_at: at,
    ...extra,
  });
}

export function settlement(s: SubscriptionRow, extra: Partial<Settlement> = {}): Settlement {
  return {
    sub: s,
    run_at_ms: NOW + HOUR,
    pending_payment_id: null,
    events: [],
    transfers: [],
    used: 0n,
    ...extra,
  };
}

/** A cap ledger that only records what the batch gives back. */
export function usage() {
  const adjusted: [string, readonly [string, string], bigint][] = [];
  const stub = {
    adjust(item: Item, keys: readonly [string, string], delta: bigint) {
      adjusted.push([item.sub.id, keys, delta]);
    },
    async write() {},
  } as unknown as CapUsage;
  return { adjusted, stub };
}

export function payment(item: Item, amount: bigint): SubscriptionPayment {
  const p = newPaymentRow(
    {
      merchantId: MERCHANT,
      mode: "test",
      amount,
      currency: "EUR",
      capture: "automatic",
      customerId: item.sub.customer_id,
      description: "Subscription period 1",
      metadata: { subscription: item.sub.id },
      paymentMethod: item.sub.payment_method,
      provider: "sandbox",
      subscription: { id: item.sub.id, billingPeriod: 1 },
    },
    NOW - HOUR,
  );
  return { ...p, subscription_id: item.sub.id, billing_period: 1 };
}

export function attempt(
  item: Item,
  p: SubscriptionPayment,
  isNew: boolean,
  keys: readonly [string, string] | null = ["D", "M"],
): Attempt {
  return {
    item,
    payment: p,
    isNew,
    purpose: "period",
    reserved: 500n,
    usageKeys: keys,
    answer: {
      outcome: { status: "declined", code: "insufficient_funds", message: "low", retryable: true },
      interactions: [
        {
          operation: "charge",
          request: { n: 1 },
          response: { ok: false },
          outcome: "declined",
          latencyMs: 7,
        },
      ],
    },
  };
}

export function settled(
  a: Attempt,
  status: "succeeded" | "failed" | "processing",
  amount = a.payment.amount,
): SettledAttempt {
  const p: SubscriptionPayment = {
    ...a.payment,
    status,
    amount,
    amount_captured: status === "succeeded" ? amount : 0n,
    failure_code: status === "failed" ? "insufficient_funds" : null,
    failure_message: status === "failed" ? "low" : null,
    provider_reference: "ref_1",
    metadata: { ...a.payment.metadata, answered: "yes" },
    updated: new Date(NOW),
  };
  return {
    payment: p,
    paymentEvents:
      status === "processing" ? [] : [status === "failed" ? "payment.failed" : "payment.succeeded"],
    transfers: [],
    settlement: settlement(a.item.sub),
    succeeded: status === "succeeded",
  };
}
