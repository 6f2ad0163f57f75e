/**
 * The analytics feed in day partitions (migrations 0356–0358): the feed written before stays where
 * it is as the legacy partition, a row dated after the cutover (a clock ahead of real time) moves
 * to its day with its (xid, seq), new rows continue the sequence in their day's partition, the
 * reader still sees every row once in (xid, seq) order across partitions, a day past its retention
 * goes whole only once the rollups have counted it, and the row prune touches only the legacy and
 * default partitions.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  type FeedRow,
  feedLag,
  horizon,
  ingestRollups,
  pruneFeed,
  readFeed,
} from "../../src/analytics/index.ts";
import type { Db } from "../../src/db/db.ts";
import { migrate } from "../../src/db/migrate.ts";
import { openDatabase } from "../../src/db/open.ts";
import { maintainPartitions, partitionedTables } from "../../src/db/partitions.ts";
import { DAY_MS, FakeClock } from "../../src/platform/clock.ts";
import { parseRetention } from "../../src/platform/config.ts";
import { newId } from "../../src/platform/ids.ts";
import { freshStore, type ProcessStore } from "../support/process.ts";

const MERCHANT = "mer_feedpart";

async function insertEvent(db: Db, createdMs: number): Promise<string> {
  const id = newId("evt", createdMs);
  await db.query(
    `insert into events (id, merchant_id, mode, type, object_id, payment_id, data, created)
     values ($1, $2, 'test', 'customer.created', $3, null, $4::jsonb, $5)`,
    [id, MERCHANT, `cus_${id.slice(4)}`, JSON.stringify({ object: { id: "cus_x" } }), new Date(createdMs)],
  );
  return id;
}

interface FeedEntry {
  event_id: string;
  xid: string;
  seq: bigint;
  part: string;
}

async function feedOf(db: Db, eventId: string): Promise<FeedEntry> {
  const { rows } = await db.query<FeedEntry>(
    // Either shape (one event id, or the ids of a statement from 0359 on), before and after it.
    `select $1::text as event_id, xid::text as xid, seq, tableoid::regclass::text as part from analytics_feed f
      where to_jsonb(f) ->> 'event_id' = $1 or coalesce(to_jsonb(f) -> 'event_ids', '[]') ? $1`,
    [eventId],
  );
  assert.equal(rows.length, 1, `one feed row for ${eventId}`);
  return rows[0]!;
}

async function partitionsOfFeed(db: Db): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    `select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
      where i.inhparent = 'analytics_feed'::regclass order by 1`,
  );
  return rows.map((r) => r.name);
}

/**
 * On a shared server the horizon (the oldest transaction running, in any database) can hold rows
 * back for a moment: read again until `count` rows are readable.
 */
async function readWhole(db: Db, count: number): Promise<FeedRow[]> {
  for (let tries = 0; ; tries++) {
    const rows = await readFeed(db, { xid: "0", seq: 0n }, await horizon(db), 100);
    if (rows.length >= count || tries === 500) return rows;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs the rollups' ingest until nothing is left behind its cursor (same reason). */
async function countAll(db: Db, clock: FakeClock): Promise<number> {
  let counted = 0;
  for (;;) {
    const consumed = await ingestRollups({ db, clock });
    counted += consumed;
    if (consumed === 0) {
      if ((await feedLag(db, "rollups")) === 0n) return counted;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

const dayName = (dayMs: number) =>
  `analytics_feed_p${new Date(dayMs).toISOString().slice(0, 10).replaceAll("-", "")}`;

describe("the analytics feed in day partitions", () => {
  let store: ProcessStore;
  let db: Db;
  let cutoverMs: number;
  const now = Date.now();
  let beforeRows: FeedEntry[] = [];
  let oldEvent: string;
  let aheadEvent: string;

  before(async () => {
    store = await freshStore({ embedded: "centime-feedpart-", postgres: "centime_feedpart_" });
    db = await openDatabase({ databaseUrl: store.databaseUrl, dataDir: store.dataDir ?? "" });
    await migrate(db, { upTo: 355 });
    oldEvent = await insertEvent(db, now - 3 * DAY_MS);
    // Dated four days ahead: after any cutover the migration can pick (the day after tomorrow).
    aheadEvent = await insertEvent(db, now + 4 * DAY_MS);
    beforeRows = [await feedOf(db, oldEvent), await feedOf(db, aheadEvent)];
    assert.deepEqual(
      beforeRows.map((r) => r.part),
      ["analytics_feed_default", "analytics_feed_default"],
    );
    await migrate(db);
    cutoverMs = (await partitionedTables(db)).find((t) => t.name === "analytics_feed")!.cutoverAtMs;
  });
  after(async () => {
    await db.close();
    await store.cleanup();
  });

  test("the feed's history is the legacy partition; a row dated after the cutover is in its day, with its xid and seq", async () => {
    const table = (await partitionedTables(db)).find((t) => t.name === "analytics_feed");
    assert.equal(table?.keyType, "timestamptz");
    assert.equal(cutoverMs % DAY_MS, 0, "the cutover is a UTC midnight");
    const names = await partitionsOfFeed(db);
    assert.ok(names.includes("analytics_feed_legacy"), names.join(", "));
    assert.ok(names.includes("analytics_feed_default"), names.join(", "));
    for (let day = cutoverMs; day < cutoverMs + 7 * DAY_MS; day += DAY_MS) {
      assert.ok(names.includes(dayName(day)), `${dayName(day)} in ${names.join(", ")}`);
    }
    const old = await feedOf(db, oldEvent);
    assert.deepEqual(old, { ...beforeRows[0]!, part: "analytics_feed_legacy" });
    const ahead = await feedOf(db, aheadEvent);
    const aheadDay = Math.floor((now + 4 * DAY_MS) / DAY_MS) * DAY_MS;
    assert.deepEqual(ahead, { ...beforeRows[1]!, part: dayName(aheadDay) });
    const { rows } = await db.query<{ n: number }>(
      "select count(*)::int as n from pg_class where relname = 'analytics_feed_ahead'",
    );
    assert.equal(rows[0]!.n, 0, "the waiting table is gone");
    // The legacy partition's indexes were renamed with it: the new default has its own.
    const indexes = await db.query<{ name: string }>(
      "select indexname as name from pg_indexes where tablename = 'analytics_feed_legacy' order by 1",
    );
    assert.ok(
      indexes.rows.every((r) => r.name.startsWith("analytics_feed_legacy")),
      indexes.rows.map((r) => r.name).join(", "),
    );
  });

  test("new rows continue the sequence in their day's partition; the reader sees every row once, in (xid, seq) order", async () => {
    const today = await insertEvent(db, now);
    const inDay = await insertEvent(db, cutoverMs + DAY_MS + 1000);
    const farAhead = await insertEvent(db, cutoverMs + 60 * DAY_MS);
    const fresh = [await feedOf(db, today), await feedOf(db, inDay), await feedOf(db, farAhead)];
    assert.ok(
      fresh.every((r) => beforeRows.every((b) => r.seq > b.seq)),
      "the identity goes on after the swap",
    );
    assert.deepEqual(
      fresh.map((r) => r.part),
      ["analytics_feed_legacy", dayName(cutoverMs + DAY_MS), "analytics_feed_default"],
    );
    const read = await readWhole(db, 5);
    const ids = read.map((r) => r.event_id);
    assert.deepEqual([...ids].sort(), [oldEvent, aheadEvent, today, inDay, farAhead].sort());
    const order = read.map((r) => [BigInt(r.xid), r.seq] as const);
    for (let i = 1; i < order.length; i++) {
      const [px, ps] = order[i - 1]!;
      const [x, s] = order[i]!;
      assert.ok(px < x || (px === x && ps < s), `row ${i} after row ${i - 1}`);
    }
  });

  test("a day past its retention goes whole, only once the rollups have counted all of it", async () => {
    const retention = parseRetention("");
    assert.equal(retention.analytics_feed, 30);
    // 40 days after the day partition holding `inDay`: it and the legacy partition are past 30 days.
    const later = cutoverMs + 41 * DAY_MS;
    const first = await maintainPartitions(db, later, retention);
    assert.ok(first.kept.includes("analytics_feed_legacy"), `kept: ${first.kept.join(", ")}`);
    assert.ok(first.kept.includes(dayName(cutoverMs + DAY_MS)), `kept: ${first.kept.join(", ")}`);
    // A day with no rows is not held back by anything.
    assert.ok(first.dropped.includes(dayName(cutoverMs)), `dropped: ${first.dropped.join(", ")}`);
    assert.ok(!first.dropped.some((name) => name.startsWith("analytics_feed_legacy")));

    const counted = await countAll(db, new FakeClock(now));
    assert.ok(counted >= 5, `the rollups counted ${counted} rows`);

    const second = await maintainPartitions(db, later, retention);
    assert.deepEqual(second.kept, []);
    assert.ok(second.dropped.includes("analytics_feed_legacy"), `dropped: ${second.dropped.join(", ")}`);
    assert.ok(second.dropped.includes(dayName(cutoverMs + DAY_MS)), `dropped: ${second.dropped.join(", ")}`);
    const names = await partitionsOfFeed(db);
    assert.ok(!names.includes("analytics_feed_legacy"));
    // The row dated 60 days after the cutover is in the default partition, which is never dropped.
    assert.ok(names.includes("analytics_feed_default"));
    const { rows } = await db.query<{ n: number }>("select count(*)::int as n from analytics_feed_default");
    assert.equal(rows[0]!.n, 1);
  });

  test("the row prune deletes only from the legacy and default partitions, and only what the rollups counted", async () => {
    const later = cutoverMs + 41 * DAY_MS;
    // A counted row in a day partition the job made at `later` (and, below, rows of the default).
    const inDayPartition = await insertEvent(db, later + DAY_MS + 1000);
    assert.equal((await feedOf(db, inDayPartition)).part, dayName(later + DAY_MS));
    const clock = new FakeClock(later + 50 * DAY_MS);
    const uncounted = await insertEvent(db, cutoverMs + 50 * DAY_MS);
    assert.equal((await feedOf(db, uncounted)).part, "analytics_feed_default");
    // Both rows of the default partition are older than 30 days at that clock; one is counted.
    assert.equal(await pruneFeed({ db, clock }), 1, "the counted one");
    assert.equal((await feedOf(db, uncounted)).part, "analytics_feed_default", "not counted: kept");
    await countAll(db, clock);
    assert.equal(await pruneFeed({ db, clock }), 1, "counted now");
    const { rows } = await db.query<{ n: number }>("select count(*)::int as n from analytics_feed_default");
    assert.equal(rows[0]!.n, 0);
    // The day partition's row is as old and as counted: it stays for the partition job to drop whole.
    assert.equal((await feedOf(db, inDayPartition)).part, dayName(later + DAY_MS));
  });
});
