import type { Db, Queryable } from "../db/db.ts";
import { type ListParams, listPage } from "../db/pages.ts";
import { type EventType, insertEvents } from "../events/index.ts";
import { IdempotencyConflict } from "../idempotency/index.ts";
import { ApiError } from "../platform/errors.ts";
import { newId } from "../platform/ids.ts";
import type { AuthScope, Mode } from "../platform/scope.ts";
import type { PayerAuth, PayersContext } from "./context.ts";
import { findPayerPayment } from "./views.ts";

/**
 * A payer asks for a refund of one of their payments. The merchant's policy decides: an amount up
 * to `automatic_max` (per currency) within `window_days` of the payment is refunded at once;
 * anything else is a request the merchant approves or declines through the API, with events.
 *
 * Exactly once, however often it is asked: there is one request per payment (a unique index),
 * and its refund goes through the payments' refund flow under an idempotency key derived from the
 * request, so a retry after a crash finds the refund it made instead of making another. The
 * refund flow itself never lets refunds pass the captured amount.
 */

export interface RefundRequestRow {
  id: string;
  merchant_id: string;
  mode: Mode;
  payer_id: string;
  payment_id: string;
  amount: bigint;
  currency: string;
  reason: string | null;
  status: "pending" | "approved" | "declined";
  decision: "automatic" | "merchant" | null;
  decline_reason: string | null;
  refund_id: string | null;
  decided_at: Date | null;
  created: Date;
  updated: Date;
  refund_status?: string | null;
}

export interface RefundPolicy {
  automatic_max: Record<string, number>;
  window_days: number;
}

export const DEFAULT_REFUND_POLICY: RefundPolicy = { automatic_max: {}, window_days: 180 };

export function presentRefundRequest(r: RefundRequestRow) {
  return {
    id: r.id,
    object: "refund_request" as const,
    created: new Date(r.created).toISOString(),
    livemode: r.mode === "live",
    payment: r.payment_id,
    amount: Number(r.amount),
    currency: r.currency,
    reason: r.reason,
    status: r.status,
    decision: r.decision,
    decline_reason: r.decline_reason,
    refund: r.refund_id,
    refund_status: r.refund_status ?? null,
    decided_at: r.decided_at ? new Date(r.decided_at).toISOString() : null,
  };
}

async function events(tx: Queryable, r: RefundRequestRow, types: readonly EventType[], nowMs: number) {
  await insertEvents(
    tx,
    types.map((type) => ({
      merchantId: r.merchant_id,
      mode: r.mode,
      type,
      object: presentRefundRequest(r),
      paymentId: r.payment_id,
      createdMs: nowMs,
    })),
  );
}

export async function loadPolicy(q: Queryable, scope: AuthScope): Promise<RefundPolicy> {
  const { rows } = await q.query<{ automatic_max: Record<string, number | string>; window_days: number }>(
    "select automatic_max, window_days from refund_request_policies where merchant_id = $1 and mode = $2",
    [scope.merchantId, scope.mode],
  );
  if (!rows[0]) return DEFAULT_REFUND_POLICY;
  return {
    automatic_max: Object.fromEntries(Object.entries(rows[0].automatic_max).map(([c, a]) => [c, Number(a)])),
    window_days: rows[0].window_days,
  };
}

export async function setPolicy(
  tx: Queryable,
  scope: AuthScope,
  input: Partial<RefundPolicy>,
  nowMs: number,
) {
  const current = await loadPolicy(tx, scope);
  const next: RefundPolicy = {
    automatic_max: input.automatic_max ?? current.automatic_max,
    window_days: input.window_days ?? current.window_days,
  };
  await tx.query(
    `insert into refund_request_policies (merchant_id, mode, automatic_max, window_days, updated)
     values ($1, $2, $3, $4, $5)
     on conflict (merchant_id, mode) do update set automatic_max = excluded.automatic_max,
       window_days = excluded.window_days, updated = excluded.updated`,
    [scope.merchantId, scope.mode, JSON.stringify(next.automatic_max), next.window_days, new Date(nowMs)],
  );
  return { object: "refund_request_policy" as const, ...next };
}

async function loadRequest(
  q: Queryable,
  where: string,
  params: unknown[],
): Promise<RefundRequestRow | undefined> {
  const { rows } = await q.query<RefundRequestRow>(
    `select r.*, f.status as refund_status from refund_requests r left join refunds f on f.id = r.refund_id
     where ${where}`,
    params,
  );
  return rows[0];
}

/** The payer's side: ask (or ask again: the same request comes back). */
export async function requestRefund(
  ctx: PayersContext,
  auth: PayerAuth,
  input: { payment: string; reason?: string | undefined },
): Promise<{ created: boolean; request: RefundRequestRow }> {
  const payment = await findPayerPayment(ctx.db, auth, input.payment, "payment");
  const nowMs = ctx.clock.nowMs();
  const scope: AuthScope = { merchantId: payment.merchant_id, mode: payment.mode as Mode };
  const refundable = payment.amount - payment.amount_refunded;
  const inserted = await ctx.db.transaction(async (tx) => {
    const existing = await loadRequest(tx, "r.payment_id = $1", [payment.id]);
    if (existing) return { created: false, request: existing };
    if (payment.status !== "succeeded" || refundable <= 0n)
      throw new ApiError(
        "payment_unexpected_state",
        "payment",
        `This payment is ${payment.status === "succeeded" ? "already refunded" : payment.status}; it cannot be refunded.`,
      );
    const policy = await loadPolicy(tx, scope);
    const max = policy.automatic_max[payment.currency];
    const recent = nowMs - new Date(payment.created).getTime() <= policy.window_days * 86_400_000;
    const automatic = max !== undefined && refundable <= BigInt(max) && recent;
    const row: RefundRequestRow = {
      id: newId("rfq", nowMs),
      merchant_id: payment.merchant_id,
      mode: payment.mode as Mode,
      payer_id: auth.payerId,
      payment_id: payment.id,
      amount: refundable,
      currency: payment.currency,
      reason: input.reason ?? null,
      status: automatic ? "approved" : "pending",
      decision: automatic ? "automatic" : null,
      decline_reason: null,
      refund_id: null,
      decided_at: automatic ? new Date(nowMs) : null,
      created: new Date(nowMs),
      updated: new Date(nowMs),
    };
    // Two clicks at once: the second insert finds the first's row (unique per payment).
    const { rowCount } = await tx.query(
      `insert into refund_requests (id, merchant_id, mode, payer_id, payment_id, amount, currency, reason, status,
         decision, decided_at, created, updated)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
       on conflict (payment_id) do nothing`,
      [
        row.id,
        row.merchant_id,
        row.mode,
        row.payer_id,
        row.payment_id,
        row.amount,
        row.currency,
        row.reason,
        row.status,
        row.decision,
        row.decided_at,
        row.created,
      ],
    );
    if (rowCount === 0)
      return { created: false, request: (await loadRequest(tx, "r.payment_id = $1", [payment.id]))! };
    await events(
      tx,
      row,
      automatic ? ["refund_request.created", "refund_request.approved"] : ["refund_request.created"],
      nowMs,
    );
    return { created: true, request: row };
  });
  if (inserted.request.status === "approved" && inserted.request.refund_id === null) {
    return { created: inserted.created, request: await executeRefund(ctx, inserted.request) };
  }
  return inserted;
}

/**
 * Makes the refund of an approved request, once: the idempotency key is the request's, so a
 * second caller (a retry, a concurrent click after a crash) finds the refund the first made.
 */
export async function executeRefund(
  ctx: PayersContext,
  request: RefundRequestRow,
): Promise<RefundRequestRow> {
  const scope: AuthScope = { merchantId: request.merchant_id, mode: request.mode };
  let refundId: string | undefined;
  let nothingLeft = false;
  try {
    const result = await ctx.refund(
      scope,
      {
        payment: request.payment_id,
        reason: "requested_by_customer",
        metadata: { refund_request: request.id },
      },
      { key: `refund_request:${request.id}`, requestHash: `refund_request:${request.id}` },
    );
    const body = JSON.parse(result.body) as { id?: string };
    refundId = result.statusCode < 300 ? body.id : undefined;
  } catch (error) {
    nothingLeft = error instanceof ApiError && error.code === "refund_exceeds_captured";
    if (!(error instanceof IdempotencyConflict) && !nothingLeft) throw error;
  }
  if (refundId === undefined) {
    const { rows } = await ctx.db.query<{ id: string }>(
      "select id from refunds where payment_id = $1 and metadata->>'refund_request' = $2",
      [request.payment_id, request.id],
    );
    refundId = rows[0]?.id;
  }
  // The merchant gave the rest back while the request waited: the request points at the refund
  // that did, so the payer sees where the money went, and an approval already committed is never
  // answered with a refusal of the refund.
  if (refundId === undefined && nothingLeft) refundId = await lastRefundOf(ctx.db, request.payment_id);
  if (refundId !== undefined) await linkRefund(ctx.db, request.id, refundId);
  return (await loadRequest(ctx.db, "r.id = $1", [request.id]))!;
}

/**
 * Pending requests whose payment the merchant refunded in full some other way (`POST /v1/refunds`,
 * the back office's refund form): the payer has their money back, so the request is answered as
 * approved, pointing at the refund that finished it, with its event; the payer no longer waits on
 * a decision nobody will make. Refunds still pending do not count (one may fail). Run by the
 * worker (`payerJobs`).
 */
export async function settleRefundedRequests(db: Db, nowMs: number): Promise<number> {
  const { rows } = await db.query<{ id: string; merchant_id: string; mode: Mode; payment_id: string }>(
    `select r.id, r.merchant_id, r.mode, r.payment_id from refund_requests r join payments p on p.id = r.payment_id
     where r.status = 'pending' and p.amount_captured > 0 and p.amount_refunded >= p.amount_captured
     order by r.created limit 100`,
  );
  let settled = 0;
  for (const request of rows) {
    const scope: AuthScope = { merchantId: request.merchant_id, mode: request.mode };
    await db.transaction(async (tx) => {
      const { rows: pending } = await tx.query(
        "select 1 from refund_requests where id = $1 and status = 'pending' for update",
        [request.id],
      );
      if (pending.length === 0) return; // decided meanwhile
      await markRefundRequestApproved(tx, scope, request.id, nowMs);
      const refundId = await lastRefundOf(tx, request.payment_id);
      if (refundId !== undefined) await linkRefund(tx, request.id, refundId);
      settled++;
    });
  }
  return settled;
}

/** The payment's latest refund that did not fail: the one that gave back what was left. */
async function lastRefundOf(q: Queryable, paymentId: string): Promise<string | undefined> {
  const { rows } = await q.query<{ id: string }>(
    "select id from refunds where payment_id = $1 and status <> 'failed' order by created desc limit 1",
    [paymentId],
  );
  return rows[0]?.id;
}

async function linkRefund(q: Queryable, requestId: string, refundId: string): Promise<void> {
  await q.query("update refund_requests set refund_id = $2 where id = $1 and refund_id is null", [
    requestId,
    refundId,
  ]);
}

/** The merchant's side. */
export async function getRefundRequest(q: Queryable, scope: AuthScope, id: string) {
  const row = await loadRequest(q, "r.id = $1 and r.merchant_id = $2 and r.mode = $3", [
    id,
    scope.merchantId,
    scope.mode,
  ]);
  if (!row) throw new ApiError("resource_missing", "id", `No such refund request: '${id}'.`);
  return row;
}

export async function listRefundRequests(
  q: Queryable,
  scope: AuthScope,
  filters: { status?: string | undefined; payment?: string | undefined },
  list: { limit?: number; starting_after?: string | undefined; ending_before?: string | undefined },
) {
  const where = ["r.merchant_id = $1", "r.mode = $2"];
  const params: unknown[] = [scope.merchantId, scope.mode];
  if (filters.status) {
    params.push(filters.status);
    where.push(`r.status = $${params.length}`);
  }
  if (filters.payment) {
    params.push(filters.payment);
    where.push(`r.payment_id = $${params.length}`);
  }
  const limit = list.limit ?? 10;
  let ascending = false;
  if (list.starting_after) {
    params.push(list.starting_after);
    where.push(`r.id < $${params.length}`);
  } else if (list.ending_before) {
    params.push(list.ending_before);
    where.push(`r.id > $${params.length}`);
    ascending = true;
  }
  params.push(limit + 1);
  const { rows } = await q.query<RefundRequestRow>(
    `select r.*, f.status as refund_status from refund_requests r left join refunds f on f.id = r.refund_id
     where ${where.join(" and ")} order by r.id ${ascending ? "asc" : "desc"} limit $${params.length}`,
    params,
  );
  const page = rows.slice(0, limit);
  if (ascending) page.reverse();
  return { rows: page.map(presentRefundRequest), hasMore: rows.length > limit };
}

/** The merchant approves: the request turns approved (once) and the refund is made. */
export async function approveRefundRequest(ctx: PayersContext, scope: AuthScope, id: string) {
  const approved = await ctx.db.transaction((tx) =>
    markRefundRequestApproved(tx, scope, id, ctx.clock.nowMs()),
  );
  return presentRefundRequest(approved.refund_id === null ? await executeRefund(ctx, approved) : approved);
}

/**
 * The approval itself, in the caller's transaction: pending turns approved (an approved one is
 * answered as it is), with its event. The refund is made after the commit (`executeRefund`).
 */
export async function markRefundRequestApproved(
  tx: Queryable,
  scope: AuthScope,
  id: string,
  nowMs: number,
): Promise<RefundRequestRow> {
  const { rows } = await tx.query<RefundRequestRow>(
    "select * from refund_requests where id = $1 and merchant_id = $2 and mode = $3 for update",
    [id, scope.merchantId, scope.mode],
  );
  const row = rows[0];
  if (!row) throw new ApiError("resource_missing", "id", `No such refund request: '${id}'.`);
  if (row.status === "approved") return row;
  if (row.status !== "pending") throw new ApiError("refund_request_unexpected_state", "id");
  const next: RefundRequestRow = {
    ...row,
    status: "approved",
    decision: "merchant",
    decided_at: new Date(nowMs),
    updated: new Date(nowMs),
  };
  await tx.query(
    "update refund_requests set status = 'approved', decision = 'merchant', decided_at = $2, updated = $2 where id = $1",
    [id, new Date(nowMs)],
  );
  await events(tx, next, ["refund_request.approved"], nowMs);
  return next;
}

export async function declineRefundRequest(
  tx: Queryable,
  scope: AuthScope,
  id: string,
  reason: string | undefined,
  nowMs: number,
) {
  const { rows } = await tx.query<RefundRequestRow>(
    "select * from refund_requests where id = $1 and merchant_id = $2 and mode = $3 for update",
    [id, scope.merchantId, scope.mode],
  );
  const row = rows[0];
  if (!row) throw new ApiError("resource_missing", "id", `No such refund request: '${id}'.`);
  if (row.status !== "pending") throw new ApiError("refund_request_unexpected_state", "id");
  const next: RefundRequestRow = {
    ...row,
    status: "declined",
    decision: "merchant",
    decline_reason: reason ?? null,
    decided_at: new Date(nowMs),
    updated: new Date(nowMs),
  };
  await tx.query(
    "update refund_requests set status = 'declined', decision = 'merchant', decline_reason = $2, decided_at = $3, updated = $3 where id = $1",
    [id, next.decline_reason, new Date(nowMs)],
  );
  await events(tx, next, ["refund_request.declined"], nowMs);
  return presentRefundRequest(next);
}

/** The payer's own requests. */
/** A page of the payer's refund requests with their refunds' status, newest first. */
export async function listPayerRefundRequests(q: Queryable, auth: PayerAuth, list: ListParams) {
  const page = await listPage<RefundRequestRow>(
    q,
    `(select r.*, f.status as refund_status from refund_requests r left join refunds f on f.id = r.refund_id
      where r.payer_id = $1) requests`,
    [],
    [auth.payerId],
    list,
  );
  return { rows: page.rows.map(presentRefundRequest), hasMore: page.hasMore };
}
