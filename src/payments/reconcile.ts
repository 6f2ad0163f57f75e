import { type ListParams, listPage } from "../db/pages.ts";
import type { Logger } from "../platform/log.ts";
import { retryGiveBack, settleAttempt } from "./attempt.ts";
import { RECONCILE_BACKOFF_MAX_MS, RECONCILE_UNRESOLVED_AFTER_MS, reconcileDelayMs } from "./backoff.ts";
import {
  ATTEMPT_LEASE_MS,
  chargeRequestFor,
  insertRows,
  type PaymentsContext,
  paymentEvents,
  persistTransition,
  providerFor,
} from "./context.ts";
import type { PaymentRow, RefundRow } from "./model.ts";
import { refundRequest, settleRefund } from "./refund.ts";
import { applyCancel } from "./transitions.ts";

const BATCH_SIZE_MAX = 100;

export interface ReconcileOptions {
  /** The longest wait between two checks of one payment. */
  backoffMaxMs?: number;
  /** An attempt still unknown this long after it was made is flagged for a person. */
  unresolvedAfterMs?: number;
  random?: () => number;
  /** Told once per attempt flagged for a person. */
  onUnresolved?: (payment: PaymentRow) => void;
}

export { RECONCILE_BACKOFF_MAX_MS, RECONCILE_UNRESOLVED_AFTER_MS, reconcileDelayMs };

/**
 * Settles payments whose outcome we do not know (`processing`: pending at the provider, or a call
 * that timed out; or a payer away at a redirect) by asking the provider what happened to our
 * attempt. It never charges again, and never decides on its own that an attempt failed: one the
 * provider cannot account for is flagged for a person (`payment.attempt_unresolved`, listed at
 * `GET /v1/payments/unresolved`) and still asked, less and less often. Any number of workers may
 * run this: a claim moves `reconcile_after` forward under SKIP LOCKED, so two workers never ask
 * about one payment at once, and a crashed worker's claim lapses.
 */
export async function reconcileDuePayments(
  ctx: PaymentsContext,
  logger?: Logger,
  options: ReconcileOptions = {},
): Promise<number> {
  const nowMs = ctx.clock.nowMs();
  const { rows: claimed } = await ctx.db.query<PaymentRow & ReconcileColumns>(
    `update payments set reconcile_after = $2
     where id in (
       select id from payments where reconcile_after <= $1 and status in ('processing', 'requires_action')
       order by reconcile_after limit $3 for update skip locked)
     returning *`,
    [new Date(nowMs), new Date(nowMs + ATTEMPT_LEASE_MS), BATCH_SIZE_MAX],
  );
  let settled = 0;
  for (const claim of claimed) {
    let unknown = true;
    try {
      const provider = providerFor(ctx, claim.provider);
      const createdMs = claim.created.getTime();
      const answer = await provider.sync({ ...chargeRequestFor(claim), createdMs, nowMs });
      unknown = answer.outcome.status === "unknown";
      const after = await settleAttempt(ctx, claim.id, claim.attempt_id, answer, { known: claim });
      if (after.status !== "processing" && after.status !== "requires_action") {
        settled++;
        continue;
      }
    } catch (error) {
      logger?.error(
        { err: error, payment: claim.id },
        "reconciliation of a payment failed; it will be retried",
      );
    }
    try {
      const flagged = await recordCheck(ctx, claim, nowMs, unknown, options);
      if (flagged) {
        ctx.metrics?.reconciliationUnresolved.inc({ provider: claim.provider });
        logger?.warn(
          { payment: claim.id, attempt: claim.attempt_id, provider: claim.provider },
          "the provider cannot account for a payment attempt; flagged for a person (payment.attempt_unresolved)",
        );
        options.onUnresolved?.(flagged);
      }
    } catch (error) {
      logger?.error({ err: error, payment: claim.id }, "could not schedule the next reconciliation check");
    }
  }
  return settled + (await retryGiveBacks(ctx, nowMs, logger));
}

/**
 * Late successes the provider has not confirmed giving back (a canceled payment with a
 * `give_back` note, due by the payments clock) are asked again; each ask is claimed like a check.
 */
async function retryGiveBacks(ctx: PaymentsContext, nowMs: number, logger?: Logger): Promise<number> {
  const { rows: claimed } = await ctx.db.query<PaymentRow>(
    `update payments set reconcile_after = $2
     where id in (
       select id from payments where reconcile_after <= $1 and status = 'canceled'
         and provider_state -> 'give_back' is not null
       order by reconcile_after limit $3 for update skip locked)
     returning *`,
    [new Date(nowMs), new Date(nowMs + ATTEMPT_LEASE_MS), BATCH_SIZE_MAX],
  );
  let given = 0;
  for (const claim of claimed) {
    try {
      const after = await retryGiveBack(ctx, claim);
      if (!after.provider_state?.give_back) given++;
    } catch (error) {
      logger?.error({ err: error, payment: claim.id }, "asking again to give back a late success failed");
    }
  }
  return given;
}

interface ReconcileColumns {
  reconcile_checks: number | null;
  unresolved_since: Date | null;
}

/**
 * After an answer that settled nothing: counts the check, schedules the next one with backoff,
 * and flags the attempt for a person (once, with an event) when it has stayed unknown too long.
 * Returns the payment when it was flagged just now.
 */
async function recordCheck(
  ctx: PaymentsContext,
  claim: PaymentRow,
  nowMs: number,
  unknown: boolean,
  options: ReconcileOptions,
): Promise<PaymentRow | null> {
  return ctx.db.transaction(async (tx) => {
    const { rows } = await tx.query<PaymentRow & ReconcileColumns>(
      `select * from payments where id = $1 and attempt_id = $2 and status in ('processing', 'requires_action')
       for update`,
      [claim.id, claim.attempt_id],
    );
    const payment = rows[0];
    if (!payment) return null;
    const checks = (payment.reconcile_checks ?? 0) + 1;
    const delayMs = reconcileDelayMs(
      checks,
      ctx.reconcileAfterMs,
      options.backoffMaxMs ?? RECONCILE_BACKOFF_MAX_MS,
      options.random,
    );
    const overdue =
      nowMs - payment.created.getTime() >= (options.unresolvedAfterMs ?? RECONCILE_UNRESOLVED_AFTER_MS);
    const flagNow = unknown && overdue && payment.unresolved_since === null;
    await tx.query(
      `update payments set reconcile_checks = $2, reconcile_after = $3,
         unresolved_since = case when $4::boolean then $5::timestamptz else unresolved_since end
       where id = $1`,
      [payment.id, checks, new Date(nowMs + delayMs), flagNow, new Date(nowMs)],
    );
    if (!flagNow) return null;
    await insertRows(tx, "events", paymentEvents(payment, ["payment.attempt_unresolved"], nowMs));
    return payment;
  });
}

/**
 * Attempts flagged for a person, newest first (the back office's reconciliation list): outcomes
 * the provider cannot account for, and late successes it has not confirmed giving back.
 */
export async function listUnresolvedPayments(
  ctx: PaymentsContext,
  scope: { merchantId: string; mode: string },
  page: ListParams,
): Promise<{ rows: Array<PaymentRow & ReconcileColumns>; hasMore: boolean }> {
  return listPage<PaymentRow & ReconcileColumns>(
    ctx.db,
    "payments",
    [
      "merchant_id = $1",
      "mode = $2",
      "unresolved_since is not null",
      // Unknown attempts, and late successes the provider has not confirmed giving back.
      "(status in ('processing', 'requires_action') or (status = 'canceled' and provider_state -> 'give_back' is not null))",
    ],
    [scope.merchantId, scope.mode],
    page,
  );
}

/** Refunds whose provider answer we did not get are asked about the same way. */
export async function reconcileDueRefunds(ctx: PaymentsContext, logger?: Logger): Promise<number> {
  const nowMs = ctx.clock.nowMs();
  const { rows: claimed } = await ctx.db.query<RefundRow>(
    `update refunds set reconcile_after = $2
     where id in (
       select id from refunds where status = 'pending' and reconcile_after <= $1
       order by reconcile_after limit $3 for update skip locked)
     returning *`,
    [new Date(nowMs), new Date(nowMs + ATTEMPT_LEASE_MS), BATCH_SIZE_MAX],
  );
  let settled = 0;
  for (const refund of claimed) {
    try {
      const { rows } = await ctx.db.query<PaymentRow>("select * from payments where id = $1", [
        refund.payment_id,
      ]);
      const payment = rows[0]!;
      const answer = await providerFor(ctx, payment.provider).syncRefund(refundRequest(payment, refund));
      const after = await settleRefund(ctx, refund.id, answer);
      if (after.status !== "pending") settled++;
    } catch (error) {
      logger?.error(
        { err: error, refund: refund.id },
        "reconciliation of a refund failed; it will be retried",
      );
    }
  }
  return settled;
}

/** Holds not captured in time are released: the pending transfer expires, the payment is canceled. */
export async function expireHolds(ctx: PaymentsContext): Promise<number> {
  const nowMs = ctx.clock.nowMs();
  return ctx.db.transaction(async (tx) => {
    const { rows } = await tx.query<PaymentRow>(
      `select * from payments where status = 'requires_capture' and capture_before <= $1
       order by capture_before limit $2 for update skip locked`,
      [new Date(nowMs), BATCH_SIZE_MAX],
    );
    for (const payment of rows) {
      await persistTransition(ctx, tx, applyCancel(payment, nowMs, "expired"), [], nowMs);
    }
    return rows.length;
  });
}
