import type { Logger } from "../platform/log.ts";
import { settleAttempt } from "./attempt.ts";
import {
  ATTEMPT_LEASE_MS,
  chargeRequestFor,
  type PaymentsContext,
  persistTransition,
  providerFor,
} from "./context.ts";
import type { PaymentRow, RefundRow } from "./model.ts";
import { settleUnseenAttempt } from "./provider.ts";
import { refundRequest, settleRefund } from "./refund.ts";
import { applyCancel } from "./transitions.ts";

const BATCH_SIZE_MAX = 100;

/**
 * Settles payments whose outcome we do not know (`processing`: pending at the provider, or a call
 * that timed out; or a payer away at a redirect) by asking the provider what happened to our
 * attempt. It never charges again. Any number of workers may run this: a claim moves
 * `reconcile_after` forward under SKIP LOCKED, so two workers never ask about one payment at
 * once, and a crashed worker's claim lapses.
 */
export async function reconcileDuePayments(ctx: PaymentsContext, logger?: Logger): Promise<number> {
  const nowMs = ctx.clock.nowMs();
  const { rows: claimed } = await ctx.db.query<PaymentRow>(
    `update payments set reconcile_after = $2
     where id in (
       select id from payments where reconcile_after <= $1 and status in ('processing', 'requires_action')
       order by reconcile_after limit $3 for update skip locked)
     returning *`,
    [new Date(nowMs), new Date(nowMs + ATTEMPT_LEASE_MS), BATCH_SIZE_MAX],
  );
  let settled = 0;
  for (const claim of claimed) {
    try {
      const provider = providerFor(ctx, claim.provider);
      const createdMs = claim.created.getTime();
      const answer = settleUnseenAttempt(
        await provider.sync({ ...chargeRequestFor(claim), createdMs, nowMs }),
        createdMs,
        nowMs,
      );
      const after = await settleAttempt(ctx, claim.id, claim.attempt_id, answer, { known: claim });
      if (after.status !== "processing" && after.status !== "requires_action") settled++;
    } catch (error) {
      logger?.error(
        { err: error, payment: claim.id },
        "reconciliation of a payment failed; it will be retried",
      );
    }
  }
  return settled;
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
