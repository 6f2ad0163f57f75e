import type { Queryable } from "../db/db.ts";
import { LIMITS } from "../platform/limits.ts";
import {
  ATTEMPT_LEASE_MS,
  chargeRequestFor,
  ensurePaymentAccounts,
  interactionRow,
  type PaymentsContext,
  persistTransition,
  providerFor,
  transitionContext,
} from "./context.ts";
import type { PaymentRow } from "./model.ts";
import type { ProviderAnswer, RefundRequest } from "./provider.ts";
import { applyChargeOutcome, applyLateSuccessReversed } from "./transitions.ts";

/**
 * Settles a provider's answer about one attempt of a payment: the payment is locked, and the answer
 * is applied only if the payment still waits for that attempt. A late callback, a reconciliation
 * pass and the request itself may all bring answers; the first one wins and the others change
 * nothing. Returns the payment as it now stands.
 */
export async function settleAttempt(
  ctx: PaymentsContext,
  paymentId: string,
  attemptId: string,
  answer: ProviderAnswer,
  options: {
    firstAnswer?: boolean;
    pinAnswered?: boolean;
    /** The payment as the caller last saw it: names its ledger accounts without a query. */
    known?: PaymentRow;
  } = {},
): Promise<PaymentRow> {
  const nowMs = ctx.clock.nowMs();
  const known =
    options.known ??
    (await ctx.db.query<PaymentRow>("select * from payments where id = $1", [paymentId])).rows[0];
  if (known) await ensurePaymentAccounts(ctx, known, nowMs);
  const settled = await ctx.db.transaction(async (tx): Promise<{ payment: PaymentRow; late?: true }> => {
    const current = await lock(tx, paymentId);
    if (current.attempt_id !== attemptId) return { payment: current };
    if (lateSuccess(current, answer.outcome)) return { payment: current, late: true };
    if (!awaitsAnswer(current)) return { payment: current };
    let before: PaymentRow = { ...current, provider_state: { ...current.provider_state, ...answer.state } };
    let outcome = answer.outcome;
    if (options.pinAnswered && outcome.status === "requires_pin") {
      // A wrong PIN: counted, and the last allowed one fails the payment.
      before = { ...before, pin_attempts: before.pin_attempts + 1 };
      if (before.pin_attempts >= LIMITS.pin_attempts_max) {
        outcome = {
          status: "declined",
          code: "pin_attempts_exceeded",
          message: "Too many wrong PINs.",
          retryable: false,
        };
      }
    }
    const transition = applyChargeOutcome(before, outcome, {
      ...transitionContext(ctx, nowMs),
      ...(options.firstAnswer ? { firstAnswer: true } : {}),
    });
    const interactions = [...answer.interactions, ...(ctx.recorder?.take(attemptId) ?? [])].map((i) =>
      interactionRow(current, i, nowMs),
    );
    await persistTransition(ctx, tx, transition, interactions, nowMs);
    return { payment: transition.payment };
  });
  return settled.late ? reverseLateSuccess(ctx, settled.payment, answer) : settled.payment;
}

/** The provider took the payer's money for an attempt whose payment was canceled meanwhile. */
function lateSuccess(p: PaymentRow, outcome: ProviderAnswer["outcome"]): boolean {
  return (
    p.status === "canceled" &&
    (outcome.status === "succeeded" || outcome.status === "authorized") &&
    !p.provider_state?.late_success
  );
}

/**
 * A success after the cancel is given back at the provider (a void, else a refund, keyed by the
 * attempt so a second late answer asks the same), then written: money in and back out, an event,
 * the payment still canceled. Until the provider confirms, nothing is written and this throws
 * (the notification's handler logs it for a person).
 */
async function reverseLateSuccess(
  ctx: PaymentsContext,
  payment: PaymentRow,
  answer: ProviderAnswer,
): Promise<PaymentRow> {
  const o = answer.outcome;
  const reference = o.status === "succeeded" || o.status === "authorized" ? o.reference : null;
  const provider = providerFor(ctx, payment.provider);
  const request: RefundRequest = {
    refundId: `rev_${payment.attempt_id}`,
    paymentAttemptId: payment.attempt_id,
    paymentReference: reference ?? payment.provider_reference,
    paymentMethod: payment.payment_method,
    amount: payment.amount,
    currency: payment.currency,
  };
  const given = provider.reverse ? await provider.reverse(request) : await provider.refund(request);
  if (given.status !== "succeeded")
    throw new Error(
      `payment ${payment.id}: a success after its cancel is not given back yet (${given.status})`,
    );
  const nowMs = ctx.clock.nowMs();
  return ctx.db.transaction(async (tx) => {
    const current = await lock(tx, payment.id);
    if (current.attempt_id !== payment.attempt_id || !lateSuccess(current, o)) return current;
    const transition = applyLateSuccessReversed(
      current,
      { reference, reversal: given.reference ?? null },
      nowMs,
    );
    const interactions = [...answer.interactions, ...given.interactions].map((i) =>
      interactionRow(current, i, nowMs),
    );
    await persistTransition(ctx, tx, transition, interactions, nowMs);
    return transition.payment;
  });
}

/** A payment waits for an answer while it is processing, or while the payer is away at a redirect. */
function awaitsAnswer(p: PaymentRow): boolean {
  return (
    p.status === "processing" || (p.status === "requires_action" && p.next_action?.type === "redirect_to_url")
  );
}

async function lock(tx: Queryable, id: string): Promise<PaymentRow> {
  const { rows } = await tx.query<PaymentRow>("select * from payments where id = $1 for update", [id]);
  if (!rows[0]) throw new Error(`payment ${id} vanished`);
  return rows[0];
}

/**
 * Resumes a payment that waited for its payer (a PIN, an MO text): the payment is marked
 * `processing` under a lease in one commit (with `beforeCommit`, e.g. an idempotency claim), the
 * provider is asked, and its answer settled in another. Throws what `expect` throws when the
 * payment is no longer waiting.
 */
export async function resumeRemoteAttempt(
  ctx: PaymentsContext,
  paymentId: string,
  options: {
    expect: (payment: PaymentRow) => void;
    state?: Record<string, unknown>;
    pin?: string;
    beforeCommit?: (tx: Queryable, nowMs: number) => Promise<void>;
  },
): Promise<PaymentRow> {
  const nowMs = ctx.clock.nowMs();
  const before = await ctx.db.transaction(async (tx) => {
    await options.beforeCommit?.(tx, nowMs);
    const payment = await lock(tx, paymentId);
    options.expect(payment);
    const asking = applyChargeOutcome(payment, { status: "pending" }, transitionContext(ctx, nowMs));
    asking.payment.reconcile_after = new Date(nowMs + ATTEMPT_LEASE_MS);
    asking.payment.provider_state = { ...payment.provider_state, ...options.state };
    await persistTransition(ctx, tx, asking, [], nowMs);
    return asking.payment;
  });
  const answer = await providerFor(ctx, before.provider).charge({
    ...chargeRequestFor(before),
    ...(options.pin === undefined ? {} : { pin: options.pin }),
  });
  return settleAttempt(ctx, paymentId, before.attempt_id, answer, {
    pinAnswered: options.pin !== undefined,
    known: before,
  });
}
