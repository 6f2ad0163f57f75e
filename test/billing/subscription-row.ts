/**
 * An active monthly subscription row for the billing tests that need no database (plan, settle,
 * enact, batch writes): 5.00 EUR through the sandbox, no debt, no caps used. Each test file gives
 * the fields its cases are about.
 */
import type { SubscriptionRow } from "../../src/billing/model.ts";

export function subscriptionRow(extra: Partial<SubscriptionRow> = {}): SubscriptionRow {
  const created = new Date("2026-01-01T10:00:00Z");
  return {
    id: "sub_test",
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
    consent: {} as SubscriptionRow["consent"], // none recorded: the sandbox needs none
    next_action: null,
    pin_attempts: 0,
    anchor: created,
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
    created,
    updated: extra.created ?? created,
    ...extra,
  };
}
