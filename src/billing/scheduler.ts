import type { Db, Queryable } from "../db/db.ts";
import type { DbRow } from "../db/rows.ts";
import { eventRow } from "../events/outbox.ts";
import { BALANCE_SLOT_COUNT, type Ledger } from "../ledger/ledger.ts";
import type { TransferInput } from "../ledger/types.ts";
import { insertRows, interactionRow, paymentEvents } from "../payments/context.ts";
import type { PaymentRow } from "../payments/model.ts";
import { newPaymentRow } from "../payments/new-payment.ts";
import {
  type ChargeOutcome,
  type ChargeRequest,
  type Interaction,
  type PaymentProvider,
  type ProviderAnswer,
  settleUnseenAttempt,
} from "../payments/provider.ts";
import type { ProviderRegistry } from "../payments/registry.ts";
import { applyChargeOutcome } from "../payments/transitions.ts";
import type { Clock } from "../platform/clock.ts";
import { assert } from "../platform/errors.ts";
import type { Logger } from "../platform/log.ts";
import {
  giveUp,
  type Plan,
  plan,
  renewalOutcome,
  type Settlement,
  SYNC_AFTER_MS,
  settle,
  type Usage,
  writeOff,
} from "./engine.ts";
import { type JobRow, presentSubscription, type SubscriptionRow } from "./model.ts";
import { DEFAULT_DUNNING_POLICY, type DunningPolicy } from "./policy.ts";
import { type ResolvedRules, rulesFor } from "./rules.ts";
import { jsonRows } from "./sql.ts";
import { localDayKey, localMonthKey } from "./time.ts";

/**
 * The charging scheduler. Due jobs are claimed in batches with FOR UPDATE SKIP LOCKED, so any
 * number of workers share the due set without waiting for each other; everything a batch
 * decides (payments, provider interactions, events, the ledger journal, subscriptions, jobs, cap
 * usage) is written with one statement per table, in the transaction that holds the claims.
 *
 * In-process chargers (the sandbox) are asked inside that transaction: a crash before commit
 * leaves no trace anywhere. Remote chargers are asked after the attempt is committed as a
 * `processing` payment referenced by the job; a crash after that leaves the job pointing at the
 * attempt, and the next run asks the operator about it (`sync`) instead of charging again.
 */
export interface BillingContext {
  db: Db;
  ledger: Ledger;
  clock: Clock;
  /** The payments' provider registry: renewals charge through the same providers as payments. */
  providers: ProviderRegistry;
  logger?: Logger;
  /** Overrides of the rules (simulations and benchmarks use their own operators). */
  rules?: (country: string | null, operator: string | null) => ResolvedRules;
}

export const BILLING_BATCH_SIZE_MAX = 500;

export interface BatchReport {
  claimed: number;
  charged: number;
  succeeded: number;
  deferred: number;
  synced: number;
  /** Deferrals by reason (outside_window, operator_tps, cap_reached, min_interval, not_due, …). */
  deferredBy: Record<string, number>;
}

interface Item {
  job: JobRow;
  sub: SubscriptionRow;
  rules: ResolvedRules;
  policy: DunningPolicy;
  provider: PaymentProvider;
  capped: boolean;
  dayKey: string;
  monthKey: string;
  plan: Plan;
}

/** A charge attempt whose answer is known or awaited, ready to be settled. */
interface Attempt {
  item: Item;
  payment: PaymentRow & { subscription_id: string; billing_period: number | null };
  isNew: boolean;
  purpose: "period" | "debt";
  result: ChargeOutcome | null;
  interactions: Interaction[];
  /** Cap keys the attempt's amount was reserved under (the local day and month it was made in). */
  usageKeys: [string, string] | null;
}

type PaymentWithSub = PaymentRow & { subscription_id: string; billing_period: number | null };

const usageKey = (customer: string, period: string, currency: string) =>
  `${customer}\u0000${period}\u0000${currency}`;

/** One batch: claims, decides, charges in-process, writes. Remote attempts are sent after commit. */
export async function runBillingBatch(
  ctx: BillingContext,
  options: { nowMs: number; clockKey?: string; batchSize?: number },
): Promise<BatchReport> {
  const nowMs = options.nowMs;
  const report: BatchReport = {
    claimed: 0,
    charged: 0,
    succeeded: 0,
    deferred: 0,
    synced: 0,
    deferredBy: {},
  };
  const remote: Attempt[] = [];
  await ctx.db.transaction(async (tx) => {
    const { rows: jobs } = await tx.query<JobRow>(
      `select * from billing_jobs where clock_key = $1 and run_at <= $2
       order by run_at limit $3 for update skip locked`,
      [
        options.clockKey ?? "",
        new Date(nowMs),
        Math.min(options.batchSize ?? BILLING_BATCH_SIZE_MAX, BILLING_BATCH_SIZE_MAX),
      ],
    );
    report.claimed = jobs.length;
    if (jobs.length === 0) return;
    const ids = jobs.map((j) => j.subscription_id);
    const { rows: subs } = await tx.query<SubscriptionRow>(
      "select * from subscriptions where id = any($1::text[])",
      [ids],
    );
    const subById = new Map(subs.map((s) => [s.id, s]));
    const policies = await loadPolicies(tx, [...new Set(jobs.map((j) => j.merchant_id))]);

    const items: Item[] = [];
    const orphans: string[] = [];
    for (const job of jobs) {
      const sub = subById.get(job.subscription_id);
      if (!sub) {
        orphans.push(job.subscription_id);
        continue;
      }
      const rules = (ctx.rules ?? rulesFor)(sub.country, sub.operator);
      const provider = ctx.providers.require(sub.payment_method.type);
      items.push({
        job,
        sub,
        rules,
        policy: policyFor(policies, sub),
        provider,
        capped: rules.caps !== null && rules.caps.currency === sub.currency,
        dayKey: localDayKey(sub.time_zone, nowMs),
        monthKey: localMonthKey(sub.time_zone, nowMs),
        plan: { kind: "drop" },
      });
    }

    // Pending attempts being synced: their payments, locked.
    const syncIds = items.flatMap((i) => (i.job.pending_payment_id ? [i.job.pending_payment_id] : []));
    const pendingPayments = new Map<string, PaymentWithSub>();
    if (syncIds.length > 0) {
      const { rows } = await tx.query<PaymentWithSub>(
        "select * from payments where id = any($1::text[]) order by id for update",
        [syncIds],
      );
      for (const p of rows) pendingPayments.set(p.id, p);
    }

    // Cap usage rows of capped subscribers, locked in one order so workers never deadlock.
    const usage = await lockUsage(tx, items, pendingPayments);

    // Decide. Planned charges reserve their amount at once, so two subscriptions of one
    // subscriber in one batch cannot pass a cap together.
    for (const item of items) {
      item.plan = plan({
        nowMs,
        sub: item.sub,
        job: item.job,
        rules: item.rules,
        policy: item.policy,
        usage: item.capped ? usageOf(usage, item) : { day: 0n, month: 0n },
      });
      if (item.plan.kind === "charge" && item.capped) reserve(usage, item, item.plan.amount);
    }

    // Balance checks where the protocol has them (in-process here; remote ones after commit).
    for (const item of items) {
      const p = item.plan;
      if (p.kind !== "charge" || !item.provider.inProcess || !item.provider.balance) continue;
      const balance = await item.provider.balance({
        paymentMethod: item.sub.payment_method,
        currency: item.sub.currency,
        nowMs,
      });
      if (balance === undefined || balance >= p.amount) continue;
      const fit = fitBalance(item, p, balance);
      if (item.capped) reserve(usage, item, -p.amount);
      if (fit === null && p.purpose === "debt") {
        item.plan = {
          kind: "defer",
          run_at_ms: nowMs + item.policy.debt_retry_minutes * 60_000,
          reason: "balance_low_for_debt",
        };
      } else if (fit === null) {
        // Settled below as a failed attempt without a charge.
        item.plan = { kind: "defer", run_at_ms: nowMs, reason: "balance_low" };
      } else {
        item.plan = { ...p, amount: fit.amount, percent: fit.percent };
        if (item.capped) reserve(usage, item, fit.amount);
      }
    }

    // No operator gets more than its TPS in any second.
    await allocateOperatorSeconds(tx, items, nowMs, (item) => {
      if (item.plan.kind === "charge" && item.capped) reserve(usage, item, -item.plan.amount);
    });

    const attempts: Attempt[] = [];
    const settlements: { item: Item; settlement: Settlement }[] = [];
    const jobUpdates: DbRow[] = [];
    const jobDeletes: string[] = [...orphans];
    const skippedEvents: DbRow[] = [];
    for (const item of items) {
      const p = item.plan;
      switch (p.kind) {
        case "drop":
          jobDeletes.push(item.job.subscription_id);
          break;
        case "defer":
          if (p.reason === "balance_low") {
            // The balance check saves a charge that would fail: a failed attempt for dunning.
            const s = settle({
              nowMs,
              sub: item.sub,
              rules: item.rules,
              policy: item.policy,
              purpose: "period",
              amount: item.sub.amount,
              payment_id: "",
              outcome: BALANCE_TOO_LOW,
            });
            settlements.push({ item, settlement: s });
            skippedEvents.push(subscriptionEvent(s.sub, "subscription.charge_skipped", nowMs));
          } else {
            report.deferred++;
            report.deferredBy[p.reason] = (report.deferredBy[p.reason] ?? 0) + 1;
            jobUpdates.push(jobRow(item.job, p.run_at_ms, item.job.pending_payment_id));
          }
          break;
        case "give_up":
          settlements.push({
            item,
            settlement: giveUp({ nowMs, policy: item.policy }, { ...item.sub }, p.reason),
          });
          break;
        case "write_off": {
          const sub = { ...item.sub, updated: new Date(nowMs) };
          const events: string[] = [];
          const transfers: TransferInput[] = [];
          writeOff(sub, nowMs, events, transfers);
          settlements.push({
            item,
            settlement: { sub, run_at_ms: nowMs, pending_payment_id: null, events, transfers, used: 0n },
          });
          break;
        }
        case "sync": {
          const payment = pendingPayments.get(p.payment_id);
          if (payment?.status !== "processing") {
            // Settled elsewhere (or lost): the job forgets it and plans afresh next run.
            jobUpdates.push(jobRow(item.job, nowMs, null));
            break;
          }
          report.synced++;
          attempts.push({
            item,
            payment,
            isNew: false,
            purpose: payment.billing_period === null ? "debt" : "period",
            result: null,
            interactions: [],
            usageKeys: item.capped
              ? [
                  localDayKey(item.sub.time_zone, payment.created.getTime()),
                  localMonthKey(item.sub.time_zone, payment.created.getTime()),
                ]
              : null,
          });
          break;
        }
        case "charge": {
          report.charged++;
          attempts.push({
            item,
            payment: newPayment(item, p, nowMs),
            isNew: true,
            purpose: p.purpose,
            result: null,
            interactions: [],
            usageKeys: item.capped ? [item.dayKey, item.monthKey] : null,
          });
          break;
        }
      }
    }

    // Ask in-process chargers now; remote ones get their attempt recorded and are asked after commit.
    const local = attempts.filter((a) => a.item.provider.inProcess);
    for (const a of local) {
      const answer = await ask(a, nowMs);
      a.result = answer.outcome;
      a.interactions = answer.interactions;
    }
    const sent = attempts.filter((a) => !a.item.provider.inProcess);
    for (const a of sent) {
      if (a.isNew) {
        a.result = { status: "unknown", reason: "sending" };
        // Until the answer is written, the job points at the attempt: a crash leads to a sync.
        jobUpdates.push(jobRow(a.item.job, nowMs + SYNC_AFTER_MS, a.payment.id));
      } else {
        jobUpdates.push(jobRow(a.item.job, nowMs + SYNC_AFTER_MS, a.payment.id));
      }
      remote.push(a);
    }

    const writes = new BatchWrites();
    writes.events.push(...skippedEvents);
    for (const { item, settlement } of settlements) writes.addSettlement(item, settlement, nowMs);
    for (const a of local) {
      const settled = settleAttempt(a, nowMs);
      if (settled.succeeded) report.succeeded++;
      writes.addAttempt(a, settled, usage, nowMs);
    }
    for (const a of sent.filter((x) => x.isNew)) {
      writes.payments.push(a.payment);
      writes.events.push(...paymentEvents(a.payment, ["payment.created", "payment.processing"], nowMs));
    }
    writes.jobUpdates.push(...jobUpdates);
    writes.jobDeletes.push(...jobDeletes);
    await writes.flush(ctx, tx, usage, nowMs);
  });

  if (remote.length > 0) await sendRemote(ctx, remote, nowMs, report);
  return report;
}

/** Runs batches until nothing is due at `nowMs`. */
export async function runDueBilling(
  ctx: BillingContext,
  options: { nowMs: number; clockKey?: string; batchSize?: number },
): Promise<BatchReport> {
  const total: BatchReport = { claimed: 0, charged: 0, succeeded: 0, deferred: 0, synced: 0, deferredBy: {} };
  for (;;) {
    const r = await runBillingBatch(ctx, options);
    total.claimed += r.claimed;
    total.charged += r.charged;
    total.succeeded += r.succeeded;
    total.deferred += r.deferred;
    total.synced += r.synced;
    for (const [reason, n] of Object.entries(r.deferredBy))
      total.deferredBy[reason] = (total.deferredBy[reason] ?? 0) + n;
    // A short batch means the due set is drained (or held by other workers, which finish it).
    if (r.claimed < Math.min(options.batchSize ?? BILLING_BATCH_SIZE_MAX, BILLING_BATCH_SIZE_MAX))
      return total;
  }
}

// ---------------------------------------------------------------------------------------------

function fitBalance(
  item: Item,
  p: Extract<Plan, { kind: "charge" }>,
  balance: bigint,
): { amount: bigint; percent: number } | null {
  if (balance <= 0n) return null;
  if (p.purpose === "debt") return { amount: balance, percent: 100 };
  if (!item.rules.partial_payments) return null;
  for (const percent of item.policy.partial_ladder_percent) {
    if (percent > p.percent) continue;
    const amount = (item.sub.amount * BigInt(percent)) / 100n;
    if (amount >= 1n && amount <= balance) return { amount, percent };
  }
  return null;
}

function newPayment(item: Item, p: Extract<Plan, { kind: "charge" }>, nowMs: number): PaymentWithSub {
  const payment = newPaymentRow(
    {
      merchantId: item.sub.merchant_id,
      mode: item.sub.mode,
      amount: p.amount,
      currency: item.sub.currency,
      capture: "automatic",
      customerId: item.sub.customer_id,
      description: p.purpose === "debt" ? "Subscription debt" : `Subscription period ${p.billing_period}`,
      metadata: {
        subscription: item.sub.id,
        purpose: p.purpose,
        ...(p.percent !== 100 ? { price_point_percent: String(p.percent) } : {}),
      },
      paymentMethod: item.sub.payment_method,
      provider: item.provider.name,
      subscription: { id: item.sub.id, billingPeriod: p.billing_period },
    },
    nowMs,
  );
  return { ...payment, subscription_id: item.sub.id, billing_period: p.billing_period };
}

/** The balance check saw too little credit for any price point: the charge is not sent. */
const BALANCE_TOO_LOW: ChargeOutcome = {
  status: "declined",
  code: "insufficient_funds",
  message: "The balance check showed too little credit.",
  retryable: true,
};

function chargeRequest(a: Attempt): ChargeRequest {
  return {
    attemptId: a.payment.attempt_id,
    amount: a.payment.amount,
    currency: a.payment.currency,
    capture: "automatic",
    paymentMethod: a.payment.payment_method,
    description: a.payment.description,
    recurring: true,
    state: null,
  };
}

/**
 * Asks the subscription's provider: a new attempt is charged, a known one only asked about (and
 * given up as the payments' reconciler does when the provider never saw it).
 */
async function ask(a: Attempt, nowMs: number): Promise<ProviderAnswer> {
  const provider = a.item.provider;
  if (a.isNew) return provider.charge(chargeRequest(a));
  const createdMs = a.payment.created.getTime();
  return settleUnseenAttempt(
    await provider.sync({ ...chargeRequest(a), createdMs, nowMs }),
    createdMs,
    nowMs,
  );
}

interface SettledAttempt {
  payment: PaymentWithSub;
  paymentEvents: string[];
  transfers: TransferInput[];
  settlement: Settlement;
  succeeded: boolean;
}

function settleAttempt(a: Attempt, nowMs: number): SettledAttempt {
  assert(a.result, "an attempt is settled after its answer");
  const result = renewalOutcome(a.result);
  const transition = applyChargeOutcome(a.payment, result, {
    nowMs,
    pendingCheckAfterMs: SYNC_AFTER_MS,
    unknownCheckAfterMs: SYNC_AFTER_MS,
    firstAnswer: a.isNew,
  });
  // The scheduler settles its own attempts; the payments reconciler must leave them alone.
  const payment: PaymentWithSub = {
    ...transition.payment,
    reconcile_after: null,
    subscription_id: a.payment.subscription_id,
    billing_period: a.payment.billing_period,
  };
  const settlement = settle({
    nowMs,
    sub: a.item.sub,
    rules: a.item.rules,
    policy: a.item.policy,
    purpose: a.purpose,
    amount: a.payment.amount,
    payment_id: payment.id,
    outcome: result,
  });
  return {
    payment,
    paymentEvents: a.isNew ? ["payment.created", ...transition.events] : transition.events,
    transfers: transition.transfers,
    settlement,
    succeeded: result.status === "succeeded",
  };
}

function jobRow(job: JobRow, runAtMs: number, pendingPaymentId: string | null): DbRow {
  return {
    subscription_id: job.subscription_id,
    run_at: new Date(runAtMs),
    pending_payment_id: pendingPaymentId,
    attempts: job.attempts + 1,
  };
}

function subscriptionEvent(sub: SubscriptionRow, type: string, nowMs: number): DbRow {
  return eventRow({
    merchantId: sub.merchant_id,
    mode: sub.mode,
    type,
    objectId: sub.id,
    object: presentSubscription(sub),
    nowMs,
  });
}

/** Only what a settlement changes travels to the database (the JSON columns stay put). */
function mutableColumns(s: SubscriptionRow): Record<string, unknown> {
  return {
    id: s.id,
    status: s.status,
    anchor: s.anchor,
    period_index: s.period_index,
    current_period_start: s.current_period_start,
    current_period_end: s.current_period_end,
    retry_count: s.retry_count,
    retry_started: s.retry_started,
    ladder_step: s.ladder_step,
    debt: s.debt,
    debt_since: s.debt_since,
    last_charge_at: s.last_charge_at,
    last_reminder_at: s.last_reminder_at,
    charges_succeeded: s.charges_succeeded,
    cancel_reason: s.cancel_reason,
    canceled_at: s.canceled_at,
    updated: s.updated,
  };
}

/** Everything one batch writes, one statement per table. */
class BatchWrites {
  payments: PaymentWithSub[] = [];
  paymentUpdates: PaymentWithSub[] = [];
  interactions: DbRow[] = [];
  events: DbRow[] = [];
  transfers: TransferInput[] = [];
  subs = new Map<string, SubscriptionRow>();
  jobUpdates: DbRow[] = [];
  jobDeletes: string[] = [];
  usageDeltas = new Map<string, bigint>();

  addSettlement(item: Item, s: Settlement, nowMs: number): void {
    this.subs.set(s.sub.id, s.sub);
    if (s.events.length > 0) {
      const object = presentSubscription(s.sub);
      for (const type of s.events)
        this.events.push(
          eventRow({
            merchantId: s.sub.merchant_id,
            mode: s.sub.mode,
            type,
            objectId: s.sub.id,
            object,
            nowMs,
          }),
        );
    }
    this.transfers.push(...s.transfers);
    if (s.run_at_ms === null) this.jobDeletes.push(item.job.subscription_id);
    else this.jobUpdates.push(jobRow(item.job, s.run_at_ms, s.pending_payment_id));
  }

  addAttempt(a: Attempt, settled: SettledAttempt, _usage: Map<string, bigint>, nowMs: number): void {
    if (a.isNew) this.payments.push(settled.payment);
    else this.paymentUpdates.push(settled.payment);
    for (const i of a.interactions) this.interactions.push(interactionRow(settled.payment, i, nowMs));
    this.events.push(...paymentEvents(settled.payment, settled.paymentEvents, nowMs));
    this.transfers.push(...settled.transfers);
    this.addSettlement(a.item, settled.settlement, nowMs);
    // A decline gives back what the attempt reserved under the caps.
    if (a.usageKeys && settled.payment.status === "failed") {
      for (const period of a.usageKeys) {
        const key = usageKey(a.item.sub.customer_id, period, a.item.sub.currency);
        this.usageDeltas.set(key, (this.usageDeltas.get(key) ?? 0n) - a.payment.amount);
      }
    }
    // An operator that charged less than asked: the difference goes back too.
    if (a.usageKeys && settled.payment.status === "succeeded" && settled.payment.amount < a.payment.amount) {
      for (const period of a.usageKeys) {
        const key = usageKey(a.item.sub.customer_id, period, a.item.sub.currency);
        this.usageDeltas.set(
          key,
          (this.usageDeltas.get(key) ?? 0n) - (a.payment.amount - settled.payment.amount),
        );
      }
    }
  }

  async flush(ctx: BillingContext, tx: Queryable, usage: Map<string, bigint>, nowMs: number): Promise<void> {
    await insertRows(
      tx,
      "payments",
      this.payments.map((p) => ({ ...p })),
    );
    if (this.paymentUpdates.length > 0) {
      await tx.query(
        `update payments p set status = v.status, amount = v.amount, amount_captured = v.amount_captured,
           failure_code = v.failure_code, failure_message = v.failure_message, reconcile_after = null, updated = v.updated
         from json_populate_recordset(null::payments, $1::json) v where p.id = v.id and p.id = any($2::text[])`,
        [
          jsonRows(
            this.paymentUpdates.map((p) => ({
              id: p.id,
              status: p.status,
              amount: p.amount,
              amount_captured: p.amount_captured,
              failure_code: p.failure_code,
              failure_message: p.failure_message,
              updated: p.updated,
            })),
          ),
          this.paymentUpdates.map((p) => p.id),
        ],
      );
    }
    await insertRows(tx, "provider_interactions", this.interactions);
    await insertRows(tx, "events", this.events);
    if (this.transfers.length > 0) {
      // A random balance slot per batch: concurrent workers rarely meet on one balance row.
      const slot = Math.floor(Math.random() * BALANCE_SLOT_COUNT);
      const results = await ctx.ledger.apply(tx, this.transfers, { nowMs, slot });
      for (const r of results)
        assert(r === "ok" || r === "exists", `the ledger accepts a billing journal (${r})`);
    }
    if (this.subs.size > 0) {
      await tx.query(
        `update subscriptions s set status = v.status, anchor = v.anchor, period_index = v.period_index,
           current_period_start = v.current_period_start, current_period_end = v.current_period_end,
           retry_count = v.retry_count, retry_started = v.retry_started, ladder_step = v.ladder_step,
           debt = v.debt, debt_since = v.debt_since, last_charge_at = v.last_charge_at,
           last_reminder_at = v.last_reminder_at, charges_succeeded = v.charges_succeeded,
           cancel_reason = v.cancel_reason, canceled_at = v.canceled_at, updated = v.updated
         from json_populate_recordset(null::subscriptions, $1::json) v where s.id = v.id and s.id = any($2::text[])`,
        [jsonRows([...this.subs.values()].map(mutableColumns)), [...this.subs.keys()]],
      );
    }
    // A job both updated and deleted (a drop after a settlement) is deleted.
    const deleted = new Set(this.jobDeletes);
    const updates = this.jobUpdates.filter((j) => !deleted.has(j.subscription_id as string));
    if (updates.length > 0) {
      await tx.query(
        `update billing_jobs j set run_at = v.run_at, pending_payment_id = v.pending_payment_id, attempts = v.attempts
         from json_populate_recordset(null::billing_jobs, $1::json) v
         where j.subscription_id = v.subscription_id and j.subscription_id = any($2::text[])`,
        [jsonRows(updates), updates.map((u) => u.subscription_id as string)],
      );
    }
    if (deleted.size > 0)
      await tx.query("delete from billing_jobs where subscription_id = any($1::text[])", [[...deleted]]);
    // Reservations made while planning plus releases from declines, as one update.
    for (const [key, delta] of this.usageDeltas) usage.set(key, (usage.get(key) ?? 0n) + delta);
    await writeUsage(tx, usage);
  }
}

// ---------------------------------------------------------------------------------------------
// Cap usage

/** Usage by key, with the amount loaded; `original` remembers what was read to write deltas. */
type UsageMap = Map<string, bigint> & { original?: Map<string, bigint> };

async function lockUsage(
  tx: Queryable,
  items: Item[],
  pendingPayments: Map<string, PaymentWithSub>,
): Promise<UsageMap> {
  const keys = new Map<string, [string, string, string]>();
  for (const item of items) {
    if (!item.capped) continue;
    const periods = [item.dayKey, item.monthKey];
    const pendingId = item.job.pending_payment_id;
    const pending = pendingId ? pendingPayments.get(pendingId) : undefined;
    if (pending) {
      periods.push(
        localDayKey(item.sub.time_zone, pending.created.getTime()),
        localMonthKey(item.sub.time_zone, pending.created.getTime()),
      );
    }
    for (const period of periods)
      keys.set(usageKey(item.sub.customer_id, period, item.sub.currency), [
        item.sub.customer_id,
        period,
        item.sub.currency,
      ]);
  }
  const usage: UsageMap = new Map();
  usage.original = new Map();
  if (keys.size === 0) return usage;
  const sorted = [...keys.values()].sort((a, b) => (usageKey(...a) < usageKey(...b) ? -1 : 1));
  const columns = [sorted.map((k) => k[0]), sorted.map((k) => k[1]), sorted.map((k) => k[2])];
  // One statement creates missing rows and locks all of them, in key order (no deadlocks).
  const { rows } = await tx.query<{
    customer_id: string;
    period_key: string;
    currency: string;
    amount: bigint;
  }>(
    `insert into billing_cap_usage (customer_id, period_key, currency)
     select * from unnest($1::text[], $2::text[], $3::text[])
     on conflict (customer_id, period_key, currency) do update set amount = billing_cap_usage.amount
     returning customer_id, period_key, currency, amount`,
    columns,
  );
  for (const r of rows) {
    const key = usageKey(r.customer_id, r.period_key, r.currency);
    usage.set(key, r.amount);
    usage.original.set(key, r.amount);
  }
  return usage;
}

function usageOf(usage: UsageMap, item: Item): Usage {
  return {
    day: usage.get(usageKey(item.sub.customer_id, item.dayKey, item.sub.currency)) ?? 0n,
    month: usage.get(usageKey(item.sub.customer_id, item.monthKey, item.sub.currency)) ?? 0n,
  };
}

function reserve(usage: UsageMap, item: Item, amount: bigint): void {
  for (const period of [item.dayKey, item.monthKey]) {
    const key = usageKey(item.sub.customer_id, period, item.sub.currency);
    usage.set(key, (usage.get(key) ?? 0n) + amount);
  }
}

async function writeUsage(tx: Queryable, usage: UsageMap): Promise<void> {
  const changed = [...usage.entries()].filter(([key, amount]) => usage.original?.get(key) !== amount);
  if (changed.length === 0) return;
  const parts = changed.map(([key]) => key.split("\u0000"));
  await tx.query(
    `update billing_cap_usage u set amount = v.amount
     from unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) as v (customer_id, period_key, currency, amount)
     where u.customer_id = v.customer_id and u.period_key = v.period_key and u.currency = v.currency
       and u.customer_id = any($1::text[])`,
    [
      parts.map((p) => p[0]),
      parts.map((p) => p[1]),
      parts.map((p) => p[2]),
      changed.map(([, a]) => a.toString()),
    ],
  );
}

// ---------------------------------------------------------------------------------------------
// Operator TPS

/** Operators whose counter rows exist (this process created or saw them). */
const operatorRows = new Set<string>();

/** Each operator's per-second budget is split over this many rows. */
export const OPERATOR_SECOND_SHARDS = 8;

/** Shard `shard`'s part of a budget of `tps`: the parts add up to exactly `tps`. */
export function shardBudget(tps: number, shard: number): number {
  return Math.floor(tps / OPERATOR_SECOND_SHARDS) + (shard < tps % OPERATOR_SECOND_SHARDS ? 1 : 0);
}

async function allocateOperatorSeconds(
  tx: Queryable,
  items: Item[],
  nowMs: number,
  onDeferred: (item: Item) => void,
): Promise<void> {
  const byOperator = new Map<string, Item[]>();
  for (const item of items) {
    if (item.plan.kind !== "charge" || !item.sub.operator) continue;
    const list = byOperator.get(item.sub.operator) ?? [];
    list.push(item);
    byOperator.set(item.sub.operator, list);
  }
  if (byOperator.size === 0) return;
  const second = Math.floor(nowMs / 1000);
  const operators = [...byOperator.keys()].sort();
  const unknown = operators.filter((o) => !operatorRows.has(o));
  if (unknown.length > 0) {
    await tx.query(
      `insert into billing_operator_seconds (operator, shard, second)
       select o, s, 0 from unnest($1::text[]) as o, unnest($2::smallint[]) as s
       on conflict (operator, shard) do nothing`,
      [unknown, Array.from({ length: OPERATOR_SECOND_SHARDS }, (_, i) => i)],
    );
  }
  // Shards another worker holds right now are skipped, not waited for: a lone worker gets the
  // whole budget, concurrent ones share it, and an operator with no free shard waits a second.
  const { rows: locked } = await tx.query<{
    operator: string;
    shard: number;
    second: string | number;
    used: number;
  }>(
    `select operator, shard, second, used from billing_operator_seconds where operator = any($1::text[])
     order by operator, shard for update skip locked`,
    [operators],
  );
  for (const o of unknown) operatorRows.add(o);
  // A counter from an earlier second starts again at zero.
  const rows = locked.map((r) => ({ ...r, used: Number(r.second) === second ? r.used : 0 }));
  const held = new Map<string, { shard: number; used: number }[]>();
  for (const r of rows) {
    const list = held.get(r.operator) ?? [];
    list.push({ shard: r.shard, used: r.used });
    held.set(r.operator, list);
  }
  const after: { operator: string; shard: number; used: number }[] = [];
  for (const operator of operators) {
    const list = byOperator.get(operator)!;
    const tps = list[0]!.rules.tps_max;
    let granted = 0;
    for (const s of held.get(operator) ?? []) {
      const take = Math.min(Math.max(0, shardBudget(tps, s.shard) - s.used), list.length - granted);
      if (take <= 0) continue;
      granted += take;
      after.push({ operator, shard: s.shard, used: s.used + take });
    }
    list.forEach((item, index) => {
      if (index < granted) return;
      // Over the budget: try again in the next second(s), spread by the operator's TPS.
      const secondsAhead = 1 + Math.floor((index - granted) / Math.max(1, tps));
      onDeferred(item);
      item.plan = { kind: "defer", run_at_ms: (second + secondsAhead) * 1000, reason: "operator_tps" };
    });
  }
  if (after.length === 0) return;
  await tx.query(
    `update billing_operator_seconds o set used = v.used, second = $4
     from unnest($1::text[], $2::smallint[], $3::int[]) as v (operator, shard, used)
     where o.operator = v.operator and o.shard = v.shard and o.operator = any($1::text[])`,
    [after.map((a) => a.operator), after.map((a) => a.shard), after.map((a) => a.used), second],
  );
}

// ---------------------------------------------------------------------------------------------
// Policies

type PolicyMap = Map<string, DunningPolicy>;

/** Policies change rarely: each process keeps them this long (a write in this process clears it). */
export const POLICY_CACHE_MS = 10_000;
const policyCache = new Map<string, { loadedMs: number; rows: [string, DunningPolicy][] }>();

export function forgetPolicies(merchantId: string): void {
  policyCache.delete(merchantId);
}

async function loadPolicies(tx: Queryable, merchantIds: string[]): Promise<PolicyMap> {
  const map: PolicyMap = new Map();
  const nowMs = Date.now();
  const missing = merchantIds.filter((id) => {
    const hit = policyCache.get(id);
    if (!hit || nowMs - hit.loadedMs > POLICY_CACHE_MS) return true;
    for (const [key, policy] of hit.rows) map.set(key, policy);
    return false;
  });
  if (missing.length === 0) return map;
  const { rows } = await tx.query<{
    merchant_id: string;
    mode: string;
    operator: string;
    policy: DunningPolicy;
  }>("select merchant_id, mode, operator, policy from dunning_policies where merchant_id = any($1::text[])", [
    missing,
  ]);
  for (const id of missing) policyCache.set(id, { loadedMs: nowMs, rows: [] });
  for (const r of rows) {
    const entry: [string, DunningPolicy] = [
      `${r.merchant_id}/${r.mode}/${r.operator}`,
      { ...DEFAULT_DUNNING_POLICY, ...r.policy },
    ];
    policyCache.get(r.merchant_id)?.rows.push(entry);
    map.set(entry[0], entry[1]);
  }
  return map;
}

function policyFor(policies: PolicyMap, sub: SubscriptionRow): DunningPolicy {
  return (
    (sub.operator ? policies.get(`${sub.merchant_id}/${sub.mode}/${sub.operator}`) : undefined) ??
    policies.get(`${sub.merchant_id}/${sub.mode}/`) ??
    DEFAULT_DUNNING_POLICY
  );
}

// ---------------------------------------------------------------------------------------------
// Remote chargers: ask after commit, then settle under the job lock.

async function sendRemote(
  ctx: BillingContext,
  attempts: Attempt[],
  nowMs: number,
  report: BatchReport,
): Promise<void> {
  await Promise.all(
    attempts.map(async (a) => {
      try {
        if (a.isNew && a.item.provider.balance) {
          const balance = await a.item.provider.balance({
            paymentMethod: a.payment.payment_method,
            currency: a.payment.currency,
            nowMs,
          });
          if (balance !== undefined && balance < a.payment.amount) {
            a.result = BALANCE_TOO_LOW;
            a.interactions = [
              {
                operation: "balance",
                request: { attempt_id: a.payment.attempt_id },
                response: { balance: Number(balance) },
                outcome: "insufficient",
                latencyMs: 0,
              },
            ];
            return;
          }
        }
        const answer = await ask(a, nowMs);
        a.result = answer.outcome;
        a.interactions = answer.interactions;
      } catch (error) {
        // We cannot tell whether the operator charged: unknown, settled by a later sync.
        a.result = {
          status: "unknown",
          reason: error instanceof Error ? error.message.slice(0, 100) : "error",
        };
        a.interactions = [];
      }
    }),
  );
  await ctx.db.transaction(async (tx) => {
    const ids = attempts.map((a) => a.item.sub.id);
    const { rows: jobs } = await tx.query<JobRow>(
      "select * from billing_jobs where subscription_id = any($1::text[]) order by subscription_id for update",
      [ids],
    );
    const jobById = new Map(jobs.map((j) => [j.subscription_id, j]));
    const { rows: subs } = await tx.query<SubscriptionRow>(
      "select * from subscriptions where id = any($1::text[])",
      [ids],
    );
    const subById = new Map(subs.map((s) => [s.id, s]));
    const writes = new BatchWrites();
    const usage = await lockUsage(
      tx,
      attempts.map((a) => a.item),
      new Map(attempts.map((a) => [a.payment.id, a.payment])),
    );
    const { rows: locked } = await tx.query<PaymentWithSub>(
      "select * from payments where id = any($1::text[]) order by id for update",
      [attempts.map((a) => a.payment.id)],
    );
    const paymentById = new Map(locked.map((p) => [p.id, p]));
    for (const a of attempts) {
      const job = jobById.get(a.item.sub.id);
      const sub = subById.get(a.item.sub.id);
      // Someone else settled or re-claimed it meanwhile (our lease lapsed): leave it to them.
      if (!job || !sub || job.pending_payment_id !== a.payment.id) continue;
      const current: Attempt = { ...a, item: { ...a.item, job, sub }, isNew: false };
      const payment = paymentById.get(a.payment.id);
      if (payment?.status !== "processing") continue;
      current.payment = payment;
      const settled = settleAttempt(current, nowMs);
      // The first answer to a new attempt also publishes the payment's status event.
      if (a.isNew) settled.paymentEvents = settled.paymentEvents.filter((e) => e !== "payment.processing");
      if (settled.succeeded) report.succeeded++;
      writes.addAttempt(current, settled, usage, nowMs);
    }
    await writes.flush(ctx, tx, usage, nowMs);
  });
}
