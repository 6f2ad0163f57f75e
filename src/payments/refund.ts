import { eventRow } from "../events/outbox.ts";
import type { IdempotencyContext } from "../idempotency/gate.ts";
import { ApiError } from "../platform/errors.ts";
import { newId } from "../platform/ids.ts";
import type { AuthScope } from "../platform/scope.ts";
import {
  applyJournal,
  insertRows,
  interactionRow,
  loadPaymentForUpdate,
  mutate,
  type PaymentsContext,
  providerFor,
} from "./context.ts";
import { presentRefund, type RefundRow } from "./model.ts";
import { refundTransfer } from "./transitions.ts";

/**
 * Refunds all or part of a captured payment. The payment row is locked, so however many refunds
 * arrive at once they are checked one after another against what is left.
 */
export async function createRefund(
  ctx: PaymentsContext,
  scope: AuthScope,
  input: { payment: string; amount?: number; reason?: string; metadata?: Record<string, string> },
  idempotency: IdempotencyContext | undefined,
) {
  return mutate(ctx, scope, idempotency, async (tx, nowMs) => {
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
      id: newId("re", nowMs),
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
    };
    const provider = providerFor(ctx, payment.provider);
    const answer = await provider.refund({
      attemptId: payment.attempt_id,
      refundId: refund.id,
      amount,
      currency: payment.currency,
    });
    const events = [
      eventRow({
        merchantId: refund.merchant_id,
        mode: refund.mode,
        type: "refund.created",
        objectId: refund.id,
        paymentId: payment.id,
        object: presentRefund(refund),
        nowMs,
      }),
    ];
    let reserved = payment.amount_refund_reserved + amount;
    let refunded = payment.amount_refunded;
    if (answer.ok) {
      refund.status = "succeeded";
      refunded += amount;
      await applyJournal(ctx, tx, [refundTransfer(payment, refund.id, amount, nowMs)], nowMs);
    } else {
      refund.status = "failed";
      refund.failure_code = answer.code ?? "provider_declined";
      reserved -= amount;
    }
    events.push(
      eventRow({
        merchantId: refund.merchant_id,
        mode: refund.mode,
        type: `refund.${refund.status}`,
        objectId: refund.id,
        paymentId: payment.id,
        object: presentRefund(refund),
        nowMs,
      }),
    );
    await tx.query(
      "update payments set amount_refund_reserved = $2, amount_refunded = $3, updated = $4 where id = $1",
      [payment.id, reserved, refunded, new Date(nowMs)],
    );
    await insertRows(tx, "refunds", [{ ...refund }]);
    await insertRows(tx, "events", events);
    await insertRows(tx, "provider_interactions", [
      interactionRow(payment, answer.interaction, nowMs, refund.id),
    ]);
    return { statusCode: 201, body: JSON.stringify(presentRefund(refund)) };
  });
}
