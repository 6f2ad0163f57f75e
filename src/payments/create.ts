import type { IdempotencyContext } from "../idempotency/index.ts";
import { IdempotencyConflict } from "../idempotency/index.ts";
import { ApiError, assert } from "../platform/errors.ts";
import type { AuthScope } from "../platform/scope.ts";
import type { RiskSubject, RiskVerdict } from "../risk/index.ts";
import { settleAttempt } from "./attempt.ts";
import {
  ATTEMPT_LEASE_MS,
  applyJournal,
  chargeRequestFor,
  countOutcome,
  ensurePaymentAccounts,
  insertRows,
  interactionRow,
  mutate,
  type PayerRefusal,
  type PaymentsContext,
  paymentDbRow,
  paymentEvents,
  transitionContext,
} from "./context.ts";
import { type CaptureMethod, type PaymentMethod, type PaymentRow, presentPayment } from "./model.ts";
import { newPaymentRow } from "./new-payment.ts";
import type { PaymentMethodInput, PaymentProvider } from "./provider.ts";
import { applyChargeOutcome } from "./transitions.ts";

export interface CreatePaymentInput {
  /** Taken from `price` when it is given. */
  amount?: number;
  currency?: string;
  /** A catalog price: its amount, currency and grants (extensions.ts). */
  price?: string;
  /** Converts what is paid into the customer's wallet in this (inner) currency when it succeeds. */
  wallet_top_up?: { currency: string };
  payment_method: PaymentMethodInput;
  customer?: string;
  description?: string;
  capture?: CaptureMethod;
  metadata?: Record<string, string>;
  /** The payer's address when the merchant's server relays a payer's request (risk rules read it). */
  ip_address?: string;
}

/** What the flow knows about the payer beyond the request body (checkout pages know more). */
export interface PayerContext {
  flow?: "payment" | "checkout";
  ip?: string;
  ipCountry?: string;
  /** The payer's e-mail address when the page asked for it (the payer's own limits read it). */
  email?: string;
  app?: string;
  pageOpenMs?: number;
  framed?: boolean;
}

type Response = { statusCode: number; body: string };

/**
 * Creates a payment and asks the provider for the money. An in-process provider's answer is
 * written with the payment in one group commit. A remote provider's attempt is committed first
 * (status `processing`, with the idempotency key), then the provider is called, then its answer
 * is settled: a crash in between leaves a payment that reconciliation settles by asking the
 * provider about the attempt. Either way the response leaves only after it is durable.
 */
export async function createPayment(
  ctx: PaymentsContext,
  scope: AuthScope,
  input: CreatePaymentInput,
  idempotency: IdempotencyContext | undefined,
  headers?: Record<string, string | undefined>,
  payer?: PayerContext,
): Promise<Response> {
  const nowMs = ctx.clock.nowMs();
  const prepared = ctx.extensions
    ? await ctx.extensions.prepare(scope, input, nowMs)
    : { amount: input.amount, currency: input.currency, effects: null };
  if (prepared.amount === undefined) throw new ApiError("parameter_missing", "amount", "amount is required.");
  if (prepared.currency === undefined)
    throw new ApiError("parameter_missing", "currency", "currency is required.");
  const method = await ctx.providers.resolve(input.payment_method, {
    mode: scope.mode,
    currency: prepared.currency,
    nowMs,
    usage: "payment",
    ...(headers ? { headers } : {}),
  });
  const provider = ctx.providers.require(method.stored.type);
  const capture = input.capture ?? "automatic";
  if (capture === "manual" && !provider.supportsManualCapture) {
    throw new ApiError(
      "parameter_invalid",
      "capture",
      `Manual capture is not available for ${provider.name} payments.`,
    );
  }
  let customer: { msisdn: string | null; email: string | null } | undefined;
  if (input.customer !== undefined) {
    const { rows } = await ctx.db.query<{ msisdn: string | null; email: string | null }>(
      "select msisdn, email from customers where id = $1 and merchant_id = $2 and mode = $3",
      [input.customer, scope.merchantId, scope.mode],
    );
    if (!rows[0])
      throw new ApiError("resource_missing", "customer", `No such customer: '${input.customer}'.`);
    customer = rows[0];
  }

  const initial = newPaymentRow(
    {
      merchantId: scope.merchantId,
      mode: scope.mode,
      amount: BigInt(prepared.amount),
      currency: prepared.currency,
      capture,
      customerId: input.customer ?? null,
      description: input.description ?? null,
      metadata: input.metadata ?? {},
      paymentMethod: method.stored,
      provider: provider.name,
    },
    nowMs,
  );
  initial.effects = prepared.effects;

  // The risk engine decides before any money moves: a block writes a failed payment and calls no
  // provider; a review holds it (processing, nothing charged) until a person decides.
  const ip = payer?.ip ?? input.ip_address;
  const cardNumber = method.secretDetails?.number;
  const riskSubject: RiskSubject = {
    flow: payer?.flow ?? "payment",
    paymentId: initial.id,
    amount: initial.amount,
    currency: initial.currency,
    method: method.stored.type,
    ...methodFacts(method.stored),
    ...(input.customer ? { customer: input.customer } : {}),
    ...(ip ? { ip } : {}),
    ...(payer?.ipCountry ? { ipCountry: payer.ipCountry } : {}),
    ...(payer?.app ? { app: payer.app } : {}),
    ...(payer?.pageOpenMs !== undefined ? { pageOpenMs: payer.pageOpenMs } : {}),
    ...(payer?.framed !== undefined ? { framed: payer.framed } : {}),
    ...(typeof cardNumber === "string" ? { cardNumber } : {}),
  };
  const verdict = ctx.risk
    ? (ctx.risk.assessNow(scope, riskSubject, nowMs) ?? (await ctx.risk.assess(scope, riskSubject, nowMs)))
    : undefined;
  const riskRows = verdict?.rows ?? [];
  // `require_pin`: the payer proves they hold the number (the method's PIN step); a method that
  // cannot ask for a PIN is held for review instead (docs/risk.md).
  let action = verdict?.action;
  if (action === "require_pin") {
    const pinned = provider.requirePin?.(initial.payment_method);
    if (pinned) initial.payment_method = pinned;
    else action = "review";
  }
  // Decisions of rules that decided nothing are written once the payment exists, off its commit.
  let logged = false;
  const logDecisions = () => {
    if (!logged && verdict && verdict.logged.length > 0) ctx.risk?.log(verdict.logged);
    logged = true;
  };
  if (action === "block" || (action === "review" && method.secretDetails)) {
    // A card number is never kept, so a held card payment could not be charged later: refused.
    const refused = await createRefused(
      ctx,
      scope,
      initial,
      riskRefusal(verdict?.rule?.name ?? ""),
      riskRows,
      idempotency,
      nowMs,
    );
    logDecisions();
    return refused;
  }

  const proceed = async (refusal: PayerRefusal | null): Promise<Response> => {
    // What the payer asked for (a cap, a blocked merchant) is refused like a risk block.
    let response: Response;
    if (refusal) response = await createRefused(ctx, scope, initial, refusal, riskRows, idempotency, nowMs);
    else if (action === "review")
      response = await createHeld(
        ctx,
        scope,
        initial,
        verdict?.rule?.name ?? "",
        riskRows,
        idempotency,
        nowMs,
      );
    else if (provider.inProcess && ctx.extensions?.needsTransaction(initial))
      response = await createInTransaction(ctx, scope, provider, initial, idempotency, riskRows, nowMs);
    else
      response = provider.inProcess
        ? await createInOneCommit(
            ctx,
            scope,
            await chargeOnce(ctx, provider, initial, nowMs),
            idempotency,
            riskRows,
            nowMs,
          )
        : await createAttemptFirst(
            ctx,
            scope,
            provider,
            initial,
            idempotency,
            method.secretDetails,
            riskRows,
            nowMs,
            logDecisions,
          );
    logDecisions();
    // Declines feed the counters that find card testing (only when a rule counts them).
    if (
      ctx.risk &&
      verdict &&
      (verdict.subjects.ip || verdict.subjects.cardFingerprint) &&
      response.body.includes('"status":"failed"')
    )
      await ctx.risk.observe(scope, "decline", verdict.subjects, nowMs);
    return response;
  };

  const msisdn = methodFacts(method.stored).msisdn ?? customer?.msisdn ?? null;
  const email = customer?.email ?? payer?.email ?? null;
  if (!ctx.payerLimits || (!msisdn && !email)) return proceed(null);
  return ctx.payerLimits.guard(
    {
      merchantId: scope.merchantId,
      mode: scope.mode,
      msisdn,
      email,
      amount: initial.amount,
      currency: initial.currency,
      nowMs,
    },
    proceed,
  );
}

function riskRefusal(ruleName: string): Refusal {
  return { code: "blocked_by_risk_rule", message: `Blocked by the risk rule '${ruleName}'.` };
}

type Refusal = { code: string; message: string };

/** What a rule can read of the stored method: the number and operator of a carrier payment. */
function methodFacts(m: PaymentMethod): { msisdn?: string; operator?: string } {
  if (m.type === "carrier") return { msisdn: m.msisdn, operator: m.operator };
  if (m.type === "sandbox")
    return { ...(m.msisdn ? { msisdn: m.msisdn } : {}), ...(m.operator ? { operator: m.operator } : {}) };
  return {};
}

type RiskRows = RiskVerdict["rows"];

/**
 * A payment refused before any provider is asked (a risk rule, the payer's own limits): created
 * failed, in one commit, with no provider call and no journal.
 */
async function createRefused(
  ctx: PaymentsContext,
  scope: AuthScope,
  initial: PaymentRow,
  refusal: Refusal,
  riskRows: RiskRows,
  idempotency: IdempotencyContext | undefined,
  nowMs: number,
): Promise<Response> {
  const transition = applyChargeOutcome(
    initial,
    { status: "declined", code: refusal.code, message: refusal.message, retryable: false },
    { ...transitionContext(ctx, nowMs), firstAnswer: true },
  );
  assert(transition.transfers.length === 0, "a blocked payment moves no money");
  return createInOneCommit(
    ctx,
    scope,
    { answer: { outcome: { status: "pending" }, interactions: [] }, transition, payment: transition.payment },
    idempotency,
    riskRows,
    nowMs,
  );
}

/**
 * A payment a `review` rule holds: created `processing` with nothing asked of any provider and no
 * reconciliation due; the back office approves it (the provider is asked then) or refuses it
 * (`failed`, `refused_in_review`). Docs: docs/risk.md.
 */
async function createHeld(
  ctx: PaymentsContext,
  scope: AuthScope,
  initial: PaymentRow,
  ruleName: string,
  riskRows: RiskRows,
  idempotency: IdempotencyContext | undefined,
  nowMs: number,
): Promise<Response> {
  const payment: PaymentRow = {
    ...initial,
    reconcile_after: null,
    provider_state: { risk_review: "open", risk_rule: ruleName },
  };
  return createInOneCommit(
    ctx,
    scope,
    {
      answer: { outcome: { status: "pending" }, interactions: [] },
      transition: { payment, events: [], transfers: [] },
      payment,
    },
    idempotency,
    riskRows,
    nowMs,
  );
}

/** An in-process provider's first answer, applied to the new payment, its accounts ready. */
async function chargeOnce(
  ctx: PaymentsContext,
  provider: PaymentProvider,
  initial: PaymentRow,
  nowMs: number,
) {
  const answer = await provider.charge(chargeRequestFor(initial));
  const transition = applyChargeOutcome(initial, answer.outcome, {
    ...transitionContext(ctx, nowMs),
    firstAnswer: true,
  });
  const payment = { ...transition.payment, provider_state: answer.state ?? null };
  await ensurePaymentAccounts(ctx, payment, nowMs);
  return { answer, transition, payment };
}

async function createInOneCommit(
  ctx: PaymentsContext,
  scope: AuthScope,
  { answer, transition, payment }: Awaited<ReturnType<typeof chargeOnce>>,
  idempotency: IdempotencyContext | undefined,
  riskRows: RiskRows,
  nowMs: number,
): Promise<Response> {
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
      ...answer.interactions.map((i) => ({
        table: "provider_interactions" as const,
        row: interactionRow(payment, i, nowMs),
      })),
      ...riskRows,
    ],
    transfers: transition.transfers,
  });
  if (!result.ok) {
    if (result.reason === "idempotency_conflict") throw new IdempotencyConflict();
    throw new Error(`ledger rejected a new payment's journal: ${result.result}`);
  }
  ctx.metrics?.payments.inc({ status: payment.status });
  countOutcome(ctx, payment, ["payment.created", ...transition.events]);
  return { statusCode: 201, body };
}

/**
 * An in-process answer whose consequences are ours to write (a wallet drawn on, a top-up, a
 * price's grants): the payment, its journal and that work in one ordinary transaction, so a
 * refusal (an empty wallet) writes nothing at all.
 */
async function createInTransaction(
  ctx: PaymentsContext,
  scope: AuthScope,
  provider: PaymentProvider,
  initial: PaymentRow,
  idempotency: IdempotencyContext | undefined,
  riskRows: RiskRows,
  nowMs: number,
): Promise<Response> {
  const { answer, transition, payment } = await chargeOnce(ctx, provider, initial, nowMs);
  const response = await mutate(ctx, scope, idempotency, async (tx) => {
    await insertRows(
      tx,
      "risk_decisions",
      riskRows.filter((r) => r.table === "risk_decisions").map((r) => r.row),
    );
    await insertRows(tx, "payments", [paymentDbRow(payment)]);
    await insertRows(tx, "events", paymentEvents(payment, ["payment.created", ...transition.events], nowMs));
    await insertRows(
      tx,
      "provider_interactions",
      answer.interactions.map((i) => interactionRow(payment, i, nowMs)),
    );
    const journalWritten =
      (await ctx.extensions?.onTransition(tx, { ...transition, payment }, nowMs)) ?? false;
    if (!journalWritten) await applyJournal(ctx, tx, transition.transfers, nowMs);
    return { statusCode: 201, body: JSON.stringify(presentPayment(payment)) };
  });
  ctx.metrics?.payments.inc({ status: payment.status });
  countOutcome(ctx, payment, ["payment.created", ...transition.events]);
  return response;
}

async function createAttemptFirst(
  ctx: PaymentsContext,
  scope: AuthScope,
  provider: PaymentProvider,
  initial: PaymentRow,
  idempotency: IdempotencyContext | undefined,
  secretDetails: Record<string, unknown> | undefined,
  riskRows: RiskRows,
  nowMs: number,
  /** Called once the attempt is written, before the provider is asked (which may throw). */
  recorded: () => void,
): Promise<Response> {
  // Reconciliation leaves the attempt to this request for a while, then asks the provider itself.
  const attempt: PaymentRow = { ...initial, reconcile_after: new Date(nowMs + ATTEMPT_LEASE_MS) };
  const written = await ctx.committer.submit({
    nowMs,
    idempotency: idempotency && {
      merchantId: scope.merchantId,
      mode: scope.mode,
      key: idempotency.key,
      requestHash: idempotency.requestHash,
      statusCode: null,
      responseBody: null,
      createdMs: nowMs,
      resourceId: attempt.id,
    },
    rows: [
      { table: "payments", row: paymentDbRow(attempt) },
      ...paymentEvents(attempt, ["payment.created"], nowMs).map((row) => ({ table: "events" as const, row })),
      ...riskRows,
    ],
    transfers: [],
  });
  if (!written.ok) throw new IdempotencyConflict();
  recorded();

  const answer = await provider.charge({
    ...chargeRequestFor(attempt),
    ...(secretDetails ? { secretDetails } : {}),
  });
  const payment = await settleAttempt(ctx, attempt.id, attempt.attempt_id, answer, {
    firstAnswer: true,
    known: attempt,
  });
  ctx.metrics?.payments.inc({ status: payment.status });
  return { statusCode: 201, body: JSON.stringify(presentPayment(payment)) };
}
