import { recordSystem, type SystemChange } from "../../audit/index.ts";
import type { Queryable } from "../../db/db.ts";
import { type DbRow, rowsToJson } from "../../db/rows.ts";
import { type EventType, eventRow } from "../../events/index.ts";
import type { TransferInput } from "../../ledger/index.ts";
import { insertRows, interactionRow, paymentEvents } from "../../payments/index.ts";
import { assert } from "../../platform/errors.ts";
import type { BillingContext } from "../context.ts";
import type { Settlement } from "../engine.ts";
import { type JobRow, presentSubscription, type SubscriptionRow } from "../model.ts";
import type { SettledAttempt } from "./attempts.ts";
import type { CapUsage } from "./caps.ts";
import type { Attempt, Item, SubscriptionPayment } from "./types.ts";

/** Everything one batch writes, gathered by the steps and written with one statement per table. */
export class BatchWrites {
  private readonly payments: SubscriptionPayment[] = [];
  private readonly paymentUpdates: SubscriptionPayment[] = [];
  private readonly interactions: DbRow[] = [];
  private readonly events: DbRow[] = [];
  private readonly transfers: TransferInput[] = [];
  private readonly subs = new Map<string, SubscriptionRow>();
  private readonly jobUpdates = new Map<string, DbRow>();
  private readonly jobDeletes = new Set<string>();
  /** The audit records of the subscriptions' state changes (actor `system:billing_charges`). */
  private readonly audits: SystemChange[] = [];

  constructor(private readonly nowMs: number) {}

  /** The job runs again at `runAtMs` (waiting for `pendingPaymentId`'s answer if set). */
  moveJob(job: JobRow, runAtMs: number, pendingPaymentId: string | null): void {
    this.jobUpdates.set(job.subscription_id, {
      subscription_id: job.subscription_id,
      run_at: new Date(runAtMs),
      pending_payment_id: pendingPaymentId,
      attempts: job.attempts + 1,
    });
  }

  deleteJob(subscriptionId: string): void {
    this.jobDeletes.add(subscriptionId);
  }

  subscriptionEvents(sub: SubscriptionRow, types: readonly EventType[]): void {
    if (types.length === 0) return;
    const object = presentSubscription(sub);
    for (const type of types)
      this.events.push(
        eventRow({
          merchantId: sub.merchant_id,
          mode: sub.mode,
          type,
          objectId: sub.id,
          object,
          nowMs: this.nowMs,
        }),
      );
  }

  /** A subscription's next state, its events and journal, and its job's next run. */
  settlement(item: Item, s: Settlement, extraEvents: readonly EventType[] = []): void {
    const sub: SubscriptionRow = {
      ...s.sub,
      next_charge_at: s.run_at_ms === null ? null : new Date(s.run_at_ms),
    };
    this.subs.set(sub.id, sub);
    const events = [...s.events, ...extraEvents];
    const changes = stateChanges(item.sub, sub);
    if (changes) {
      this.audits.push({
        action: "subscriptions.renewal",
        object: sub.id,
        merchantId: sub.merchant_id,
        mode: sub.mode,
        changes: { ...changes, events },
      });
    }
    this.subscriptionEvents(sub, events);
    this.transfers.push(...s.transfers);
    if (s.run_at_ms === null) this.deleteJob(item.job.subscription_id);
    else this.moveJob(item.job, s.run_at_ms, s.pending_payment_id);
  }

  /** A new attempt recorded before its remote provider is asked. */
  sentAttempt(a: Attempt): void {
    this.payments.push(a.payment);
    this.events.push(...paymentEvents(a.payment, ["payment.created", "payment.processing"], this.nowMs));
  }

  /** An attempt's answer: the payment, its log and events, its money, and the subscription's settlement. */
  settledAttempt(a: Attempt, settled: SettledAttempt, usage: CapUsage): void {
    if (a.isNew) this.payments.push(settled.payment);
    else this.paymentUpdates.push(settled.payment);
    for (const i of a.answer?.interactions ?? [])
      this.interactions.push(interactionRow(settled.payment, i, this.nowMs));
    this.events.push(...paymentEvents(settled.payment, settled.paymentEvents, this.nowMs));
    this.transfers.push(...settled.transfers);
    this.settlement(a.item, settled.settlement);
    if (!a.usageKeys) return;
    // A decline gives back what the attempt reserved under the caps, a smaller charge the rest;
    // an unknown outcome keeps it reserved until settled.
    const status = settled.payment.status;
    if (status !== "failed" && status !== "succeeded") return;
    const charged = status === "succeeded" ? settled.payment.amount : 0n;
    if (charged < a.reserved) usage.adjust(a.item, a.usageKeys, charged - a.reserved);
  }

  async flush(ctx: BillingContext, tx: Queryable, usage: CapUsage): Promise<void> {
    await insertRows(
      tx,
      "payments",
      this.payments.map((p) => ({ ...p })),
    );
    if (this.paymentUpdates.length > 0) {
      await tx.query(
        `update payments p set status = v.status, amount = v.amount, amount_captured = v.amount_captured,
           metadata = v.metadata, failure_code = v.failure_code, failure_message = v.failure_message,
           provider_reference = v.provider_reference, reconcile_after = null, updated = v.updated
         from json_populate_recordset(null::payments, $1::json) v where p.id = v.id and p.id = any($2::text[])`,
        [
          rowsToJson(
            this.paymentUpdates.map((p) => ({
              id: p.id,
              status: p.status,
              amount: p.amount,
              amount_captured: p.amount_captured,
              metadata: p.metadata,
              failure_code: p.failure_code,
              failure_message: p.failure_message,
              provider_reference: p.provider_reference,
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
      const slot = ctx.caches.nextBalanceSlot();
      const results = await ctx.ledger.apply(tx, this.transfers, { nowMs: this.nowMs, slot });
      for (const r of results)
        assert(r === "ok" || r === "exists", `the ledger accepts a billing journal (${r})`);
    }
    if (this.subs.size > 0) {
      await tx.query(
        `update subscriptions s set status = v.status, anchor = v.anchor, period_index = v.period_index,
           anchor_period = v.anchor_period,
           current_period_start = v.current_period_start, current_period_end = v.current_period_end,
           retry_count = v.retry_count, retry_started = v.retry_started, ladder_step = v.ladder_step,
           debt = v.debt, debt_since = v.debt_since, last_charge_at = v.last_charge_at,
           last_reminder_at = v.last_reminder_at, charges_succeeded = v.charges_succeeded,
           cancel_reason = v.cancel_reason, canceled_at = v.canceled_at, updated = v.updated
         from json_populate_recordset(null::subscriptions, $1::json) v where s.id = v.id and s.id = any($2::text[])`,
        [rowsToJson([...this.subs.values()].map(mutableColumns)), [...this.subs.keys()]],
      );
    }
    // A job both moved and deleted (a drop after a settlement) is deleted.
    const updates = [...this.jobUpdates.values()].filter(
      (j) => !this.jobDeletes.has(j.subscription_id as string),
    );
    if (updates.length > 0) {
      await tx.query(
        `update billing_jobs j set run_at = v.run_at, pending_payment_id = v.pending_payment_id, attempts = v.attempts
         from json_populate_recordset(null::billing_jobs, $1::json) v
         where j.subscription_id = v.subscription_id and j.subscription_id = any($2::text[])`,
        [rowsToJson(updates), updates.map((u) => u.subscription_id as string)],
      );
    }
    if (this.jobDeletes.size > 0)
      await tx.query("delete from billing_jobs where subscription_id = any($1::text[])", [
        [...this.jobDeletes],
      ]);
    await usage.write(tx);
    await recordSystem(tx, "billing_charges", this.audits, this.nowMs);
  }
}

const AUDITED_FIELDS = [
  "status",
  "period_index",
  "debt",
  "retry_count",
  "ladder_step",
  "charges_succeeded",
] as const;

/** What a settlement changed in a subscription's state, `{field: {from, to}}`, or null. */
function stateChanges(before: SubscriptionRow, after: SubscriptionRow): Record<string, unknown> | null {
  const out: Record<string, { from: string; to: string }> = {};
  for (const field of AUDITED_FIELDS) {
    const from = String(before[field]);
    const to = String(after[field]);
    if (from !== to) out[field] = { from, to };
  }
  return Object.keys(out).length > 0 ? out : null;
}

/** Only what a settlement changes travels to the database (the JSON columns stay put). */
function mutableColumns(s: SubscriptionRow): DbRow {
  return {
    id: s.id,
    status: s.status,
    anchor: s.anchor,
    period_index: s.period_index,
    anchor_period: s.anchor_period,
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
