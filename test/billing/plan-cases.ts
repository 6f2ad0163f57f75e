/**
 * The subscriptions, rules and expected plans the plan tests share (plan.unit.test.ts: the order
 * the rules apply in; plan-caps.unit.test.ts: the caps).
 */
import { type Plan, type PlanInput, plan } from "../../src/billing/engine.ts";
import type { JobRow, SubscriptionRow } from "../../src/billing/model.ts";
import { DEFAULT_DUNNING_POLICY } from "../../src/billing/policy.ts";
import type { ResolvedRules } from "../../src/billing/rules.ts";
import { parseWindow } from "../../src/billing/time.ts";

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
/** Period 2 of a monthly subscription anchored on 1 January 10:00 UTC is due at this instant. */
export const DUE = Date.parse("2026-03-01T10:00:00Z");

export function sub(extra: Partial<SubscriptionRow> = {}): SubscriptionRow {
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

export function rules(
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

export interface Case {
  nowMs?: number;
  sub?: Partial<SubscriptionRow>;
  pending?: string | null;
  rules?: ResolvedRules;
  policy?: Partial<PlanInput["policy"]>;
  usage?: { day: bigint; month: bigint };
}

export function planOf(c: Case = {}): Plan {
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

export const period = (amount: bigint, percent = 100, billing_period = 2): Plan => ({
  kind: "charge",
  purpose: "period",
  amount,
  billing_period,
  percent,
});
export const debt = (amount: bigint): Plan => ({
  kind: "charge",
  purpose: "debt",
  amount,
  billing_period: null,
  percent: 100,
});
export const defer = (run_at_ms: number, reason: string): Plan => ({ kind: "defer", run_at_ms, reason });

export const eur = (caps: Omit<NonNullable<ResolvedRules["caps"]>, "currency">) => ({
  currency: "EUR",
  ...caps,
});
