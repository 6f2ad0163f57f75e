/**
 * The subscriptions, rules and expected plans the plan tests share (plan.unit.test.ts: the order
 * the rules apply in; plan-caps.unit.test.ts: the caps).
 */
import { type Plan, type PlanInput, plan } from "../../src/billing/engine.ts";
import type { JobRow, SubscriptionRow } from "../../src/billing/model.ts";
import { DEFAULT_DUNNING_POLICY } from "../../src/billing/policy.ts";
import type { ResolvedRules } from "../../src/billing/rules.ts";
import { parseWindow } from "../../src/billing/time.ts";
import { subscriptionRow } from "./subscription-row.ts";

export { DAY_MS as DAY, HOUR_MS as HOUR, MINUTE_MS as MINUTE } from "../../src/platform/clock.ts";
/** Period 2 of a monthly subscription anchored on 1 January 10:00 UTC is due at this instant. */
export const DUE = Date.parse("2026-03-01T10:00:00Z");

export function sub(extra: Partial<SubscriptionRow> = {}): SubscriptionRow {
  return subscriptionRow({ id: "a", ...extra });
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
