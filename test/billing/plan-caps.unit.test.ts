/**
 * The billing plan under the operator's caps (`plan()` in src/billing/engine.ts), without a
 * database: a charge that fits is unchanged, one that does not takes the highest price point that
 * fits (debt: what is left), and nothing fitting defers to the caps' reset (the next local
 * midnight, or the first of next month), then to the window's opening.
 * Written for mutation testing of plan() and its helpers.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { spreadOffsetMs } from "../../src/billing/engine.ts";
import type { ResolvedRules } from "../../src/billing/rules.ts";
import { DAY, DUE, debt, defer, eur, HOUR, period, planOf, rules } from "./plan-cases.ts";

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
