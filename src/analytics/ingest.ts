import type { Db, Queryable } from "../db/db.ts";
import { rowsToJson } from "../db/rows.ts";
import { idFloor } from "../platform/ids.ts";
import {
  type Deltas,
  floorTo,
  foldEvents,
  GRANULARITIES,
  type OutboxEvent,
  type PaymentState,
} from "./model.ts";
import { advanceCursor, ensureCursor, lockCursor, readAfter, readCursor } from "./outbox.ts";

/**
 * The rollup ingest: reads the outbox after its cursor, folds the events into per-minute, hourly
 * and daily rollups, and moves the cursor, all in one transaction. A crash at any point rolls the
 * whole batch back, so the next run starts from the same cursor: nothing lost, nothing counted
 * twice. Several workers may run; the cursor's row lock lets one batch through at a time.
 */
export const INGEST_CURSOR = "rollups";

export const ROLLUP_TABLES = {
  minute: "analytics_minute",
  hour: "analytics_hour",
  day: "analytics_day",
} as const;

const KEY_COLUMNS =
  "merchant_id, mode, metric, bucket, app, method, operator, country, currency, product, outcome, reason, step";

export interface IngestOptions {
  batchSize?: number;
  /** Tests: called inside the batch's transaction after every write, before the commit. */
  beforeCommit?: (events: readonly OutboxEvent[]) => void | Promise<void>;
}

export interface BatchResult {
  events: number;
  lastEventCreatedMs: number | null;
}

async function loadStates(tx: Queryable, events: readonly OutboxEvent[]): Promise<Map<string, PaymentState>> {
  const wanted = new Map<string, { created: string; payment_id: string }>();
  for (const event of events) {
    const object = event.object;
    if (object.object !== "payment" || typeof object.id !== "string" || typeof object.created !== "string")
      continue;
    wanted.set(object.id, { created: object.created, payment_id: object.id });
  }
  const states = new Map<string, PaymentState>();
  if (wanted.size === 0) return states;
  const { rows } = await tx.query<{
    created: Date;
    payment_id: string;
    status: string;
    reason: string;
    amount: bigint;
  }>(
    `select s.created, s.payment_id, s.status, s.reason, s.amount
       from json_to_recordset($1::json) as w(created timestamptz, payment_id text)
       join analytics_payment_states s on s.created = w.created and s.payment_id = w.payment_id`,
    [JSON.stringify([...wanted.values()])],
  );
  for (const row of rows) {
    states.set(row.payment_id, {
      createdMs: row.created.getTime(),
      paymentId: row.payment_id,
      status: row.status,
      reason: row.reason,
      amount: row.amount,
    });
  }
  return states;
}

async function saveStates(tx: Queryable, changed: Map<string, PaymentState>): Promise<void> {
  if (changed.size === 0) return;
  const rows = [...changed.values()].map((s) => ({
    created: new Date(s.createdMs),
    payment_id: s.paymentId,
    status: s.status,
    reason: s.reason,
    amount: s.amount,
  }));
  await tx.query(
    `insert into analytics_payment_states
     select * from json_populate_recordset(null::analytics_payment_states, $1::json)
     on conflict (created, payment_id) do update
       set status = excluded.status, reason = excluded.reason, amount = excluded.amount`,
    [rowsToJson(rows)],
  );
}

/** Adds the deltas to the rollups of every granularity (one statement each). */
export async function writeDeltas(tx: Queryable, minute: Deltas): Promise<void> {
  for (const granularity of GRANULARITIES) {
    const table = ROLLUP_TABLES[granularity];
    const rows = (granularity === "minute" ? minute : minute.coarsen(granularity)).nonZero();
    if (rows.length === 0) continue;
    const json = rowsToJson(
      rows.map(({ key, count, amount }) => ({
        merchant_id: key.merchantId,
        mode: key.mode,
        metric: key.metric,
        bucket: new Date(floorTo(key.bucketMs, granularity)),
        app: key.app,
        method: key.method,
        operator: key.operator,
        country: key.country,
        currency: key.currency,
        product: key.product,
        outcome: key.outcome,
        reason: key.reason,
        step: key.step,
        count,
        amount,
      })),
    );
    // Sorted by key so that two writers (an ingest and a rebuild) take row locks in one order.
    await tx.query(
      `insert into ${table}
       select * from json_populate_recordset(null::${table}, $1::json) order by ${KEY_COLUMNS}
       on conflict (${KEY_COLUMNS}) do update
         set count = ${table}.count + excluded.count, amount = ${table}.amount + excluded.amount`,
      [json],
    );
  }
}

/** One batch: at most `batchSize` events after the cursor, folded and committed with the cursor. */
export async function ingestBatch(db: Db, nowMs: number, options: IngestOptions = {}): Promise<BatchResult> {
  await ensureCursor(db, INGEST_CURSOR, nowMs);
  return db.transaction(async (tx) => {
    const cursor = await lockCursor(tx, INGEST_CURSOR);
    const events = await readAfter(tx, cursor, options.batchSize ?? 2000);
    if (events.length === 0) return { events: 0, lastEventCreatedMs: cursor.lastEventCreatedMs };
    const states = await loadStates(tx, events);
    const { deltas, changed } = foldEvents(events, states);
    await saveStates(tx, changed);
    await writeDeltas(tx, deltas);
    await advanceCursor(tx, cursor, events, nowMs);
    await options.beforeCommit?.(events);
    return { events: events.length, lastEventCreatedMs: events[events.length - 1]!.createdMs };
  });
}

/** Ingests until the outbox is drained (up to what committed before the call). */
export async function ingestAll(db: Db, nowMs: number, options: IngestOptions = {}): Promise<number> {
  let total = 0;
  for (;;) {
    const { events } = await ingestBatch(db, nowMs, options);
    total += events;
    if (events < (options.batchSize ?? 2000)) return total;
  }
}

/**
 * Ingests until no event is left after the cursor, waiting for transactions that hold the horizon
 * back (tests, and a shutdown that wants the rollups complete).
 */
export async function catchUp(
  db: Db,
  nowMs: number,
  options: IngestOptions & { timeoutMs?: number } = {},
): Promise<number> {
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let total = 0;
  for (;;) {
    total += await ingestAll(db, nowMs, options);
    const cursor = await readCursor(db, INGEST_CURSOR);
    const { rows } = await db.query<{ left: boolean }>(
      "select exists (select 1 from events where (txid, id) > ($1::xid8, $2::text)) as left",
      [cursor?.txid ?? "0", cursor?.eventId ?? ""],
    );
    if (!rows[0]?.left) return total;
    if (Date.now() > deadline) throw new Error("the analytics ingest could not catch up with the outbox");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const DAY_MS = 86_400_000;
/** How far an event's id time may trail its created time (the id generator's tolerated step back). */
const ID_CLOCK_SLACK_MS = 5_000;

/**
 * Recomputes the rollups of whole UTC days [fromMs, toMs) from the events still kept (30 days),
 * up to the ingest's cursor, and replaces what the rollups held for those days. The cursor stays
 * locked meanwhile, so the ingest waits and then carries on from where it was: the result is what
 * an ingest from scratch would have written.
 */
export async function rebuildRollups(
  db: Db,
  range: { fromMs: number; toMs: number },
  nowMs: number,
): Promise<{ events: number; fromMs: number; toMs: number }> {
  const fromMs = floorTo(range.fromMs, "day");
  const toMs = Math.ceil(range.toMs / DAY_MS) * DAY_MS;
  await ensureCursor(db, INGEST_CURSOR, nowMs);
  return db.transaction(async (tx) => {
    const cursor = await lockCursor(tx, INGEST_CURSOR);
    for (const table of Object.values(ROLLUP_TABLES)) {
      await tx.query(`delete from ${table} where bucket >= $1 and bucket < $2`, [
        new Date(fromMs),
        new Date(toMs),
      ]);
    }
    await tx.query("delete from analytics_payment_states where created >= $1 and created < $2", [
      new Date(fromMs),
      new Date(toMs),
    ]);
    const scope = { paymentsCreated: { fromMs, toMs }, eventsCreated: { fromMs, toMs } };
    const states = new Map<string, PaymentState>();
    let position = { txid: "0", eventId: "" };
    let count = 0;
    const floor = idFloor("evt", Math.max(0, fromMs - ID_CLOCK_SLACK_MS));
    for (;;) {
      // Only what the ingest has consumed (up to its cursor), in the same commit order.
      const { rows } = await tx.query<{
        id: string;
        txid: string;
        merchant_id: string;
        mode: string;
        type: string;
        created: Date;
        data: unknown;
      }>(
        `select id, txid::text as txid, merchant_id, mode, type, created, data from events
          where id >= $1 and (txid, id) > ($2::xid8, $3::text) and (txid, id) <= ($4::xid8, $5::text)
          order by txid, id limit 5000`,
        [floor, position.txid, position.eventId, cursor.txid, cursor.eventId],
      );
      if (rows.length === 0) break;
      const events: OutboxEvent[] = rows.map((row) => {
        const data = (typeof row.data === "string" ? JSON.parse(row.data) : row.data) as {
          object?: Record<string, unknown>;
        };
        return {
          id: row.id,
          txid: row.txid,
          merchantId: row.merchant_id,
          mode: row.mode,
          type: row.type,
          createdMs: row.created.getTime(),
          object: data?.object ?? {},
        };
      });
      const { deltas } = foldEvents(events, states, scope);
      await writeDeltas(tx, deltas);
      count += events.length;
      const last = events[events.length - 1]!;
      position = { txid: last.txid, eventId: last.id };
    }
    await saveStates(tx, states);
    return { events: count, fromMs, toMs };
  });
}
