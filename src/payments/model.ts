import { iso } from "../platform/clock.ts";
import { toJsonAmount } from "../platform/money.ts";

export type PaymentStatus =
  | "requires_action"
  | "processing"
  | "requires_capture"
  | "succeeded"
  | "failed"
  | "canceled";
export type CaptureMethod = "automatic" | "manual";

import type { Mode } from "../platform/scope.ts";

export type { Mode };

export const SANDBOX_SCENARIOS = [
  "approve",
  "decline_insufficient_funds",
  "decline_generic",
  "decline_blocked",
  "pending_then_approve",
  "pending_then_decline",
  "timeout_then_approve",
  "require_pin",
  // The charge is approved; its refunds then take the named path (failed and pending ones need a test).
  "refund_declined",
  "refund_pending_then_succeeded",
  "refund_pending_then_failed",
] as const;
export type SandboxScenario = (typeof SANDBOX_SCENARIOS)[number];

/**
 * How the payer pays, as stored and shown (on payments and subscriptions): never a full card
 * number. A new payment-method type adds its variant here and its provider in `providers/`.
 */
export type PaymentMethod =
  | {
      type: "sandbox";
      scenario: SandboxScenario;
      /** Subscriptions: a real operator (MCC+MNC) whose rules, window and TPS the sandbox follows. */
      operator?: string;
      msisdn?: string;
      /** Subscriptions: the prepaid balance a balance check sees, in minor units. */
      balance?: number;
    }
  | { type: "carrier"; msisdn: string; operator: string; flow: "pin" | "direct" | "mo" }
  | { type: "card"; brand: string; last4: string; exp_month: number; exp_year: number }
  | { type: "wallet" };

export type NextAction =
  | { type: "enter_pin"; enter_pin: { attempts_remaining: number } }
  | { type: "redirect_to_url"; redirect_to_url: { url: string } }
  | { type: "send_mo"; send_mo: { shortcode: string; keyword: string } };

export interface PaymentRow {
  id: string;
  merchant_id: string;
  mode: Mode;
  status: PaymentStatus;
  amount: bigint;
  currency: string;
  amount_captured: bigint;
  amount_refunded: bigint;
  amount_refund_reserved: bigint;
  capture_method: CaptureMethod;
  customer_id: string | null;
  description: string | null;
  metadata: Record<string, string>;
  payment_method: PaymentMethod;
  provider: string;
  attempt_id: string;
  next_action: NextAction | null;
  failure_code: string | null;
  failure_message: string | null;
  pin_attempts: number;
  hold_transfer_id: string | null;
  capture_before: Date | null;
  reconcile_after: Date | null;
  created: Date;
  updated: Date;
  provider_state: Record<string, unknown> | null;
  provider_reference: string | null;
  /** Set on a subscription's charge attempts (billing). */
  subscription_id?: string | null;
  /** What the payment does besides moving its money (a top-up, a price's grants): see extensions.ts. */
  effects?: Record<string, unknown> | null;
  /** The subscription period an attempt pays; null for debt collection and one-off payments. */
  billing_period?: number | null;
}

export type RefundStatus = "pending" | "succeeded" | "failed";

export interface RefundRow {
  id: string;
  merchant_id: string;
  mode: Mode;
  payment_id: string;
  amount: bigint;
  currency: string;
  status: RefundStatus;
  reason: string | null;
  failure_code: string | null;
  metadata: Record<string, string>;
  created: Date;
  updated: Date;
  reconcile_after: Date | null;
  provider_reference: string | null;
  /** What a refund did besides returning money (credit taken back from a wallet). */
  effects?: Record<string, unknown> | null;
}

/** The public shape of a payment (api.md). Internal bookkeeping stays inside. */
export function presentPayment(p: PaymentRow) {
  return {
    id: p.id,
    object: "payment" as const,
    created: iso(p.created.getTime()),
    livemode: p.mode === "live",
    status: p.status,
    amount: toJsonAmount(p.amount),
    amount_capturable: p.status === "requires_capture" ? toJsonAmount(p.amount) : 0,
    amount_captured: toJsonAmount(p.amount_captured),
    amount_refunded: toJsonAmount(p.amount_refunded),
    currency: p.currency,
    capture: p.capture_method,
    capture_before: p.capture_before ? iso(p.capture_before.getTime()) : null,
    customer: p.customer_id,
    subscription: p.subscription_id ?? null,
    ...(p.effects ? effectsShown(p.effects) : {}),
    description: p.description,
    metadata: p.metadata,
    payment_method: p.payment_method,
    next_action: p.next_action,
    failure_code: p.failure_code,
    failure_message: p.failure_message,
    updated: iso(p.updated.getTime()),
  };
}

export function presentRefund(r: RefundRow) {
  return {
    id: r.id,
    object: "refund" as const,
    created: iso(r.created.getTime()),
    livemode: r.mode === "live",
    payment: r.payment_id,
    amount: toJsonAmount(r.amount),
    currency: r.currency,
    status: r.status,
    reason: r.reason,
    failure_code: r.failure_code,
    metadata: r.metadata,
    ...(r.effects ? { effects: r.effects } : {}),
  };
}

export type PresentedPayment = ReturnType<typeof presentPayment>;

/** A payment's effects as the API shows them (`price`, `wallet_top_up`). */
function effectsShown(effects: Record<string, unknown>): Record<string, unknown> {
  const shown: Record<string, unknown> = {};
  if (effects.price) shown.price = effects.price;
  if (effects.wallet_top_up) shown.wallet_top_up = effects.wallet_top_up;
  return shown;
}
