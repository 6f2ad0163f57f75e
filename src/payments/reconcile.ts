import type { Logger } from "../platform/log.ts";
import {
  ensurePaymentAccounts,
  interactionRow,
  type PaymentsContext,
  persistTransition,
  providerFor,
  transitionContext,
} from "./context.ts";
import type { PaymentRow } from "./model.ts";
import { applyCancel, applyChargeOutcome } from "./transitions.ts";

/** How long a claimed payment is left alone while one worker asks its provider. */
const CLAIM_LEASE_MS = 30_000;
const BATCH_SIZE_MAX = 100;

/**
 * Settles payments whose outcome we do not know (`processing`: pending at the provider, or a call
 * that timed out) by asking the provider what happened to our attempt. It never charges again.
 * Any number of workers may run this: a claim moves `reconcile_after` forward under SKIP LOCKED,
 * so two workers never ask about one payment at once, and a crashed worker's claim lapses.
 */
export async function reconcileDuePayments(ctx: PaymentsContext, logger?: Logger): Promise<number> {
  const nowMs = ctx.clock.nowMs();
  const { rows: claimed } = await ctx.db.query<PaymentRow>(
    `update payments set reconcile_after = $2
     where id in (
       select id from payments where status = 'processing' and reconcile_after <= $1
       order by reconcile_after limit $3 for update skip locked)
     returning *`,
    [new Date(nowMs), new Date(nowMs + CLAIM_LEASE_MS), BATCH_SIZE_MAX],
  );
  let settled = 0;
  for (const claim of claimed) {
    try {
      const provider = providerFor(ctx, claim.provider);
      const { outcome, interaction } = await provider.sync({
        attemptId: claim.attempt_id,
        amount: claim.amount,
        currency: claim.currency,
        capture: claim.capture_method,
        paymentMethod: claim.payment_method,
        createdMs: claim.created.getTime(),
        nowMs,
      });
      await ensurePaymentAccounts(ctx, claim, nowMs);
      const changed = await ctx.db.transaction(async (tx) => {
        const { rows } = await tx.query<PaymentRow>("select * from payments where id = $1 for update", [
          claim.id,
        ]);
        const current = rows[0];
        // Someone else settled it meanwhile (a callback, another worker after our lease lapsed).
        if (current?.status !== "processing" || current.attempt_id !== claim.attempt_id) return false;
        const transition = applyChargeOutcome(current, outcome, transitionContext(ctx, nowMs));
        await persistTransition(ctx, tx, transition, [interactionRow(current, interaction, nowMs)], nowMs);
        return transition.payment.status !== "processing";
      });
      if (changed) settled++;
    } catch (error) {
      logger?.error(
        { err: error, payment: claim.id },
        "reconciliation of a payment failed; it will be retried",
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
