import { newId } from "../platform/ids.ts";
import type { Mode } from "../platform/scope.ts";
import type { CaptureMethod, PaymentMethod, PaymentRow } from "./model.ts";

export interface NewPayment {
  merchantId: string;
  mode: Mode;
  amount: bigint;
  currency: string;
  capture: CaptureMethod;
  customerId: string | null;
  description: string | null;
  metadata: Record<string, string>;
  paymentMethod: PaymentMethod;
  /** The registered provider that charges it (its payment-method type). */
  provider: string;
  /** A subscription's charge attempt: which subscription, and the period it pays (null: debt). */
  subscription?: { id: string; billingPeriod: number | null };
}

/**
 * The one place a payment row is born, `processing` with a fresh attempt id, before its provider
 * is asked: API payments, renewals and every later flow build it here.
 */
export function newPaymentRow(input: NewPayment, nowMs: number): PaymentRow {
  const now = new Date(nowMs);
  return {
    id: newId("pay", nowMs),
    merchant_id: input.merchantId,
    mode: input.mode,
    status: "processing",
    amount: input.amount,
    currency: input.currency,
    amount_captured: 0n,
    amount_refunded: 0n,
    amount_refund_reserved: 0n,
    capture_method: input.capture,
    customer_id: input.customerId,
    description: input.description,
    metadata: input.metadata,
    payment_method: input.paymentMethod,
    provider: input.provider,
    attempt_id: newId("att", nowMs),
    next_action: null,
    failure_code: null,
    failure_message: null,
    pin_attempts: 0,
    hold_transfer_id: null,
    capture_before: null,
    reconcile_after: null,
    created: now,
    updated: now,
    provider_state: null,
    provider_reference: null,
    subscription_id: input.subscription?.id ?? null,
    billing_period: input.subscription?.billingPeriod ?? null,
  };
}
