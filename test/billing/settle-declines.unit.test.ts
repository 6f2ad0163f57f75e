/**
 * The settlement of a renewal's answer (src/billing/engine.ts), without a database: debt
 * collected or declined, soft declines and the dunning delays, insufficient funds down the price
 * points, hard declines and retries exhausted (cancel with the debt written off, or pause).
 * Written for mutation testing of the settlement.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { giveUp } from "../../src/billing/engine.ts";
import { DEFAULT_DUNNING_POLICY } from "../../src/billing/policy.ts";
import { BARRED, BUSY, DAY, DUE, HOUR, LOW, MINUTE, money, OK, settled, sub } from "./settle-cases.ts";

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
