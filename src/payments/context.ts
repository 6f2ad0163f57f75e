import type { GroupCommitter } from "../commit/index.ts";
import type { Db, Queryable } from "../db/db.ts";
import {
  type AppendTable,
  type DbRow,
  insertRowsSql,
  rowsToJson,
  stageInteractionBodies,
} from "../db/rows.ts";
import { type EventType, eventRow } from "../events/index.ts";
import type { IdempotencyContext } from "../idempotency/index.ts";
import { idempotentTransaction } from "../idempotency/index.ts";
import type { TransferInput } from "../ledger/index.ts";
import { insertTransfersSql, type Ledger, upsertBalancesSql } from "../ledger/index.ts";
import type { Clock } from "../platform/clock.ts";
import { iso } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import { newId } from "../platform/ids.ts";
import type { Metrics } from "../platform/metrics.ts";
import type { AuthScope } from "../platform/scope.ts";
import type { RiskGate } from "../risk/index.ts";
import type { PaymentExtensions } from "./extensions.ts";
import type { InteractionArchive } from "./interaction-archive.ts";
import type { InteractionRecorder } from "./interaction-log.ts";
import { type PaymentRow, presentPayment } from "./model.ts";
import type { ChargeRequest, Interaction, PaymentProvider } from "./provider.ts";
import type { ProviderRegistry } from "./registry.ts";
import { paymentAccounts, type Transition, type TransitionContext } from "./transitions.ts";

/** What every payment flow needs, built once per process. */
export interface PaymentsContext {
  db: Db;
  ledger: Ledger;
  committer: GroupCommitter;
  clock: Clock;
  metrics?: Metrics;
  /** The one provider registry, keyed by payment-method type (renewals use it too). */
  providers: ProviderRegistry;
  sandboxAsyncDelayMs: number;
  reconcileAfterMs: number;
  /** Lag-tolerant reads (the wire log's list): a replica when DATABASE_READ_URL is set. */
  readDb?: Db;
  /** Where interaction bodies go once they leave the primary, and are read back from. */
  archive: InteractionArchive;
  /** Exchanges with remote providers, taken by the flow that settles their attempt. */
  recorder?: InteractionRecorder;
  /** Wallets, memberships and commissions: their work commits with the payment's (extensions.ts). */
  extensions?: PaymentExtensions;
  /** The risk engine: asked before any money moves (create.ts); unset, every payment is allowed. */
  risk?: RiskGate;
  /** The payer's own limits (monthly caps, blocked merchants): src/payers answers (create.ts). */
  payerLimits?: PayerLimitsHook;
}

/** Who pays, as the payer's limits know them: the charge's number and the customer's address. */
export interface PayerCharge {
  merchantId: string;
  mode: string;
  msisdn?: string | null;
  email?: string | null;
  amount: bigint;
  currency: string;
  nowMs: number;
}

/** Why a payer's own limits refuse a charge: the payment's failure code and message. */
export interface PayerRefusal {
  code: "payer_blocked_merchant" | "payer_cap_exceeded";
  message: string;
}

export interface PayerLimitsHook {
  /**
   * Runs `work` with the payer's answer for this charge. While `work` runs, a capped payer's
   * spending is held: two charges racing one cap are decided one after the other, the second
   * seeing the first (so `work` must end with the payment durable).
   */
  guard<T>(charge: PayerCharge, work: (refusal: PayerRefusal | null) => Promise<T>): Promise<T>;
}

const FINAL_STATUSES: ReadonlySet<string> = new Set(["succeeded", "failed", "canceled"]);

/**
 * Counts a payment reaching a final status, when the transition is decided (a transaction that
 * then fails to commit is counted anyway: rare, and a metric, not money).
 */
export function countOutcome(ctx: PaymentsContext, p: PaymentRow, events: readonly string[]): void {
  if (!ctx.metrics || !FINAL_STATUSES.has(p.status) || !events.includes(`payment.${p.status}`)) return;
  ctx.metrics.paymentOutcomes.inc({
    status: p.status,
    method: p.payment_method.type,
    operator: p.payment_method.type === "carrier" ? p.payment_method.operator : "",
    currency: p.currency,
    mode: p.mode,
  });
}

/** How long a payment whose provider is being asked is left alone by reconciliation. */
export const ATTEMPT_LEASE_MS = 60_000;

export function transitionContext(ctx: PaymentsContext, nowMs: number): TransitionContext {
  return { nowMs, pendingCheckAfterMs: ctx.sandboxAsyncDelayMs, unknownCheckAfterMs: ctx.reconcileAfterMs };
}

export function providerFor(ctx: PaymentsContext, name: string): PaymentProvider {
  return ctx.providers.require(name);
}

/** What a provider needs to hear about an existing payment. */
export function chargeRequestFor(p: PaymentRow): Omit<ChargeRequest, "pin" | "secretDetails"> {
  return {
    attemptId: p.attempt_id,
    amount: p.amount,
    currency: p.currency,
    capture: p.capture_method,
    paymentMethod: p.payment_method,
    description: p.description,
    state: p.provider_state,
  };
}

export function paymentDbRow(p: PaymentRow): DbRow {
  return { ...p };
}

export function interactionRow(
  p: Pick<PaymentRow, "merchant_id" | "mode" | "id" | "provider" | "attempt_id" | "payment_method">,
  interaction: Interaction,
  nowMs: number,
  refundId: string | null = null,
): DbRow {
  return {
    id: newId("ix", nowMs),
    merchant_id: p.merchant_id,
    mode: p.mode,
    payment_id: p.id,
    refund_id: refundId,
    provider: p.provider,
    operation: interaction.operation,
    attempt_id: p.attempt_id,
    // An exchange refused before it left (a rate limit, an open circuit) has no request.
    request: interaction.request ?? null,
    response: interaction.response ?? null,
    outcome: interaction.outcome,
    latency_ms: interaction.latencyMs,
    created: iso(nowMs),
    msisdn: p.payment_method.type === "carrier" ? p.payment_method.msisdn : null,
    operator: p.payment_method.type === "carrier" ? p.payment_method.operator : null,
  };
}

export function paymentEvents(p: PaymentRow, types: readonly EventType[], nowMs: number): DbRow[] {
  const object = presentPayment(p);
  return types.map((type) =>
    eventRow({
      merchantId: p.merchant_id,
      mode: p.mode,
      type,
      objectId: p.id,
      paymentId: p.id,
      object,
      nowMs,
    }),
  );
}

export async function ensurePaymentAccounts(
  ctx: PaymentsContext,
  p: Pick<PaymentRow, "merchant_id" | "mode" | "provider" | "currency">,
  nowMs: number,
): Promise<void> {
  const { clearing, available } = paymentAccounts(p);
  await ctx.ledger.ensureAccounts([clearing, available], nowMs);
}

/** provider_interactions and their bodies in one statement (see stageInteractionBodies). */
const INSERT_INTERACTIONS_SQL = `with bodies as (${insertRowsSql("provider_interaction_bodies", 2)})
  ${insertRowsSql("provider_interactions", 1)}`;

/** Inserts rows inside a transaction (the flows that do not go through group commit). */
export async function insertRows(tx: Queryable, table: AppendTable, rows: DbRow[]): Promise<void> {
  if (rows.length === 0) return;
  if (table === "provider_interactions") {
    const staged = stageInteractionBodies(rows);
    await tx.query(INSERT_INTERACTIONS_SQL, [rowsToJson(staged.interactions), rowsToJson(staged.bodies)]);
    return;
  }
  await tx.query(insertRowsSql(table), [rowsToJson(rows)]);
}

export async function loadPaymentForUpdate(
  tx: Queryable,
  scope: { merchantId: string; mode: string },
  id: string,
): Promise<PaymentRow> {
  const { rows } = await tx.query<PaymentRow>(
    "select * from payments where id = $1 and merchant_id = $2 and mode = $3 for update",
    [id, scope.merchantId, scope.mode],
  );
  const row = rows[0];
  if (!row) throw new ApiError("resource_missing", "id", `No such payment: '${id}'.`);
  return row;
}

/**
 * Writes a transition of a locked payment: the row, its events and interactions, and its journal.
 * A ledger rejection here is our bug (the state machine allowed a movement the ledger refuses).
 */
export async function persistTransition(
  ctx: PaymentsContext,
  tx: Queryable,
  transition: Transition,
  interactions: DbRow[],
  nowMs: number,
): Promise<void> {
  const p = transition.payment;
  countOutcome(ctx, p, transition.events);
  // Movements that need reads or locks (resolving a hold) are decided first; fresh ones are
  // written by the one statement below with everything else.
  let transfersJson = "[]";
  let balancesJson = "[]";
  const journalWritten = (await ctx.extensions?.onTransition(tx, transition, nowMs)) ?? false;
  if (transition.transfers.length > 0 && !journalWritten) {
    const plan = ctx.ledger.planAppend(transition.transfers, { nowMs });
    if (plan?.results.every((r) => r === "ok")) {
      transfersJson = plan.transfersJson;
      balancesJson = plan.balancesJson;
    } else {
      await applyJournal(ctx, tx, transition.transfers, nowMs);
    }
  }
  // A creation whose provider was still being asked when the request ended (or crashed) gets
  // its idempotency record completed with the state it settled in.
  const settled = p.status !== "processing";
  const staged = stageInteractionBodies(interactions);
  await tx.query(PERSIST_TRANSITION_SQL, [
    p.id,
    p.status,
    p.amount_captured,
    p.amount_refunded,
    p.amount_refund_reserved,
    p.next_action === null ? null : JSON.stringify(p.next_action),
    p.failure_code,
    p.failure_message,
    p.pin_attempts,
    p.hold_transfer_id,
    p.capture_before,
    p.reconcile_after,
    p.updated,
    p.provider_state === null ? null : JSON.stringify(p.provider_state),
    p.provider_reference,
    rowsToJson(staged.interactions),
    rowsToJson(paymentEvents(p, transition.events, nowMs)),
    transfersJson,
    balancesJson,
    settled,
    settled ? JSON.stringify(presentPayment(p)) : null,
    rowsToJson(staged.bodies),
  ]);
}

/** One round trip for a payment's transition: the row, its log, its events, its money, its key. */
const PERSIST_TRANSITION_SQL = `with payment as (
    update payments set status = $2, amount_captured = $3, amount_refunded = $4, amount_refund_reserved = $5,
      next_action = $6, failure_code = $7, failure_message = $8, pin_attempts = $9, hold_transfer_id = $10,
      capture_before = $11, reconcile_after = $12, updated = $13, provider_state = $14, provider_reference = $15
    where id = $1),
  interactions as (${insertRowsSql("provider_interactions", 16)}),
  interaction_bodies as (${insertRowsSql("provider_interaction_bodies", 22)}),
  events as (${insertRowsSql("events", 17)}),
  transfers as (${insertTransfersSql(18)}),
  balances as (${upsertBalancesSql(19)}),
  idempotency as (
    update idempotency_keys set status_code = 201, response_body = $21
    where $20::boolean and resource_id = $1 and status_code is null)
  select 1`;

export async function applyJournal(
  ctx: PaymentsContext,
  tx: Queryable,
  transfers: TransferInput[],
  nowMs: number,
) {
  if (transfers.length === 0) return;
  // Fresh movements between known accounts without limits need no reads: write them directly.
  const plan = ctx.ledger.planAppend(transfers, { nowMs });
  if (plan?.results.every((r) => r === "ok")) {
    await tx.query(insertTransfersSql(), [plan.transfersJson]);
    await tx.query(upsertBalancesSql(), [plan.balancesJson]);
    return;
  }
  const results = await ctx.ledger.apply(tx, transfers, { nowMs });
  for (const result of results) {
    if (result !== "ok" && result !== "exists") throw new LedgerRejection(result);
  }
}

/** A payment mutation in its own transaction, idempotent when the request carries a key. */
export function mutate(
  ctx: PaymentsContext,
  scope: AuthScope,
  idempotency: IdempotencyContext | undefined,
  work: (tx: Queryable, nowMs: number) => Promise<{ statusCode: number; body: string }>,
): Promise<{ statusCode: number; body: string }> {
  return idempotentTransaction(ctx.db, ctx.clock, scope, idempotency, work);
}

export class LedgerRejection extends Error {
  constructor(readonly result: string) {
    super(`ledger rejected a payment movement: ${result}`);
  }
}
