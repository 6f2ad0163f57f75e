import type { Db, Queryable } from "../db/db.ts";

/**
 * The events feed (migrations 0130, 0359): every event, in (xid, seq) order (a row a statement,
 * its events in id order), read below the horizon of the oldest transaction still running, so
 * that a row committed late by an old transaction is never behind a cursor that already moved
 * past it.
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

/** A feed row as stored: the ids of one statement's events (migration 0359), or one event's id. */
interface StoredFeedRow {
  xid: string;
  seq: bigint;
  feed_created: Date;
  ids: string[];
}

/** A feed row's ids, whichever shape it was written in. */
const FEED_IDS = "coalesce(event_ids, array[event_id]) as ids";

/**
 * Feed rows (`rows`: xid, seq, created and ids, in `order`, at most `limit` of them) without those
 * past the batch's size: only rows with fewer than `limit` events before them leave the server
 * (a row a statement holds tens of ids; `wholeRowsUpTo` makes the exact cut).
 */
function rowsUpToSql(
  rows: string,
  order: ReadonlyArray<"xid" | "created" | "seq">,
  limitParam: string,
): string {
  // Qualified: the output's `xid` is text, and a batch is ordered by the stored xid8.
  const orderOf = (alias: string) => order.map((column) => `${alias}.${column}`).join(", ");
  return `select xid::text as xid, seq, created as feed_created, ids from (
      select f.*, sum(cardinality(f.ids)) over (order by ${orderOf("f")}) - cardinality(f.ids) as before
        from (${rows}) f) counted
     where before < ${limitParam}
     order by ${orderOf("counted")}`;
}

/**
 * Whole feed rows, in the order read, up to `limit` events: the batch stops before the row that
 * would take it past `limit`, but always holds the first row, so a cursor always moves.
 */
function wholeRowsUpTo(rows: readonly StoredFeedRow[], limit: number): StoredFeedRow[] {
  let events = 0;
  let end = 0;
  while (end < rows.length && (end === 0 || events + rows[end]!.ids.length <= limit)) {
    events += rows[end]!.ids.length;
    end++;
  }
  return rows.slice(0, end);
}

/**
 * The events of feed rows, in feed order. One look-up by primary key for the batch: `events` is
 * partitioned by id, so PostgreSQL probes only the partitions that hold these ids (a join from
 * the feed instead was planned at two million rows, and probed every partition row by row).
 */
async function eventsOf(db: Queryable, rows: readonly StoredFeedRow[]): Promise<FeedRow[]> {
  const ids = rows.flatMap((r) => r.ids);
  if (ids.length === 0) return [];
  const { rows: found } = await db.query<Omit<FeedRow, "xid" | "seq" | "event_id"> & { id: string }>(
    `select id, merchant_id, mode, type, object_id, created, data from events where id = any($1::text[])`,
    [ids],
  );
  const byId = new Map(found.map((e) => [e.id, e]));
  return rows.flatMap((row) =>
    row.ids.map((id): FeedRow => {
      const event = byId.get(id);
      return {
        xid: row.xid,
        seq: row.seq,
        event_id: id,
        merchant_id: event?.merchant_id ?? null,
        mode: event?.mode ?? null,
        type: event?.type ?? null,
        object_id: event?.object_id ?? null,
        created: event?.created ?? null,
        data: event?.data ?? null,
      };
    }),
  );
}

/**
 * The events of the feed rows after `after` and below `below`: about `limit` events (whole feed
 * rows, at least one; see wholeRowsUpTo).
 */
export async function readFeed(
  db: Queryable,
  after: FeedPosition,
  below: string,
  limit: number,
): Promise<FeedRow[]> {
  const { rows } = await db.query<StoredFeedRow>(
    rowsUpToSql(
      `select xid, seq, created, ${FEED_IDS} from analytics_feed
        where (xid, seq) > ($1::xid8, $2::bigint) and xid < $3::xid8
        order by xid, seq
        limit $4`,
      ["xid", "seq"],
      "$4",
    ),
    [after.xid, after.seq, below, limit],
  );
  return eventsOf(db, wholeRowsUpTo(rows, limit));
}

/**
 * The events of the feed rows dated [from, to) and at or behind `upTo`, after `after` in
 * (created, seq) order: about `limit` events, whole feed rows (the rebuild's pages). Each event
 * carries its feed row's date, where the next page starts.
 */
export async function readFeedOfDays(
  db: Queryable,
  range: { fromMs: number; toMs: number },
  after: { created: Date; seq: bigint },
  upTo: FeedPosition,
  limit: number,
): Promise<Array<FeedRow & { feed_created: Date }>> {
  const { rows } = await db.query<StoredFeedRow>(
    rowsUpToSql(
      `select xid, seq, created, ${FEED_IDS} from analytics_feed
        where created >= $1 and created < $2 and (created, seq) > ($3::timestamptz, $4::bigint)
          and (xid, seq) <= ($5::xid8, $6::bigint)
        order by created, seq
        limit $7`,
      ["created", "seq"],
      "$7",
    ),
    [new Date(range.fromMs), new Date(range.toMs), after.created, after.seq, upTo.xid, upTo.seq, limit],
  );
  const whole = wholeRowsUpTo(rows, limit);
  const dates = whole.flatMap((row) => row.ids.map(() => row.feed_created));
  return (await eventsOf(db, whole)).map((event, i) => ({ ...event, feed_created: dates[i]! }));
}

export function lastPosition(rows: readonly FeedRow[]): FeedPosition | null {
  const last = rows.at(-1);
  return last ? { xid: last.xid, seq: last.seq } : null;
}

/** How many feed rows are not yet behind a reader's cursor (its lag, in events). */
export async function feedLag(db: Db, name: string): Promise<bigint> {
  const cursor = await readCursor(db, name);
  const { rows } = await db.query<{ n: bigint }>(
    `select coalesce(sum(coalesce(cardinality(event_ids), 1)), 0)::int8 as n from analytics_feed
      where (xid, seq) > ($1::xid8, $2::bigint)`,
    [cursor.xid, cursor.seq],
  );
  return rows[0]!.n;
}
