import type { Queryable } from "../db/db.ts";
import type { DbRow } from "../db/rows.ts";
import { LIMITS } from "../platform/limits.ts";
import { RECONCILE_BACKOFF_MAX_MS, reconcileDelayMs } from "./backoff.ts";
import {
  ATTEMPT_LEASE_MS,
  chargeRequestFor,
  ensurePaymentAccounts,
  insertRows,
  interactionRow,
  type PaymentsContext,
  persistTransition,
  providerFor,
  transitionContext,
} from "./context.ts";
import type { PaymentRow } from "./model.ts";
import type { ProviderAnswer, RefundAnswer, RefundRequest } from "./provider.ts";
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

/** A give-back the provider has not confirmed yet, kept on the payment until it does. */
export interface PendingGiveBack {
  /** The provider's reference of the late success. */
  reference: string | null;
  /** How many times the provider was asked. */
  asked: number;
  /** Its last answer (`failed`, `pending`, `unknown`, or `error` when the call threw). */
  last: string;
}

/** A give-back the provider keeps refusing is asked this many times, then left to a person. */
export const GIVE_BACK_ASKS_MAX = 12;

/**
 * A success after the cancel is given back at the provider (a void, else a refund, keyed by the
 * attempt so every ask is the same request), then written: money in and back out, an event, the
 * payment still canceled. Until the provider confirms, nothing is written to the books: the payment
 * keeps a `give_back` note, is listed at `GET /v1/payments/unresolved`, and reconciliation asks
 * again with backoff (`retryGiveBack`), at most GIVE_BACK_ASKS_MAX times.
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
  let given: RefundAnswer;
  try {
    given = provider.reverse ? await provider.reverse(request) : await provider.refund(request);
  } catch {
    given = { status: "unknown", code: "error", interactions: [] };
  }
  const nowMs = ctx.clock.nowMs();
  return ctx.db.transaction(async (tx) => {
    const current = await lock(tx, payment.id);
    if (current.attempt_id !== payment.attempt_id || !lateSuccess(current, o)) return current;
    const interactions = [...answer.interactions, ...given.interactions].map((i) =>
      interactionRow(current, i, nowMs),
    );
    if (given.status !== "succeeded") {
      await awaitGiveBack(ctx, tx, current, reference, given, interactions, nowMs);
      return current;
    }
    const { give_back: _asked, ...state } = current.provider_state ?? {};
    const transition = applyLateSuccessReversed(
      { ...current, provider_state: state },
      { reference, reversal: given.reference ?? null },
      nowMs,
    );
    await persistTransition(ctx, tx, transition, interactions, nowMs);
    // Off the unresolved list: the provider confirmed.
    if (current.provider_state?.give_back)
      await tx.query("update payments set unresolved_since = null where id = $1", [current.id]);
    return transition.payment;
  });
}

/**
 * The provider did not confirm the give-back: the payment notes it, is flagged for a person, and
 * is asked again after a backoff measured on the payments clock; after the last ask it stays
 * flagged and reconciliation stops asking.
 */
async function awaitGiveBack(
  ctx: PaymentsContext,
  tx: Queryable,
  current: PaymentRow,
  reference: string | null,
  given: RefundAnswer,
  interactions: DbRow[],
  nowMs: number,
): Promise<void> {
  const before = current.provider_state?.give_back as PendingGiveBack | undefined;
  const note: PendingGiveBack = {
    reference: before?.reference ?? reference,
    asked: (before?.asked ?? 0) + 1,
    last: given.code === "error" ? "error" : given.status,
  };
  const next =
    note.asked >= GIVE_BACK_ASKS_MAX
      ? null
      : new Date(nowMs + reconcileDelayMs(note.asked, ctx.reconcileAfterMs, RECONCILE_BACKOFF_MAX_MS));
  await insertRows(tx, "provider_interactions", interactions);
  await tx.query(
    `update payments set provider_state = $2, reconcile_after = $3,
       unresolved_since = coalesce(unresolved_since, $4), updated = $4 where id = $1`,
    [current.id, JSON.stringify({ ...current.provider_state, give_back: note }), next, new Date(nowMs)],
  );
}

/** Reconciliation's next ask of a give-back the provider had not confirmed. */
export function retryGiveBack(ctx: PaymentsContext, payment: PaymentRow): Promise<PaymentRow> {
  const note = payment.provider_state?.give_back as PendingGiveBack | undefined;
  return reverseLateSuccess(ctx, payment, {
    outcome: { status: "succeeded", reference: note?.reference ?? payment.provider_reference ?? "" },
    interactions: [],
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
