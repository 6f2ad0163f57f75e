import { randomBytes } from "node:crypto";
import type { Db, Queryable } from "../db/db.ts";
import { iso } from "../platform/clock.ts";
import { newId } from "../platform/ids.ts";
import { disableEndpoint } from "./endpoints.ts";
import { eventBody } from "./events.ts";
import { WEBHOOK_LIMITS } from "./limits.ts";
import { parseRetryAfterMs, type Random, retryDelayMs } from "./schedule.ts";
import { postWebhook, type SendResult, type Transport } from "./sender.ts";
import { signedHeaders } from "./signing.ts";

/**
 * Delivery: claim due deliveries, POST them, record the outcome. Each step is its own short
 * statement, so no transaction is ever held open across a network call.
 */

export interface ClaimedDelivery {
  id: bigint;
  /** Proves this claim still owns the delivery when its outcome is recorded. */
  leaseToken: string;
  merchantId: string;
  mode: string;
  endpointId: string;
  url: string;
  /** The current secret first, then the previous one while a rotation overlap lasts. */
  secrets: string[];
  manual: boolean;
  /** Attempts already recorded for this delivery. */
  attemptsMade: number;
  eventId: string;
  eventType: string;
  body: string;
}

interface ClaimRow {
  id: bigint;
  merchant_id: string;
  mode: string;
  endpoint_id: string;
  manual: boolean;
  attempt_count: number;
  url: string;
  secret: string;
  previous_secret: string | null;
  event_id: string;
  type: string;
  event_created: Date | string;
  data: unknown;
}

/**
 * Claims up to `limit` due deliveries with SKIP LOCKED, so any number of workers share the queue
 * without waiting on each other, and leases them: `next_attempt_at` moves to the end of the lease,
 * so a delivery whose worker died becomes due again by itself, with the same event id.
 *
 * A delivery waits while an earlier one for the same object and endpoint is still pending (sent
 * in order per object), unless that earlier one is older than `ordering_wait_max_ms`.
 */
export async function claimDueDeliveries(
  db: Queryable,
  options: { nowMs: number; limit: number; leaseMs?: number },
): Promise<ClaimedDelivery[]> {
  const leaseToken = randomBytes(12).toString("base64url");
  const leaseMs = options.leaseMs ?? WEBHOOK_LIMITS.lease_ms;
  const { rows } = await db.query<ClaimRow>(
    `with due as (
       select d.id
         from webhook_deliveries d
         join webhook_endpoints w on w.id = d.endpoint_id and w.enabled
        where d.status = 'pending' and d.next_attempt_at <= $1::timestamptz
          and not exists (
                select 1 from webhook_deliveries p
                 where p.endpoint_id = d.endpoint_id and p.object_id = d.object_id
                   and p.status = 'pending' and p.id < d.id and p.created > $2::timestamptz)
        order by d.next_attempt_at, d.id
        limit $3
        for update of d skip locked
     )
     update webhook_deliveries d
        set next_attempt_at = $4::timestamptz, lease_token = $5, updated = $1::timestamptz
       from due, webhook_endpoints w, events e
      where d.id = due.id and w.id = d.endpoint_id and e.id = d.event_id
     returning d.id, d.merchant_id, d.mode, d.endpoint_id, d.manual, d.attempt_count, w.url, w.secret,
               case when w.previous_secret_expires > $1::timestamptz then w.previous_secret end as previous_secret,
               e.id as event_id, e.type, e.created as event_created, e.data`,
    [
      iso(options.nowMs),
      iso(options.nowMs - WEBHOOK_LIMITS.ordering_wait_max_ms),
      Math.min(options.limit, WEBHOOK_LIMITS.claim_batch_size_max),
      iso(options.nowMs + leaseMs),
      leaseToken,
    ],
  );
  return rows
    .sort((a, b) => (a.id < b.id ? -1 : 1))
    .map((row) => ({
      id: BigInt(row.id),
      leaseToken,
      merchantId: row.merchant_id,
      mode: row.mode,
      endpointId: row.endpoint_id,
      url: row.url,
      secrets: row.previous_secret ? [row.secret, row.previous_secret] : [row.secret],
      manual: row.manual,
      attemptsMade: row.attempt_count,
      eventId: row.event_id,
      eventType: row.type,
      body: JSON.stringify(
        eventBody({
          id: row.event_id,
          mode: row.mode,
          type: row.type,
          created: row.event_created,
          data: row.data,
        }),
      ),
    }));
}

/** Signs with the clock's time and POSTs. `webhook-id` is the event id, the same on every retry. */
export function sendDelivery(
  delivery: ClaimedDelivery,
  nowMs: number,
  transport: Transport,
): Promise<SendResult> {
  const headers = signedHeaders(delivery.secrets, delivery.eventId, Math.floor(nowMs / 1000), delivery.body);
  return postWebhook(delivery.url, { ...headers }, delivery.body, transport);
}

export type DeliveryOutcome =
  | { status: "succeeded" }
  | { status: "pending"; nextAttemptMs: number }
  | { status: "failed"; disableEndpoint: boolean };

/**
 * Only 2xx succeeds. 3xx is a failure (redirects are never followed). 410 Gone disables the
 * endpoint. 429 and 503 wait at least as long as Retry-After asks. Otherwise the schedule decides.
 */
export function decideOutcome(
  attemptsMade: number,
  result: SendResult,
  nowMs: number,
  random: Random,
): DeliveryOutcome {
  const status = result.status;
  if (status !== undefined && status >= 200 && status < 300) return { status: "succeeded" };
  if (status === 410) return { status: "failed", disableEndpoint: true };
  const delayMs = retryDelayMs(attemptsMade + 1, random);
  if (delayMs === undefined) return { status: "failed", disableEndpoint: false };
  const retryAfterMs =
    status === 429 || status === 503 ? parseRetryAfterMs(result.retryAfter, nowMs) : undefined;
  return { status: "pending", nextAttemptMs: nowMs + Math.max(delayMs, retryAfterMs ?? 0) };
}

function attemptError(result: SendResult): string | null {
  if (result.error) return result.error;
  const status = result.status ?? 0;
  if (status >= 300 && status < 400) return "redirect_not_followed";
  if (status >= 200 && status < 300) return null;
  return "http_status";
}

/**
 * Records one attempt and moves the delivery on. The attempt is always logged (it happened); the
 * delivery moves only if this claim still holds its lease, so a worker that outlived its lease
 * cannot undo what the worker that took over has recorded. Returns whether the lease still held.
 */
export async function recordAttempt(
  db: Db,
  delivery: ClaimedDelivery,
  result: SendResult,
  options: { nowMs: number; random: Random },
): Promise<{ outcome: DeliveryOutcome; recorded: boolean }> {
  const { nowMs } = options;
  const outcome = decideOutcome(delivery.attemptsMade, result, nowMs, options.random);
  const succeeded = outcome.status === "succeeded";
  const write = async (q: Queryable) => {
    const { rows } = await q.query<{ recorded: bigint }>(
      `with moved as (
         update webhook_deliveries
            set status = $3, attempt_count = attempt_count + 1,
                next_attempt_at = coalesce($4::timestamptz, next_attempt_at), lease_token = null, updated = $5::timestamptz
          where id = $1 and lease_token = $2
         returning id
       ), logged as (
         insert into webhook_attempts (id, merchant_id, mode, endpoint_id, delivery_id, event_id, event_type,
                                       attempt_number, manual, status, response_status, error, latency_ms, url, created)
         values ($6, $7, $8, $9, $1, $10, $11, $12, $13, $14, $15, $16, $17, $18, $5::timestamptz)
       )
       select count(*) as recorded from moved`,
      [
        delivery.id,
        delivery.leaseToken,
        outcome.status,
        outcome.status === "pending" ? iso(outcome.nextAttemptMs) : null,
        iso(nowMs),
        newId("att", nowMs),
        delivery.merchantId,
        delivery.mode,
        delivery.endpointId,
        delivery.eventId,
        delivery.eventType,
        delivery.attemptsMade + 1,
        delivery.manual,
        succeeded ? "succeeded" : "failed",
        result.status ?? null,
        attemptError(result),
        result.latencyMs,
        delivery.url,
      ],
    );
    return Number(rows[0]?.recorded ?? 0n) > 0;
  };
  if (outcome.status === "failed" && outcome.disableEndpoint) {
    const recorded = await db.transaction(async (tx) => {
      const moved = await write(tx);
      if (moved) await disableEndpoint(tx, delivery.endpointId, "gone", nowMs);
      return moved;
    });
    return { outcome, recorded };
  }
  return { outcome, recorded: await write(db) };
}

export interface DeliveryPassOptions {
  db: Db;
  clock: { nowMs(): number };
  transport: Transport;
  random?: Random;
  limit?: number;
  leaseMs?: number;
}

/**
 * One pass: claim what is due, send it all at once, record every outcome. Returns how many were
 * attempted. The worker runs this continuously; tests call it directly on a fake clock.
 */
export async function runDeliveryPass(options: DeliveryPassOptions): Promise<number> {
  const { db, clock, transport } = options;
  const random = options.random ?? Math.random;
  const claimed = await claimDueDeliveries(db, {
    nowMs: clock.nowMs(),
    limit: options.limit ?? WEBHOOK_LIMITS.claim_batch_size_max,
    ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
  });
  await Promise.all(
    claimed.map(async (delivery) => {
      const result = await sendDelivery(delivery, clock.nowMs(), transport);
      await recordAttempt(db, delivery, result, { nowMs: clock.nowMs(), random });
    }),
  );
  return claimed.length;
}
