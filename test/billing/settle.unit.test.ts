/**
 * The settlement of a renewal's answer (src/billing/engine.ts), without a database: the debt
 * journal's accounts, how billing reads an answer, pending answers and successes (the next period,
 * partial payments and debt, deferral, receipts and reminders) with the subscription's next state,
 * its events, the journal and the job's next run. Declines: settle-declines.unit.test.ts.
 * Written for mutation testing of the settlement.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { debtTransfer, declineKind, renewalOutcome, SYNC_AFTER_MS } from "../../src/billing/engine.ts";
import type { SubscriptionRow } from "../../src/billing/model.ts";
import type { ChargeOutcome } from "../../src/payments/provider.ts";
import {
  accounts,
  BARRED,
  BUSY,
  CREATED,
  DAY,
  DUE,
  LOW,
  MINUTE,
  money,
  NEXT_DUE,
  OK,
  settled,
  sub,
} from "./settle-cases.ts";

test("the debt accounts are the merchant's memo pair; debt arises on one side and goes on the other", () => {
  assert.deepEqual(accounts.debt, {
    merchantId: "mer_1",
    mode: "test",
    ownerId: "mer_1",
    purpose: "subscription_debt",
    currency: "EUR",
  });
  assert.deepEqual(accounts.unbilled, {
    merchantId: "mer_1",
    mode: "test",
    ownerId: "mer_1",
    purpose: "subscription_debt_unbilled",
    currency: "EUR",
  });
  assert.deepEqual(money(debtTransfer(sub(), 7n, "debt_recorded", "pay_1", DUE)), [
    "single_phase",
    "debt+",
    7n,
    "EUR",
    "debt_recorded",
    "pay_1",
  ]);
  assert.deepEqual(money(debtTransfer(sub(), 7n, "debt_collected", "pay_1", DUE)), [
    "single_phase",
    "debt-",
    7n,
    "EUR",
    "debt_collected",
    "pay_1",
  ]);
  assert.deepEqual(money(debtTransfer(sub(), 7n, "debt_written_off", "sub_s", DUE)), [
    "single_phase",
    "debt-",
    7n,
    "EUR",
    "debt_written_off",
    "sub_s",
  ]);
});

test("a renewal's answer as billing reads it: the payer is not there, and a hold is not money", () => {
  const authentication = {
    status: "declined",
    code: "authentication_required",
    message: "The provider asked for the payer, who is not present for a renewal.",
    retryable: true,
  };
  assert.deepEqual(renewalOutcome({ status: "requires_pin" }), authentication);
  assert.deepEqual(renewalOutcome({ status: "requires_mo", shortcode: "1", keyword: "PAY" }), authentication);
  assert.deepEqual(renewalOutcome({ status: "requires_redirect", url: "https://x" }), authentication);
  assert.deepEqual(renewalOutcome({ status: "authorized", reference: "r" }), {
    status: "unknown",
    reason: "authorized_on_automatic_capture",
  });
  assert.equal(renewalOutcome(OK), OK);
  assert.equal(renewalOutcome(BUSY), BUSY);
  assert.equal(declineKind(LOW as never), "insufficient_funds");
  assert.equal(declineKind({ ...LOW, retryable: false } as never), "insufficient_funds");
  assert.equal(declineKind(BUSY as never), "soft");
  assert.equal(declineKind(BARRED as never), "hard");
});

test("pending, unknown or a hold: asked again after the sync delay, nothing else changes", () => {
  for (const outcome of [
    { status: "pending" },
    { status: "unknown", reason: "timeout" },
    { status: "authorized", reference: "r" },
  ] as ChargeOutcome[]) {
    assert.deepEqual(settled(outcome), {
      sub: sub({ updated: new Date(DUE) }),
      run_at_ms: DUE + SYNC_AFTER_MS,
      pending_payment_id: "pay_s",
      events: [],
      transfers: [],
      used: 0n,
    });
  }
});

test("a period paid on time: the next period, dunning reset, renewed; the job runs when the next is due", () => {
  const s = settled(OK, {
    sub: { status: "past_due", retry_count: 2, retry_started: new Date(DUE - DAY), ladder_step: 1 },
  });
  assert.deepEqual(s, {
    sub: sub({
      status: "active",
      period_index: 3,
      current_period_start: new Date(DUE),
      current_period_end: new Date(NEXT_DUE),
      last_charge_at: new Date(DUE),
      charges_succeeded: 3,
      updated: new Date(DUE),
    }),
    run_at_ms: NEXT_DUE,
    pending_payment_id: null,
    events: ["subscription.updated", "subscription.renewed"],
    transfers: [],
    used: 500n,
  });
  assert.deepEqual(settled(OK).events, ["subscription.renewed"], "already active: no update event");
});

test("a period paid at a lower price point: the rest becomes debt, collected after the policy's delay", () => {
  const s = settled(OK, { amount: 250n, sub: { ladder_step: 1 } });
  assert.deepEqual([s.sub.debt, s.sub.debt_since, s.sub.ladder_step, s.used], [250n, new Date(DUE), 0, 250n]);
  assert.deepEqual(s.events, ["subscription.partially_paid", "subscription.renewed"]);
  assert.deepEqual(s.transfers.map(money), [
    ["single_phase", "debt+", 250n, "EUR", "debt_recorded", "pay_s"],
  ]);
  assert.equal(s.run_at_ms, DUE + 1440 * MINUTE);
  // Older debt keeps its date (the write-off counts from it).
  const older = settled(OK, { amount: 100n, sub: { debt: 50n, debt_since: new Date(DUE - DAY) } });
  assert.deepEqual([older.sub.debt, older.sub.debt_since], [450n, new Date(DUE - DAY)]);
});

test("a period paid late: on the original anchor, or moved to start now when the policy defers", () => {
  const late = DUE + 3 * DAY;
  const kept = settled(OK, { nowMs: late });
  assert.deepEqual(
    [
      kept.sub.anchor,
      kept.sub.anchor_period,
      kept.sub.current_period_start,
      kept.sub.current_period_end,
      kept.run_at_ms,
    ],
    [CREATED, 0, new Date(DUE), new Date(NEXT_DUE), NEXT_DUE],
  );
  const moved = settled(OK, { nowMs: late, policy: { defer_period_on_late_payment: true } });
  const then = Date.parse("2026-04-04T10:00:00Z");
  assert.deepEqual(
    [
      moved.sub.anchor,
      moved.sub.anchor_period,
      moved.sub.period_index,
      moved.sub.current_period_start,
      moved.sub.current_period_end,
      moved.run_at_ms,
    ],
    [new Date(late), 2, 3, new Date(late), new Date(then), then],
  );
  const onTime = settled(OK, { policy: { defer_period_on_late_payment: true } });
  assert.deepEqual(
    [onTime.sub.anchor, onTime.sub.current_period_start],
    [CREATED, new Date(DUE)],
    "paid exactly when due: nothing moves",
  );
});

test("receipts after every charge where the operator asks; a reminder once a year where the rules say", () => {
  assert.deepEqual(settled(OK, { rules: { receipts: true } }).events, [
    "subscription.renewed",
    "subscription.receipt",
  ]);
  const year = 365 * DAY;
  const remind = (since: Partial<SubscriptionRow>, nowMs = DUE) =>
    settled(OK, { nowMs, rules: { annual_reminder: true }, sub: since });
  assert.deepEqual(remind({ created: new Date(DUE - year) }).events, [
    "subscription.renewed",
    "subscription.reminder",
  ]);
  assert.deepEqual(remind({ created: new Date(DUE - year) }).sub.last_reminder_at, new Date(DUE));
  assert.deepEqual(
    remind({ created: new Date(DUE - year + 1) }).events,
    ["subscription.renewed"],
    "a millisecond short of a year",
  );
  const last = new Date(DUE - year);
  assert.deepEqual(remind({ created: new Date(DUE - 3 * year), last_reminder_at: last }).events, [
    "subscription.renewed",
    "subscription.reminder",
  ]);
  const recent = remind({ created: new Date(DUE - 3 * year), last_reminder_at: new Date(DUE - DAY) });
  assert.deepEqual(
    [recent.events, recent.sub.last_reminder_at],
    [["subscription.renewed"], new Date(DUE - DAY)],
  );
  assert.deepEqual(
    settled(OK, { sub: { created: new Date(DUE - 2 * year) } }).events,
    ["subscription.renewed"],
    "no reminder where not required",
  );
});
