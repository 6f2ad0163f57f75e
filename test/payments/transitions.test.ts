/**
 * The payment state machine's pure functions, field by field: the status, the events, and the
 * exact ledger journal each answer produces. Fast (no database): the mutation run of
 * src/payments/transitions.ts uses this file (`npm run mutation -- --file src/payments/transitions.ts`).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { accountId } from "../../src/ledger/accounts.ts";
import type { PaymentRow } from "../../src/payments/model.ts";
import {
  applyCancel,
  applyCapture,
  applyChargeOutcome,
  applyLateSuccessReversed,
  paymentAccounts,
  refundTransfer,
  type TransitionContext,
} from "../../src/payments/transitions.ts";

const NOW = Date.parse("2026-06-01T10:00:00Z");
const DAY = 86_400_000;
const CTX: TransitionContext = { nowMs: NOW, pendingCheckAfterMs: 5_000, unknownCheckAfterMs: 30_000 };

function payment(over: Partial<PaymentRow> = {}): PaymentRow {
  return {
    id: "pay_1",
    merchant_id: "mer_1",
    mode: "test",
    status: "processing",
    amount: 1234n,
    currency: "EUR",
    amount_captured: 0n,
    amount_refunded: 0n,
    amount_refund_reserved: 0n,
    capture_method: "automatic",
    customer_id: null,
    description: null,
    metadata: {},
    payment_method: { type: "card", last4: "4242" } as unknown as PaymentRow["payment_method"],
    provider: "card",
    attempt_id: "att_1",
    next_action: { type: "enter_pin", enter_pin: { attempts_remaining: 3 } },
    failure_code: "earlier",
    failure_message: null,
    pin_attempts: 1,
    hold_transfer_id: null,
    capture_before: null,
    reconcile_after: new Date(NOW - 1),
    created: new Date(NOW - 60_000),
    updated: new Date(NOW - 60_000),
    provider_state: { consent: "c1" },
    provider_reference: null,
    ...over,
  };
}

const accounts = paymentAccounts(payment());
const CLEARING = accountId(accounts.clearing);
const AVAILABLE = accountId(accounts.available);

describe("paymentAccounts", () => {
  test("clearing is the provider's, available the merchant's, per mode and currency", () => {
    assert.deepEqual(accounts, {
      clearing: {
        merchantId: "mer_1",
        mode: "test",
        ownerId: "provider:card",
        purpose: "clearing",
        currency: "EUR",
      },
      available: {
        merchantId: "mer_1",
        mode: "test",
        ownerId: "mer_1",
        purpose: "available",
        currency: "EUR",
      },
    });
  });
});

describe("applyChargeOutcome", () => {
  test("succeeded: captured in full, one movement from clearing to available, the reference kept", () => {
    const t = applyChargeOutcome(payment(), { status: "succeeded", reference: "PSP-1" }, CTX);
    assert.equal(t.payment.status, "succeeded");
    assert.equal(t.payment.amount_captured, 1234n);
    assert.equal(t.payment.provider_reference, "PSP-1");
    assert.equal(t.payment.next_action, null);
    assert.equal(t.payment.reconcile_after, null);
    assert.deepEqual(t.payment.updated, new Date(NOW));
    assert.deepEqual(t.events, ["payment.succeeded"]);
    assert.equal(t.transfers.length, 1);
    const [m] = t.transfers as unknown as [Record<string, unknown>];
    assert.equal(m.type, "single_phase");
    assert.match(String(m.journalId), /^jrn_/);
    assert.equal(m.debitAccountId, CLEARING);
    assert.equal(m.creditAccountId, AVAILABLE);
    assert.equal(m.amount, 1234n);
    assert.equal(m.currency, "EUR");
    assert.equal(m.code, "payment_capture");
    assert.equal(m.reference, "pay_1");
  });

  test("authorized: a pending transfer held for exactly 7 days, capture_before set, nothing posted", () => {
    const t = applyChargeOutcome(
      payment({ capture_method: "manual" }),
      { status: "authorized", reference: "PSP-2" },
      CTX,
    );
    assert.equal(t.payment.status, "requires_capture");
    assert.equal(t.payment.provider_reference, "PSP-2");
    assert.equal(t.payment.amount_captured, 0n);
    assert.deepEqual(t.payment.capture_before, new Date(NOW + 7 * DAY));
    assert.deepEqual(t.events, ["payment.requires_capture"]);
    const [h] = t.transfers as unknown as [Record<string, unknown>];
    assert.equal(t.transfers.length, 1);
    assert.equal(h.type, "pending");
    assert.equal(h.id, t.payment.hold_transfer_id);
    assert.ok(typeof h.id === "string" && h.id.startsWith("tr_"));
    assert.equal(h.debitAccountId, CLEARING);
    assert.equal(h.creditAccountId, AVAILABLE);
    assert.equal(h.amount, 1234n);
    assert.equal(h.currency, "EUR");
    assert.equal(h.expiresAtMs, NOW + 7 * DAY);
    assert.equal(h.code, "payment_authorization");
    assert.equal(h.reference, "pay_1");
  });

  test("pending: processing, asked again after the pending delay; the event only on the first answer", () => {
    const fresh = applyChargeOutcome(
      payment({ status: "requires_action" }),
      { status: "pending", reference: "R" },
      CTX,
    );
    assert.equal(fresh.payment.status, "processing");
    assert.equal(fresh.payment.provider_reference, "R");
    assert.deepEqual(fresh.payment.reconcile_after, new Date(NOW + 5_000));
    assert.deepEqual(fresh.events, ["payment.processing"]);
    assert.deepEqual(fresh.transfers, []);
    const again = applyChargeOutcome(payment(), { status: "pending" }, CTX);
    assert.deepEqual(again.events, [], "still processing: nothing new to publish");
    assert.equal(again.payment.provider_reference, null, "no reference given, none invented");
    const first = applyChargeOutcome(payment(), { status: "pending" }, { ...CTX, firstAnswer: true });
    assert.deepEqual(first.events, ["payment.processing"], "the first answer is published");
  });

  test("unknown: processing, asked after the unknown delay, no reference taken", () => {
    const t = applyChargeOutcome(
      payment({ status: "requires_action" }),
      { status: "unknown", reason: "timeout" },
      CTX,
    );
    assert.equal(t.payment.status, "processing");
    assert.deepEqual(t.payment.reconcile_after, new Date(NOW + 30_000));
    assert.deepEqual(t.events, ["payment.processing"]);
    assert.deepEqual(t.transfers, []);
    assert.deepEqual(applyChargeOutcome(payment(), { status: "unknown", reason: "x" }, CTX).events, []);
  });

  test("declined: failed with the code and message, no money", () => {
    const t = applyChargeOutcome(
      payment(),
      { status: "declined", code: "insufficient_funds", message: "No credit", retryable: true },
      CTX,
    );
    assert.equal(t.payment.status, "failed");
    assert.equal(t.payment.failure_code, "insufficient_funds");
    assert.equal(t.payment.failure_message, "No credit");
    assert.equal(t.payment.amount_captured, 0n);
    assert.deepEqual(t.events, ["payment.failed"]);
    assert.deepEqual(t.transfers, []);
  });

  test("requires_redirect: the URL as next action, asked after the unknown delay, published once", () => {
    const t = applyChargeOutcome(
      payment(),
      { status: "requires_redirect", url: "https://x/3ds", reference: "P" },
      CTX,
    );
    assert.equal(t.payment.status, "requires_action");
    assert.deepEqual(t.payment.next_action, {
      type: "redirect_to_url",
      redirect_to_url: { url: "https://x/3ds" },
    });
    assert.equal(t.payment.provider_reference, "P");
    assert.deepEqual(t.payment.reconcile_after, new Date(NOW + 30_000));
    assert.deepEqual(t.events, ["payment.requires_action"]);
    assert.deepEqual(t.transfers, []);
    const again = applyChargeOutcome(
      payment({ status: "requires_action" }),
      { status: "requires_redirect", url: "u" },
      CTX,
    );
    assert.deepEqual(again.events, []);
    assert.equal(again.payment.provider_reference, null);
  });

  test("requires_mo: the shortcode and keyword as next action", () => {
    const t = applyChargeOutcome(
      payment(),
      { status: "requires_mo", shortcode: "7777", keyword: "PAY 12" },
      CTX,
    );
    assert.equal(t.payment.status, "requires_action");
    assert.deepEqual(t.payment.next_action, {
      type: "send_mo",
      send_mo: { shortcode: "7777", keyword: "PAY 12" },
    });
    assert.equal(t.payment.reconcile_after, null);
    assert.deepEqual(t.events, ["payment.requires_action"]);
    assert.deepEqual(t.transfers, []);
    assert.deepEqual(
      applyChargeOutcome(
        payment({ status: "requires_action" }),
        { status: "requires_mo", shortcode: "1", keyword: "k" },
        CTX,
      ).events,
      [],
    );
  });

  test("requires_pin: the attempts left counted from the wrong PINs so far", () => {
    const t = applyChargeOutcome(payment({ pin_attempts: 2 }), { status: "requires_pin" }, CTX);
    assert.equal(t.payment.status, "requires_action");
    assert.deepEqual(t.payment.next_action, { type: "enter_pin", enter_pin: { attempts_remaining: 1 } });
    assert.deepEqual(t.events, ["payment.requires_action"]);
    assert.deepEqual(t.transfers, []);
    assert.deepEqual(
      applyChargeOutcome(payment({ status: "requires_action" }), { status: "requires_pin" }, CTX).events,
      [],
    );
  });

  test("the payment it was given is not changed", () => {
    const before = payment();
    const copy = structuredClone(before);
    applyChargeOutcome(before, { status: "succeeded", reference: "X" }, CTX);
    assert.deepEqual(before, copy);
  });
});

describe("applyCapture", () => {
  test("posts the hold for the captured amount; the rest goes back", () => {
    const held = payment({
      status: "requires_capture",
      hold_transfer_id: "tr_hold",
      capture_before: new Date(NOW + DAY),
    });
    const t = applyCapture(held, 1000n, NOW);
    assert.equal(t.payment.status, "succeeded");
    assert.equal(t.payment.amount_captured, 1000n);
    assert.equal(t.payment.capture_before, null);
    assert.deepEqual(t.payment.updated, new Date(NOW));
    assert.deepEqual(t.events, ["payment.succeeded"]);
    const [x] = t.transfers as unknown as [Record<string, unknown>];
    assert.equal(t.transfers.length, 1);
    assert.equal(x.type, "post_pending");
    assert.match(String(x.id), /^tr_/);
    assert.match(String(x.journalId), /^jrn_/);
    assert.equal(x.pendingId, "tr_hold");
    assert.equal(x.amount, 1000n);
    assert.equal(x.code, "payment_capture");
    assert.equal(x.reference, "pay_1");
  });
});

describe("applyCancel", () => {
  const held = payment({
    status: "requires_capture",
    hold_transfer_id: "tr_hold",
    capture_before: new Date(NOW + DAY),
  });

  test("requested on a hold: voided, the failure code left as it was", () => {
    const t = applyCancel(held, NOW, "requested");
    assert.equal(t.payment.status, "canceled");
    assert.equal(t.payment.next_action, null);
    assert.equal(t.payment.capture_before, null);
    assert.equal(t.payment.failure_code, "earlier");
    assert.deepEqual(t.payment.updated, new Date(NOW));
    assert.deepEqual(t.events, ["payment.canceled"]);
    const [x] = t.transfers as unknown as [Record<string, unknown>];
    assert.equal(t.transfers.length, 1);
    assert.equal(x.type, "void_pending");
    assert.match(String(x.id), /^tr_/);
    assert.match(String(x.journalId), /^jrn_/);
    assert.equal(x.pendingId, "tr_hold");
    assert.equal(x.code, "payment_cancel");
    assert.equal(x.reference, "pay_1");
  });

  test("expired: the hold expires and the payment says why", () => {
    const t = applyCancel(held, NOW, "expired");
    assert.equal(t.payment.failure_code, "authorization_expired");
    const [x] = t.transfers as unknown as [Record<string, unknown>];
    assert.equal(x.type, "expire_pending");
    assert.equal(x.code, "payment_authorization_expired");
  });

  test("a payment that held nothing moves nothing", () => {
    assert.deepEqual(applyCancel(payment({ status: "requires_action" }), NOW, "requested").transfers, []);
    // Only a payment awaiting capture has a hold to void, whatever id it still carries.
    assert.deepEqual(
      applyCancel(payment({ status: "requires_action", hold_transfer_id: "tr_old" }), NOW, "requested")
        .transfers,
      [],
    );
    assert.deepEqual(
      applyCancel(payment({ status: "requires_capture", hold_transfer_id: null }), NOW, "requested")
        .transfers,
      [],
    );
  });
});

describe("refundTransfer", () => {
  test("from available back to clearing, referenced by the refund", () => {
    const x = refundTransfer(payment({ status: "succeeded" }), "re_1", 500n, NOW) as unknown as Record<
      string,
      unknown
    >;
    assert.equal(x.type, "single_phase");
    assert.equal(x.debitAccountId, AVAILABLE);
    assert.equal(x.creditAccountId, CLEARING);
    assert.equal(x.amount, 500n);
    assert.equal(x.currency, "EUR");
    assert.equal(x.code, "refund");
    assert.equal(x.reference, "re_1");
  });
});

describe("applyLateSuccessReversed", () => {
  test("money in and back out in one journal, the payment still canceled, an event", () => {
    const t = applyLateSuccessReversed(
      payment({ status: "canceled", reconcile_after: new Date(NOW) }),
      { reference: "PSP-9", reversal: "void" },
      NOW,
    );
    assert.equal(t.payment.status, "canceled");
    assert.equal(t.payment.amount_captured, 0n);
    assert.equal(t.payment.reconcile_after, null);
    assert.deepEqual(t.payment.provider_state, {
      consent: "c1",
      late_success: { reference: "PSP-9", reversal: "void" },
    });
    assert.deepEqual(t.payment.updated, new Date(NOW));
    assert.deepEqual(t.events, ["payment.late_success_reversed"]);
    const [a, b] = t.transfers as unknown as [Record<string, unknown>, Record<string, unknown>];
    assert.equal(t.transfers.length, 2);
    assert.deepEqual(
      [a.debitAccountId, a.creditAccountId, a.amount, a.currency, a.code, a.reference],
      [CLEARING, AVAILABLE, 1234n, "EUR", "payment_late_success", "pay_1"],
    );
    assert.deepEqual(
      [b.debitAccountId, b.creditAccountId, b.amount, b.currency, b.code, b.reference],
      [AVAILABLE, CLEARING, 1234n, "EUR", "payment_late_success_reversal", "pay_1"],
    );
    assert.equal(a.journalId, b.journalId, "one journal");
    assert.match(String(a.journalId), /^jrn_/);
  });
});
