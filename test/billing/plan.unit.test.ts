/**
 * The billing plan (`plan()` in src/billing/engine.ts), without a database: what a due job does
 * now for each state of its subscription, in the order the rules apply (docs/billing.md): drop,
 * wait for a pending answer, write off old debt, wait for the period (or collect debt meanwhile),
 * give up after the retry days, wait for the charging window and the operator's minimum interval,
 * then charge the price point of the ladder (the caps: plan-caps.unit.test.ts).
 * Written for mutation testing of plan() and its helpers.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { spreadOffsetMs } from "../../src/billing/engine.ts";
import { DAY, DUE, debt, defer, HOUR, MINUTE, period, planOf, rules } from "./plan-cases.ts";

test("the spread over a window's first hours is FNV-1a of the id (published test vectors)", () => {
  assert.equal(spreadOffsetMs("a"), 0xe40c292c % (2 * HOUR));
  assert.equal(spreadOffsetMs("foobar"), 0xbf9cf968 % (2 * HOUR));
  assert.equal(spreadOffsetMs(""), 0x811c9dc5 % (2 * HOUR), "the offset basis alone");
});

test("a due period is charged at the price; a subscription that is not live is dropped", () => {
  assert.deepEqual(planOf(), period(500n));
  assert.deepEqual(planOf({ sub: { status: "past_due" } }), period(500n));
  assert.deepEqual(planOf({ sub: { status: "incomplete" } }), period(500n), "a first charge without PIN");
  assert.deepEqual(planOf({ sub: { status: "canceled" } }), { kind: "drop" });
  assert.deepEqual(planOf({ sub: { status: "paused" } }), { kind: "drop" });
  const waiting = { type: "enter_pin", enter_pin: { attempts_remaining: 3, pin_length: 4 } } as const;
  assert.deepEqual(planOf({ sub: { status: "incomplete", next_action: waiting } }), { kind: "drop" });
  assert.deepEqual(
    planOf({ sub: { status: "canceled" }, pending: "pay_1" }),
    { kind: "drop" },
    "before sync",
  );
});

test("an attempt awaiting its answer is asked again, before anything else", () => {
  assert.deepEqual(planOf({ pending: "pay_1" }), { kind: "sync", payment_id: "pay_1" });
  const old = { debt: 100n, debt_since: new Date(DUE - 60 * DAY) };
  assert.deepEqual(planOf({ pending: "pay_1", sub: old }), { kind: "sync", payment_id: "pay_1" });
});

test("debt is written off the policy's days after it arose, not a millisecond sooner", () => {
  const since = (ms: number) => ({ debt: 100n, debt_since: new Date(DUE - ms) });
  assert.deepEqual(planOf({ sub: since(30 * DAY) }), { kind: "write_off" }, "exactly 30 days");
  assert.deepEqual(planOf({ sub: since(30 * DAY - 1) }), period(500n));
  assert.deepEqual(planOf({ sub: since(3 * DAY), policy: { debt_write_off_days: 3 } }), {
    kind: "write_off",
  });
  // Before the period is due, an old debt is written off rather than collected.
  assert.deepEqual(planOf({ nowMs: DUE - HOUR, sub: since(30 * DAY + HOUR) }), { kind: "write_off" });
  // No debt, nothing to write off, whatever the date says.
  assert.deepEqual(planOf({ sub: { debt: 0n, debt_since: new Date(DUE - 60 * DAY) } }), period(500n));
  assert.deepEqual(planOf({ sub: { debt: 100n, debt_since: null } }), period(500n));
});

test("before the period is due: wait for it, or collect an active subscriber's debt meanwhile", () => {
  assert.deepEqual(planOf({ nowMs: DUE - 1 }), defer(DUE, "not_due"));
  assert.deepEqual(
    planOf({ nowMs: DUE - 1, sub: { anchor: new Date("2026-02-01T10:00:00Z"), anchor_period: 1 } }),
    defer(DUE, "not_due"),
    "periods count from the anchor's own period",
  );
  const owing = { debt: 120n, debt_since: new Date(DUE - DAY) };
  assert.deepEqual(planOf({ nowMs: DUE - HOUR, sub: owing }), debt(120n));
  assert.deepEqual(
    planOf({ nowMs: DUE - HOUR, sub: { ...owing, status: "past_due" } }),
    defer(DUE, "not_due"),
  );
  // Once the period is due, the period comes first.
  assert.deepEqual(planOf({ sub: owing }), period(500n));
});

test("dunning gives up the policy's days after the first failure of the period", () => {
  const failing = (ms: number) => ({
    status: "past_due" as const,
    retry_count: 2,
    retry_started: new Date(DUE - ms),
  });
  assert.deepEqual(planOf({ sub: failing(5 * DAY) }), { kind: "give_up", reason: "retries_exhausted" });
  assert.deepEqual(planOf({ sub: failing(5 * DAY - 1) }), period(500n));
  assert.deepEqual(planOf({ sub: failing(2 * DAY), policy: { retry_days_max: 2 } }), {
    kind: "give_up",
    reason: "retries_exhausted",
  });
  // Even outside the window: giving up sends nothing.
  assert.deepEqual(planOf({ nowMs: DUE + 11 * HOUR, sub: { ...failing(6 * DAY - 11 * HOUR) } }), {
    kind: "give_up",
    reason: "retries_exhausted",
  });
  // No retry counted: no dunning to give up.
  assert.deepEqual(planOf({ sub: { retry_count: 0, retry_started: new Date(DUE - 9 * DAY) } }), period(500n));
  // Debt collection is not a retry of the period.
  const owing = {
    debt: 50n,
    debt_since: new Date(DUE - DAY),
    retry_count: 1,
    retry_started: new Date(DUE - 9 * DAY),
  };
  assert.deepEqual(planOf({ nowMs: DUE - HOUR, sub: owing }), debt(50n));
});

test("outside the charging window: the next opening, spread by the subscription's id", () => {
  const nextMorning = Date.parse("2026-03-02T08:00:00Z");
  assert.deepEqual(
    planOf({ nowMs: DUE + 10 * HOUR }),
    defer(nextMorning + spreadOffsetMs("a"), "outside_window"),
  );
  assert.deepEqual(
    planOf({ nowMs: DUE + 10 * HOUR - 1 }),
    period(500n),
    "the last millisecond of the window",
  );
  assert.deepEqual(
    planOf({ nowMs: DUE - 2 * HOUR - 1 }),
    defer(DUE, "not_due"),
    "not due yet: waits for the period, not the window",
  );
  // A spread past the window's close opens at the opening itself (here the window is 30 minutes).
  assert.ok(spreadOffsetMs("a") > 30 * MINUTE && spreadOffsetMs("a") < 60 * MINUTE);
  assert.deepEqual(
    planOf({ nowMs: DUE + 10 * HOUR, rules: rules({}, ["08:00", "08:30"]) }),
    defer(nextMorning, "outside_window"),
  );
  assert.deepEqual(
    planOf({ nowMs: DUE + 10 * HOUR, rules: rules({}, ["08:00", "09:00"]) }),
    defer(nextMorning + spreadOffsetMs("a"), "outside_window"),
  );
});

test("the operator's minimum interval after the last charge", () => {
  const last = (ms: number) => ({ last_charge_at: new Date(DUE - ms) });
  assert.deepEqual(
    planOf({ sub: last(59 * MINUTE) }),
    defer(DUE + MINUTE, "min_interval"),
    "in the window: exactly then",
  );
  assert.deepEqual(planOf({ sub: last(60 * MINUTE) }), period(500n), "exactly the interval");
  assert.deepEqual(
    planOf({ sub: last(10 * MINUTE), rules: rules({ min_interval_minutes: 5 }) }),
    period(500n),
  );
  // An interval that ends after the window closes waits for the next opening, spread.
  const late = DUE + 9 * HOUR + 30 * MINUTE;
  assert.deepEqual(
    planOf({ nowMs: late, sub: { last_charge_at: new Date(late - 10 * MINUTE) } }),
    defer(Date.parse("2026-03-02T08:00:00Z") + spreadOffsetMs("a"), "min_interval"),
  );
});

test("the price point: the ladder's step where partial payments are allowed, the whole price otherwise", () => {
  assert.deepEqual(planOf({ sub: { ladder_step: 1 } }), period(250n, 50));
  assert.deepEqual(planOf({ sub: { ladder_step: 2 } }), period(100n, 20));
  assert.deepEqual(planOf({ sub: { ladder_step: 7 } }), period(100n, 20), "past the last step: the last");
  assert.deepEqual(
    planOf({ sub: { ladder_step: 1 }, rules: rules({ partial_payments: false }) }),
    period(500n),
  );
  assert.deepEqual(
    planOf({
      sub: { ladder_step: 1, period_index: 5, anchor_period: 3, anchor: new Date("2026-01-01T10:00:00Z") },
    }),
    period(250n, 50, 5),
  );
  // Debt is collected whole, whatever the ladder's step.
  assert.deepEqual(
    planOf({ nowMs: DUE - HOUR, sub: { ladder_step: 2, debt: 300n, debt_since: new Date(DUE - DAY) } }),
    debt(300n),
  );
});
