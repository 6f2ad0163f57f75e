import type { EventType } from "../events/index.ts";
import type { AccountSpec, TransferInput } from "../ledger/index.ts";
import { accountId } from "../ledger/index.ts";
import type { ChargeOutcome, DeclinedOutcome } from "../payments/index.ts";
import { DAY_MS, HOUR_MS, MINUTE_MS } from "../platform/clock.ts";
import { assert } from "../platform/errors.ts";
import { newId } from "../platform/ids.ts";
import type { JobRow, SubscriptionRow } from "./model.ts";
import { type DunningPolicy, ladderAmount } from "./policy.ts";
import type { ResolvedRules } from "./rules.ts";
import { inWindow, localDayKey, localMonthKey, nextWindowOpenMs, periodStartMs } from "./time.ts";

/**
 * The billing state machine as pure functions. `plan` says what a due job should do now;
 * `settle` turns a charge result into the subscription's next state, its events and the ledger
 * journal for the debt. The scheduler does the I/O around them, in bulk.
 */

/** How long an unknown or pending charge waits before we ask the operator again. */
export const SYNC_AFTER_MS = 5 * MINUTE_MS;
/** Spread of charges over the start of a window, so the whole due set does not fire at its first second. */
export const WINDOW_SPREAD_MS = 2 * HOUR_MS;
/** A year, for annual reminders. */
const YEAR_MS = 365 * DAY_MS;

export type Plan =
  | { kind: "drop" }
  | { kind: "defer"; run_at_ms: number; reason: string }
  | { kind: "sync"; payment_id: string }
  | {
      kind: "charge";
      purpose: "period" | "debt";
      amount: bigint;
      /** The period paid (null for debt collection). */
      billing_period: number | null;
      percent: number;
    }
  /** The payer's balance covers no price point: a failed attempt for dunning, nothing sent. */
  | { kind: "skip"; reason: "balance_low" }
  | { kind: "give_up"; reason: "retries_exhausted" | "hard_decline" }
  | { kind: "write_off" };

export interface Usage {
  day: bigint;
  month: bigint;
}

/** A stable spread of a subscription over the first part of its window (FNV-1a of its id). */
export function spreadOffsetMs(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % WINDOW_SPREAD_MS;
}

export function periodDueMs(sub: SubscriptionRow, index = sub.period_index): number {
  return periodStartMs(sub.anchor.getTime(), sub.time_zone, sub.period, index - sub.anchor_period);
}

function nextOpen(sub: SubscriptionRow, rules: ResolvedRules, atMs: number): number {
  const open = nextWindowOpenMs(sub.time_zone, rules.window_minutes, atMs);
  if (open === atMs) return atMs;
  // Spread over the opening hours, but never past the window's close.
  const spread = open + spreadOffsetMs(sub.id);
  return inWindow(sub.time_zone, rules.window_minutes, spread) ? spread : open;
}

export interface PlanInput {
  nowMs: number;
  sub: SubscriptionRow;
  job: JobRow;
  rules: ResolvedRules;
  policy: DunningPolicy;
  /** Cap usage of the subscriber in the current local day and month, in the caps' currency. */
  usage: Usage;
}

/** What a claimed job does now, before balance checks and TPS. */
export function plan(input: PlanInput): Plan {
  const { nowMs, sub, job, rules, policy, usage } = input;
  // Not live, or still waiting for the subscriber's PIN (an incomplete one without is charged).
  if (sub.status === "canceled" || sub.status === "paused" || sub.next_action !== null)
    return { kind: "drop" };
  if (job.pending_payment_id) return { kind: "sync", payment_id: job.pending_payment_id };

  if (
    sub.debt > 0n &&
    sub.debt_since &&
    nowMs >= sub.debt_since.getTime() + policy.debt_write_off_days * DAY_MS
  )
    return { kind: "write_off" };

  const dueMs = periodDueMs(sub);
  let purpose: "period" | "debt" = "period";
  if (nowMs < dueMs) {
    // Nothing due for the period yet: collect debt in the meantime, if any.
    if (sub.debt > 0n && sub.status === "active") purpose = "debt";
    else return { kind: "defer", run_at_ms: dueMs, reason: "not_due" };
  }

  if (purpose === "period" && sub.retry_count > 0 && sub.retry_started) {
    if (nowMs >= sub.retry_started.getTime() + policy.retry_days_max * DAY_MS)
      return { kind: "give_up", reason: "retries_exhausted" };
  }

  if (!inWindow(sub.time_zone, rules.window_minutes, nowMs))
    return { kind: "defer", run_at_ms: nextOpen(sub, rules, nowMs), reason: "outside_window" };

  if (sub.last_charge_at) {
    const earliest = sub.last_charge_at.getTime() + rules.min_interval_minutes * MINUTE_MS;
    if (nowMs < earliest)
      return { kind: "defer", run_at_ms: nextOpen(sub, rules, earliest), reason: "min_interval" };
  }

  // A period is charged at its step of the ladder; debt is collected whole (percent 100).
  const ladder = rules.partial_payments ? policy.partial_ladder_percent : [100];
  const step = Math.min(sub.ladder_step, ladder.length - 1);
  let percent = purpose === "period" ? (ladder[step] ?? 100) : 100;
  let amount = purpose === "period" ? ladderAmount(sub.amount, percent) : sub.debt;

  // Caps (only for charges in the caps' currency).
  const caps = rules.caps && rules.caps.currency === sub.currency ? rules.caps : null;
  if (caps) {
    let room = caps.transaction_max ?? amount;
    if (caps.day_max !== undefined) room = min(room, caps.day_max - usage.day);
    if (caps.month_max !== undefined) room = min(room, caps.month_max - usage.month);
    if (amount > room) {
      const fit =
        purpose === "period" ? fittingStep(sub.amount, ladder, step, room) : room > 0n ? room : null;
      if (fit === null) {
        // The least we would charge: the last price point, or one minor unit of debt.
        const smallest =
          purpose === "period" ? ladderAmount(sub.amount, ladder[ladder.length - 1] ?? 100) : 1n;
        return {
          kind: "defer",
          run_at_ms: nextOpen(sub, rules, nextCapReset(sub, caps, usage, nowMs, smallest)),
          reason: "cap_reached",
        };
      }
      if (purpose === "period") {
        percent = fit as number;
        amount = ladderAmount(sub.amount, percent);
      } else {
        amount = fit as bigint;
      }
    }
  }
  return {
    kind: "charge",
    purpose,
    amount,
    billing_period: purpose === "period" ? sub.period_index : null,
    percent,
  };
}

function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

/** The first price point at or below the current step that fits into `room`. */
function fittingStep(price: bigint, ladder: number[], from: number, room: bigint): number | null {
  for (let i = from; i < ladder.length; i++) {
    const percent = ladder[i]!;
    if (ladderAmount(price, percent) <= room) return percent;
  }
  return null;
}

/** When a binding cap resets: the next local midnight, or the first of next month if the month binds. */
function nextCapReset(
  sub: SubscriptionRow,
  caps: NonNullable<ResolvedRules["caps"]>,
  usage: Usage,
  nowMs: number,
  smallest: bigint,
): number {
  // The month binds when not even the smallest charge fits in what is left of it.
  const monthFull = caps.month_max !== undefined && caps.month_max - usage.month < smallest;
  const day = localDayKey(sub.time_zone, nowMs);
  const month = localMonthKey(sub.time_zone, nowMs);
  // Whole hours are enough: every zone's midnight is on a quarter hour, and the window check
  // that follows moves the charge to the window's opening anyway.
  let next = nowMs - (nowMs % HOUR_MS) + HOUR_MS;
  for (let i = 0; i < 48 && localDayKey(sub.time_zone, next) === day; i++) next += HOUR_MS;
  if (!monthFull) return next;
  for (let i = 0; i < 32 && localMonthKey(sub.time_zone, next) === month; i++) next += DAY_MS;
  return next;
}

// ---------------------------------------------------------------------------------------------
// Outcomes

export interface Settlement {
  sub: SubscriptionRow;
  /** The job's next run, or null to delete it (the subscription ended). */
  run_at_ms: number | null;
  pending_payment_id: string | null;
  events: EventType[];
  transfers: TransferInput[];
  /** Cap usage to add (succeeded charges only). */
  used: bigint;
}

/** The two memo accounts that hold subscribers' debt, per merchant, mode and currency. */
export function debtAccounts(sub: Pick<SubscriptionRow, "merchant_id" | "mode" | "currency">): {
  debt: AccountSpec;
  unbilled: AccountSpec;
} {
  return {
    debt: {
      merchantId: sub.merchant_id,
      mode: sub.mode,
      ownerId: sub.merchant_id,
      purpose: "subscription_debt",
      currency: sub.currency,
    },
    unbilled: {
      merchantId: sub.merchant_id,
      mode: sub.mode,
      ownerId: sub.merchant_id,
      purpose: "subscription_debt_unbilled",
      currency: sub.currency,
    },
  };
}

/** Debt arises (debit debt, credit unbilled) or goes away: collected or written off (the reverse). */
export function debtTransfer(
  sub: SubscriptionRow,
  amount: bigint,
  code: "debt_recorded" | "debt_collected" | "debt_written_off",
  reference: string,
  nowMs: number,
): TransferInput {
  const accounts = debtAccounts(sub);
  const debt = accountId(accounts.debt);
  const unbilled = accountId(accounts.unbilled);
  const arises = code === "debt_recorded";
  return {
    id: newId("tr", nowMs),
    journalId: newId("jrn", nowMs),
    type: "single_phase",
    debitAccountId: arises ? debt : unbilled,
    creditAccountId: arises ? unbilled : debt,
    amount,
    currency: sub.currency,
    code,
    reference,
  };
}

export interface SettleInput {
  nowMs: number;
  sub: SubscriptionRow;
  rules: ResolvedRules;
  policy: DunningPolicy;
  purpose: "period" | "debt";
  /** What the attempt asked for and the price point it was at. */
  amount: bigint;
  payment_id: string;
  /** The provider's answer, in the one outcome vocabulary of payments. */
  outcome: ChargeOutcome;
}

/**
 * A renewal's answer as billing reads it. A renewal is charged without the payer, so an answer
 * that asks for the payer (a PIN, a redirect, an MO) is a failed attempt the dunning retries.
 */
export function renewalOutcome(outcome: ChargeOutcome): ChargeOutcome {
  switch (outcome.status) {
    case "requires_pin":
    case "requires_mo":
    case "requires_redirect":
      return {
        status: "declined",
        code: "authentication_required",
        message: "The provider asked for the payer, who is not present for a renewal.",
        retryable: true,
      };
    case "authorized":
      // Renewals capture automatically; a hold here is a provider bug, not money we can count.
      return { status: "unknown", reason: "authorized_on_automatic_capture" };
    default:
      return outcome;
  }
}

/** Soft declines walk the dunning ladder (insufficient funds also down the price points); hard ones end it. */
export function declineKind(outcome: DeclinedOutcome): "insufficient_funds" | "soft" | "hard" {
  if (outcome.code === "insufficient_funds") return "insufficient_funds";
  return outcome.retryable ? "soft" : "hard";
}

/** The subscription after a charge attempt's answer. */
export function settle(input: SettleInput): Settlement {
  const { nowMs, rules, policy, purpose } = input;
  const result = renewalOutcome(input.outcome);
  const now = new Date(nowMs);
  const sub: SubscriptionRow = { ...input.sub, updated: now };
  const events: EventType[] = [];
  const transfers: TransferInput[] = [];
  const before = input.sub.status;

  if (result.status === "pending" || result.status === "unknown") {
    return {
      sub,
      run_at_ms: nowMs + SYNC_AFTER_MS,
      pending_payment_id: input.payment_id,
      events,
      transfers,
      used: 0n,
    };
  }

  if (result.status === "succeeded") {
    const charged = input.amount;
    sub.last_charge_at = now;
    sub.charges_succeeded += 1;
    if (purpose === "debt") {
      const collected = min(charged, sub.debt);
      sub.debt -= collected;
      if (sub.debt === 0n) sub.debt_since = null;
      transfers.push(debtTransfer(sub, collected, "debt_collected", input.payment_id, nowMs));
      events.push("subscription.debt_collected");
    } else {
      const dueMs = periodDueMs(input.sub);
      // Deferral: a period paid late starts now; later periods follow from the new anchor.
      const deferred = policy.defer_period_on_late_payment && nowMs > dueMs;
      if (deferred) {
        sub.anchor = now;
        sub.anchor_period = sub.period_index;
      }
      sub.current_period_start = new Date(deferred ? nowMs : dueMs);
      sub.period_index += 1;
      sub.current_period_end = new Date(periodDueMs(sub));
      const remainder = input.sub.amount - charged;
      if (remainder > 0n) {
        sub.debt += remainder;
        sub.debt_since ??= now;
        transfers.push(debtTransfer(sub, remainder, "debt_recorded", input.payment_id, nowMs));
        events.push("subscription.partially_paid");
      }
      sub.retry_count = 0;
      sub.retry_started = null;
      sub.ladder_step = 0;
      sub.status = "active";
      if (before !== "active") events.push("subscription.updated");
      events.push("subscription.renewed");
    }
    if (rules.receipts) events.push("subscription.receipt");
    if (rules.annual_reminder) {
      const since = (sub.last_reminder_at ?? sub.created).getTime();
      if (nowMs - since >= YEAR_MS) {
        sub.last_reminder_at = now;
        events.push("subscription.reminder");
      }
    }
    const nextPeriodMs = periodDueMs(sub);
    const debtMs = sub.debt > 0n ? nowMs + policy.debt_retry_minutes * MINUTE_MS : Number.POSITIVE_INFINITY;
    return {
      sub,
      run_at_ms: Math.min(nextPeriodMs, debtMs),
      pending_payment_id: null,
      events,
      transfers,
      used: charged,
    };
  }

  assert(result.status === "declined", `a renewal's answer is final: ${result.status}`);
  if (purpose === "debt") {
    return {
      sub,
      run_at_ms: Math.min(periodDueMs(sub), nowMs + policy.debt_retry_minutes * MINUTE_MS),
      pending_payment_id: null,
      events,
      transfers,
      used: 0n,
    };
  }
  const kind = declineKind(result);
  if (kind === "hard") return giveUp(input, sub, "hard_decline", events, transfers);
  sub.retry_count += 1;
  sub.retry_started ??= now;
  if (kind === "insufficient_funds" && rules.partial_payments) {
    sub.ladder_step = Math.min(sub.ladder_step + 1, policy.partial_ladder_percent.length - 1);
  }
  // A first charge that fails leaves the subscription incomplete (nothing was ever paid);
  // a renewal that fails makes it past due.
  if (sub.status !== "past_due" && sub.status !== "incomplete") {
    sub.status = "past_due";
    events.push("subscription.updated", "subscription.past_due");
  }
  const delays = policy.retry_delays_minutes;
  const delay = delays[Math.min(sub.retry_count - 1, delays.length - 1)] ?? 240;
  return {
    sub,
    run_at_ms: nowMs + delay * MINUTE_MS,
    pending_payment_id: null,
    events,
    transfers,
    used: 0n,
  };
}

/** Dunning is over: cancel or pause, writing off debt on cancel. */
export function giveUp(
  input: Pick<SettleInput, "nowMs" | "policy">,
  sub: SubscriptionRow,
  reason: "retries_exhausted" | "hard_decline",
  events: EventType[] = [],
  transfers: TransferInput[] = [],
): Settlement {
  const now = new Date(input.nowMs);
  sub.updated = now;
  sub.retry_count = 0;
  sub.retry_started = null;
  sub.ladder_step = 0;
  if (input.policy.final_action === "pause" && reason === "retries_exhausted") {
    sub.status = "paused";
    events.push("subscription.updated", "subscription.paused");
    return { sub, run_at_ms: null, pending_payment_id: null, events, transfers, used: 0n };
  }
  sub.status = "canceled";
  sub.canceled_at = now;
  sub.cancel_reason = reason;
  events.push("subscription.updated", "subscription.canceled");
  writeOff(sub, input.nowMs, events, transfers);
  return { sub, run_at_ms: null, pending_payment_id: null, events, transfers, used: 0n };
}

/** Writes off a subscription's whole debt (mutates `sub`). */
export function writeOff(
  sub: SubscriptionRow,
  nowMs: number,
  events: EventType[],
  transfers: TransferInput[],
): void {
  if (sub.debt === 0n) return;
  transfers.push(debtTransfer(sub, sub.debt, "debt_written_off", sub.id, nowMs));
  sub.debt = 0n;
  sub.debt_since = null;
  events.push("subscription.debt_written_off");
}
