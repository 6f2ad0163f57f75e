import { randomBytes } from "node:crypto";
import type { Queryable } from "../db/db.ts";
import { insertEvents } from "../events/index.ts";
import type { PaymentRow } from "../payments/index.ts";
import { type CreatePaymentInput, cancelPayment, createPayment, createRefund } from "../payments/index.ts";
import { ApiError, assert } from "../platform/errors.ts";
import { newId } from "../platform/ids.ts";
import { type CheckoutContext, sessionUrl } from "./context.ts";
import { queueFulfilment } from "./fulfilment.ts";
import { presentSession, type SessionRow } from "./model.ts";
import { queueReceipt } from "./receipts.ts";
import { recordStep } from "./steps.ts";

/** What createPayment hears about the payer (payments' PayerContext). */
type PayerContext = NonNullable<Parameters<typeof createPayment>[5]>;

/**
 * A session's payments. A session has at most one payment in flight (`payment_id`), claimed
 * under a row condition before the payments core is asked, so two payers on one session never
 * start two charges. The session completes at most once (`status = 'open'` is the condition of
 * the update that completes it); a payment that succeeds on a session already complete, which
 * only a crash between a claim and its record could allow, is refunded in full.
 */

/** How long a claim without its payment recorded blocks the session (a crash in between). */
export const CLAIM_LEASE_MS = 2 * 60_000;
const CLAIM_PREFIX = "claim:";

export type PaymentView = Pick<
  PaymentRow,
  "id" | "status" | "next_action" | "failure_code" | "failure_message" | "payment_method"
>;

export class SessionClosed extends Error {
  constructor(readonly session: SessionRow) {
    super(`checkout session ${session.id} is ${session.status}`);
  }
}
/**
 * The session's link has no use left: its completed payments and the payments in flight on its
 * other sessions already reach `max_uses`.
 */
export class LinkUsedUp extends SessionClosed {}

export class PaymentInFlight extends Error {
  constructor(readonly paymentId: string) {
    super(`a payment is already in flight: ${paymentId}`);
  }
}

function scopeOf(s: SessionRow) {
  return { merchantId: s.merchant_id, mode: s.mode };
}

export async function loadPayment(q: Queryable, id: string): Promise<PaymentRow | undefined> {
  const { rows } = await q.query<PaymentRow>("select * from payments where id = $1", [id]);
  return rows[0];
}

/**
 * Starts a payment for the session through the payments core. Answers the payment as the core
 * left it (requires_action, processing, succeeded, failed); the session follows it.
 */
export async function startPayment(
  ctx: CheckoutContext,
  session: SessionRow,
  method: CreatePaymentInput["payment_method"],
  methodType: string,
  payer: { ip?: string; ipCountry?: string; framed?: boolean } = {},
): Promise<{ payment: PaymentView; session: SessionRow }> {
  const nowMs = ctx.clock.nowMs();
  const claim = `${CLAIM_PREFIX}${randomBytes(9).toString("base64url")}`;
  const claimed = await ctx.db.transaction(async (tx) => {
    // A limited link: its row is locked while the claim is made, and a claim is a use reserved,
    // so its completed payments plus the payments in flight on its sessions never pass max_uses.
    if (session.payment_link_id && !(await linkHasRoom(tx, session.payment_link_id, session.id)))
      return "used_up" as const;
    const { rows } = await tx.query<SessionRow>(
      `update checkout_sessions set payment_id = $2, attempts = attempts + 1, updated = $3
        where id = $1 and status = 'open' and expires_at > $3
          and (payment_id is null or (payment_id like 'claim:%' and updated < $4))
        returning *`,
      [session.id, claim, new Date(nowMs), new Date(nowMs - CLAIM_LEASE_MS)],
    );
    return rows[0];
  });
  if (claimed === "used_up") throw new LinkUsedUp(session);
  if (!claimed) {
    const now = (
      await ctx.db.query<SessionRow>("select * from checkout_sessions where id = $1", [session.id])
    ).rows[0]!;
    if (now.status !== "open" || now.expires_at.getTime() <= nowMs) throw new SessionClosed(now);
    throw new PaymentInFlight(now.payment_id ?? "");
  }
  let response: { statusCode: number; body: string };
  try {
    response = await createPayment(
      ctx.payments,
      scopeOf(session),
      {
        amount: Number(session.amount_total),
        currency: session.currency,
        payment_method: method,
        ...(session.customer_id ? { customer: session.customer_id } : {}),
        description:
          session.description ??
          session.line_items
            .map((i) => i.name)
            .join(", ")
            .slice(0, 1000),
        metadata: { checkout_session: session.id },
      },
      undefined,
      undefined,
      riskInputs(claimed, payer, nowMs),
    );
  } catch (error) {
    await ctx.db.query("update checkout_sessions set payment_id = null where id = $1 and payment_id = $2", [
      session.id,
      claim,
    ]);
    throw error;
  }
  const payment = JSON.parse(response.body) as PaymentView;
  await ctx.db.transaction(async (tx) => {
    await tx.query(
      `insert into checkout_attempts (payment_id, session_id, merchant_id, mode, method, created)
       values ($1, $2, $3, $4, $5, $6) on conflict do nothing`,
      [payment.id, session.id, session.merchant_id, session.mode, methodType, new Date(nowMs)],
    );
    await tx.query("update checkout_sessions set payment_id = $3 where id = $1 and payment_id = $2", [
      session.id,
      claim,
      payment.id,
    ]);
  });
  return followPayment(ctx, session.id, payment.id);
}

/**
 * What the risk engine learns of a checkout payment (docs/risk.md): the address and its country
 * from this request; `framed` if this request or any earlier page of the session said so (the
 * embedded form's entry, `Sec-Fetch-Dest: iframe`), false if the pages said otherwise, unknown if
 * they said nothing; the time since the payer first opened the page (else since the session was
 * made). All of it is what the client reports, not proof.
 */
export function riskInputs(
  session: Pick<SessionRow, "app_id" | "framed" | "page_opened_at" | "created">,
  payer: { ip?: string; ipCountry?: string; framed?: boolean },
  nowMs: number,
): PayerContext {
  const framed = payer.framed || session.framed ? true : (payer.framed ?? session.framed ?? undefined);
  const opened = session.page_opened_at ?? session.created;
  return {
    flow: "checkout",
    ...(payer.ip ? { ip: payer.ip } : {}),
    ...(payer.ipCountry ? { ipCountry: payer.ipCountry } : {}),
    ...(session.app_id ? { app: session.app_id } : {}),
    ...(framed !== undefined ? { framed } : {}),
    pageOpenMs: Math.max(0, nowMs - new Date(opened).getTime()),
  };
}

/**
 * Whether a limited link can take one more payment: its uses plus the payments in flight on its
 * other open sessions stay under `max_uses`. Locks the link's row (FOR UPDATE) for the caller's
 * transaction, so two sessions of one link never both take its last use.
 */
export async function linkHasRoom(tx: Queryable, linkId: string, exceptSession: string): Promise<boolean> {
  const { rows } = await tx.query<{ max_uses: number | null; uses: number }>(
    "select max_uses, uses from payment_links where id = $1 for update",
    [linkId],
  );
  const link = rows[0];
  if (!link || link.max_uses === null) return true;
  const { rows: busy } = await tx.query<{ n: number | string }>(
    `select count(*) as n from checkout_sessions
      where payment_link_id = $1 and status = 'open' and payment_id is not null and id <> $2`,
    [linkId, exceptSession],
  );
  return Number(link.uses) + Number(busy[0]?.n ?? 0) < Number(link.max_uses);
}

/**
 * Brings the session up to date with its payment: complete on success, free for another attempt
 * on failure, unchanged while the payment waits. Safe to call any number of times, from any
 * process (the page's polling, the sweeper, the flow that charged).
 */
export async function followPayment(
  ctx: CheckoutContext,
  sessionId: string,
  paymentId: string,
): Promise<{ payment: PaymentView; session: SessionRow }> {
  const payment = await loadPayment(ctx.db, paymentId);
  assert(payment, `payment ${paymentId} of session ${sessionId} exists`);
  if (payment.status === "succeeded") {
    return { payment, session: await completeSession(ctx, sessionId, payment) };
  }
  const nowMs = ctx.clock.nowMs();
  if (payment.status === "failed" || payment.status === "canceled") {
    const session = await ctx.db.transaction(async (tx) => {
      const { rows } = await tx.query<SessionRow>(
        `update checkout_sessions set payment_id = null, updated = $3
          where id = $1 and payment_id = $2 and status = 'open' returning *`,
        [sessionId, paymentId, new Date(nowMs)],
      );
      if (rows[0]) await recordStep(tx, rows[0], "declined", methodDetails(payment), nowMs);
      return (
        rows[0] ??
        (await tx.query<SessionRow>("select * from checkout_sessions where id = $1", [sessionId])).rows[0]!
      );
    });
    return { payment, session };
  }
  const session = (
    await ctx.db.query<SessionRow>("select * from checkout_sessions where id = $1", [sessionId])
  ).rows[0]!;
  return { payment, session };
}

export function methodDetails(payment: Pick<PaymentRow, "payment_method">): {
  method: string;
  operator: string | null;
} {
  const m = payment.payment_method;
  return { method: m.type, operator: m.type === "carrier" ? m.operator : null };
}

/**
 * Completes a session with a succeeded payment, once. The same transaction counts the link's use,
 * hands out the products' codes, queues the delivery order and the receipt, remembers the payer's
 * consent, writes the event and the journey's `charged` step.
 */
export async function completeSession(
  ctx: CheckoutContext,
  sessionId: string,
  payment: PaymentRow,
): Promise<SessionRow> {
  assert(payment.status === "succeeded", "only a succeeded payment completes a session");
  const nowMs = ctx.clock.nowMs();
  const outcome = await ctx.db.transaction(async (tx) => {
    // The link's row first, as startPayment locks it: the same order everywhere, no deadlock.
    await tx.query(
      `select 1 from payment_links
        where id = (select payment_link_id from checkout_sessions where id = $1) for update`,
      [sessionId],
    );
    const { rows } = await tx.query<SessionRow>(
      `update checkout_sessions set status = 'complete', completed_at = $3, payment_id = $2, updated = $3
        where id = $1 and status = 'open' returning *`,
      [sessionId, payment.id, new Date(nowMs)],
    );
    const completed = rows[0];
    if (!completed) {
      const current = (
        await tx.query<SessionRow>("select * from checkout_sessions where id = $1", [sessionId])
      ).rows[0]!;
      return { session: current, duplicate: current.payment_id !== payment.id };
    }
    assert(
      BigInt(payment.amount) === BigInt(completed.amount_total),
      "the payment is for the session's total",
    );
    assert(payment.currency === completed.currency, "the payment is in the session's currency");
    const codes = await handOutCodes(tx, completed, nowMs);
    const session: SessionRow = { ...completed, codes };
    if (codes.length > 0)
      await tx.query("update checkout_sessions set codes = $2 where id = $1", [
        sessionId,
        JSON.stringify(codes),
      ]);
    if (session.payment_link_id)
      await tx.query("update payment_links set uses = uses + 1, updated = $2 where id = $1", [
        session.payment_link_id,
        new Date(nowMs),
      ]);
    await queueFulfilment(tx, session, payment, nowMs);
    await queueReceipt(tx, session, payment, nowMs);
    const m = payment.payment_method;
    if (m.type === "carrier" && m.flow === "pin") {
      await tx.query(
        `insert into checkout_payer_consents (id, merchant_id, mode, msisdn, operator, app_id, session_id, created, expires_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [
          newId("pcons", nowMs),
          session.merchant_id,
          session.mode,
          m.msisdn,
          m.operator,
          session.app_id,
          session.id,
          new Date(nowMs),
          new Date(nowMs + ctx.settings.consentValidityMs),
        ],
      );
    }
    await insertEvents(tx, [
      {
        merchantId: session.merchant_id,
        mode: session.mode,
        type: "checkout_session.completed",
        object: presentSession(session, sessionUrl(ctx, session.id)),
        paymentId: payment.id,
        createdMs: nowMs,
      },
    ]);
    await recordStep(tx, session, "charged", methodDetails(payment), nowMs);
    return { session, duplicate: false };
  });
  if (outcome.duplicate) await refundDuplicate(ctx, outcome.session, payment);
  return outcome.session;
}

/** A second success on a closed session is the payer's money: it goes back in full. */
async function refundDuplicate(
  ctx: CheckoutContext,
  session: SessionRow,
  payment: PaymentRow,
): Promise<void> {
  ctx.logger.warn(
    { session: session.id, payment: payment.id },
    "a payment succeeded on a closed checkout session; refunding it",
  );
  try {
    await createRefund(
      ctx.payments,
      scopeOf(session),
      { payment: payment.id, reason: "duplicate", metadata: { checkout_session: session.id } },
      { key: `checkout-duplicate-${payment.id}`, requestHash: `checkout-duplicate-${payment.id}` },
    );
  } catch (error) {
    // Already refunded (a second sweep), or the provider refuses refunds: logged for a person.
    ctx.logger.error({ err: error, payment: payment.id }, "could not refund a duplicate checkout payment");
  }
}

/** One code per unit bought, for products that have codes; taken with SKIP LOCKED, never twice. */
async function handOutCodes(tx: Queryable, session: SessionRow, nowMs: number) {
  const codes: { product: string; code: string }[] = [];
  for (const item of session.line_items) {
    if (!item.product) continue;
    const { rows } = await tx.query<{ code: string }>(
      `update checkout_product_codes set session_id = $1, assigned_at = $6
        where id in (select id from checkout_product_codes
                      where merchant_id = $2 and mode = $3 and product_id = $4 and session_id is null
                      order by id limit $5 for update skip locked)
        returning code`,
      [session.id, session.merchant_id, session.mode, item.product, item.quantity, new Date(nowMs)],
    );
    for (const row of rows) codes.push({ product: item.product, code: row.code });
  }
  return codes;
}

/**
 * Cancels the payment in flight (the payer went back, or the session expires) and frees the
 * session. A payment that can no longer be canceled is followed instead (it may have succeeded).
 */
export async function abandonPayment(ctx: CheckoutContext, session: SessionRow): Promise<SessionRow> {
  const paymentId = session.payment_id;
  if (!paymentId || paymentId.startsWith(CLAIM_PREFIX)) return session;
  const payment = await loadPayment(ctx.db, paymentId);
  if (payment?.status === "requires_action") {
    try {
      await cancelPayment(ctx.payments, scopeOf(session), paymentId, undefined);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
    }
  }
  return (await followPayment(ctx, session.id, paymentId)).session;
}

/**
 * Expires an open session: its payment in flight is canceled first (or, if it succeeded, the
 * session completes instead). Answers the session as it ends up.
 */
export async function expireSession(ctx: CheckoutContext, session: SessionRow): Promise<SessionRow> {
  let current = session;
  if (current.status === "open" && current.payment_id) current = await abandonPayment(ctx, current);
  if (current.status !== "open" || (current.payment_id && !current.payment_id.startsWith(CLAIM_PREFIX)))
    return current;
  const nowMs = ctx.clock.nowMs();
  return ctx.db.transaction(async (tx) => {
    const { rows } = await tx.query<SessionRow>(
      `update checkout_sessions set status = 'expired', payment_id = null, updated = $2
        where id = $1 and status = 'open' and (payment_id is null or payment_id like 'claim:%') returning *`,
      [current.id, new Date(nowMs)],
    );
    const expired = rows[0];
    if (!expired)
      return (await tx.query<SessionRow>("select * from checkout_sessions where id = $1", [current.id]))
        .rows[0]!;
    await insertEvents(tx, [
      {
        merchantId: expired.merchant_id,
        mode: expired.mode,
        type: "checkout_session.expired",
        object: presentSession(expired, sessionUrl(ctx, expired.id)),
        createdMs: nowMs,
      },
    ]);
    await recordStep(tx, expired, "abandoned", {}, nowMs);
    return expired;
  });
}
