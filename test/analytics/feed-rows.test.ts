/**
 * The analytics feed holds one row a statement (and a UTC day), not one row an event (migration
 * 0359): a group commit's events cost the feed one row. Rows written before the migration keep
 * their single event id and are read the same way; the readers expand whole rows in order and
 * stop before a row that would take a batch past its limit (but always read at least one row, so
 * a cursor always moves).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { feedLag, horizon, readFeed, readFeedOfDays } from "../../src/analytics/feed.ts";
import type { Db } from "../../src/db/db.ts";
import { migrate } from "../../src/db/migrate.ts";
import { openDatabase } from "../../src/db/open.ts";
import { DAY_MS } from "../../src/platform/clock.ts";
import { newId } from "../../src/platform/ids.ts";
import { freshStore, type ProcessStore } from "../support/process.ts";

const MERCHANT = "mer_feedrows";

/** Inserts events in one statement; returns their ids in id order. */
async function insertEvents(db: Db, createdMs: readonly number[]): Promise<string[]> {
  const ids = createdMs.map((ms) => newId("evt", ms));
  await db.query(
    `insert into events (id, merchant_id, mode, type, object_id, payment_id, data, created)
     select id, $1, 'test', 'customer.created', 'cus_' || substr(id, 5), null, '{"object":{}}'::jsonb, created
       from unnest($2::text[], $3::timestamptz[]) as x(id, created)`,
    [MERCHANT, ids, createdMs.map((ms) => new Date(ms))],
  );
  return [...ids].sort();
}

interface StoredRow {
  event_id: string | null;
  event_ids: string[] | null;
}

async function feedRowsOf(db: Db, ids: readonly string[]): Promise<StoredRow[]> {
  const { rows } = await db.query<StoredRow>(
    // Before 0359 the table has no event_ids: read the row as JSON to query both shapes.
    `select to_jsonb(f) ->> 'event_id' as event_id, to_jsonb(f) -> 'event_ids' as event_ids
       from analytics_feed f
      where to_jsonb(f) ->> 'event_id' = any($1::text[]) or coalesce(to_jsonb(f) -> 'event_ids', '[]') ?| $1::text[]
      order by seq`,
    [ids],
  );
  return rows;
}

/** Every readable feed entry from the start (a shared server's horizon may lag a moment). */
async function readAll(db: Db, count: number, limit = 100): Promise<string[]> {
  for (let tries = 0; ; tries++) {
    const seen: string[] = [];
    let after = { xid: "0", seq: 0n };
    const below = await horizon(db);
    for (;;) {
      const rows = await readFeed(db, after, below, limit);
      const last = rows.at(-1);
      if (!last) break;
      seen.push(...rows.map((r) => r.event_id));
      after = { xid: last.xid, seq: last.seq };
    }
    if (seen.length >= count || tries === 500) return seen;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("the analytics feed: a row a statement", () => {
  let store: ProcessStore;
  let db: Db;
  let legacy: string[] = [];
  const now = Date.now();

  before(async () => {
    store = await freshStore({ embedded: "centime-feedrows-", postgres: "centime_feedrows_" });
    db = await openDatabase({ databaseUrl: store.databaseUrl, dataDir: store.dataDir ?? "" });
    await migrate(db, { upTo: 358 });
    // Before 0359: a row an event, even for events of one statement.
    legacy = await insertEvents(db, [now - 2000, now - 1000]);
    assert.equal((await feedRowsOf(db, legacy)).length, 2);
    await migrate(db);
  });
  after(async () => {
    await db.close();
    await store.cleanup();
  });

  test("one statement's events are one feed row, in id order; a statement across two days is a row a day", async () => {
    const batch = await insertEvents(db, [now, now + 1, now + 2, now + 3]);
    const rows = await feedRowsOf(db, batch);
    assert.deepEqual(rows, [{ event_id: null, event_ids: batch }]);

    const dayOne = Math.floor(now / DAY_MS) * DAY_MS + 3 * DAY_MS;
    const split = await insertEvents(db, [dayOne + 5, dayOne + DAY_MS + 5, dayOne + 6]);
    const splitRows = await feedRowsOf(db, split);
    assert.equal(splitRows.length, 2);
    const byDay = splitRows.map((r) => r.event_ids!);
    assert.deepEqual(byDay.flat().sort(), split);
    assert.ok(
      byDay.some((ids) => ids.length === 2) && byDay.some((ids) => ids.length === 1),
      JSON.stringify(byDay),
    );
  });

  test("readers see legacy and new rows alike, every event once, in feed order; batches are whole rows", async () => {
    const batch = await insertEvents(db, [now + 10, now + 11, now + 12, now + 13, now + 14]);
    const all = await readAll(db, 2 + 4 + 3 + 5);
    assert.equal(new Set(all).size, all.length, "every event once");
    assert.deepEqual(all.slice(0, 2), legacy, "the rows from before 0359 first, as written");
    const at = all.indexOf(batch[0]!);
    assert.deepEqual(all.slice(at, at + 5), batch, "a row's events in id order");

    // A limit smaller than a row still reads that whole row, and never a part of one.
    const below = await horizon(db);
    const legacyLast = { xid: "0", seq: 0n };
    const first = await readFeed(db, legacyLast, below, 1);
    assert.deepEqual(
      first.map((r) => r.event_id),
      [legacy[0]],
    );
    let position = { xid: first[0]!.xid, seq: first[0]!.seq };
    const second = await readFeed(db, position, below, 1);
    position = { xid: second[0]!.xid, seq: second[0]!.seq };
    const third = await readFeed(db, position, below, 1);
    assert.equal(third.length, 4, "the four events of one statement, though the limit is 1");
    assert.equal(new Set(third.map((r) => `${r.xid}/${r.seq}`)).size, 1);
    // A limit of 5 stops before the row that would take it to 7.
    const upTo5 = await readFeed(db, position, below, 5);
    assert.equal(upTo5.length, 4);
    // The lag counts events, not rows.
    assert.equal(await feedLag(db, "nobody-reads-this"), BigInt(all.length));
  });

  test("the rebuild's pages by day read whole rows too", async () => {
    const dayStart = Math.floor(now / DAY_MS) * DAY_MS;
    const range = { fromMs: dayStart - DAY_MS, toMs: dayStart + 2 * DAY_MS };
    const upTo = { xid: "9223372036854775807", seq: 0n }; // everything written
    const seen: string[] = [];
    let after = { created: new Date(range.fromMs), seq: -1n };
    for (;;) {
      const rows = await readFeedOfDays(db, range, after, upTo, 3);
      const last = rows.at(-1);
      if (!last) break;
      seen.push(...rows.map((r) => r.event_id));
      after = { created: new Date(last.feed_created), seq: last.seq };
    }
    assert.equal(new Set(seen).size, seen.length);
    assert.equal(seen.length, 2 + 4 + 5, "legacy, the two batches of today (not the days ahead)");
  });
});
