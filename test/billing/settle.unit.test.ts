/**
 * The settlement of a renewal's answer (`settle`, `giveUp`, `writeOff`, `debtTransfer`,
 * `renewalOutcome`, `declineKind` in src/billing/engine.ts), without a database: the
 * subscription's next state, its events, the debt journal and the job's next run for each answer
 * (docs/billing.md: dunning, partial payments and debt, deferral, receipts and reminders).
 * Written for mutation testing of the settlement.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  debtAccounts,
  debtTransfer,
  declineKind,
  giveUp,
  renewalOutcome,
  type SettleInput,
  SYNC_AFTER_MS,
  settle,
} from "../../src/billing/engine.ts";
import type { SubscriptionRow } from "../../src/billing/model.ts";
import { DEFAULT_DUNNING_POLICY } from "../../src/billing/policy.ts";
import type { ResolvedRules } from "../../src/billing/rules.ts";
import { accountId, type TransferInput } from "../../src/ledger/index.ts";
import type { ChargeOutcome } from "../../src/payments/provider.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** Period 2 of a monthly subscription anchored on 1 January 10:00 UTC is due at this instant. */
const DUE = Date.parse("2026-03-01T10:00:00Z");
const NEXT_DUE = Date.parse("2026-04-01T10:00:00Z");
const CREATED = new Date("2026-01-01T10:00:00Z");

function sub(extra: Partial<SubscriptionRow> = {}): SubscriptionRow {
  return {
    id: "sub_s",
    merchant_id: "mer_1",
    mode: "test",
    customer_id: "cus_1",
    price_id: "price_1",
    product_id: "prod_1",
    status: "active",
    amount: 500n,
    currency: "EUR",
    period: "P1M",
    country: null,
    operator: null,
    time_zone: "UTC",
    payment_method: { type: "sandbox", scenario: "approve" },
    consent: {},
    next_action: null,
    pin_attempts: 0,
    anchor: CREATED,
    period_index: 2,
    anchor_period: 0,
    current_period_start: new Date("2026-02-01T10:00:00Z"),
    current_period_end: new Date(DUE),
    trial_end: null,
    retry_count: 0,
    retry_started: null,
    ladder_step: 0,
    debt: 0n,
    debt_since: null,
    last_charge_at: new Date("2026-02-01T10:00:00Z"),
    last_reminder_at: null,
    charges_succeeded: 2,
    cancel_reason: null,
    canceled_at: null,
    test_clock_id: null,
    metadata: {},
    created: CREATED,
    updated: CREATED,
    ...extra,
  } as SubscriptionRow;
}

const RULES = { partial_payments: true, receipts: false, annual_reminder: false } as ResolvedRules;

interface Case {
  nowMs?: number;
  sub?: Partial<SubscriptionRow>;
  rules?: Partial<ResolvedRules>;
  policy?: Partial<SettleInput["policy"]>;
  purpose?: "period" | "debt";
  amount?: bigint;
}

function settled(outcome: ChargeOutcome, c: Case = {}) {
  return settle({
    nowMs: c.nowMs ?? DUE,
    sub: sub(c.sub),
    rules: { ...RULES, ...c.rules },
    policy: { ...DEFAULT_DUNNING_POLICY, ...c.policy },
    purpose: c.purpose ?? "period",
    amount: c.amount ?? 500n,
    payment_id: "pay_s",
    outcome,
  });
}

const OK: ChargeOutcome = { status: "succeeded", reference: "ref" };
const LOW: ChargeOutcome = {
  status: "declined",
  code: "insufficient_funds",
  message: "low",
  retryable: true,
};
const BUSY: ChargeOutcome = {
  status: "declined",
  code: "provider_unavailable",
  message: "busy",
  retryable: true,
};
const BARRED: ChargeOutcome = { status: "declined", code: "barred", message: "barred", retryable: false };

const accounts = debtAccounts(sub());
const DEBT = accountId(accounts.debt);
const UNBILLED = accountId(accounts.unbilled);

/** The parts of a transfer that matter, without its fresh ids (checked by prefix). */
function money(t: TransferInput) {
  assert.ok("debitAccountId" in t, "a move between two accounts");
  assert.match(t.id, /^tr_/);
  assert.match(t.journalId, /^jrn_/);
  const side =
    t.debitAccountId === DEBT && t.creditAccountId === UNBILLED
      ? "debt+"
      : t.debitAccountId === UNBILLED && t.creditAccountId === DEBT
        ? "debt-"
        : "other";
  return [t.type, side, t.amount, t.currency, t.code, t.reference];
}

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

test("debt collected: what was charged, at most the debt; the period stays; the rest retried later", () => {
  const before = DUE - 2 * HOUR;
  const owing = { debt: 300n, debt_since: new Date(DUE - DAY) };
  const part = settled(OK, { nowMs: before, purpose: "debt", amount: 120n, sub: owing });
  assert.deepEqual(
    [
      part.sub.debt,
      part.sub.debt_since,
      part.sub.period_index,
      part.sub.charges_succeeded,
      part.sub.last_charge_at,
      part.used,
    ],
    [180n, new Date(DUE - DAY), 2, 3, new Date(before), 120n],
  );
  assert.deepEqual(part.events, ["subscription.debt_collected"]);
  assert.deepEqual(part.transfers.map(money), [
    ["single_phase", "debt-", 120n, "EUR", "debt_collected", "pay_s"],
  ]);
  assert.equal(part.run_at_ms, DUE, "the period comes before the next collection");
  const later = settled(OK, {
    nowMs: before,
    purpose: "debt",
    amount: 120n,
    sub: owing,
    policy: { debt_retry_minutes: 30 },
  });
  assert.equal(later.run_at_ms, before + 30 * MINUTE);
  const whole = settled(OK, { nowMs: before, purpose: "debt", amount: 300n, sub: owing });
  assert.deepEqual([whole.sub.debt, whole.sub.debt_since, whole.run_at_ms], [0n, null, DUE]);
  const more = settled(OK, { nowMs: before, purpose: "debt", amount: 400n, sub: owing });
  assert.deepEqual([more.sub.debt, more.transfers.map(money)[0]![2]], [0n, 300n], "never more than the debt");
  // A declined collection changes nothing and waits for the policy's delay (or the period).
  const declined = settled(LOW, {
    nowMs: before,
    purpose: "debt",
    amount: 300n,
    sub: owing,
    policy: { debt_retry_minutes: 30 },
  });
  assert.deepEqual(declined, {
    sub: sub({ ...owing, updated: new Date(before) }),
    run_at_ms: before + 30 * MINUTE,
    pending_payment_id: null,
    events: [],
    transfers: [],
    used: 0n,
  });
  assert.equal(settled(BARRED, { nowMs: before, purpose: "debt", sub: owing }).run_at_ms, DUE);
});

test("a soft decline: past due, retried after the policy's delays (the last repeats)", () => {
  const first = settled(BUSY);
  assert.deepEqual(
    [
      first.sub.status,
      first.sub.retry_count,
      first.sub.retry_started,
      first.sub.ladder_step,
      first.events,
      first.run_at_ms,
      first.used,
    ],
    [
      "past_due",
      1,
      new Date(DUE),
      0,
      ["subscription.updated", "subscription.past_due"],
      DUE + 240 * MINUTE,
      0n,
    ],
  );
  const started = new Date(DUE - DAY);
  const third = settled(BUSY, { sub: { status: "past_due", retry_count: 2, retry_started: started } });
  assert.deepEqual(
    [third.sub.retry_count, third.sub.retry_started, third.events, third.run_at_ms],
    [3, started, [], DUE + 480 * MINUTE],
  );
  assert.equal(
    settled(BUSY, { sub: { status: "past_due", retry_count: 3, retry_started: started } }).run_at_ms,
    DUE + 1440 * MINUTE,
  );
  assert.equal(
    settled(BUSY, { sub: { status: "past_due", retry_count: 9, retry_started: started } }).run_at_ms,
    DUE + 1440 * MINUTE,
  );
  assert.equal(settled(BUSY, { policy: { retry_delays_minutes: [15] } }).run_at_ms, DUE + 15 * MINUTE);
  // A first charge that fails stays incomplete (nothing was ever paid).
  const incomplete = settled(BUSY, { sub: { status: "incomplete" } });
  assert.deepEqual([incomplete.sub.status, incomplete.events], ["incomplete", []]);
});

test("insufficient funds walk down the price points where the operator allows partial payments", () => {
  assert.equal(settled(LOW).sub.ladder_step, 1);
  assert.equal(settled(LOW, { sub: { ladder_step: 1 } }).sub.ladder_step, 2);
  assert.equal(settled(LOW, { sub: { ladder_step: 2 } }).sub.ladder_step, 2, "the last point repeats");
  assert.equal(settled(LOW, { rules: { partial_payments: false } }).sub.ladder_step, 0);
  assert.equal(settled(BUSY).sub.ladder_step, 0, "only insufficient funds");
  assert.equal(settled(LOW, { policy: { partial_ladder_percent: [100] } }).sub.ladder_step, 0);
});

test("a hard decline ends the subscription and writes off its debt, whatever the final action", () => {
  const s = settled(BARRED, {
    policy: { final_action: "pause" },
    sub: {
      status: "past_due",
      retry_count: 2,
      retry_started: new Date(DUE - DAY),
      ladder_step: 1,
      debt: 80n,
      debt_since: new Date(DUE - DAY),
    },
  });
  assert.deepEqual(
    [
      s.sub.status,
      s.sub.canceled_at,
      s.sub.cancel_reason,
      s.sub.retry_count,
      s.sub.retry_started,
      s.sub.ladder_step,
      s.sub.debt,
      s.sub.debt_since,
      s.run_at_ms,
      s.used,
    ],
    ["canceled", new Date(DUE), "hard_decline", 0, null, 0, 0n, null, null, 0n],
  );
  assert.deepEqual(s.events, [
    "subscription.updated",
    "subscription.canceled",
    "subscription.debt_written_off",
  ]);
  assert.deepEqual(s.transfers.map(money), [
    ["single_phase", "debt-", 80n, "EUR", "debt_written_off", "sub_s"],
  ]);
  const clean = settled(BARRED);
  assert.deepEqual([clean.events, clean.transfers], [["subscription.updated", "subscription.canceled"], []]);
});

test("retries exhausted: paused where the policy says (debt kept), canceled otherwise (debt written off)", () => {
  const owing = () =>
    sub({
      status: "past_due",
      retry_count: 4,
      retry_started: new Date(DUE - 6 * DAY),
      ladder_step: 2,
      debt: 60n,
      debt_since: new Date(DUE - DAY),
    });
  const paused = giveUp(
    { nowMs: DUE, policy: { ...DEFAULT_DUNNING_POLICY, final_action: "pause" } },
    owing(),
    "retries_exhausted",
  );
  assert.deepEqual(
    [
      paused.sub.status,
      paused.sub.updated,
      paused.sub.retry_count,
      paused.sub.retry_started,
      paused.sub.ladder_step,
      paused.sub.debt,
      paused.sub.canceled_at,
      paused.run_at_ms,
    ],
    ["paused", new Date(DUE), 0, null, 0, 60n, null, null],
  );
  assert.deepEqual(
    [paused.events, paused.transfers, paused.pending_payment_id, paused.used],
    [["subscription.updated", "subscription.paused"], [], null, 0n],
  );
  const canceled = giveUp({ nowMs: DUE, policy: DEFAULT_DUNNING_POLICY }, owing(), "retries_exhausted");
  assert.deepEqual(
    [canceled.sub.status, canceled.sub.cancel_reason, canceled.sub.debt],
    ["canceled", "retries_exhausted", 0n],
  );
  assert.deepEqual(canceled.events, [
    "subscription.updated",
    "subscription.canceled",
    "subscription.debt_written_off",
  ]);
  assert.deepEqual(canceled.transfers.map(money), [
    ["single_phase", "debt-", 60n, "EUR", "debt_written_off", "sub_s"],
  ]);
});
