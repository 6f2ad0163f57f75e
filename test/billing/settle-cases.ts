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
import { subscriptionRow } from "./subscription-row.ts";

export { DAY_MS as DAY, HOUR_MS as HOUR, MINUTE_MS as MINUTE } from "../../src/platform/clock.ts";
/** Period 2 of a monthly subscription anchored on 1 January 10:00 UTC is due at this instant. */
export const DUE = Date.parse("2026-03-01T10:00:00Z");
export const NEXT_DUE = Date.parse("2026-04-01T10:00:00Z");
export const CREATED = new Date("2026-01-01T10:00:00Z");

export function sub(extra: Partial<SubscriptionRow> = {}): SubscriptionRow {
  return subscriptionRow({
    id: "sub_s",
    anchor: CREATED,
    created: CREATED,
    current_period_start: new Date("2026-02-01T10:00:00Z"),
    current_period_end: new Date(DUE),
    last_charge_at: new Date("2026-02-01T10:00:00Z"),
    charges_succeeded: 2,
    ...extra,
  });
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
