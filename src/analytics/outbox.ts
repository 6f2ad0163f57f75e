import type { Queryable } from "../db/db.ts";
import type { OutboxEvent } from "./model.ts";

/**
 * Reading the events outbox in commit order (see migration 0130). A reader keeps a cursor, the
 * last (txid, id) it consumed, and reads the events after it that were written by transactions
 * older than the oldest one still running: no transaction can commit an event before that point
 * any more, so reading by ranges of (txid, id) neither skips nor repeats, whatever the order in
 * which concurrent writers commit and whatever clock their ids carry.
 */
export interface Cursor {
  name: string;
  txid: string;
  eventId: string;
  eventsConsumed: bigint;
  lastEventCreatedMs: number | null;
}

interface CursorRow {
  name: string;
  txid: string;
  event_id: string;
  events_consumed: bigint;
  last_event_created: Date | null;
}

function toCursor(row: CursorRow): Cursor {
  return {
    name: row.name,
    txid: row.txid,
    eventId: row.event_id,
    eventsConsumed: row.events_consumed,
    lastEventCreatedMs: row.last_event_created ? row.last_event_created.getTime() : null,
  };
}

const CURSOR_COLUMNS = "name, txid::text as txid, event_id, events_consumed, last_event_created";

/** Creates the cursor at the start of the outbox when it does not exist yet. */
export async function ensureCursor(db: Queryable, name: string, nowMs: number): Promise<void> {
  await db.query(
    `insert into analytics_cursors (name, txid, event_id, updated) values ($1, '0', '', $2)
     on conflict (name) do nothing`,
    [name, new Date(nowMs)],
  );
}

/** The cursor, locked until the end of the caller's transaction: one reader of a name at a time. */
export async function lockCursor(tx: Queryable, name: string): Promise<Cursor> {
  const { rows } = await tx.query<CursorRow>(
    `select ${CURSOR_COLUMNS} from analytics_cursors where name = $1 for update`,
    [name],
  );
  if (!rows[0]) throw new Error(`analytics cursor '${name}' does not exist`);
  return toCursor(rows[0]);
}

export async function readCursor(db: Queryable, name: string): Promise<Cursor | null> {
  const { rows } = await db.query<CursorRow>(
    `select ${CURSOR_COLUMNS} from analytics_cursors where name = $1`,
    [name],
  );
  return rows[0] ? toCursor(rows[0]) : null;
}

export async function advanceCursor(
  tx: Queryable,
  cursor: Cursor,
  consumed: readonly OutboxEvent[],
  nowMs: number,
): Promise<void> {
  const last = consumed[consumed.length - 1];
  if (!last) return;
  await tx.query(
    `update analytics_cursors
        set txid = $2::xid8, event_id = $3, events_consumed = events_consumed + $4,
            last_event_created = $5, updated = $6
      where name = $1`,
    [cursor.name, last.txid, last.id, consumed.length, new Date(last.createdMs), new Date(nowMs)],
  );
}

/**
 * The oldest transaction still running in this database (or the snapshot's end when none is): a
 * PostgreSQL snapshot lists the running transactions of every database on the server, and those of
 * other databases (another installation, someone's long report) or of the server's own workers
 * (autovacuum's analyze takes a transaction id) cannot write our events, so they are left out when
 * the server shows whose they are. Where it does not say (a session of another
 * role), the transaction is counted: the ingest then waits for it, which is slower, never wrong.
 */
const HORIZON_SQL = `
  with snap as (select pg_current_snapshot() as s),
  elsewhere as (
    select backend_xid::text::numeric as xid32 from pg_stat_activity
     where backend_xid is not null
       and (datname is distinct from current_database() or backend_type <> 'client backend')
  )
  select coalesce(
    (select min(x) from snap, pg_snapshot_xip(snap.s) as x
      where (x::text::numeric % 4294967296) not in (select xid32 from elsewhere)),
    (select pg_snapshot_xmax(s) from snap)
  )::text as xmin`;

interface EventRow {
  id: string;
  txid: string;
  merchant_id: string;
  mode: string;
  type: string;
  created: Date;
  data: { object?: Record<string, unknown> } | string;
}

/**
 * The next events after the cursor that no running transaction can precede any more, in commit
 * order. The horizon is read in a statement of its own, before the events: a transaction below
 * it had finished before that statement, so the next statement's snapshot sees all it wrote.
 */
export async function readAfter(
  tx: Queryable,
  cursor: Pick<Cursor, "txid" | "eventId">,
  limit: number,
): Promise<OutboxEvent[]> {
  const horizon = await tx.query<{ xmin: string }>(
    "select pg_snapshot_xmin(pg_current_snapshot())::text as xmin",
  );
  const { rows } = await tx.query<EventRow>(
    `select id, txid::text as txid, merchant_id, mode, type, created, data
       from events
      where (txid, id) > ($1::xid8, $2::text) and txid < $3::xid8
      order by txid, id
      limit $4`,
    [cursor.txid, cursor.eventId, horizon.rows[0]!.xmin, limit],
  );
  return rows.map((row) => {
    const data = typeof row.data === "string" ? JSON.parse(row.data) : row.data;
    return {
      id: row.id,
      txid: row.txid,
      merchantId: row.merchant_id,
      mode: row.mode,
      type: row.type,
      createdMs: row.created.getTime(),
      object: (data?.object ?? {}) as Record<string, unknown>,
    };
  });
}
