import type { IdempotencyContext } from "../idempotency/gate.ts";
import { ApiError } from "../platform/errors.ts";
import { LIMITS } from "../platform/limits.ts";
import type { AuthScope } from "../platform/scope.ts";
import {
  ensurePaymentAccounts,
  interactionRow,
  loadPaymentForUpdate,
  mutate,
  type PaymentsContext,
  persistTransition,
  providerFor,
  transitionContext,
} from "./context.ts";
import { presentPayment } from "./model.ts";
import { applyChargeOutcome } from "./transitions.ts";

/**
 * Answers a `enter_pin` next action. A wrong PIN is counted (and stays counted: the answer is
 * committed, 402 `incorrect_pin`); after the last allowed attempt the payment fails.
 */
export async function confirmPayment(
  ctx: PaymentsContext,
  scope: AuthScope,
  id: string,
  input: { pin: string },
  idempotency: IdempotencyContext | undefined,
) {
  const preview = await ctx.db.query<{
    provider: string;
    currency: string;
    merchant_id: string;
    mode: "test" | "live";
  }>(
    "select provider, currency, merchant_id, mode from payments where id = $1 and merchant_id = $2 and mode = $3",
    [id, scope.merchantId, scope.mode],
  );
  if (preview.rows[0]) {
    // Accounts are created in their own commit, before the payment's transaction starts.
    await ensurePaymentAccounts(ctx, preview.rows[0], ctx.clock.nowMs());
  }
  return mutate(ctx, scope, idempotency, async (tx, nowMs) => {
    const before = await loadPaymentForUpdate(tx, scope, id);
    if (before.status !== "requires_action" || before.next_action?.type !== "enter_pin") {
      throw new ApiError(
        "payment_unexpected_state",
        undefined,
        `This payment is ${before.status}; it does not await a PIN.`,
      );
    }
    const provider = providerFor(ctx, before.provider);
    const { outcome, interaction } = await provider.charge({
      attemptId: before.attempt_id,
      amount: before.amount,
      currency: before.currency,
      capture: before.capture_method,
      paymentMethod: before.payment_method,
      pin: input.pin,
    });
    const interactions = [interactionRow(before, interaction, nowMs)];
    if (outcome.status === "requires_pin") {
      const attempts = before.pin_attempts + 1;
      const exhausted = attempts >= LIMITS.pin_attempts_max;
      const transition = exhausted
        ? applyChargeOutcome(
            { ...before, pin_attempts: attempts },
            { status: "declined", code: "pin_attempts_exceeded", message: "Too many wrong PINs." },
            transitionContext(ctx, nowMs),
          )
        : applyChargeOutcome({ ...before, pin_attempts: attempts }, outcome, transitionContext(ctx, nowMs));
      await persistTransition(ctx, tx, transition, interactions, nowMs);
      if (exhausted) return { statusCode: 200, body: JSON.stringify(presentPayment(transition.payment)) };
      const error = new ApiError(
        "incorrect_pin",
        "pin",
        `The PIN is not correct; ${LIMITS.pin_attempts_max - attempts} attempt(s) left.`,
      );
      return { statusCode: error.status, body: JSON.stringify(error.toBody()) };
    }
    const transition = applyChargeOutcome(before, outcome, transitionContext(ctx, nowMs));
    await persistTransition(ctx, tx, transition, interactions, nowMs);
    return { statusCode: 200, body: JSON.stringify(presentPayment(transition.payment)) };
  });
}
