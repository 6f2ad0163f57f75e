import type { Queryable } from "../db/db.ts";
import { iso } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import { newId } from "../platform/ids.ts";
import {
  type EventsDeps,
  type ListBody,
  type ListParams,
  listPage,
  type Mode,
  type Scope,
  toIso,
} from "./model.ts";
import type { EventType } from "./types.ts";

/**
 * The event log (the outbox). The core writes events in the transaction that changes state; a
 * trigger queues their webhook deliveries in that same transaction (migration 0010).
 */

/** An event as the API and webhooks show it: `{id, object, type, created, livemode, data: {object}}`. */
export interface Event {
  id: string;
  object: "event";
  type: string;
  created: string;
  livemode: boolean;
  data: unknown;
}

export interface EventRow {
  id: string;
  merchant_id: string;
  mode: string;
  type: string;
  object_id: string;
  payment_id: string | null;
  data: unknown;
  created: Date | string;
}

/** The public shape of an event (api.md). */
export function eventBody(row: Pick<EventRow, "id" | "mode" | "type" | "created" | "data">): Event {
  return {
    id: row.id,
    object: "event",
    type: row.type,
    created: toIso(row.created),
    livemode: row.mode === "live",
    data: row.data,
  };
}

export interface NewEvent {
  merchantId: string;
  mode: Mode;
  type: EventType;
  /** The API object the event is about; stored as `data.object`. */
  object: { id: string } & Record<string, unknown>;
  /** The payment it concerns, when there is one (for the payment's timeline). */
  paymentId?: string;
  createdMs: number;
}

function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value !== "bigint") return value;
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new Error(`integer ${value} exceeds the JSON-safe range`);
  }
  return Number(value);
}

/**
 * Writes events in the caller's transaction (one statement however many), returning their ids.
 * A helper for the core: writing rows into `events` directly works just as well, as long as
 * `data` is `{"object": {...}}`.
 */
export async function insertEvents(tx: Queryable, events: readonly NewEvent[]): Promise<string[]> {
  if (events.length === 0) return [];
  const ids = events.map((e) => newId("evt", e.createdMs));
  await tx.query(
    `insert into events (id, merchant_id, mode, type, object_id, payment_id, data, created)
     select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::json[], $8::timestamptz[])`,
    [
      ids,
      events.map((e) => e.merchantId),
      events.map((e) => e.mode),
      events.map((e) => e.type),
      events.map((e) => e.object.id),
      events.map((e) => e.paymentId ?? null),
      events.map((e) => JSON.stringify({ object: e.object }, jsonReplacer)),
      events.map((e) => iso(e.createdMs)),
    ],
  );
  return ids;
}

export interface EventFilters {
  type?: string;
  /** Only events about this object (a payment, a refund, …). */
  objectId?: string;
  createdGte?: number;
  createdGt?: number;
  createdLte?: number;
  createdLt?: number;
}

export async function listEvents(
  deps: EventsDeps,
  scope: Scope,
  filters: EventFilters,
  page: ListParams,
): Promise<ListBody<Event>> {
  const where = ["merchant_id = $1", "mode = $2"];
  const params: unknown[] = [scope.merchantId, scope.mode];
  const add = (condition: string, value: unknown) => {
    params.push(value);
    where.push(condition.replace("?", `$${params.length}`));
  };
  if (filters.type !== undefined) add("type = ?", filters.type);
  if (filters.objectId !== undefined) add("object_id = ?", filters.objectId);
  if (filters.createdGte !== undefined) add("created >= ?::timestamptz", iso(filters.createdGte));
  if (filters.createdGt !== undefined) add("created > ?::timestamptz", iso(filters.createdGt));
  if (filters.createdLte !== undefined) add("created <= ?::timestamptz", iso(filters.createdLte));
  if (filters.createdLt !== undefined) add("created < ?::timestamptz", iso(filters.createdLt));
  const { rows, hasMore } = await listPage<EventRow>(deps.db, "events", where, params, page);
  return { object: "list", data: rows.map(eventBody), has_more: hasMore };
}

async function findEvent(db: Queryable, scope: Scope, id: string): Promise<EventRow> {
  const { rows } = await db.query<EventRow>(
    "select * from events where id = $1 and merchant_id = $2 and mode = $3",
    [id, scope.merchantId, scope.mode],
  );
  const row = rows[0];
  if (!row) throw new ApiError("resource_missing", "id", `No such event: ${id}.`);
  return row;
}

export async function getEvent(deps: EventsDeps, scope: Scope, id: string): Promise<Event> {
  return eventBody(await findEvent(deps.db, scope, id));
}

export interface Redelivery {
  object: "event_redelivery";
  event: string;
  /** The endpoints the event is queued for again. */
  webhook_endpoints: string[];
  created: string;
}

/**
 * Queues the event again, now, for one endpoint or for every enabled endpoint whose filter
 * matches. It follows the usual retry schedule and keeps the event id as `webhook-id`, so a
 * receiver that already processed it can recognise the duplicate.
 */
export async function redeliverEvent(
  deps: EventsDeps,
  scope: Scope,
  eventId: string,
  options: { endpointId?: string } = {},
): Promise<Redelivery> {
  const nowMs = deps.clock.nowMs();
  const event = await findEvent(deps.db, scope, eventId);
  if (options.endpointId !== undefined) {
    const { rows } = await deps.db.query<{ enabled: boolean }>(
      "select enabled from webhook_endpoints where id = $1 and merchant_id = $2 and mode = $3",
      [options.endpointId, scope.merchantId, scope.mode],
    );
    const endpoint = rows[0];
    if (!endpoint) {
      throw new ApiError("resource_missing", "endpoint", `No such webhook endpoint: ${options.endpointId}.`);
    }
    if (!endpoint.enabled) {
      throw new ApiError(
        "parameter_invalid",
        "endpoint",
        "This webhook endpoint is disabled; enable it first.",
      );
    }
  }
  const { rows } = await deps.db.query<{ endpoint_id: string }>(
    `insert into webhook_deliveries
       (merchant_id, mode, endpoint_id, event_id, object_id, status, manual, next_attempt_at, created, updated)
     select w.merchant_id, w.mode, w.id, $1, $2, 'pending', true, $6, $6, $6
       from webhook_endpoints w
      where w.merchant_id = $3 and w.mode = $4 and w.enabled
        and (case when $5::text is null then w.events && array['*', $7] else w.id = $5 end)
      order by w.id
     returning endpoint_id`,
    [
      event.id,
      event.object_id,
      scope.merchantId,
      scope.mode,
      options.endpointId ?? null,
      iso(nowMs),
      event.type,
    ],
  );
  return {
    object: "event_redelivery",
    event: event.id,
    webhook_endpoints: rows.map((r) => r.endpoint_id),
    created: iso(nowMs),
  };
}
