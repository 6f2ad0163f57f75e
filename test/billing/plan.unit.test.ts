/**
 * The billing plan (`plan()` in src/billing/engine.ts), without a database: what a due job does
 * now for each state of its subscription, in the order the rules apply (docs/billing.md): drop,
 * wait for a pending answer, write off old debt, wait for the period (or collect debt meanwhile),
 * give up after the retry days, wait for the charging window and the operator's minimum interval,
 * then charge the price point of the ladder, cut to the caps or deferred to their reset.
 * Written for mutation testing of plan() and its helpers.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { type Plan, type PlanInput, plan, spreadOffsetMs } from "../../src/billing/engine.ts";
import type { JobRow, SubscriptionRow } from "../../src/billing/model.ts";
import { DEFAULT_DUNNING_POLICY } from "../../src/billing/policy.ts";
import type { ResolvedRules } from "../../src/billing/rules.ts";
import { parseWindow } from "../../src/billing/time.ts";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** Period 2 of a monthly subscription anchored on 1 January 10:00 UTC is due at this instant. */
const DUE = Date.parse("2026-03-01T10:00:00Z");

function sub(extra: Partial<SubscriptionRow> = {}): SubscriptionRow {
  return {
    id: "a",
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
    anchor: new Date("2026-01-01T10:00:00Z"),
    period_index: 2,
    anchor_period: 0,
    current_period_start: null,
    current_period_end: null,
    trial_end: null,
    retry_count: 0,
    retry_started: null,
    ladder_step: 0,
    debt: 0n,
    debt_since: null,
    last_charge_at: null,
    last_reminder_at: null,
    charges_succeeded: 1,
    cancel_reason: null,
    canceled_at: null,
    test_clock_id: null,
    metadata: {},
    created: new Date("2026-01-01T10:00:00Z"),
    updated: new Date("2026-01-01T10:00:00Z"),
    ...extra,
  } as SubscriptionRow;
}

function rules(
  extra: Partial<ResolvedRules> = {},
  window: readonly [string, string] = ["08:00", "20:00"],
): ResolvedRules {
  return {
    window: { start: window[0], end: window[1] },
    window_minutes: parseWindow(window[0], window[1]),
    time_zone: "UTC",
    caps: null,
    double_opt_in: false,
    pin_length_min: 4,
    min_interval_minutes: 60,
    receipts: false,
    annual_reminder: false,
    partial_payments: true,
    tps_max: 10,
    ...extra,
  };
}

interface Case {
  nowMs?: number;
  sub?: Partial<SubscriptionRow>;
  pending?: string | null;
  rules?: ResolvedRules;
  policy?: Partial<PlanInput["policy"]>;
  usage?: { day: bigint; month: bigint };
}

function planOf(c: Case = {}): Plan {
  const job = {
    subscription_id: "a",
    pending_payment_id: c.pending ?? null,
    attempts: 0,
  } as unknown as JobRow;
  return plan({
    nowMs: c.nowMs ?? DUE,
    sub: sub(c.sub),
    job,
    rules: c.rules ?? rules(),
    policy: { ...DEFAULT_DUNNING_POLICY, ...c.policy },
    usage: c.usage ?? { day: 0n, month: 0n },
  });
}

const period = (amount: bigint, percent = 100, billing_period = 2): Plan => ({
  kind: "charge",
  purpose: "period",
  amount,
  billing_period,
  percent,
});
const debt = (amount: bigint): Plan => ({
  kind: "charge",
  purpose: "debt",
  amount,
  billing_period: null,
  percent: 100,
});
const defer = (run_at_ms: number, reason: string): Plan => ({ kind: "defer", run_at_ms, reason });

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

const eur = (caps: Omit<NonNullable<ResolvedRules["caps"]>, "currency">) => ({ currency: "EUR", ...caps });

test("caps: a charge that fits is unchanged; one that does not takes the highest price point that fits", () => {
  assert.deepEqual(
    planOf({ rules: rules({ caps: eur({ transaction_max: 500n }) }) }),
    period(500n),
    "exactly",
  );
  assert.deepEqual(planOf({ rules: rules({ caps: eur({ transaction_max: 499n }) }) }), period(250n, 50));
  assert.deepEqual(
    planOf({ rules: rules({ caps: eur({ day_max: 1000n }) }), usage: { day: 700n, month: 0n } }),
    period(250n, 50),
  );
  assert.deepEqual(
    planOf({ rules: rules({ caps: eur({ day_max: 1000n }) }), usage: { day: 750n, month: 0n } }),
    period(250n, 50),
    "a point exactly left",
  );
  assert.deepEqual(
    planOf({ rules: rules({ caps: eur({ day_max: 1000n }) }), usage: { day: 751n, month: 0n } }),
    period(100n, 20),
  );
  assert.deepEqual(
    planOf({ rules: rules({ caps: eur({ month_max: 5000n }) }), usage: { day: 0n, month: 4800n } }),
    period(100n, 20),
  );
  // The tightest of the three binds.
  const all = eur({ transaction_max: 400n, day_max: 1000n, month_max: 5000n });
  assert.deepEqual(planOf({ rules: rules({ caps: all }), usage: { day: 0n, month: 0n } }), period(250n, 50));
  assert.deepEqual(
    planOf({ rules: rules({ caps: all }), usage: { day: 800n, month: 0n } }),
    period(100n, 20),
  );
  assert.deepEqual(
    planOf({ rules: rules({ caps: all }), usage: { day: 0n, month: 4800n } }),
    period(100n, 20),
  );
  assert.deepEqual(
    planOf({ rules: rules({ caps: all }), usage: { day: 600n, month: 4000n } }),
    period(250n, 50),
  );
  // Caps in another currency do not apply; a plan already down the ladder does not climb back.
  assert.deepEqual(
    planOf({ rules: rules({ caps: { currency: "GBP", transaction_max: 1n } }) }),
    period(500n),
  );
  assert.deepEqual(
    planOf({ sub: { ladder_step: 1 }, rules: rules({ caps: eur({ transaction_max: 499n }) }) }),
    period(250n, 50),
  );
  assert.deepEqual(
    planOf({ sub: { ladder_step: 1 }, rules: rules({ caps: eur({ transaction_max: 249n }) }) }),
    period(100n, 20),
  );
});

test("caps on debt: what is left of the cap is collected, nothing when nothing is left", () => {
  const owing = { debt: 300n, debt_since: new Date(DUE - DAY) };
  const at = DUE - HOUR;
  assert.deepEqual(
    planOf({
      nowMs: at,
      sub: owing,
      rules: rules({ caps: eur({ day_max: 1000n }) }),
      usage: { day: 700n, month: 0n },
    }),
    debt(300n),
  );
  assert.deepEqual(
    planOf({
      nowMs: at,
      sub: owing,
      rules: rules({ caps: eur({ day_max: 1000n }) }),
      usage: { day: 880n, month: 0n },
    }),
    debt(120n),
  );
  assert.deepEqual(
    planOf({
      nowMs: at,
      sub: owing,
      rules: rules({ caps: eur({ day_max: 1000n }) }),
      usage: { day: 999n, month: 0n },
    }),
    debt(1n),
  );
  // A cap above the debt collects the debt, never the cap.
  assert.deepEqual(
    planOf({
      nowMs: at,
      sub: owing,
      rules: rules({ caps: eur({ transaction_max: 1000n, day_max: 5000n }) }),
    }),
    debt(300n),
  );
  // Nothing left today: the next local midnight, then the window's opening (spread).
  const tomorrow = Date.parse("2026-03-02T08:00:00Z") + spreadOffsetMs("a");
  assert.deepEqual(
    planOf({
      nowMs: at,
      sub: owing,
      rules: rules({ caps: eur({ day_max: 1000n }) }),
      usage: { day: 1000n, month: 0n },
    }),
    defer(tomorrow, "cap_reached"),
  );
  assert.deepEqual(
    planOf({
      nowMs: at,
      sub: owing,
      rules: rules({ caps: eur({ day_max: 1000n }) }),
      usage: { day: 1200n, month: 0n },
    }),
    defer(tomorrow, "cap_reached"),
  );
  // Nothing left this month: the first of next month.
  const nextMonth = Date.parse("2026-04-01T08:00:00Z") + spreadOffsetMs("a");
  assert.deepEqual(
    planOf({
      nowMs: at,
      sub: owing,
      rules: rules({ caps: eur({ month_max: 5000n }) }),
      usage: { day: 0n, month: 5000n },
    }),
    defer(nextMonth, "cap_reached"),
  );
  assert.deepEqual(
    planOf({
      nowMs: at,
      sub: owing,
      rules: rules({ caps: eur({ month_max: 5000n }) }),
      usage: { day: 0n, month: 4999n },
    }),
    debt(1n),
  );
  // The day binds while one minor unit of debt is left in the month (a price point need not be).
  assert.deepEqual(
    planOf({
      nowMs: at,
      sub: owing,
      rules: rules({ caps: eur({ day_max: 1000n, month_max: 5000n }) }),
      usage: { day: 1000n, month: 4950n },
    }),
    defer(tomorrow, "cap_reached"),
  );
});

test("no price point fits the cap: deferred to the day's reset, or the month's when not even the smallest fits", () => {
  // A window open all day shows the reset itself: local midnight (Paris is UTC+1 on 1 March).
  const allDay = (caps: NonNullable<ResolvedRules["caps"]>) =>
    rules({ caps, time_zone: "Europe/Paris" }, ["00:00", "24:00"]);
  const paris = { time_zone: "Europe/Paris" };
  const now = Date.parse("2026-03-01T10:20:00Z");
  const midnight = Date.parse("2026-03-01T23:00:00Z");
  assert.deepEqual(
    planOf({
      nowMs: now,
      sub: paris,
      rules: allDay(eur({ day_max: 1000n })),
      usage: { day: 901n, month: 0n },
    }),
    defer(midnight, "cap_reached"),
  );
  assert.deepEqual(
    planOf({ nowMs: now, sub: paris, rules: allDay(eur({ transaction_max: 99n })) }),
    defer(midnight, "cap_reached"),
    "a transaction cap below every point",
  );
  // In the first hour of a local day, the reset is the next midnight, not the one just past.
  const firstHour = Date.parse("2026-03-01T23:20:00Z");
  assert.deepEqual(
    planOf({
      nowMs: firstHour,
      sub: paris,
      rules: allDay(eur({ day_max: 1000n })),
      usage: { day: 901n, month: 0n },
    }),
    defer(Date.parse("2026-03-02T23:00:00Z"), "cap_reached"),
  );
  // The month binds when less than the smallest point (20 % of 500) is left of it: 1 April, local (summer time by then).
  const april = Date.parse("2026-03-31T23:00:00Z");
  const month = (left: bigint) => ({
    nowMs: now,
    sub: paris,
    rules: allDay(eur({ day_max: 1000n, month_max: 5000n })),
    usage: { day: 1000n, month: 5000n - left },
  });
  assert.deepEqual(planOf(month(99n)), defer(april, "cap_reached"));
  assert.deepEqual(
    planOf(month(100n)),
    defer(midnight, "cap_reached"),
    "exactly the smallest point left: the day binds",
  );
  // Without partial payments the smallest charge is the price.
  assert.deepEqual(
    planOf({
      ...month(400n),
      rules: { ...allDay(eur({ day_max: 1000n, month_max: 5000n })), partial_payments: false },
    }),
    defer(april, "cap_reached"),
  );
  // In UTC with the usual window: the reset, then the window's opening, spread.
  assert.deepEqual(
    planOf({ rules: rules({ caps: eur({ day_max: 1000n }) }), usage: { day: 950n, month: 0n } }),
    defer(Date.parse("2026-03-02T08:00:00Z") + spreadOffsetMs("a"), "cap_reached"),
  );
});
