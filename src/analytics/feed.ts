import type { Db, Queryable } from "../db/db.ts";

/**
 * The events feed (migration 0130): every event, in (xid, seq) order, read below the horizon of
 * the oldest transaction still running, so that a row committed late by an old transaction is
 * never behind a cursor that already moved past it.
 */
export interface FeedPosition {
  /** The writing transaction's id (xid8, as text: it may exceed 2^53). */
  xid: string;
  seq: bigint;
}

export interface FeedRow {
  xid: string;
  seq: bigint;
  event_id: string;
  /** Null when the event was pruned by retention before it was read. */
  merchant_id: string | null;
  mode: string | null;
  type: string | null;
  object_id: string | null;
  created: Date | null;
  data: { object?: Record<string, unknown> } | null;
}

/** Locks a reader's cursor for the rest of the transaction: one batch per reader at a time. */
export async function lockCursor(tx: Queryable, name: string): Promise<FeedPosition> {
  const { rows } = await tx.query<{ xid: string; seq: bigint }>(
    "select xid::text as xid, seq from analytics_cursors where name = $1 for update",
    [name],
  );
  if (rows[0]) return rows[0];
  await tx.query("insert into analytics_cursors (name) values ($1) on conflict do nothing", [name]);
  return lockCursor(tx, name);
}

export async function readCursor(db: Queryable, name: string): Promise<FeedPosition> {
  const { rows } = await db.query<{ xid: string; seq: bigint }>(
    "select xid::text as xid, seq from analytics_cursors where name = $1",
    [name],
  );
  return rows[0] ?? { xid: "0", seq: 0n };
}

export async function advanceCursor(
  tx: Queryable,
  name: string,
  to: FeedPosition,
  nowMs: number,
): Promise<void> {
  await tx.query("update analytics_cursors set xid = $2::xid8, seq = $3, updated = $4 where name = $1", [
    name,
    to.xid,
    to.seq,
    new Date(nowMs),
  ]);
}

/**
 * The horizon: every transaction with a smaller id has finished. Taken before the rows are read
 * (an older snapshot only makes it lower, never unsafe).
 */
export async function horizon(db: Queryable): Promise<string> {
  const { rows } = await db.query<{ xmin: string }>(
    "select pg_snapshot_xmin(pg_current_snapshot())::text as xmin",
  );
  return rows[0]!.xmin;
}

/** Up to `limit` feed rows after `after` and below `below`, with their events. */
export async function readFeed(
  db: Queryable,
  after: FeedPosition,
  below: string,
  limit: number,
): Promise<FeedRow[]> {
  const { rows } = await db.query<FeedRow>(
    `select f.xid::text as xid, f.seq, f.event_id, e.merchant_id, e.mode, e.type, e.object_id, e.created, e.data
       from analytics_feed f
       left join events e on e.id = f.event_id
      where (f.xid, f.seq) > ($1::xid8, $2::bigint) and f.xid < $3::xid8
      order by f.xid, f.seq
      limit $4`,
    [after.xid, after.seq, below, limit],
  );
  return rows;
}

export function lastPosition(rows: readonly FeedRow[]): FeedPosition | null {
  const last = rows.at(-1);
  return last ? { xid: last.xid, seq: last.seq } : null;
}

/** How many feed rows are not yet behind a reader's cursor (its lag, in events). */
export async function feedLag(db: Db, name: string): Promise<bigint> {
  const cursor = await readCursor(db, name);
  const { rows } = await db.query<{ n: bigint }>(
    "select count(*)::int8 as n from analytics_feed where (xid, seq) > ($1::xid8, $2::bigint)",
    [cursor.xid, cursor.seq],
  );
  return rows[0]!.n;
}
