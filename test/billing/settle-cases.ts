/**
 * The subscription, rules, answers and journal reading the settlement tests share
 * (settle.unit.test.ts: successes and pending answers; settle-declines.unit.test.ts: debt
 * collection, declines and giving up).
 */
import assert from "node:assert/strict";
import { debtAccounts, type SettleInput, settle } from "../../src/billing/engine.ts";
import type { SubscriptionRow } from "../../src/billing/model.ts";
import { DEFAULT_DUNNING_POLICY } from "../../src/billing/policy.ts";
import type { ResolvedRules } from "../../src/billing/rules.ts";
import { accountId, type TransferInput } from "../../src/ledger/index.ts";
import type { ChargeOutcome } from "../../src/payments/provider.ts";

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
/** Period 2 of a monthly subscription anchored on 1 January 10:00 UTC is due at this instant. */
export const DUE = Date.parse("2026-03-01T10:00:00Z");
export const NEXT_DUE = Date.parse("2026-04-01T10:00:00Z");
export const CREATED = new Date("2026-01-01T10:00:00Z");

export function sub(extra: Partial<SubscriptionRow> = {}): SubscriptionRow {
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

export const RULES = { partial_payments: true, receipts: false, annual_reminder: false } as ResolvedRules;

export interface Case {
  nowMs?: number;
  sub?: Partial<SubscriptionRow>;
  rules?: Partial<ResolvedRules>;
  policy?: Partial<SettleInput["policy"]>;
  purpose?: "period" | "debt";
  amount?: bigint;
}

export function settled(outcome: ChargeOutcome, c: Case = {}) {
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

export const OK: ChargeOutcome = { status: "succeeded", reference: "ref" };
export const LOW: ChargeOutcome = {
  status: "declined",
  code: "insufficient_funds",
  message: "low",
  retryable: true,
};
export const BUSY: ChargeOutcome = {
  status: "declined",
  code: "provider_unavailable",
  message: "busy",
  retryable: true,
};
export const BARRED: ChargeOutcome = {
  status: "declined",
  code: "barred",
  message: "barred",
  retryable: false,
};

export const accounts = debtAccounts(sub());
const DEBT = accountId(accounts.debt);
const UNBILLED = accountId(accounts.unbilled);

/** The parts of a transfer that matter, without its fresh ids (checked by prefix). */
export function money(t: TransferInput) {
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
