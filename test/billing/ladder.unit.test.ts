/**
 * Dunning policies and price points, fast and without a database: the checks a merchant's policy
 * goes through, the amount of a price point, and what a planned charge becomes once the payer's
 * balance is known (docs/billing.md, "Balance checks"). Written for mutation testing of
 * src/billing/policy.ts and the balance step of the plan (src/billing/steps/decide.ts).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_DUNNING_POLICY, ladderAmount, policyProblem } from "../../src/billing/policy.ts";
import { fitToBalance } from "../../src/billing/steps/decide.ts";
import type { Charge, Item } from "../../src/billing/steps/types.ts";

const NOW = Date.parse("2026-03-01T10:00:00Z");

test("the default policy is the one docs/billing.md documents", () => {
  assert.deepEqual(DEFAULT_DUNNING_POLICY, {
    retry_delays_minutes: [240, 240, 480, 1440],
    retry_days_max: 5,
    final_action: "cancel",
    partial_ladder_percent: [100, 50, 20],
    debt_retry_minutes: 1440,
    debt_write_off_days: 30,
    defer_period_on_late_payment: false,
  });
});

test("a policy: the default is valid; each rule names the field that breaks it", () => {
  assert.equal(policyProblem(DEFAULT_DUNNING_POLICY), undefined);
  const with_ = (change: Partial<typeof DEFAULT_DUNNING_POLICY>) =>
    policyProblem({ ...DEFAULT_DUNNING_POLICY, ...change });
  assert.deepEqual(with_({ retry_delays_minutes: [] }), ["retry_delays_minutes", "must not be empty"]);
  assert.deepEqual(with_({ retry_delays_minutes: [15, 14] }), [
    "retry_delays_minutes.1",
    "must be between 15 minutes and 7 days",
  ]);
  assert.deepEqual(with_({ retry_delays_minutes: [7 * 1440 + 1] }), [
    "retry_delays_minutes.0",
    "must be between 15 minutes and 7 days",
  ]);
  assert.equal(with_({ retry_delays_minutes: [15, 7 * 1440] }), undefined, "both bounds are allowed");
  assert.deepEqual(with_({ partial_ladder_percent: [90, 50] }), [
    "partial_ladder_percent",
    "must start at 100",
  ]);
  assert.deepEqual(with_({ partial_ladder_percent: [100, 50, 50] }), [
    "partial_ladder_percent.2",
    "must decrease and stay at least 1",
  ]);
  assert.deepEqual(with_({ partial_ladder_percent: [100, 120] }), [
    "partial_ladder_percent.1",
    "must decrease and stay at least 1",
  ]);
  assert.deepEqual(with_({ partial_ladder_percent: [100, 0] }), [
    "partial_ladder_percent.1",
    "must decrease and stay at least 1",
  ]);
  assert.equal(with_({ partial_ladder_percent: [100, 2, 1] }), undefined, "1 % is the lowest point");
  assert.equal(with_({ partial_ladder_percent: [100] }), undefined, "no partial points at all");
});

test("a price point is its percent of the price, rounded down, and never below one minor unit", () => {
  assert.equal(ladderAmount(500n, 100), 500n);
  assert.equal(ladderAmount(500n, 50), 250n);
  assert.equal(ladderAmount(499n, 50), 249n, "rounded down");
  assert.equal(ladderAmount(199n, 20), 39n);
  assert.equal(ladderAmount(3n, 20), 1n, "at least one minor unit");
  assert.equal(ladderAmount(5n, 20), 1n, "exactly one stays one");
});

function item(options: { partial?: boolean; ladder?: number[]; price?: bigint } = {}): Item {
  return {
    sub: { amount: options.price ?? 500n },
    rules: { partial_payments: options.partial ?? true },
    policy: {
      ...DEFAULT_DUNNING_POLICY,
      partial_ladder_percent: options.ladder ?? [100, 50, 20],
      debt_retry_minutes: 90,
    },
  } as unknown as Item;
}

const period = (amount: bigint, percent = 100): Charge => ({
  kind: "charge",
  purpose: "period",
  amount,
  billing_period: 3,
  percent,
});
const debt = (amount: bigint): Charge => ({
  kind: "charge",
  purpose: "debt",
  amount,
  billing_period: null,
  percent: 100,
});

test("a renewal the balance covers is charged as planned", () => {
  const planned = period(500n);
  assert.equal(fitToBalance(item(), planned, 500n, NOW), planned, "exactly the price");
  assert.equal(fitToBalance(item(), planned, 10_000n, NOW), planned);
});

test("a renewal the balance does not cover: the highest price point it covers, at or below the plan", () => {
  assert.deepEqual(fitToBalance(item(), period(500n), 499n, NOW), { ...period(250n, 50) });
  assert.deepEqual(
    fitToBalance(item(), period(500n), 250n, NOW),
    { ...period(250n, 50) },
    "a point exactly covered",
  );
  assert.deepEqual(fitToBalance(item(), period(500n), 249n, NOW), { ...period(100n, 20) });
  assert.deepEqual(fitToBalance(item(), period(500n), 100n, NOW), { ...period(100n, 20) });
  // A plan already at 50 % never climbs back to 100 %.
  assert.deepEqual(fitToBalance(item(), period(250n, 50), 240n, NOW), { ...period(100n, 20) });
});

test("a renewal no price point fits is skipped (a failed attempt for dunning, nothing sent)", () => {
  assert.deepEqual(fitToBalance(item(), period(500n), 99n, NOW), { kind: "skip", reason: "balance_low" });
  assert.deepEqual(fitToBalance(item(), period(500n), 0n, NOW), { kind: "skip", reason: "balance_low" });
  assert.deepEqual(fitToBalance(item(), period(500n), -5n, NOW), { kind: "skip", reason: "balance_low" });
  assert.deepEqual(
    fitToBalance(item({ partial: false }), period(500n), 499n, NOW),
    { kind: "skip", reason: "balance_low" },
    "where the operator allows no partial payment",
  );
  assert.deepEqual(
    fitToBalance(item({ ladder: [100] }), period(500n), 499n, NOW),
    { kind: "skip", reason: "balance_low" },
    "a policy with no lower point",
  );
});

test("a debt collection takes what the balance covers, or waits for the policy's delay", () => {
  assert.deepEqual(fitToBalance(item(), debt(300n), 120n, NOW), { ...debt(120n), percent: 100 });
  assert.deepEqual(
    fitToBalance(item({ partial: false }), debt(300n), 120n, NOW),
    debt(120n),
    "debt ignores the ladder",
  );
  assert.deepEqual(fitToBalance(item(), debt(300n), 0n, NOW), {
    kind: "defer",
    run_at_ms: NOW + 90 * 60_000,
    reason: "balance_low_for_debt",
  });
});
