import type { IdempotencyContext } from "../idempotency/index.ts";
import { claimOpenKey, completeKey } from "../idempotency/index.ts";
import { ApiError } from "../platform/errors.ts";
import { LIMITS } from "../platform/limits.ts";
import type { AuthScope } from "../platform/scope.ts";
import { resumeRemoteAttempt } from "./attempt.ts";
import {
  chargeRequestFor,
  ensurePaymentAccounts,
  interactionRow,
  loadPaymentForUpdate,
  mutate,
  type PaymentsContext,
  persistTransition,
  providerFor,
  transitionContext,
} from "./context.ts";
import { type PaymentRow, presentPayment } from "./model.ts";
import { applyChargeOutcome } from "./transitions.ts";

type Response = { statusCode: number; body: string };

function awaitingPin(p: PaymentRow): void {
  if (p.status !== "requires_action" || p.next_action?.type !== "enter_pin") {
    throw new ApiError(
      "payment_unexpected_state",
      undefined,
      `This payment is ${p.status}; it does not await a PIN.`,
    );
  }
}

/** A wrong PIN answers 402 while attempts remain; otherwise the payment as it now stands. */
function answerFor(p: PaymentRow): Response {
  if (p.status === "requires_action" && p.next_action?.type === "enter_pin") {
    const left = p.next_action.enter_pin.attempts_remaining;
    const error = new ApiError("incorrect_pin", "pin", `The PIN is not correct; ${left} attempt(s) left.`);
    return { statusCode: error.status, body: JSON.stringify(error.toBody()) };
  }
  return { statusCode: 200, body: JSON.stringify(presentPayment(p)) };
}

/**
 * Answers an `enter_pin` next action. A wrong PIN is counted (the count is committed and the answer
 * is 402 `incorrect_pin`); after the last allowed attempt the payment fails.
 */
export async function confirmPayment(
  ctx: PaymentsContext,
  scope: AuthScope,
  id: string,
  input: { pin: string },
  idempotency: IdempotencyContext | undefined,
  payer: { ip?: string } = {},
): Promise<Response> {
  const { rows } = await ctx.db.query<PaymentRow>(
    "select * from payments where id = $1 and merchant_id = $2 and mode = $3",
    [id, scope.merchantId, scope.mode],
  );
  const preview = rows[0];
  if (!preview) throw new ApiError("resource_missing", "id", `No such payment: '${id}'.`);
  // Accounts are created in their own commit, before the payment's transaction starts.
  await ensurePaymentAccounts(ctx, preview, ctx.clock.nowMs());
  const provider = providerFor(ctx, preview.provider);
  const response = provider.inProcess
    ? await confirmInOneCommit(ctx, scope, id, input, idempotency)
    : await confirmRemote(ctx, scope, id, input, idempotency);
  // Wrong PINs feed the counters that stop PIN guessing across payments (docs/risk.md).
  if (
    ctx.risk &&
    (response.statusCode === 402 || response.body.includes('"failure_code":"pin_attempts_exceeded"'))
  ) {
    const m = preview.payment_method;
    const msisdn = m.type === "carrier" || m.type === "sandbox" ? m.msisdn : undefined;
    const subjects = await ctx.risk.subjectsOf(scope, {
      ...(msisdn ? { msisdn } : {}),
      ...(payer.ip ? { ip: payer.ip } : {}),
    });
    await ctx.risk.observe(scope, "pin_failure", subjects, ctx.clock.nowMs());
  }
  return response;
}

async function confirmInOneCommit(
  ctx: PaymentsContext,
  scope: AuthScope,
  id: string,
  input: { pin: string },
  idempotency: IdempotencyContext | undefined,
): Promise<Response> {
  return mutate(ctx, scope, idempotency, async (tx, nowMs) => {
    const before = await loadPaymentForUpdate(tx, scope, id);
    awaitingPin(before);
    const answer = await providerFor(ctx, before.provider).charge({
      ...chargeRequestFor(before),
      pin: input.pin,
    });
    const interactions = answer.interactions.map((i) => interactionRow(before, i, nowMs));
    let counted = before;
    let outcome = answer.outcome;
    if (outcome.status === "requires_pin") {
      counted = { ...before, pin_attempts: before.pin_attempts + 1 };
      if (counted.pin_attempts >= LIMITS.pin_attempts_max) {
        outcome = {
          status: "declined",
          code: "pin_attempts_exceeded",
          message: "Too many wrong PINs.",
          retryable: false,
        };
      }
    }
    const transition = applyChargeOutcome(counted, outcome, transitionContext(ctx, nowMs));
    await persistTransition(ctx, tx, transition, interactions, nowMs);
    return answerFor(transition.payment);
  });
}

/**
 * With a remote provider the PIN goes to the operator: the payment is marked `processing` (and the
 * key claimed) in one commit, the operator is asked, and its answer is settled in another.
 */
async function confirmRemote(
  ctx: PaymentsContext,
  scope: AuthScope,
  id: string,
  input: { pin: string },
  idempotency: IdempotencyContext | undefined,
): Promise<Response> {
  const payment = await resumeRemoteAttempt(ctx, id, {
    expect: (p) => {
      if (p.merchant_id !== scope.merchantId || p.mode !== scope.mode) {
        throw new ApiError("resource_missing", "id", `No such payment: '${id}'.`);
      }
      awaitingPin(p);
    },
    pin: input.pin,
    ...(idempotency ? { beforeCommit: (tx, nowMs) => claimOpenKey(tx, scope, idempotency, nowMs) } : {}),
  });
  const response = answerFor(payment);
  if (idempotency) await completeKey(ctx.db, scope, idempotency.key, response);
  return response;
}
