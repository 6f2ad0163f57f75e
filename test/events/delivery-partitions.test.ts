/**
 * Day partitions on webhook_deliveries (migrations 0320–0322): existing deliveries stay where they
 * are as the legacy partition, new ones get time-ordered bigint ids (a UTC day is a key range),
 * the fan-out trigger and redelivery insert through the parent, claims and outcomes update rows in
 * place within their partition, per-object ordering spans the legacy and the new ids, the job drops
 * expired days whole and the prune deletes row by row only outside day partitions.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Db } from "../../src/db/db.ts";
import { migrate } from "../../src/db/migrate.ts";
import { openDatabase } from "../../src/db/open.ts";
import { maintainPartitions, partitionedTables } from "../../src/db/partitions.ts";
import { claimDueDeliveries, recordAttempts } from "../../src/events/delivery.ts";
import { redeliverEvent } from "../../src/events/index.ts";
import { pruneEventsData } from "../../src/events/retention.ts";
import { DAY_MS, systemClock } from "../../src/platform/clock.ts";
import { parseRetention } from "../../src/platform/config.ts";
import { newId, sequenceIdFloor } from "../../src/platform/ids.ts";
import { freshStore, type ProcessStore } from "../support/process.ts";

const MERCHANT = "mer_dpart";
const scope = { merchantId: MERCHANT, mode: "test" as const };

async function insertEvent(db: Db, objectId: string, createdMs = Date.now()): Promise<string> {
  const id = newId("evt", createdMs);
  await db.query(
    `insert into events (id, merchant_id, mode, type, object_id, payment_id, data, created)
     values ($1, $2, 'test', 'payment.succeeded', $3, null, $4::jsonb, $5)`,
    [id, MERCHANT, objectId, JSON.stringify({ object: { id: objectId } }), new Date(createdMs).toISOString()],
  );
  return id;
}

async function deliveriesOf(db: Db, eventId: string) {
  const { rows } = await db.query<{ id: bigint; part: string; status: string }>(
    "select id, tableoid::regclass::text as part, status from webhook_deliveries where event_id = $1 order by id",
    [eventId],
  );
  return rows;
}

describe("webhook deliveries in day partitions", () => {
  let store: ProcessStore;
  let db: Db;
  let endpointId: string;
  let legacyEvent: string;
  let legacyId: bigint;

  before(async () => {
    store = await freshStore({ embedded: "centime-dpart-", postgres: "centime_dpart_" });
    db = await openDatabase({ databaseUrl: store.databaseUrl, dataDir: store.dataDir ?? "" });
    await migrate(db, { upTo: 319 });
    endpointId = newId("we");
    const now = new Date().toISOString();
    await db.query(
      `insert into webhook_endpoints (id, merchant_id, mode, url, events, enabled, secret, created, updated)
       values ($1, $2, 'test', 'http://127.0.0.1:9/hooks', array['*'], true, 'whsec_x', $3, $3)`,
      [endpointId, MERCHANT, now],
    );
    // A delivery queued before partitioning, still pending (with an identity id).
    legacyEvent = await insertEvent(db, "pay_ordered", Date.now() - 60_000);
    legacyId = (await deliveriesOf(db, legacyEvent))[0]!.id;
    await migrate(db);
  });
  after(async () => {
    await db.close();
    await store.cleanup();
  });

  test("the SQL key floor is the application's", async () => {
    for (const at of [Date.UTC(2020, 0, 1), Date.now(), Date.UTC(2049, 11, 31, 23, 59, 59, 999)]) {
      const { rows } = await db.query<{ id: bigint }>(
        "select centime_delivery_id_floor($1::timestamptz) as id",
        [new Date(at).toISOString()],
      );
      assert.equal(BigInt(rows[0]!.id), sequenceIdFloor(at));
    }
    // Still 18 digits in 2049: the back office's redeliver route accepts /^\d{1,18}$/.
    assert.equal(sequenceIdFloor(Date.UTC(2049, 11, 31)).toString().length, 18);
  });

  test("the legacy rows stay in place; the parent has the indexes and the endpoint key", async () => {
    const { rows } = await db.query<{ relkind: string }>(
      "select relkind from pg_class where relname = 'webhook_deliveries'",
    );
    assert.equal(rows[0]!.relkind, "p");
    const [legacy] = await deliveriesOf(db, legacyEvent);
    assert.equal(legacy!.id, legacyId);
    assert.equal(legacy!.part, "webhook_deliveries_legacy");
    const indexes = await db.query<{ name: string }>(
      "select indexname as name from pg_indexes where tablename = 'webhook_deliveries' order by 1",
    );
    assert.deepEqual(
      indexes.rows.map((r) => r.name),
      [
        "webhook_deliveries_created",
        "webhook_deliveries_due",
        "webhook_deliveries_endpoint",
        "webhook_deliveries_event",
        "webhook_deliveries_failed",
        "webhook_deliveries_object",
        "webhook_deliveries_pkey",
      ],
    );
    const tables = await partitionedTables(db);
    const deliveries = tables.find((t) => t.name === "webhook_deliveries");
    assert.equal(deliveries?.keyType, "bigint");
  });

  test("the fan-out gives new deliveries time-ordered ids, in event order", async () => {
    const before = sequenceIdFloor(Date.now() - 5_000);
    const first = await insertEvent(db, "pay_a");
    const second = await insertEvent(db, "pay_a");
    const after = sequenceIdFloor(Date.now() + 5_000);
    const [a] = await deliveriesOf(db, first);
    const [b] = await deliveriesOf(db, second);
    assert.ok(a!.id > before && a!.id < after, `${a!.id} carries the insertion time`);
    assert.ok(a!.id < b!.id, "ids follow the insertion order");
    assert.ok(a!.id > legacyId);
    // Before the cutover (the day after tomorrow), rows still belong to the legacy partition's range.
    assert.equal(a!.part, "webhook_deliveries_legacy");
  });

  test("a row in a day partition is claimed, updated in place and stays in its partition", async () => {
    const table = (await partitionedTables(db)).find((t) => t.name === "webhook_deliveries")!;
    const dayMs = table.cutoverAtMs + 2 * DAY_MS + 1234;
    const stamp = new Date(dayMs).toISOString().slice(0, 10).replaceAll("-", "");
    const eventId = await insertEvent(db, "pay_day");
    const id = sequenceIdFloor(dayMs) + 7n;
    // The delivery the fan-out made for it is moved to that day's key (as one minted that day would be).
    await db.query("update webhook_deliveries set id = $1 where event_id = $2", [id.toString(), eventId]);
    assert.deepEqual(
      (await deliveriesOf(db, eventId)).map((r) => r.part),
      [`webhook_deliveries_p${stamp}`],
    );
    const claimed = await claimDueDeliveries(db, { nowMs: Date.now(), limit: 100 });
    const mine = claimed.find((c) => c.id === id);
    assert.ok(mine, "the day partition's delivery is claimed");
    // The legacy delivery of pay_ordered and each pay_a delivery: per-object order holds across both.
    assert.ok(claimed.some((c) => c.id === legacyId));
    const recorded = await recordAttempts(
      db,
      [{ delivery: mine, result: { status: 204, latencyMs: 3 }, nowMs: Date.now() }],
      () => 0.5,
    );
    assert.equal(recorded[0]!.recorded, true);
    const [row] = await deliveriesOf(db, eventId);
    assert.deepEqual([row!.part, row!.status], [`webhook_deliveries_p${stamp}`, "succeeded"]);
  });

  test("per-object order: a later delivery waits behind a pending earlier one, legacy included", async () => {
    await db.query("update webhook_deliveries set status = 'canceled' where status = 'pending'");
    await db.query(
      "update webhook_deliveries set status = 'pending', next_attempt_at = now() + interval '1 hour' where id = $1",
      [legacyId.toString()],
    );
    const later = await insertEvent(db, "pay_ordered");
    const claimed = await claimDueDeliveries(db, { nowMs: Date.now(), limit: 100 });
    assert.ok(
      !claimed.some((c) => c.eventId === later),
      "waits behind the legacy delivery of the same object",
    );
    await db.query("update webhook_deliveries set status = 'succeeded' where id = $1", [legacyId.toString()]);
    const next = await claimDueDeliveries(db, { nowMs: Date.now(), limit: 100 });
    assert.ok(next.some((c) => c.eventId === later));
  });

  test("redelivery queues a new row with a larger time-ordered id", async () => {
    const redelivered = await redeliverEvent({ db, clock: systemClock }, scope, legacyEvent);
    assert.deepEqual(redelivered.webhook_endpoints, [endpointId]);
    const rows = await deliveriesOf(db, legacyEvent);
    assert.equal(rows.length, 2);
    assert.equal(rows[0]!.id, legacyId);
    assert.ok(rows[1]!.id >= sequenceIdFloor(Date.now() - 60_000));
    assert.ok(rows[1]!.id.toString().length <= 18);
  });

  test("the job drops expired delivery days whole; the prune deletes only outside day partitions", async () => {
    const table = (await partitionedTables(db)).find((t) => t.name === "webhook_deliveries")!;
    const stamp = (ms: number) => new Date(ms).toISOString().slice(0, 10).replaceAll("-", "");
    const dayMs = table.cutoverAtMs + 2 * DAY_MS;
    const eventId = await insertEvent(db, "pay_prune");
    const id = sequenceIdFloor(dayMs) + 99n;
    await db.query("update webhook_deliveries set id = $1, created = $2 where event_id = $3", [
      id.toString(),
      new Date(dayMs).toISOString(),
      eventId,
    ]);
    // 31 days on: past the 30-day retention by `created`, but the day is not whole-expired yet.
    await pruneEventsData(db, dayMs + 31 * DAY_MS);
    assert.equal((await deliveriesOf(db, eventId)).length, 1, "not deleted row by row");
    const report = await maintainPartitions(db, dayMs + 32 * DAY_MS, parseRetention("webhook_deliveries=30"));
    assert.ok(report.dropped.includes("webhook_deliveries_legacy"));
    assert.ok(report.dropped.includes(`webhook_deliveries_p${stamp(dayMs)}`));
    assert.ok(
      !report.dropped.includes(`webhook_deliveries_p${stamp(dayMs + 2 * DAY_MS)}`),
      "a day ending less than 30 days ago stays",
    );
    assert.equal((await deliveriesOf(db, eventId)).length, 0, "gone with its day");
    assert.ok(report.created.includes(`webhook_deliveries_p${stamp(dayMs + 39 * DAY_MS)}`));
  });

  test("deleting an endpoint still removes its deliveries in every partition", async () => {
    const eventId = await insertEvent(db, "pay_cascade");
    assert.equal((await deliveriesOf(db, eventId)).length, 1);
    await db.query("delete from webhook_endpoints where id = $1", [endpointId]);
    const { rows } = await db.query<{ n: number }>(
      "select count(*)::int as n from webhook_deliveries where endpoint_id = $1",
      [endpointId],
    );
    assert.equal(rows[0]!.n, 0);
  });
});
