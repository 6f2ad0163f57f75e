import type { EventType } from "../events/index.ts";
import type { AccountSpec, TransferInput } from "../ledger/index.ts";
import { accountId, movement } from "../ledger/index.ts";
import { newId } from "../platform/ids.ts";
import { LIMITS } from "../platform/limits.ts";
import type { PaymentRow } from "./model.ts";
import type { ChargeOutcome } from "./provider.ts";

/**
 * The payment state machine as pure functions: given a payment and what happened, the new
 * payment, the events to publish and the ledger journal to write. Flows load, call these, and
 * commit the result in one transaction.
 */
export interface Transition {
  payment: PaymentRow;
  events: EventType[];
  transfers: TransferInput[];
}

/** The two accounts a payment moves money between, per merchant, mode and currency. */
export function paymentAccounts(p: Pick<PaymentRow, "merchant_id" | "mode" | "provider" | "currency">): {
  clearing: AccountSpec;
  available: AccountSpec;
} {
  return {
    clearing: {
      merchantId: p.merchant_id,
      mode: p.mode,
      ownerId: `provider:${p.provider}`,
      purpose: "clearing",
      currency: p.currency,
    },
    available: {
      merchantId: p.merchant_id,
      mode: p.mode,
      ownerId: p.merchant_id,
      purpose: "available",
      currency: p.currency,
    },
  };
}

export interface TransitionContext {
  nowMs: number;
  /** When a `pending` answer should next be checked with the provider. */
  pendingCheckAfterMs: number;
  /** When an `unknown` answer should first be checked with the provider. */
  unknownCheckAfterMs: number;
  /** The payment's first answer: its status event is published even if the status looks unchanged. */
  firstAnswer?: boolean;
}

export function applyChargeOutcome(
  before: PaymentRow,
  outcome: ChargeOutcome,
  ctx: TransitionContext,
): Transition {
  const now = new Date(ctx.nowMs);
  const p: PaymentRow = { ...before, updated: now, next_action: null, reconcile_after: null };
  const accounts = paymentAccounts(p);
  const debit = accountId(accounts.clearing);
  const credit = accountId(accounts.available);
  const journalId = newId("jrn", ctx.nowMs);
  switch (outcome.status) {
    case "succeeded":
      p.status = "succeeded";
      p.amount_captured = p.amount;
      p.provider_reference = outcome.reference;
      return {
        payment: p,
        events: ["payment.succeeded"],
        transfers: [
          movement({
            from: debit,
            to: credit,
            amount: p.amount,
            currency: p.currency,
            code: "payment_capture",
            reference: p.id,
            nowMs: ctx.nowMs,
            journalId,
          }),
        ],
      };
    case "authorized": {
      p.status = "requires_capture";
      p.provider_reference = outcome.reference;
      const captureBeforeMs = ctx.nowMs + LIMITS.authorization_validity_ms;
      p.capture_before = new Date(captureBeforeMs);
      p.hold_transfer_id = newId("tr", ctx.nowMs);
      return {
        payment: p,
        events: ["payment.requires_capture"],
        transfers: [
          {
            id: p.hold_transfer_id,
            journalId,
            type: "pending",
            debitAccountId: debit,
            creditAccountId: credit,
            amount: p.amount,
            currency: p.currency,
            expiresAtMs: captureBeforeMs,
            code: "payment_authorization",
            reference: p.id,
          },
        ],
      };
    }
    case "pending":
    case "unknown": {
      const wasProcessing = before.status === "processing" && !ctx.firstAnswer;
      p.status = "processing";
      if (outcome.status === "pending" && outcome.reference) p.provider_reference = outcome.reference;
      p.reconcile_after = new Date(
        ctx.nowMs + (outcome.status === "pending" ? ctx.pendingCheckAfterMs : ctx.unknownCheckAfterMs),
      );
      return { payment: p, events: wasProcessing ? [] : ["payment.processing"], transfers: [] };
    }
    case "declined":
      p.status = "failed";
      p.failure_code = outcome.code;
      p.failure_message = outcome.message;
      return { payment: p, events: ["payment.failed"], transfers: [] };
    case "requires_redirect":
      p.status = "requires_action";
      p.next_action = { type: "redirect_to_url", redirect_to_url: { url: outcome.url } };
      if (outcome.reference) p.provider_reference = outcome.reference;
      // The payer may never come back: ask the provider after a while.
      p.reconcile_after = new Date(ctx.nowMs + ctx.unknownCheckAfterMs);
      return {
        payment: p,
        events: before.status === "requires_action" ? [] : ["payment.requires_action"],
        transfers: [],
      };
    case "requires_mo":
      p.status = "requires_action";
      p.next_action = {
        type: "send_mo",
        send_mo: { shortcode: outcome.shortcode, keyword: outcome.keyword },
      };
      return {
        payment: p,
        events: before.status === "requires_action" ? [] : ["payment.requires_action"],
        transfers: [],
      };
    case "requires_pin":
      p.status = "requires_action";
      p.next_action = {
        type: "enter_pin",
        enter_pin: { attempts_remaining: LIMITS.pin_attempts_max - p.pin_attempts },
      };
      return {
        payment: p,
        events: before.status === "requires_action" ? [] : ["payment.requires_action"],
        transfers: [],
      };
  }
}

/** Capture of a held payment: post the hold in full or in part; the rest goes back to the payer. */
export function applyCapture(before: PaymentRow, amount: bigint, nowMs: number): Transition {
  const p: PaymentRow = {
    ...before,
    status: "succeeded",
    amount_captured: amount,
    capture_before: null,
    updated: new Date(nowMs),
  };
  return {
    payment: p,
    events: ["payment.succeeded"],
    transfers: [
      {
        id: newId("tr", nowMs),
        journalId: newId("jrn", nowMs),
        type: "post_pending",
        pendingId: before.hold_transfer_id!,
        amount,
        code: "payment_capture",
        reference: p.id,
      },
    ],
  };
}

/** Cancel (or expiry) of a payment that has not moved money: a hold is voided or expired. */
export function applyCancel(before: PaymentRow, nowMs: number, reason: "requested" | "expired"): Transition {
  const p: PaymentRow = {
    ...before,
    status: "canceled",
    next_action: null,
    capture_before: null,
    failure_code: reason === "expired" ? "authorization_expired" : before.failure_code,
    updated: new Date(nowMs),
  };
  const transfers: TransferInput[] =
    before.status === "requires_capture" && before.hold_transfer_id
      ? [
          {
            id: newId("tr", nowMs),
            journalId: newId("jrn", nowMs),
            type: reason === "expired" ? "expire_pending" : "void_pending",
            pendingId: before.hold_transfer_id,
            code: reason === "expired" ? "payment_authorization_expired" : "payment_cancel",
            reference: p.id,
          },
        ]
      : [];
  return { payment: p, events: ["payment.canceled"], transfers };
}

export function refundTransfer(
  payment: PaymentRow,
  refundId: string,
  amount: bigint,
  nowMs: number,
): TransferInput {
  const accounts = paymentAccounts(payment);
  return movement({
    from: accountId(accounts.available),
    to: accountId(accounts.clearing),
    amount,
    currency: payment.currency,
    code: "refund",
    reference: refundId,
    nowMs,
  });
}

/**
 * A success that arrived after the payment was canceled (the payer finished 3-D Secure as the
 * merchant canceled, a notification that crossed the cancel) and that the provider has given back:
 * the money's way in and back out in one journal, balanced, so the books show what the provider
 * did; the payment stays canceled.
 */
export function applyLateSuccessReversed(
  before: PaymentRow,
  late: { reference: string | null; reversal: string | null },
  nowMs: number,
): Transition {
  const p: PaymentRow = {
    ...before,
    provider_state: { ...before.provider_state, late_success: late },
    reconcile_after: null,
    updated: new Date(nowMs),
  };
  const accounts = paymentAccounts(p);
  const clearing = accountId(accounts.clearing);
  const available = accountId(accounts.available);
  const journalId = newId("jrn", nowMs);
  const leg = (from: string, to: string, code: string) =>
    movement({ from, to, amount: p.amount, currency: p.currency, code, reference: p.id, nowMs, journalId });
  return {
    payment: p,
    events: ["payment.late_success_reversed"],
    transfers: [
      leg(clearing, available, "payment_late_success"),
      leg(available, clearing, "payment_late_success_reversal"),
    ],
  };
}
