/**
 * Day partitions on the append-only tables (provider_interactions, events, webhook_attempts):
 * the migration turns a table with rows into a partitioned one without moving them, ids keep
 * their uniqueness across partitions, the job creates days ahead and drops expired days whole per
 * table retention, and the webhook prune no longer deletes row by row inside day partitions.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Db } from "../../src/db/db.ts";
import { migrate } from "../../src/db/migrate.ts";
import { openDatabase } from "../../src/db/open.ts";
import { dayStartMs, maintainPartitions, partitionedTables } from "../../src/db/partitions.ts";
import { pruneEventsData } from "../../src/events/retention.ts";
import { parseRetention } from "../../src/platform/config.ts";
import { idFloor, newId } from "../../src/platform/ids.ts";
import { freshStore, type ProcessStore } from "../support/process.ts";

const DAY = 86_400_000;

function event(id: string, createdMs: number) {
  return {
    id,
    merchant_id: "mer_partitions",
    mode: "test",
    type: "payment.succeeded",
    object_id: "pay_x",
    payment_id: null,
    data: { object: { id: "pay_x" } },
    created: new Date(createdMs).toISOString(),
  };
}

async function insertEvents(db: Db, rows: ReturnType<typeof event>[]) {
  await db.query("insert into events select * from json_populate_recordset(null::events, $1::json)", [
    JSON.stringify(rows),
  ]);
}

async function partitionOf(db: Db, table: string, id: string): Promise<string> {
  const { rows } = await db.query<{ p: string }>(
    `select tableoid::regclass::text as p from ${table} where id = $1`,
    [id],
  );
  return rows[0]!.p;
}

async function partitions(db: Db, table: string): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    "select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = $1::regclass order by 1",
    [table],
  );
  return rows.map((r) => r.name);
}

describe("day partitions", () => {
  let store: ProcessStore;
  let db: Db;
  const legacyIds: string[] = [];
  const now = Date.now();

  before(async () => {
    store = await freshStore({ embedded: "centime-partitions-", postgres: "centime_partitions_" });
    db = await openDatabase({ databaseUrl: store.databaseUrl, dataDir: store.dataDir ?? "" });
    // Rows written before partitioning: they must stay where they are, readable through the table.
    await migrate(db, { upTo: 160 });
    for (let i = 0; i < 20; i++) legacyIds.push(newId("evt", now - (i + 1) * DAY));
    await insertEvents(
      db,
      legacyIds.map((id, i) => event(id, now - (i + 1) * DAY)),
    );
    await migrate(db);
  });
  after(async () => {
    await db.close();
    await store.cleanup();
  });

  test("the SQL id floor is the application's", async () => {
    for (const at of [0, now, Date.UTC(2031, 5, 7, 13, 14, 15, 16)]) {
      const { rows } = await db.query<{ id: string }>(
        "select centime_id_floor('evt', $1::timestamptz) as id",
        [new Date(at).toISOString()],
      );
      assert.equal(rows[0]!.id, idFloor("evt", at));
    }
  });

  test("the migration keeps existing rows in place, as the legacy partition", async () => {
    for (const table of ["events", "provider_interactions", "webhook_attempts"]) {
      const { rows } = await db.query<{ relkind: string }>(
        "select relkind from pg_class where relname = $1",
        [table],
      );
      assert.equal(rows[0]!.relkind, "p", `${table} is partitioned`);
      const names = await partitions(db, table);
      assert.ok(names.includes(`${table}_legacy`) && names.includes(`${table}_default`));
      assert.ok(names.filter((n) => /_p\d{8}$/.test(n)).length >= 7, `${table} has days ahead`);
    }
    const { rows } = await db.query<{ n: number }>(
      "select count(*)::int as n from events where id = any($1::text[])",
      [legacyIds],
    );
    assert.equal(rows[0]!.n, legacyIds.length);
    assert.equal(await partitionOf(db, "events", legacyIds[0]!), "events_legacy");
  });

  test("every trigger of a table moved to the partitioned parent, none left on the legacy partition", async () => {
    const { rows } = await db.query<{ table: string; name: string }>(
      `select c.relname as table, g.tgname as name from pg_trigger g join pg_class c on c.oid = g.tgrelid
       where not g.tgisinternal and c.relname in ('events', 'events_legacy', 'provider_interactions', 'provider_interactions_legacy')
         and g.tgparentid = 0 order by 1, 2`,
    );
    const names = rows.map((r) => `${r.table}.${r.name}`);
    assert.ok(names.includes("events.events_fan_out"), names.join(", "));
    assert.ok(names.includes("events.events_analytics_feed"), names.join(", "));
    assert.ok(names.includes("provider_interactions.provider_interactions_stage_bodies"), names.join(", "));
    assert.ok(!names.some((n) => n.includes("_legacy.")), names.join(", "));
  });

  test("an id stays unique across partitions and rows land in their day", async () => {
    const [events] = (await partitionedTables(db)).filter((t) => t.name === "events");
    const day = events!.cutoverAtMs + 3 * DAY + 5000;
    const id = newId("evt", day);
    await insertEvents(db, [event(id, day)]);
    const stamp = new Date(day).toISOString().slice(0, 10).replaceAll("-", "");
    assert.equal(await partitionOf(db, "events", id), `events_p${stamp}`);
    await assert.rejects(insertEvents(db, [event(id, day)]), (e: { code?: string }) => e.code === "23505");
    // The primary key still backs ON CONFLICT (id).
    const again = await db.query(
      "insert into events select * from json_populate_recordset(null::events, $1::json) on conflict (id) do nothing",
      [JSON.stringify([event(id, day)])],
    );
    assert.equal(again.rowCount, 0);
    // A day with no partition yet goes to the default partition.
    const far = newId("evt", day + 400 * DAY);
    await insertEvents(db, [event(far, day + 400 * DAY)]);
    assert.equal(await partitionOf(db, "events", far), "events_default");
  });

  test("wire log bodies are still staged through the partitioned table, once", async () => {
    const id = newId("ix", now);
    await db.query(
      "insert into provider_interactions select * from json_populate_recordset(null::provider_interactions, $1::json)",
      [
        JSON.stringify([
          {
            id,
            provider: "carrier",
            operation: "camara.charge",
            request: { a: 1 },
            response: { b: 2 },
            outcome: "succeeded",
            latency_ms: 3,
            created: new Date(now).toISOString(),
          },
        ]),
      ],
    );
    const meta = await db.query<{ request: unknown; has_body: boolean }>(
      "select request, has_body from provider_interactions where id = $1",
      [id],
    );
    assert.deepEqual(meta.rows[0], { request: null, has_body: true });
    const staged = await db.query<{ n: number }>(
      "select count(*)::int as n from provider_interaction_bodies where id = $1",
      [id],
    );
    assert.equal(staged.rows[0]!.n, 1);
  });

  test("the job creates the coming days and drops expired days whole, per table", async () => {
    const tables = await partitionedTables(db);
    const cutover = tables[0]!.cutoverAtMs;
    const stamp = (ms: number) => new Date(ms).toISOString().slice(0, 10).replaceAll("-", "");
    const retention = parseRetention(
      "webhook_attempts=0,webhook_deliveries=0,idempotency_keys=0,analytics_feed=0",
    );
    // 25 days after the cutover: the coming days are created, nothing is old enough to drop.
    const mid = cutover + 25 * DAY + 3600_000;
    const first = await maintainPartitions(db, mid, retention);
    assert.ok(first.created.includes(`events_p${stamp(cutover + 25 * DAY)}`));
    assert.ok(first.created.includes(`events_p${stamp(cutover + 32 * DAY)}`));
    assert.deepEqual(first.dropped, []);
    // 37 days after: events (30 days) lose the legacy partition and every day that ended 30 days
    // ago or more (the 7th day after the cutover ends exactly then); interactions (400 days),
    // webhook attempts, deliveries and the analytics feed (kept forever here) lose nothing.
    const later = cutover + 37 * DAY + 3600_000;
    const report = await maintainPartitions(db, later, retention);
    assert.ok(report.created.includes(`events_p${stamp(dayStartMs(later) + 7 * DAY)}`));
    assert.deepEqual(
      report.dropped.sort(),
      ["events_legacy", ...Array.from({ length: 7 }, (_, i) => `events_p${stamp(cutover + i * DAY)}`)].sort(),
    );
    const names = await partitions(db, "events");
    assert.ok(!names.includes("events_legacy"));
    assert.ok(names.includes(`events_p${stamp(cutover + 25 * DAY)}`));
    const { rows } = await db.query<{ n: number }>(
      "select count(*)::int as n from events where id = any($1::text[])",
      [legacyIds],
    );
    assert.equal(rows[0]!.n, 0, "the legacy rows went with their partition");
    // Twice is the same as once (several workers may run it).
    const second = await maintainPartitions(db, later, retention);
    assert.deepEqual(second, { created: [], dropped: [], skipped: [], kept: [] });
  });

  test("the webhook prune deletes rows only outside day partitions", async () => {
    const tables = await partitionedTables(db);
    const cutover = tables[0]!.cutoverAtMs;
    // A day the job created a partition for (the previous test ran it 37 days after the cutover).
    const day = cutover + 41 * DAY + 1000;
    const inDay = newId("evt", day);
    await insertEvents(db, [event(inDay, day)]);
    // 31 days later the row is past the 30-day retention but its day partition is not yet whole-expired.
    const deleted = await pruneEventsData(db, day + 31 * DAY);
    const { rows } = await db.query<{ n: number }>("select count(*)::int as n from events where id = $1", [
      inDay,
    ]);
    assert.equal(rows[0]!.n, 1, `the day partition goes whole, not row by row (deleted ${deleted})`);
  });

  test("retention settings are checked", () => {
    assert.deepEqual(parseRetention(undefined), {
      provider_interactions: 400,
      events: 30,
      analytics_feed: 30,
      webhook_attempts: 30,
      webhook_deliveries: 30,
      idempotency_keys: 1,
    });
    assert.throws(() => parseRetention("idempotency_keys=0x"), /CENTIME_RETENTION_DAYS/);
    assert.equal(parseRetention("events=7").events, 7);
    assert.throws(() => parseRetention("ledger_transfers=1"), /CENTIME_RETENTION_DAYS/);
    assert.throws(() => parseRetention("events=-1"), /CENTIME_RETENTION_DAYS/);
  });
});
