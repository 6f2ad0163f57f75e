import type { Db, Queryable } from "../db/db.ts";
import {
  newAgents,
  postWebhook,
  type SendResult,
  signedHeaders,
  systemResolver,
  type Transport,
} from "../events/index.ts";
import type { PaymentRow } from "../payments/index.ts";
import type { Logger } from "../platform/log.ts";
import { presentLineItem, type SessionRow } from "./model.ts";

/**
 * Delivery after payment. A completed session whose app has a `fulfilment_url` gets one delivery
 * order, queued in the transaction that completes it and POSTed (Standard Webhooks signature with
 * the app's `fulfilment_secret`, the same `webhook-id` on every retry so the game server can
 * de-duplicate) until the game server answers 2xx, or the schedule runs out (`failed`).
 */

/** Seconds after each failed attempt; about three days in all, like webhooks. */
export const FULFILMENT_BACKOFF_S = [
  5, 30, 120, 600, 1800, 3600, 7200, 14400, 28800, 43200, 43200, 43200, 43200, 43200, 43200,
] as const;
export const FULFILMENT_LIMITS = { batch_size_max: 32, lease_ms: 60_000, timeout_ms: 10_000 } as const;

export function fulfilmentOrder(session: SessionRow, payment: Pick<PaymentRow, "id">, nowMs: number) {
  return {
    id: session.id,
    object: "fulfilment_order" as const,
    type: "checkout_session.fulfilment",
    created: new Date(nowMs).toISOString(),
    livemode: session.mode === "live",
    checkout_session: session.id,
    payment: payment.id,
    app: session.app_id,
    customer: session.customer_id,
    payer: session.payer,
    amount_total: Number(session.amount_total),
    currency: session.currency,
    line_items: session.line_items.map((item) => ({
      ...presentLineItem(item),
      name: item.name,
      variant: item.variant,
    })),
    codes: session.codes,
    metadata: session.metadata,
  };
}

export async function queueFulfilment(
  tx: Queryable,
  session: SessionRow,
  payment: Pick<PaymentRow, "id">,
  nowMs: number,
): Promise<void> {
  if (!session.app_id || session.fulfilment_status === null) return;
  const { rows } = await tx.query<{ fulfilment_url: string | null }>(
    "select fulfilment_url from checkout_apps where id = $1",
    [session.app_id],
  );
  const url = rows[0]?.fulfilment_url;
  if (!url) return;
  await tx.query(
    `insert into checkout_fulfilments (session_id, merchant_id, mode, app_id, url, status, next_attempt_at, created, updated)
     values ($1, $2, $3, $4, $5, 'pending', $6, $6, $6) on conflict do nothing`,
    [session.id, session.merchant_id, session.mode, session.app_id, url, new Date(nowMs)],
  );
  await tx.query(
    "insert into checkout_fulfilment_bodies (session_id, message_id, body) values ($1, $2, $3) on conflict do nothing",
    [session.id, `msg_${session.id}`, JSON.stringify(fulfilmentOrder(session, payment, nowMs))],
  );
}

interface DueRow {
  session_id: string;
  url: string;
  attempt_count: number;
  message_id: string;
  body: string;
  secret: string;
}

export type FulfilmentSender = (
  url: string,
  headers: Record<string, string>,
  body: string,
) => Promise<SendResult>;

export function defaultFulfilmentSender(allowedHosts: ReadonlySet<string>): FulfilmentSender {
  const transport: Transport = {
    resolver: systemResolver,
    allowedHosts,
    timeoutMs: FULFILMENT_LIMITS.timeout_ms,
    ...newAgents(),
  };
  return (url, headers, body) => postWebhook(url, headers, body, transport);
}

/**
 * One pass of deliveries: claims due orders under a lease (a killed worker's claim lapses), POSTs
 * each, records the outcome. Answers how many were attempted.
 */
export async function deliverDueFulfilments(
  deps: { db: Db; clock: { nowMs(): number }; logger?: Logger },
  send: FulfilmentSender,
): Promise<number> {
  const nowMs = deps.clock.nowMs();
  const { rows } = await deps.db.query<DueRow>(
    `with due as (
       select session_id from checkout_fulfilments
        where status = 'pending' and next_attempt_at <= $1
        order by next_attempt_at limit $2 for update skip locked)
     update checkout_fulfilments f set next_attempt_at = $3
       from due, checkout_fulfilment_bodies b, checkout_apps a
      where f.session_id = due.session_id and b.session_id = f.session_id and a.id = f.app_id
      returning f.session_id, f.url, f.attempt_count, b.message_id, b.body, a.fulfilment_secret as secret`,
    [new Date(nowMs), FULFILMENT_LIMITS.batch_size_max, new Date(nowMs + FULFILMENT_LIMITS.lease_ms)],
  );
  await Promise.all(
    rows.map(async (row) => {
      const headers = signedHeaders(
        [row.secret],
        row.message_id,
        Math.floor(deps.clock.nowMs() / 1000),
        row.body,
      );
      const result = await send(row.url, { ...headers }, row.body);
      await recordAttempt(deps, row, result);
    }),
  );
  return rows.length;
}

async function recordAttempt(deps: { db: Db; clock: { nowMs(): number } }, row: DueRow, result: SendResult) {
  const nowMs = deps.clock.nowMs();
  const acknowledged = result.status !== undefined && result.status >= 200 && result.status < 300;
  const attempts = row.attempt_count + 1;
  const delay = FULFILMENT_BACKOFF_S[attempts - 1];
  const status = acknowledged ? "delivered" : delay === undefined ? "failed" : "pending";
  await deps.db.transaction(async (tx) => {
    await tx.query(
      `update checkout_fulfilments set status = $2, attempt_count = $3, next_attempt_at = $4,
              last_response_status = $5, last_error = $6, updated = $7
        where session_id = $1 and status = 'pending'`,
      [
        row.session_id,
        status,
        attempts,
        new Date(nowMs + (delay ?? 0) * 1000),
        result.status ?? null,
        result.error ?? null,
        new Date(nowMs),
      ],
    );
    if (status !== "pending")
      await tx.query("update checkout_sessions set fulfilment_status = $2, updated = $3 where id = $1", [
        row.session_id,
        status,
        new Date(nowMs),
      ]);
  });
}
