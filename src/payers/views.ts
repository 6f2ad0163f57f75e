import type { Queryable } from "../db/db.ts";
import { ApiError } from "../platform/errors.ts";
import { LIMITS } from "../platform/limits.ts";
import { modesOf, type PayerAuth } from "./context.ts";

/**
 * What a payer sees: the payments and subscriptions that their confirmed identities match, at
 * every merchant — a carrier charge or subscription to the number, a merchant's customer record
 * with the number or address, a checkout session given the number or address. Nothing else: an
 * id that is not theirs is answered as if it did not exist.
 */

/** How far back the portal and `GET /v1/payer/payments` look by default. */
export const HISTORY_DAYS_DEFAULT = 183;

export interface Matches {
  msisdns: string[];
  emails: string[];
}

export async function matchesOf(q: Queryable, payerId: string): Promise<Matches> {
  const { rows } = await q.query<{ kind: string; value: string }>(
    "select kind, value from payer_identities where payer_id = $1 and confirmed_at is not null",
    [payerId],
  );
  return {
    msisdns: rows.filter((r) => r.kind === "msisdn").map((r) => r.value),
    emails: rows.filter((r) => r.kind === "email").map((r) => r.value),
  };
}

// $1 msisdns, $2 emails: the ids of the payments these identities match.
const MY_PAYMENTS = `
  select p.id from payments p where p.payment_method->>'msisdn' = any($1::text[])
  union
  select p.id from customers c
    join payments p on p.merchant_id = c.merchant_id and p.mode = c.mode and p.customer_id = c.id
   where c.msisdn = any($1::text[]) or lower(c.email) = any($2::text[])
  union
  select a.payment_id from checkout_sessions s join checkout_attempts a on a.session_id = s.id
   where s.payer->>'msisdn' = any($1::text[]) or lower(s.payer->>'email') = any($2::text[])`;

const MY_SUBSCRIPTIONS = `
  select s.id from subscriptions s where s.payment_method->>'msisdn' = any($1::text[])
  union
  select s.id from customers c
    join subscriptions s on s.merchant_id = c.merchant_id and s.mode = c.mode and s.customer_id = c.id
   where c.msisdn = any($1::text[]) or lower(c.email) = any($2::text[])`;

export interface PayerPaymentRow {
  id: string;
  merchant_id: string;
  merchant_name: string;
  mode: string;
  status: string;
  amount: bigint;
  amount_refunded: bigint;
  currency: string;
  description: string | null;
  payment_method: Record<string, unknown>;
  subscription_id: string | null;
  created: Date;
  refund_request_id: string | null;
  refund_request_status: string | null;
}

export interface ListOptions {
  limit?: number;
  starting_after?: string | undefined;
  sinceMs?: number;
}

function limitOf(list: ListOptions): number {
  const limit = list.limit ?? LIMITS.list_limit_default;
  if (!Number.isInteger(limit) || limit < 1 || limit > LIMITS.list_limit_max)
    throw new ApiError("parameter_out_of_range", "limit");
  return limit;
}

/**
 * The ids a payer's identities match, found first through the identity indexes (a handful per
 * payer), then read by id: a single query lets the planner walk the payments' primary key
 * backwards instead (measured: 120 ms with 200,000 other payments, against a few ms).
 */
async function idsOf(q: Queryable, sql: string, m: Matches): Promise<string[]> {
  if (m.msisdns.length === 0 && m.emails.length === 0) return [];
  const { rows } = await q.query<{ id: string }>(sql, [m.msisdns, m.emails]);
  return rows.map((r) => r.id);
}

export async function listPayerPayments(
  q: Queryable,
  auth: PayerAuth,
  list: ListOptions & { id?: string },
): Promise<{ rows: PayerPaymentRow[]; hasMore: boolean }> {
  const m = await matchesOf(q, auth.payerId);
  const limit = list.id ? 1 : limitOf(list);
  const ids = await idsOf(q, MY_PAYMENTS, m);
  const params: unknown[] = [ids, modesOf(auth)];
  const where = ["p.id = any($1::text[])", "p.mode = any($2::text[])"];
  if (list.id !== undefined) {
    params.push(list.id);
    where.push(`p.id = $${params.length}`);
  } else if (list.sinceMs !== undefined) {
    params.push(new Date(list.sinceMs));
    where.push(`p.created >= $${params.length}`);
  }
  if (list.starting_after) {
    params.push(list.starting_after);
    where.push(`p.id < $${params.length}`);
  }
  params.push(limit + 1);
  const { rows } = await q.query<PayerPaymentRow>(
    `select p.id, p.merchant_id, m.name as merchant_name, p.mode, p.status, p.amount, p.amount_refunded, p.currency,
            p.description, p.payment_method, p.subscription_id, p.created,
            r.id as refund_request_id, r.status as refund_request_status
       from payments p join merchants m on m.id = p.merchant_id
       left join refund_requests r on r.payment_id = p.id
      where ${where.join(" and ")}
      order by p.id desc limit $${params.length}`,
    params,
  );
  return { rows: rows.slice(0, limit), hasMore: rows.length > limit };
}

export function presentPayerPayment(r: PayerPaymentRow) {
  const method = r.payment_method;
  return {
    id: r.id,
    object: "payer_payment" as const,
    created: new Date(r.created).toISOString(),
    livemode: r.mode === "live",
    merchant: { id: r.merchant_id, name: r.merchant_name },
    description: r.description,
    amount: Number(r.amount),
    amount_refunded: Number(r.amount_refunded),
    currency: r.currency,
    status: r.status,
    payment_method: {
      type: String(method.type ?? "unknown"),
      ...(typeof method.msisdn === "string" ? { msisdn: method.msisdn } : {}),
      ...(typeof method.last4 === "string" ? { last4: method.last4 } : {}),
      ...(typeof method.brand === "string" ? { brand: method.brand } : {}),
    },
    subscription: r.subscription_id,
    refund_request: r.refund_request_id ? { id: r.refund_request_id, status: r.refund_request_status } : null,
  };
}

export interface PayerSubscriptionRow {
  id: string;
  merchant_id: string;
  merchant_name: string;
  mode: string;
  status: string;
  amount: bigint;
  currency: string;
  period: string;
  product_id: string;
  product_name: string | null;
  payment_method: Record<string, unknown>;
  consent: Record<string, unknown>;
  current_period_end: Date | null;
  next_charge_at: Date | null;
  canceled_at: Date | null;
  created: Date;
}

export async function listPayerSubscriptions(
  q: Queryable,
  auth: PayerAuth,
  list: ListOptions & { id?: string },
): Promise<{ rows: PayerSubscriptionRow[]; hasMore: boolean }> {
  const m = await matchesOf(q, auth.payerId);
  const limit = list.id ? 1 : limitOf(list);
  const ids = await idsOf(q, MY_SUBSCRIPTIONS, m);
  const params: unknown[] = [ids, modesOf(auth)];
  const where = ["s.id = any($1::text[])", "s.mode = any($2::text[])"];
  if (list.id !== undefined) {
    params.push(list.id);
    where.push(`s.id = $${params.length}`);
  }
  if (list.starting_after) {
    params.push(list.starting_after);
    where.push(`s.id < $${params.length}`);
  }
  params.push(limit + 1);
  const { rows } = await q.query<PayerSubscriptionRow>(
    `select s.id, s.merchant_id, m.name as merchant_name, s.mode, s.status, s.amount, s.currency, s.period,
            s.product_id, pr.name as product_name, s.payment_method, s.consent, s.current_period_end,
            j.run_at as next_charge_at, s.canceled_at, s.created
       from subscriptions s join merchants m on m.id = s.merchant_id
       left join products pr on pr.id = s.product_id
       left join billing_jobs j on j.subscription_id = s.id
      where ${where.join(" and ")}
      order by s.id desc limit $${params.length}`,
    params,
  );
  return { rows: rows.slice(0, limit), hasMore: rows.length > limit };
}

export function presentPayerSubscription(r: PayerSubscriptionRow) {
  return {
    id: r.id,
    object: "payer_subscription" as const,
    created: new Date(r.created).toISOString(),
    livemode: r.mode === "live",
    merchant: { id: r.merchant_id, name: r.merchant_name },
    product: { id: r.product_id, name: r.product_name },
    amount: Number(r.amount),
    currency: r.currency,
    period: r.period,
    status: r.status,
    payment_method: { type: String(r.payment_method.type ?? "unknown") },
    current_period_end: r.current_period_end ? new Date(r.current_period_end).toISOString() : null,
    next_charge_at: r.next_charge_at ? new Date(r.next_charge_at).toISOString() : null,
    canceled_at: r.canceled_at ? new Date(r.canceled_at).toISOString() : null,
  };
}

export async function findPayerPayment(q: Queryable, auth: PayerAuth, id: string, param = "id") {
  const { rows } = await listPayerPayments(q, auth, { id });
  if (!rows[0]) throw new ApiError("resource_missing", param, `No such payment: '${id}'.`);
  return rows[0];
}

export async function findPayerSubscription(q: Queryable, auth: PayerAuth, id: string) {
  const { rows } = await listPayerSubscriptions(q, auth, { id });
  if (!rows[0]) throw new ApiError("resource_missing", "id", `No such subscription: '${id}'.`);
  return rows[0];
}

/** Whether the payer has paid this merchant or subscribed with it (the merchants they may block). */
export async function hasDealtWith(q: Queryable, auth: PayerAuth, merchantId: string): Promise<boolean> {
  const m = await matchesOf(q, auth.payerId);
  const payments = await idsOf(q, MY_PAYMENTS, m);
  const subscriptions = await idsOf(q, MY_SUBSCRIPTIONS, m);
  const { rows } = await q.query(
    `select 1 from payments where id = any($1::text[]) and merchant_id = $3 and mode = any($4::text[])
     union all
     select 1 from subscriptions where id = any($2::text[]) and merchant_id = $3 and mode = any($4::text[])
     limit 1`,
    [payments, subscriptions, merchantId, modesOf(auth)],
  );
  return rows.length > 0;
}

/** Every payment id the payer's confirmed identities match, at every merchant. */
export async function paymentIdsOf(q: Queryable, payerId: string): Promise<string[]> {
  return idsOf(q, MY_PAYMENTS, await matchesOf(q, payerId));
}
