import type { Queryable } from "../db/db.ts";
import { ApiError } from "../platform/errors.ts";
import type { AuthScope } from "../platform/scope.ts";
import { settleAttempt } from "./attempt.ts";
import {
  ATTEMPT_LEASE_MS,
  chargeRequestFor,
  type PaymentsContext,
  persistTransition,
  providerFor,
  transitionContext,
} from "./context.ts";
import type { PaymentRow } from "./model.ts";
import { applyChargeOutcome } from "./transitions.ts";

/**
 * Payments a risk rule holds for review (docs/risk.md): created `processing`, no provider asked,
 * `provider_state.risk_review = "open"`. A person approves one (the provider is asked then, once,
 * through the usual attempt path) or refuses it (`failed`, `refused_in_review`). Each decision is
 * taken under the payment's row lock, so two people deciding at once decide once; each writes an
 * event (`payment.review_approved`, `payment.review_refused`) with the change it makes.
 */

/** `scope` null: the admin key, across merchants. */
export async function listHeldPayments(
  ctx: PaymentsContext,
  scope: AuthScope | null,
  limit: number,
): Promise<PaymentRow[]> {
  const params: unknown[] = [limit];
  let where = "provider_state ->> 'risk_review' = 'open' and status = 'processing'";
  if (scope) {
    params.push(scope.merchantId, scope.mode);
    where += " and merchant_id = $2 and mode = $3";
  }
  const { rows } = await ctx.db.query<PaymentRow>(
    `select * from payments where ${where} order by created, id limit $1`,
    params,
  );
  return rows;
}

async function lockHeld(tx: Queryable, scope: AuthScope | null, id: string): Promise<PaymentRow> {
  const { rows } = await tx.query<PaymentRow>("select * from payments where id = $1 for update", [id]);
  const payment = rows[0];
  if (!payment || (scope && (payment.merchant_id !== scope.merchantId || payment.mode !== scope.mode)))
    throw new ApiError("resource_missing", "id", `No such payment: '${id}'.`);
  if (payment.status !== "processing" || payment.provider_state?.risk_review !== "open")
    throw new ApiError("payment_unexpected_state", "id", "This payment is not held for review.");
  return payment;
}

/**
 * Records an approval in the caller's transaction: the payment gets a fresh lease (a crash before
 * the provider answers leaves it to reconciliation, like any attempt) and its event. The provider
 * is asked afterwards by `chargeApproved`, outside any transaction.
 */
export async function approveHeldPayment(
  ctx: PaymentsContext,
  tx: Queryable,
  scope: AuthScope | null,
  id: string,
  nowMs: number,
): Promise<PaymentRow> {
  const held = await lockHeld(tx, scope, id);
  const asking = applyChargeOutcome(held, { status: "pending" }, transitionContext(ctx, nowMs));
  asking.payment.reconcile_after = new Date(nowMs + ATTEMPT_LEASE_MS);
  asking.payment.provider_state = { ...held.provider_state, risk_review: "approved" };
  asking.events = ["payment.review_approved"];
  await persistTransition(ctx, tx, asking, [], nowMs);
  return asking.payment;
}

/** Asks the provider for an approved payment's money, once, and settles its answer. */
export async function chargeApproved(ctx: PaymentsContext, approved: PaymentRow): Promise<PaymentRow> {
  const answer = await providerFor(ctx, approved.provider).charge(chargeRequestFor(approved));
  return settleAttempt(ctx, approved.id, approved.attempt_id, answer, { known: approved, firstAnswer: true });
}

/** Refuses a held payment in the caller's transaction: `failed`, `refused_in_review`, no money moved. */
export async function refuseHeldPayment(
  ctx: PaymentsContext,
  tx: Queryable,
  scope: AuthScope | null,
  id: string,
  nowMs: number,
): Promise<PaymentRow> {
  const held = await lockHeld(tx, scope, id);
  const transition = applyChargeOutcome(
    { ...held, provider_state: { ...held.provider_state, risk_review: "refused" } },
    { status: "declined", code: "refused_in_review", message: "Refused in a risk review.", retryable: false },
    transitionContext(ctx, nowMs),
  );
  transition.events = ["payment.review_refused", ...transition.events];
  await persistTransition(ctx, tx, transition, [], nowMs);
  return transition.payment;
}
