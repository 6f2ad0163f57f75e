import { randomBytes } from "node:crypto";
import { recordSystem } from "../audit/index.ts";
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
    // The statement is in migration 0353, planned once per connection rather than on every poll.
    "select * from webhook_claim_due($1::timestamptz, $2::timestamptz, $3::integer, $4::timestamptz, $5::text)",
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

export interface AttemptToRecord {
  delivery: ClaimedDelivery;
  result: SendResult;
  /** When the attempt ended, on the injected clock. */
  nowMs: number;
}

export interface RecordedAttempt {
  outcome: DeliveryOutcome;
  /** False when this claim's lease had run out and another claim owns the delivery now. */
  recorded: boolean;
}

const RECORD_SQL = `
  with attempt as (
    select * from unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::text[],
                         $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::integer[], $13::boolean[],
                         $14::text[], $15::integer[], $16::text[], $17::integer[], $18::text[])
      as a(delivery_id, lease_token, delivery_status, next_attempt_at, created, id, merchant_id, mode, endpoint_id,
           event_id, event_type, attempt_number, manual, status, response_status, error, latency_ms, url)
  ), moved as (
    update webhook_deliveries d
       set status = a.delivery_status, attempt_count = d.attempt_count + 1,
           next_attempt_at = a.next_attempt_at, lease_token = null, updated = a.created
      from attempt a
     where d.id = a.delivery_id and d.lease_token = a.lease_token
    returning d.id
  ), logged as (
    insert into webhook_attempts (id, merchant_id, mode, endpoint_id, delivery_id, event_id, event_type, attempt_number,
                                  manual, status, response_status, error, latency_ms, url, created)
    select id, merchant_id, mode, endpoint_id, delivery_id, event_id, event_type, attempt_number,
           manual, status, response_status, error, latency_ms, url, created
      from attempt
  )
  select id from moved`;

/**
 * Records attempts and moves their deliveries on, many in one statement (one commit for a whole
 * batch of outcomes). An attempt is always logged (it happened); its delivery moves only if this
 * claim still holds the lease, so a worker that outlived its lease cannot undo what the worker that
 * took over has recorded. A 410 also disables the endpoint, in the same transaction.
 */
export async function recordAttempts(
  db: Db,
  attempts: readonly AttemptToRecord[],
  random: Random,
): Promise<RecordedAttempt[]> {
  if (attempts.length === 0) return [];
  const outcomes = attempts.map((a) => decideOutcome(a.delivery.attemptsMade, a.result, a.nowMs, random));
  const columns = (list: readonly AttemptToRecord[], outcomesOf: readonly DeliveryOutcome[]) => [
    list.map((a) => a.delivery.id),
    list.map((a) => a.delivery.leaseToken),
    outcomesOf.map((o) => o.status),
    // A finished delivery keeps the time of its last attempt.
    outcomesOf.map((o, i) => (o.status === "pending" ? iso(o.nextAttemptMs) : iso(list[i]!.nowMs))),
    list.map((a) => iso(a.nowMs)),
    list.map((a) => newId("wha", a.nowMs)),
    list.map((a) => a.delivery.merchantId),
    list.map((a) => a.delivery.mode),
    list.map((a) => a.delivery.endpointId),
    list.map((a) => a.delivery.eventId),
    list.map((a) => a.delivery.eventType),
    list.map((a) => a.delivery.attemptsMade + 1),
    list.map((a) => a.delivery.manual),
    outcomesOf.map((o) => (o.status === "succeeded" ? "succeeded" : "failed")),
    list.map((a) => a.result.status ?? null),
    list.map((a) => attemptError(a.result)),
    list.map((a) => a.result.latencyMs),
    list.map((a) => a.delivery.url),
  ];
  const write = async (q: Queryable, indexes: number[]) => {
    const list = indexes.map((i) => attempts[i]!);
    const { rows } = await q.query<{ id: bigint }>(
      RECORD_SQL,
      columns(
        list,
        indexes.map((i) => outcomes[i]!),
      ),
    );
    return new Set(rows.map((r) => BigInt(r.id)));
  };
  const gone = outcomes.flatMap((o, i) => (o.status === "failed" && o.disableEndpoint ? [i] : []));
  const usual = outcomes.flatMap((o, i) => (o.status === "failed" && o.disableEndpoint ? [] : [i]));
  const moved = usual.length > 0 ? await write(db, usual) : new Set<bigint>();
  for (const index of gone) {
    const attempt = attempts[index]!;
    await db.transaction(async (tx) => {
      const movedHere = await write(tx, [index]);
      if (movedHere.size > 0) {
        await disableEndpoint(tx, attempt.delivery.endpointId, "gone", attempt.nowMs);
        // The platform, not a person, turned the endpoint off: audited as the delivery job.
        await recordSystem(
          tx,
          "webhook_delivery",
          {
            action: "webhook_endpoints.disable",
            object: attempt.delivery.endpointId,
            merchantId: attempt.delivery.merchantId,
            mode: attempt.delivery.mode,
            changes: { enabled: { from: true, to: false }, disabled_reason: "gone", status_code: 410 },
          },
          attempt.nowMs,
        );
      }
      for (const id of movedHere) moved.add(id);
    });
  }
  return outcomes.map((outcome, i) => ({ outcome, recorded: moved.has(attempts[i]!.delivery.id) }));
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
  const attempts = await Promise.all(
    claimed.map(async (delivery) => ({
      delivery,
      result: await sendDelivery(delivery, clock.nowMs(), transport),
      nowMs: clock.nowMs(),
    })),
  );
  await recordAttempts(db, attempts, random);
  return claimed.length;
}
