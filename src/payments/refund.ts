import type { Queryable } from "../db/db.ts";
import { type EventType, eventRow } from "../events/index.ts";
import type { IdempotencyContext } from "../idempotency/index.ts";
import { claimOpenKey, completeIdempotencyRecords } from "../idempotency/index.ts";
import { ApiError } from "../platform/errors.ts";
import { newId } from "../platform/ids.ts";
import type { AuthScope } from "../platform/scope.ts";
import {
  ATTEMPT_LEASE_MS,
  applyJournal,
  insertRows,
  interactionRow,
  loadPaymentForUpdate,
  type PaymentsContext,
  providerFor,
} from "./context.ts";
import { type PaymentRow, presentRefund, type RefundRow } from "./model.ts";
import type { RefundAnswer, RefundRequest } from "./provider.ts";
import { refundTransfer } from "./transitions.ts";

/**
 * Refunds all or part of a captured payment, in two commits around the provider call. The first
 * locks the payment and reserves the amount (a `pending` refund), so however many refunds arrive
 * at once they are checked one after another against what is left; the second settles the
 * provider's answer. An answer that never comes is asked for by reconciliation.
 */
export async function createRefund(
  ctx: PaymentsContext,
  scope: AuthScope,
  input: { payment: string; amount?: number; reason?: string; metadata?: Record<string, string> },
  idempotency: IdempotencyContext | undefined,
): Promise<{ statusCode: number; body: string }> {
  const nowMs = ctx.clock.nowMs();
  const { payment, refund } = await ctx.db.transaction(async (tx) => {
    const refundId = newId("re", nowMs);
    if (idempotency) await claimOpenKey(tx, scope, idempotency, nowMs, refundId);
    const payment = await loadPaymentForUpdate(tx, scope, input.payment).catch((error: unknown) => {
      if (error instanceof ApiError)
        throw new ApiError("resource_missing", "payment", `No such payment: '${input.payment}'.`);
      throw error;
    });
    if (payment.status !== "succeeded") {
      throw new ApiError(
        "payment_unexpected_state",
        "payment",
        `This payment is ${payment.status}; only succeeded payments can be refunded.`,
      );
    }
    const refundable = payment.amount_captured - payment.amount_refund_reserved;
    const amount = input.amount === undefined ? refundable : BigInt(input.amount);
    if (amount <= 0n || amount > refundable) {
      throw new ApiError(
        "refund_exceeds_captured",
        "amount",
        `At most ${refundable} of this payment can still be refunded.`,
      );
    }
    const refund: RefundRow = {
      id: refundId,
      merchant_id: payment.merchant_id,
      mode: payment.mode,
      payment_id: payment.id,
      amount,
      currency: payment.currency,
      status: "pending",
      reason: input.reason ?? null,
      failure_code: null,
      metadata: input.metadata ?? {},
      created: new Date(nowMs),
      updated: new Date(nowMs),
      reconcile_after: new Date(nowMs + ATTEMPT_LEASE_MS),
      provider_reference: null,
    };
    await tx.query(
      "update payments set amount_refund_reserved = amount_refund_reserved + $2, updated = $3 where id = $1",
      [payment.id, amount, new Date(nowMs)],
    );
    await insertRows(tx, "refunds", [{ ...refund }]);
    await insertRows(tx, "events", [refundEvent(refund, "refund.created", nowMs)]);
    return { payment, refund };
  });

  const answer = await providerFor(ctx, payment.provider).refund(refundRequest(payment, refund));
  const settled = await settleRefund(ctx, refund.id, answer);
  const body = JSON.stringify(presentRefund(settled));
  // Still pending at the provider: the request answers with that, and a retry replays it.
  if (idempotency) await completeIdempotencyRecords(ctx.db, refund.id, 201, body);
  return { statusCode: 201, body };
}

export function refundRequest(payment: PaymentRow, refund: RefundRow): RefundRequest {
  return {
    refundId: refund.id,
    paymentAttemptId: payment.attempt_id,
    paymentReference: payment.provider_reference,
    paymentMethod: payment.payment_method,
    amount: refund.amount,
    currency: refund.currency,
  };
}

function refundEvent(refund: RefundRow, type: EventType, nowMs: number) {
  return eventRow({
    merchantId: refund.merchant_id,
    mode: refund.mode,
    type,
    objectId: refund.id,
    paymentId: refund.payment_id,
    object: presentRefund(refund),
    nowMs,
  });
}

/**
 * Applies a provider's answer to a pending refund: money moves on the ledger only when the
 * provider says it refunded; a failure releases the reserved amount. The first answer wins.
 */
export async function settleRefund(
  ctx: PaymentsContext,
  refundId: string,
  answer: RefundAnswer,
): Promise<RefundRow> {
  const nowMs = ctx.clock.nowMs();
  return ctx.db.transaction(async (tx) => {
    const { rows: found } = await tx.query<{ payment_id: string }>(
      "select payment_id from refunds where id = $1",
      [refundId],
    );
    if (!found[0]) throw new Error(`refund ${refundId} vanished`);
    // The payment first, as createRefund locks it: the two never wait for each other in a circle.
    const payment = await lockPayment(tx, found[0].payment_id);
    const { rows } = await tx.query<RefundRow>("select * from refunds where id = $1 for update", [refundId]);
    const refund = rows[0]!;
    if (refund.status !== "pending") return refund;
    const interactions = [...answer.interactions, ...(ctx.recorder?.take(refundId) ?? [])].map((i) =>
      interactionRow(payment, i, nowMs, refundId),
    );
    await insertRows(tx, "provider_interactions", interactions);
    const next: RefundRow = {
      ...refund,
      updated: new Date(nowMs),
      provider_reference: answer.reference ?? refund.provider_reference,
    };
    if (answer.status === "succeeded") {
      next.status = "succeeded";
      next.reconcile_after = null;
      // The refund and what the extensions move with it (a wallet credit, a top-up taken back, a
      // commission cut) in one ledger call: two calls lock balance rows in two orders, and two
      // refunds for one wallet deadlocked.
      await tx.query(
        "update payments set amount_refunded = amount_refunded + $2, updated = $3 where id = $1",
        [payment.id, refund.amount, new Date(nowMs)],
      );
      const transfers = [refundTransfer(payment, refund.id, refund.amount, nowMs)];
      next.effects = (await ctx.extensions?.onRefundSucceeded(tx, payment, refund, nowMs, transfers)) ?? null;
      await applyJournal(ctx, tx, transfers, nowMs);
    } else if (answer.status === "failed") {
      next.status = "failed";
      next.failure_code = answer.code;
      next.reconcile_after = null;
      await tx.query(
        "update payments set amount_refund_reserved = amount_refund_reserved - $2, updated = $3 where id = $1",
        [payment.id, refund.amount, new Date(nowMs)],
      );
    } else {
      next.reconcile_after = new Date(nowMs + ctx.reconcileAfterMs);
    }
    await tx.query(
      `update refunds set status = $2, failure_code = $3, reconcile_after = $4, provider_reference = $5, updated = $6,
         effects = $7 where id = $1`,
      [
        next.id,
        next.status,
        next.failure_code,
        next.reconcile_after,
        next.provider_reference,
        next.updated,
        next.effects ? JSON.stringify(next.effects) : null,
      ],
    );
    if (next.status !== "pending") {
      await insertRows(tx, "events", [refundEvent(next, `refund.${next.status}`, nowMs)]);
      await completeIdempotencyRecords(tx, next.id, 201, JSON.stringify(presentRefund(next)));
    }
    return next;
  });
}

async function lockPayment(tx: Queryable, id: string): Promise<PaymentRow> {
  const { rows } = await tx.query<PaymentRow>("select * from payments where id = $1 for update", [id]);
  if (!rows[0]) throw new Error(`payment ${id} vanished`);
  return rows[0];
}
