import type { IdempotencyContext } from "../idempotency/gate.ts";
import { IdempotencyConflict } from "../idempotency/gate.ts";
import { ApiError, assert } from "../platform/errors.ts";
import { newId } from "../platform/ids.ts";
import type { AuthScope } from "../platform/scope.ts";
import {
  ensurePaymentAccounts,
  interactionRow,
  type PaymentsContext,
  paymentDbRow,
  paymentEvents,
  providerFor,
  transitionContext,
} from "./context.ts";
import { type CaptureMethod, type PaymentMethod, type PaymentRow, presentPayment } from "./model.ts";
import { applyChargeOutcome } from "./transitions.ts";

export interface CreatePaymentInput {
  amount: number;
  currency: string;
  payment_method: PaymentMethod;
  customer?: string;
  description?: string;
  capture?: CaptureMethod;
  metadata?: Record<string, string>;
}

/**
 * Creates a payment and asks the provider for the money. With an in-process provider the whole
 * outcome (payment, events, interaction, journal, idempotency record) is one group commit; the
 * response leaves only after it is durable.
 */
export async function createPayment(
  ctx: PaymentsContext,
  scope: AuthScope,
  input: CreatePaymentInput,
  idempotency: IdempotencyContext | undefined,
): Promise<{ statusCode: number; body: string }> {
  if (input.payment_method.type === "sandbox" && scope.mode !== "test") {
    throw new ApiError(
      "payment_method_unavailable",
      "payment_method.type",
      "The sandbox payment method is only available in test mode.",
    );
  }
  if (input.customer !== undefined) {
    const { rowCount } = await ctx.db.query(
      "select 1 from customers where id = $1 and merchant_id = $2 and mode = $3",
      [input.customer, scope.merchantId, scope.mode],
    );
    if (rowCount === 0)
      throw new ApiError("resource_missing", "customer", `No such customer: '${input.customer}'.`);
  }

  const nowMs = ctx.clock.nowMs();
  const provider = providerFor(ctx, input.payment_method.type);
  assert(provider.inProcess, "remote providers record the attempt before calling out");
  const initial: PaymentRow = {
    id: newId("pay", nowMs),
    merchant_id: scope.merchantId,
    mode: scope.mode,
    status: "processing",
    amount: BigInt(input.amount),
    currency: input.currency,
    amount_captured: 0n,
    amount_refunded: 0n,
    amount_refund_reserved: 0n,
    capture_method: input.capture ?? "automatic",
    customer_id: input.customer ?? null,
    description: input.description ?? null,
    metadata: input.metadata ?? {},
    payment_method: input.payment_method,
    provider: provider.name,
    attempt_id: newId("att", nowMs),
    next_action: null,
    failure_code: null,
    failure_message: null,
    pin_attempts: 0,
    hold_transfer_id: null,
    capture_before: null,
    reconcile_after: null,
    created: new Date(nowMs),
    updated: new Date(nowMs),
  };

  const { outcome, interaction } = await provider.charge({
    attemptId: initial.attempt_id,
    amount: initial.amount,
    currency: initial.currency,
    capture: initial.capture_method,
    paymentMethod: initial.payment_method,
  });
  const transition = applyChargeOutcome(initial, outcome, {
    ...transitionContext(ctx, nowMs),
    firstAnswer: true,
  });
  const payment = transition.payment;
  await ensurePaymentAccounts(ctx, payment, nowMs);

  const body = JSON.stringify(presentPayment(payment));
  const result = await ctx.committer.submit({
    nowMs,
    idempotency: idempotency && {
      merchantId: scope.merchantId,
      mode: scope.mode,
      key: idempotency.key,
      requestHash: idempotency.requestHash,
      statusCode: 201,
      responseBody: body,
      createdMs: nowMs,
    },
    rows: [
      { table: "payments", row: paymentDbRow(payment) },
      ...paymentEvents(payment, ["payment.created", ...transition.events], nowMs).map((row) => ({
        table: "events" as const,
        row,
      })),
      { table: "provider_interactions", row: interactionRow(payment, interaction, nowMs) },
    ],
    transfers: transition.transfers,
  });
  if (!result.ok) {
    if (result.reason === "idempotency_conflict") throw new IdempotencyConflict();
    throw new Error(`ledger rejected a new payment's journal: ${result.result}`);
  }
  ctx.metrics?.payments.inc({ status: payment.status });
  return { statusCode: 201, body };
}
