import type { EventType } from "../../events/index.ts";
import type { TransferInput } from "../../ledger/index.ts";
import {
  applyChargeOutcome,
  type ChargeOutcome,
  type ChargeRequest,
  newPaymentRow,
  type ProviderAnswer,
  settleUnseenAttempt,
} from "../../payments/index.ts";
import { assert } from "../../platform/errors.ts";
import { renewalOutcome, type Settlement, SYNC_AFTER_MS, settle } from "../engine.ts";
import type { Attempt, Charge, Item, SubscriptionPayment } from "./types.ts";

/** A renewal's charge attempt: a payment row like any other (the one builder), for its subscription. */
export function newAttempt(item: Item, p: Charge, nowMs: number): SubscriptionPayment {
  const payment = newPaymentRow(
    {
      merchantId: item.sub.merchant_id,
      mode: item.sub.mode,
      amount: p.amount,
      currency: item.sub.currency,
      capture: "automatic",
      customerId: item.sub.customer_id,
      description: p.purpose === "debt" ? "Subscription debt" : `Subscription period ${p.billing_period}`,
      metadata: attemptMetadata(item, p),
      paymentMethod: item.sub.payment_method,
      provider: item.provider.name,
      subscription: { id: item.sub.id, billingPeriod: p.billing_period },
    },
    nowMs,
  );
  return { ...payment, subscription_id: item.sub.id, billing_period: p.billing_period };
}

export function attemptMetadata(item: Item, p: Pick<Charge, "purpose" | "percent">): Record<string, string> {
  return {
    subscription: item.sub.id,
    purpose: p.purpose,
    ...(p.percent !== 100 ? { price_point_percent: String(p.percent) } : {}),
    // Analytics counts retries and the revenue they recover.
    ...(item.sub.retry_count > 0 ? { retry_attempt: String(item.sub.retry_count + 1) } : {}),
  };
}

/** A balance check saw too little credit for any price point: the charge is not sent. */
export const BALANCE_TOO_LOW: ChargeOutcome = {
  status: "declined",
  code: "insufficient_funds",
  message: "The balance check showed too little credit.",
  retryable: true,
};

function chargeRequest(a: Attempt): ChargeRequest {
  return {
    attemptId: a.payment.attempt_id,
    amount: a.payment.amount,
    currency: a.payment.currency,
    capture: "automatic",
    paymentMethod: a.payment.payment_method,
    description: a.payment.description,
    recurring: true,
    state: null,
  };
}

/**
 * Asks the subscription's provider: a new attempt is charged, a known one only asked about, and
 * given up the way the payments' reconciler does when the provider never saw it.
 */
export async function ask(a: Attempt, nowMs: number): Promise<ProviderAnswer> {
  const provider = a.item.provider;
  if (a.isNew) return provider.charge(chargeRequest(a));
  const createdMs = a.payment.created.getTime();
  return settleUnseenAttempt(
    await provider.sync({ ...chargeRequest(a), createdMs, nowMs }),
    createdMs,
    nowMs,
  );
}

export interface SettledAttempt {
  payment: SubscriptionPayment;
  paymentEvents: EventType[];
  transfers: TransferInput[];
  settlement: Settlement;
  succeeded: boolean;
}

/** The payment's transition (the payments' own state machine) and the subscription's settlement. */
export function settleAttempt(a: Attempt, nowMs: number): SettledAttempt {
  assert(a.answer, "an attempt is settled after its answer");
  const outcome = renewalOutcome(a.answer.outcome);
  const transition = applyChargeOutcome(a.payment, outcome, {
    nowMs,
    pendingCheckAfterMs: SYNC_AFTER_MS,
    unknownCheckAfterMs: SYNC_AFTER_MS,
    firstAnswer: a.isNew,
  });
  // The scheduler settles its own attempts; the payments reconciler must leave them alone.
  const payment: SubscriptionPayment = {
    ...transition.payment,
    reconcile_after: null,
    subscription_id: a.payment.subscription_id,
    billing_period: a.payment.billing_period,
  };
  const settlement = settle({
    nowMs,
    sub: a.item.sub,
    rules: a.item.rules,
    policy: a.item.policy,
    purpose: a.purpose,
    amount: a.payment.amount,
    payment_id: payment.id,
    outcome,
  });
  return {
    payment,
    paymentEvents: a.isNew ? ["payment.created", ...transition.events] : transition.events,
    transfers: transition.transfers,
    settlement,
    succeeded: outcome.status === "succeeded",
  };
}
