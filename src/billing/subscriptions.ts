import { getOperator } from "../connectors/index.ts";
import type { Queryable } from "../db/db.ts";
import type { ListParams } from "../db/pages.ts";
import { listPage } from "../db/pages.ts";
import type { DbRow } from "../db/rows.ts";
import { rowsToJson } from "../db/rows.ts";
import { type EventType, eventRow } from "../events/index.ts";
import type { IdempotencyContext } from "../idempotency/index.ts";
import { idempotentTransaction } from "../idempotency/index.ts";
import type { TransferInput } from "../ledger/index.ts";
import type { PaymentMethodInput } from "../payments/index.ts";
import { insertRows, paymentAccounts, SANDBOX_PIN } from "../payments/index.ts";
import { iso } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import { newId } from "../platform/ids.ts";
import { LIMITS } from "../platform/limits.ts";
import type { AuthScope } from "../platform/scope.ts";
import { debtAccounts, writeOff } from "./engine.ts";
import {
  type Consent,
  type PriceRow,
  presentSubscription,
  type SubscriptionRow,
  type SubscriptionStatus,
  unchargedSchedule,
} from "./model.ts";
import { rulesFor } from "./rules.ts";
import type { BillingContext } from "./scheduler.ts";
import { insertInto } from "./sql.ts";
import { addDaysMs } from "./time.ts";

export interface CreateSubscriptionInput {
  customer: string;
  price: string;
  payment_method: PaymentMethodInput;
  consent?: Omit<Consent, "recorded_at" | "pin_verified_at">;
  metadata?: Record<string, string>;
}

interface CustomerFacts {
  id: string;
  country: string | null;
  time_zone: string | null;
  msisdn: string | null;
  test_clock_id: string | null;
}

type Result = { statusCode: number; body: string };

/** The time objects of a customer live in: its test clock's frozen time, or the real clock. */
export async function customerNowMs(
  ctx: BillingContext,
  q: Queryable,
  testClockId: string | null,
): Promise<number> {
  if (!testClockId) return ctx.clock.nowMs();
  const { rows } = await q.query<{ frozen_time: Date }>("select frozen_time from test_clocks where id = $1", [
    testClockId,
  ]);
  return rows[0]?.frozen_time.getTime() ?? ctx.clock.nowMs();
}

export async function createSubscription(
  ctx: BillingContext,
  scope: AuthScope,
  input: CreateSubscriptionInput,
  idempotency: IdempotencyContext | undefined,
): Promise<Result> {
  const { rows: customers } = await ctx.db.query<CustomerFacts>(
    "select id, country, time_zone, msisdn, test_clock_id from customers where id = $1 and merchant_id = $2 and mode = $3",
    [input.customer, scope.merchantId, scope.mode],
  );
  const customer = customers[0];
  if (!customer) throw new ApiError("resource_missing", "customer", `No such customer: '${input.customer}'.`);
  const { rows: prices } = await ctx.db.query<PriceRow>(
    "select * from prices where id = $1 and merchant_id = $2 and mode = $3",
    [input.price, scope.merchantId, scope.mode],
  );
  const price = prices[0];
  if (!price) throw new ApiError("resource_missing", "price", `No such price: '${input.price}'.`);
  if (!price.active) throw new ApiError("parameter_invalid", "price", "This price is archived.");
  if (price.recurring_period === null)
    throw new ApiError("parameter_invalid", "price", "A subscription needs a recurring price.");

  const nowMs = await customerNowMs(ctx, ctx.db, customer.test_clock_id);
  // The method's provider checks and routes it exactly as for a one-off payment.
  const method = (
    await ctx.providers.resolve(input.payment_method, {
      mode: scope.mode,
      currency: price.currency,
      nowMs,
      usage: "subscription",
    })
  ).stored;
  const provider = ctx.providers.require(method.type);
  // Where the subscriber is: the operator's country (a sandbox may borrow one), else the customer's.
  const operatorId = method.type === "carrier" || method.type === "sandbox" ? method.operator : undefined;
  const known = operatorId === undefined ? undefined : getOperator(operatorId);
  if (operatorId !== undefined && !known)
    throw new ApiError(
      "payment_method_invalid",
      "payment_method.operator",
      `Unknown operator '${operatorId}'.`,
    );
  const operator = known?.id ?? null;
  let country = known?.country ?? customer.country;
  country ??= price.country;
  if (price.country && country && price.country !== country)
    throw new ApiError(
      "parameter_invalid",
      "price",
      `This price is for ${price.country}; the subscriber is in ${country}.`,
    );
  const rules = rulesFor(country, operator);
  if (rules.caps && rules.caps.currency === price.currency && rules.caps.transaction_max !== undefined) {
    if (price.amount > rules.caps.transaction_max)
      throw new ApiError(
        "parameter_invalid",
        "price",
        `The price is above the per-transaction cap of ${rules.caps.transaction_max} (minor units of ${rules.caps.currency}) in ${country}.`,
      );
  }

  // Ledger accounts in their own commit, before the subscription's transaction.
  const accounts = paymentAccounts({
    merchant_id: scope.merchantId,
    mode: scope.mode,
    provider: provider.name,
    currency: price.currency,
  });
  const debt = debtAccounts({ merchant_id: scope.merchantId, mode: scope.mode, currency: price.currency });
  await ctx.ledger.ensureAccounts([accounts.clearing, accounts.available, debt.debt, debt.unbilled], nowMs);

  const consent: Consent = {
    method: input.consent?.method ?? "api",
    recorded_at: iso(nowMs),
    ...(input.consent?.ip_address ? { ip_address: input.consent.ip_address } : {}),
    ...(input.consent?.user_agent ? { user_agent: input.consent.user_agent } : {}),
    ...(input.consent?.text ? { text: input.consent.text } : {}),
    ...(input.consent?.reference ? { reference: input.consent.reference } : {}),
  };
  // A second stage already evidenced by the operator (its hosted page, or an MO keyword) counts
  // as the double opt-in; otherwise the subscriber confirms with a PIN.
  const secondStageDone =
    (consent.method === "operator_page" || consent.method === "mo") && consent.reference !== undefined;
  // The risk engine before anything is written: a block (or a review: a subscription cannot be
  // held) refuses it; require_pin makes the subscriber confirm with a PIN.
  const verdict = ctx.risk
    ? await ctx.risk.assess(
        scope,
        {
          flow: "subscription",
          amount: price.amount,
          currency: price.currency,
          method: method.type,
          customer: customer.id,
          ...(operator ? { operator } : {}),
          ...(country ? { country } : {}),
          ...("msisdn" in method && method.msisdn ? { msisdn: method.msisdn } : {}),
          ...(input.consent?.ip_address ? { ip: input.consent.ip_address } : {}),
        },
        nowMs,
      )
    : undefined;
  if (verdict) await ctx.risk?.record(verdict);
  if (verdict?.action === "block" || verdict?.action === "review")
    throw new ApiError(
      "blocked_by_risk_rule",
      undefined,
      `The risk rule '${verdict.rule?.name ?? ""}' refused this subscription.`,
    );
  const needsPin =
    (rules.double_opt_in && !secondStageDone) ||
    (method.type === "sandbox" && method.scenario === "require_pin") ||
    verdict?.action === "require_pin";
  const timeZone = customer.time_zone ?? rules.time_zone;
  const now = new Date(nowMs);
  const sub: SubscriptionRow = {
    id: newId("sub", nowMs),
    merchant_id: scope.merchantId,
    mode: scope.mode,
    customer_id: customer.id,
    price_id: price.id,
    product_id: price.product_id,
    status: "incomplete",
    amount: price.amount,
    currency: price.currency,
    period: price.recurring_period,
    country,
    operator,
    time_zone: timeZone,
    payment_method: method,
    consent,
    next_action: needsPin
      ? {
          type: "enter_pin",
          enter_pin: { attempts_remaining: LIMITS.pin_attempts_max, pin_length: rules.pin_length_min },
        }
      : null,
    ...unchargedSchedule(now),
    test_clock_id: customer.test_clock_id,
    metadata: input.metadata ?? {},
    created: now,
    updated: now,
  };
  if (!needsPin) start(sub, price.trial_days, nowMs);
  return idempotentTransaction(ctx.db, ctx.clock, scope, idempotency, async (tx) => {
    await insertInto(tx, "subscriptions", [sub]);
    const events: EventType[] = ["subscription.created"];
    if (needsPin) events.push("subscription.requires_action");
    else await insertJob(tx, sub, nowMs);
    await insertRows(tx, "events", subscriptionEvents(sub, events, nowMs));
    return { statusCode: 201, body: JSON.stringify(presentSubscription(sub)) };
  });
}

/**
 * The subscription starts: a trial first if the price has one, else the first period is due now.
 * Until its first charge succeeds it is `incomplete` (honestly: nothing was paid yet).
 */
function start(sub: SubscriptionRow, trialDays: number, nowMs: number): void {
  const now = new Date(nowMs);
  sub.next_action = null;
  if (trialDays > 0) {
    const trialEnd = addDaysMs(nowMs, sub.time_zone, trialDays);
    sub.status = "trialing";
    sub.trial_end = new Date(trialEnd);
    sub.current_period_start = now;
    sub.current_period_end = sub.trial_end;
    sub.anchor = sub.trial_end;
  } else {
    sub.status = "incomplete";
    sub.anchor = now;
  }
}

/** The subscription's job, due at its anchor: the scheduler charges it from then on. */
async function insertJob(tx: Queryable, sub: SubscriptionRow, nowMs: number): Promise<void> {
  sub.next_charge_at = sub.anchor;
  await tx.query(
    `insert into billing_jobs (subscription_id, merchant_id, mode, clock_key, run_at, created)
     values ($1, $2, $3, $4, $5, $6)
     on conflict (subscription_id) do update set run_at = excluded.run_at, pending_payment_id = null`,
    [sub.id, sub.merchant_id, sub.mode, sub.test_clock_id ?? "", sub.anchor, new Date(nowMs)],
  );
}

function subscriptionEvents(sub: SubscriptionRow, types: readonly EventType[], nowMs: number): DbRow[] {
  const object = presentSubscription(sub);
  return types.map((type) =>
    eventRow({ merchantId: sub.merchant_id, mode: sub.mode, type, objectId: sub.id, object, nowMs }),
  );
}

async function loadForUpdate(tx: Queryable, scope: AuthScope, id: string): Promise<SubscriptionRow> {
  // The job row first (the scheduler's lock order), then the subscription.
  const job = await tx.query<{ run_at: Date }>(
    "select run_at from billing_jobs where subscription_id = $1 and merchant_id = $2 for update",
    [id, scope.merchantId],
  );
  const { rows } = await tx.query<SubscriptionRow>(
    "select * from subscriptions where id = $1 and merchant_id = $2 and mode = $3 for update",
    [id, scope.merchantId, scope.mode],
  );
  const sub = rows[0];
  if (!sub) throw new ApiError("resource_missing", "id", `No such subscription: '${id}'.`);
  return { ...sub, next_charge_at: job.rows[0]?.run_at ?? null };
}

async function saveSubscription(tx: Queryable, sub: SubscriptionRow): Promise<void> {
  await tx.query(
    `update subscriptions s set status = v.status, consent = v.consent, next_action = v.next_action,
       pin_attempts = v.pin_attempts, anchor = v.anchor, period_index = v.period_index, anchor_period = v.anchor_period,
       current_period_start = v.current_period_start, current_period_end = v.current_period_end,
       trial_end = v.trial_end, retry_count = v.retry_count, retry_started = v.retry_started,
       ladder_step = v.ladder_step, debt = v.debt, debt_since = v.debt_since,
       cancel_reason = v.cancel_reason, canceled_at = v.canceled_at, updated = v.updated
     from json_populate_recordset(null::subscriptions, $1::json) v where s.id = v.id`,
    [rowsToJson([sub])],
  );
}

function unexpected(sub: SubscriptionRow, action: string): ApiError {
  return new ApiError(
    "subscription_unexpected_state",
    undefined,
    `This subscription is ${sub.status}; it cannot ${action}.`,
  );
}

/** Answers the double opt-in: the PIN the subscriber received. */
export async function confirmSubscription(
  ctx: BillingContext,
  scope: AuthScope,
  id: string,
  input: { pin: string },
  idempotency: IdempotencyContext | undefined,
): Promise<Result> {
  const trial = await ctx.db.query<{ trial_days: number; test_clock_id: string | null }>(
    `select p.trial_days, s.test_clock_id from subscriptions s join prices p on p.id = s.price_id
     where s.id = $1 and s.merchant_id = $2 and s.mode = $3`,
    [id, scope.merchantId, scope.mode],
  );
  const trialDays = trial.rows[0]?.trial_days ?? 0;
  const nowMs = await customerNowMs(ctx, ctx.db, trial.rows[0]?.test_clock_id ?? null);
  return idempotentTransaction(ctx.db, ctx.clock, scope, idempotency, async (tx) => {
    const sub = await loadForUpdate(tx, scope, id);
    if (sub.status !== "incomplete" || sub.next_action?.type !== "enter_pin")
      throw unexpected(sub, "be confirmed");
    sub.updated = new Date(nowMs);
    // Test mode knows the PIN; live PINs are verified by the operator's consent API (connectors).
    const correct = scope.mode === "test" && input.pin === SANDBOX_PIN;
    if (!correct) {
      sub.pin_attempts += 1;
      const left = LIMITS.pin_attempts_max - sub.pin_attempts;
      if (left <= 0) {
        sub.status = "canceled";
        sub.cancel_reason = "consent_failed";
        sub.canceled_at = sub.updated;
        sub.next_action = null;
        await saveSubscription(tx, sub);
        await insertRows(
          tx,
          "events",
          subscriptionEvents(sub, ["subscription.updated", "subscription.canceled"], nowMs),
        );
        return { statusCode: 200, body: JSON.stringify(presentSubscription(sub)) };
      }
      sub.next_action = {
        type: "enter_pin",
        enter_pin: { attempts_remaining: left, pin_length: sub.next_action.enter_pin.pin_length },
      };
      await saveSubscription(tx, sub);
      const error = new ApiError("incorrect_pin", "pin", `The PIN is not correct; ${left} attempt(s) left.`);
      return { statusCode: error.status, body: JSON.stringify(error.toBody()) };
    }
    sub.consent = { ...sub.consent, pin_verified_at: iso(nowMs) };
    start(sub, trialDays, nowMs);
    await saveSubscription(tx, sub);
    await insertJob(tx, sub, nowMs);
    await insertRows(tx, "events", subscriptionEvents(sub, ["subscription.updated"], nowMs));
    return { statusCode: 200, body: JSON.stringify(presentSubscription(sub)) };
  });
}

export type CancelReason = "requested" | "mo_stop" | "subscriber";

/** Ends a subscription now (API, MO STOP or the subscriber): no further charges; debt is written off. */
export async function cancelSubscription(
  ctx: BillingContext,
  scope: AuthScope,
  id: string,
  reason: CancelReason,
  idempotency: IdempotencyContext | undefined,
): Promise<Result> {
  return idempotentTransaction(ctx.db, ctx.clock, scope, idempotency, async (tx, realNowMs) => {
    const sub = await loadForUpdate(tx, scope, id);
    if (sub.status === "canceled") throw unexpected(sub, "be canceled again");
    const nowMs = sub.test_clock_id ? await customerNowMs(ctx, tx, sub.test_clock_id) : realNowMs;
    const events: EventType[] = [];
    const transfers: TransferInput[] = [];
    endSubscription(sub, reason, nowMs, events, transfers);
    await applyTransfers(ctx, tx, transfers, nowMs);
    await saveSubscription(tx, sub);
    await tx.query("delete from billing_jobs where subscription_id = $1", [sub.id]);
    sub.next_charge_at = null;
    await insertRows(tx, "events", subscriptionEvents(sub, events, nowMs));
    return { statusCode: 200, body: JSON.stringify(presentSubscription(sub)) };
  });
}

function endSubscription(
  sub: SubscriptionRow,
  reason: string,
  nowMs: number,
  events: EventType[],
  transfers: TransferInput[],
): void {
  sub.status = "canceled";
  sub.canceled_at = new Date(nowMs);
  sub.cancel_reason = reason;
  sub.next_action = null;
  sub.updated = new Date(nowMs);
  events.push("subscription.updated", "subscription.canceled");
  writeOff(sub, nowMs, events, transfers);
}

async function applyTransfers(ctx: BillingContext, tx: Queryable, transfers: TransferInput[], nowMs: number) {
  if (transfers.length === 0) return;
  const results = await ctx.ledger.apply(tx, transfers, { nowMs });
  for (const r of results) if (r !== "ok" && r !== "exists") throw new ApiError("ledger_rejected");
}

/** Pause (no charges) and resume (a new period starts now). */
export async function setPaused(
  ctx: BillingContext,
  scope: AuthScope,
  id: string,
  paused: boolean,
  idempotency: IdempotencyContext | undefined,
): Promise<Result> {
  return idempotentTransaction(ctx.db, ctx.clock, scope, idempotency, async (tx, realNowMs) => {
    const sub = await loadForUpdate(tx, scope, id);
    const nowMs = sub.test_clock_id ? await customerNowMs(ctx, tx, sub.test_clock_id) : realNowMs;
    sub.updated = new Date(nowMs);
    if (paused) {
      if (!["trialing", "active", "past_due"].includes(sub.status)) throw unexpected(sub, "be paused");
      sub.status = "paused";
      await tx.query("delete from billing_jobs where subscription_id = $1", [sub.id]);
      sub.next_charge_at = null;
    } else {
      if (sub.status !== "paused") throw unexpected(sub, "be resumed");
      sub.status = "active";
      sub.anchor = new Date(nowMs);
      sub.anchor_period = sub.period_index;
      sub.retry_count = 0;
      sub.retry_started = null;
      sub.ladder_step = 0;
      await insertJob(tx, sub, nowMs);
    }
    await saveSubscription(tx, sub);
    await insertRows(
      tx,
      "events",
      subscriptionEvents(
        sub,
        ["subscription.updated", paused ? "subscription.paused" : "subscription.resumed"],
        nowMs,
      ),
    );
    return { statusCode: 200, body: JSON.stringify(presentSubscription(sub)) };
  });
}

const STOP_KEYWORDS = new Set(["STOP", "STOP ALL", "UNSUB", "STOPP", "END", "CANCEL", "QUIT"]);

/**
 * An MO message from a subscriber: a STOP keyword cancels every live subscription of that MSISDN
 * with this merchant (STOP ALL and plain STOP alike: exit must always work). Returns how many.
 */
export async function handleMoMessage(
  ctx: BillingContext,
  scope: AuthScope,
  input: { msisdn: string; text: string },
): Promise<{ canceled: string[]; stop: boolean }> {
  const keyword = input.text.trim().toUpperCase().replace(/\s+/g, " ");
  const stop = STOP_KEYWORDS.has(keyword) || STOP_KEYWORDS.has(keyword.split(" ")[0] ?? "");
  if (!stop) return { canceled: [], stop: false };
  const { rows } = await ctx.db.query<{ id: string }>(
    `select s.id from subscriptions s join customers c on c.id = s.customer_id
     where s.merchant_id = $1 and s.mode = $2 and s.status <> 'canceled'
       and (c.msisdn = $3 or s.payment_method->>'msisdn' = $3)`,
    [scope.merchantId, scope.mode, input.msisdn],
  );
  const canceled: string[] = [];
  for (const row of rows) {
    try {
      await cancelSubscription(ctx, scope, row.id, "mo_stop", undefined);
      canceled.push(row.id);
    } catch (error) {
      if (!(error instanceof ApiError && error.code === "subscription_unexpected_state")) throw error;
    }
  }
  return { canceled, stop: true };
}

export async function getSubscription(ctx: BillingContext, scope: AuthScope, id: string) {
  const { rows } = await ctx.db.query<SubscriptionRow>(
    `select s.*, j.run_at as next_charge_at from subscriptions s
     left join billing_jobs j on j.subscription_id = s.id
     where s.id = $1 and s.merchant_id = $2 and s.mode = $3`,
    [id, scope.merchantId, scope.mode],
  );
  if (!rows[0]) throw new ApiError("resource_missing", "id", `No such subscription: '${id}'.`);
  return presentSubscription(rows[0]);
}

export async function listSubscriptions(
  ctx: BillingContext,
  scope: AuthScope,
  filters: { customer?: string; status?: SubscriptionStatus; price?: string; test_clock?: string },
  list: ListParams,
) {
  const where = ["merchant_id = $1", "mode = $2"];
  const params: unknown[] = [scope.merchantId, scope.mode];
  const add = (column: string, value: string | undefined) => {
    if (value === undefined) return;
    params.push(value);
    where.push(`${column} = $${params.length}`);
  };
  add("customer_id", filters.customer);
  add("status", filters.status);
  add("price_id", filters.price);
  add("test_clock_id", filters.test_clock);
  const page = await listPage<SubscriptionRow>(ctx.db, "subscriptions", where, params, list);
  const { rows: jobs } = await ctx.db.query<{ subscription_id: string; run_at: Date }>(
    "select subscription_id, run_at from billing_jobs where subscription_id = any($1::text[])",
    [page.rows.map((s) => s.id)],
  );
  const runAt = new Map(jobs.map((j) => [j.subscription_id, j.run_at]));
  return {
    rows: page.rows.map((s) => presentSubscription({ ...s, next_charge_at: runAt.get(s.id) ?? null })),
    hasMore: page.hasMore,
  };
}
