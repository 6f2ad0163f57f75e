import type { IdempotencyContext } from "../idempotency/index.ts";
import { ApiError } from "../platform/errors.ts";
import type { AuthScope } from "../platform/scope.ts";
import {
  interactionRow,
  loadPaymentForUpdate,
  mutate,
  type PaymentsContext,
  persistTransition,
  providerFor,
} from "./context.ts";
import { presentPayment } from "./model.ts";
import { applyCancel, applyCapture } from "./transitions.ts";

/** Captures a held payment in full or in part; the hold's remainder is released. */
export async function capturePayment(
  ctx: PaymentsContext,
  scope: AuthScope,
  id: string,
  input: { amount?: number },
  idempotency: IdempotencyContext | undefined,
) {
  return mutate(ctx, scope, idempotency, async (tx, nowMs) => {
    const before = await loadPaymentForUpdate(tx, scope, id);
    if (before.status !== "requires_capture") {
      throw new ApiError(
        "payment_unexpected_state",
        undefined,
        `This payment is ${before.status}; only requires_capture can be captured.`,
      );
    }
    if (before.capture_before && before.capture_before.getTime() <= nowMs) {
      throw new ApiError("payment_unexpected_state", undefined, "The authorization has expired.");
    }
    const amount = input.amount === undefined ? before.amount : BigInt(input.amount);
    if (amount > before.amount) {
      throw new ApiError("amount_too_large", "amount", `At most ${before.amount} can be captured.`);
    }
    const provider = providerFor(ctx, before.provider);
    const { ok, interactions } = await provider.capture({
      attemptId: before.attempt_id,
      amount,
      currency: before.currency,
    });
    // Money is captured in the books only when the provider captured it.
    if (!ok) throw new ApiError("provider_refused", undefined, "The provider did not capture this payment.");
    const transition = applyCapture(before, amount, nowMs);
    const rows = interactions.map((i) => interactionRow(before, i, nowMs));
    await persistTransition(ctx, tx, transition, rows, nowMs);
    return { statusCode: 200, body: JSON.stringify(presentPayment(transition.payment)) };
  });
}

/** Cancels a payment that has not moved money yet: awaiting the payer, or held. */
export async function cancelPayment(
  ctx: PaymentsContext,
  scope: AuthScope,
  id: string,
  idempotency: IdempotencyContext | undefined,
) {
  return mutate(ctx, scope, idempotency, async (tx, nowMs) => {
    const before = await loadPaymentForUpdate(tx, scope, id);
    if (before.status !== "requires_action" && before.status !== "requires_capture") {
      throw new ApiError(
        "payment_unexpected_state",
        undefined,
        `This payment is ${before.status}; it can no longer be canceled.`,
      );
    }
    const provider = providerFor(ctx, before.provider);
    const { ok, interactions } = await provider.cancel({ attemptId: before.attempt_id });
    // A provider that would not cancel may still charge: the payment stays as it is.
    if (!ok) throw new ApiError("provider_refused", undefined, "The provider did not cancel this payment.");
    const transition = applyCancel(before, nowMs, "requested");
    await persistTransition(
      ctx,
      tx,
      transition,
      interactions.map((i) => interactionRow(before, i, nowMs)),
      nowMs,
    );
    return { statusCode: 200, body: JSON.stringify(presentPayment(transition.payment)) };
  });
}
