/**
 * The group commit's audit records (issue 12): they go in the batch's one statement, after the
 * lane head the committer remembers. One record per committed write, the chain valid, when another
 * writer (another process's committer, a job) moves the lane meanwhile and under concurrent
 * batches of two committers sharing their lanes.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  AuditLanes,
  type RequestAudit,
  recordSystem,
  runAudited,
  verifyAuditChain,
} from "../../src/audit/index.ts";
import { type CommitUnit, GroupCommitter } from "../../src/commit/group-commit.ts";
import { type Account, Ledger, movement } from "../../src/ledger/index.ts";
import { newId } from "../../src/platform/ids.ts";
import { Metrics } from "../../src/platform/metrics.ts";
import { openTestDatabase, type TestDatabase } from "../support/db.ts";
import { clearingAndAvailable } from "../support/ledger.ts";

let database: TestDatabase;
let ledger: Ledger;
let payer: Account;
let merchant: Account;
const MERCHANT = "acct_auditlanes";

before(async () => {
  database = await openTestDatabase();
  ledger = new Ledger(database.db);
  ({ clearing: payer, available: merchant } = await clearingAndAvailable(ledger, MERCHANT));
});
after(() => database.close());

function unit(label: string, nowMs: number): CommitUnit {
  return {
    idempotency: {
      merchantId: MERCHANT,
      mode: "test",
      key: label,
      requestHash: "h",
      statusCode: 201,
      responseBody: "{}",
      createdMs: nowMs,
    },
    rows: [
      {
        table: "events",
        row: {
          id: newId("evt", nowMs),
          merchant_id: MERCHANT,
          mode: "test",
          type: "test.event",
          object_id: label,
          payment_id: null,
          data: { label },
          created: new Date(nowMs),
        },
      },
    ],
    transfers: [
      movement({
        from: payer.id,
        to: merchant.id,
        amount: 1n,
        currency: "EUR",
        code: "test",
        reference: label,
        nowMs,
      }),
    ],
    nowMs,
  };
}

/** Submits a unit as a request of `actor` would: its audit record joins the commit. */
function submitAudited(committer: GroupCommitter, actor: string, label: string) {
  const context: RequestAudit = {
    actor: { id: actor, kind: "api_key", credential: actor, merchantId: MERCHANT, mode: "test" },
    action: "events.create",
    ip: "192.0.2.1",
    userAgent: "lanes-test",
    requestId: `req_${label}`,
    changes: { label },
    objectHint: null,
    recorded: false,
  };
  return runAudited(context, () => committer.submit(unit(label, Date.now())));
}

async function recordsOf(actor: string) {
  const { rows } = await database.db.query<{ object: string; request_id: string; lane: number; seq: string }>(
    "select object, request_id, lane, seq::text as seq from audit_events where actor = $1",
    [actor],
  );
  return rows;
}

async function moved(metrics: Metrics): Promise<number> {
  return (await metrics.auditLaneMoved.get()).values[0]?.value ?? 0;
}

test("a lane moved by another writer: the batch runs again after the new head, recorded once", async () => {
  const metrics = new Metrics();
  // Both start at lane 0, as two processes whose random offsets are the same.
  const a = new GroupCommitter(
    database.db,
    ledger,
    { batchSizeMax: 64, concurrencyMax: 1, lanes: new AuditLanes(0) },
    metrics,
  );
  const b = new GroupCommitter(database.db, ledger, {
    batchSizeMax: 64,
    concurrencyMax: 1,
    lanes: new AuditLanes(0),
  });
  assert.deepEqual(await submitAudited(a, "key_moved", "moved-1"), { ok: true }); // a remembers lane 0's head
  assert.deepEqual(await submitAudited(b, "key_moved", "moved-2"), { ok: true }); // b moves it
  assert.equal(await moved(metrics), 0);
  assert.deepEqual(await submitAudited(a, "key_moved", "moved-3"), { ok: true }); // a's head is stale
  assert.equal(await moved(metrics), 1, "the stale head was caught and the batch ran again");
  assert.deepEqual(await submitAudited(a, "key_moved", "moved-4"), { ok: true });
  assert.equal(await moved(metrics), 1, "after the locked read the head is known again");
  await Promise.all([a.close(), b.close()]);

  const records = await recordsOf("key_moved");
  assert.deepEqual(records.map((r) => r.request_id).sort(), [
    "req_moved-1",
    "req_moved-2",
    "req_moved-3",
    "req_moved-4",
  ]);
  assert.ok(records.every((r) => r.object.startsWith("evt_")));
  // Within each lane the records are numbered without a gap: nothing of the first attempt stayed.
  const byLane = new Map<number, number[]>();
  for (const r of records) byLane.set(r.lane, [...(byLane.get(r.lane) ?? []), Number(r.seq)]);
  assert.deepEqual(byLane.get(0)?.sort(), [1, 2], "a and b each wrote lane 0 once");
  // The moved lane went to the end of a's preference: its next batches took lane 1.
  assert.deepEqual(byLane.get(1)?.sort(), [1, 2]);
  const verified = await verifyAuditChain(database.db);
  assert.equal(verified.valid, true, JSON.stringify(verified.first_broken));
});

test("two committers sharing lanes, a job writing too, keys taken twice: one record per committed write, chain valid", async () => {
  const metrics = new Metrics();
  const concurrencyMax = database.db.writeConcurrencyMax;
  const a = new GroupCommitter(
    database.db,
    ledger,
    { batchSizeMax: 8, concurrencyMax, lanes: new AuditLanes(3) },
    metrics,
  );
  const b = new GroupCommitter(
    database.db,
    ledger,
    { batchSizeMax: 8, concurrencyMax, lanes: new AuditLanes(3) },
    metrics,
  );
  const submitted: Array<Promise<unknown>> = [];
  const labels: string[] = [];
  for (let i = 0; i < 200; i++) {
    const label = `busy-${i}`;
    labels.push(label);
    submitted.push(submitAudited(i % 2 === 0 ? a : b, "key_busy", label));
    // Every tenth key is sent to the other committer too: one of the two wins it.
    if (i % 10 === 0) submitted.push(submitAudited(i % 2 === 0 ? b : a, "key_busy", label));
    if (i % 25 === 0)
      submitted.push(
        database.db.transaction((tx) =>
          recordSystem(tx, "lanes-test", { action: "test.job", object: `job-${i}` }, Date.now()),
        ),
      );
  }
  const outcomes = (await Promise.all(submitted)) as Array<{ ok: boolean; reason?: string } | undefined>;
  await Promise.all([a.close(), b.close()]);
  const committed = outcomes.filter((o) => o?.ok === true).length;
  assert.equal(committed, 200, "each key committed once");
  assert.equal(outcomes.filter((o) => o?.ok === false && o.reason === "idempotency_conflict").length, 20);

  const records = await recordsOf("key_busy");
  assert.equal(records.length, 200, "one record per committed write");
  assert.deepEqual(records.map((r) => r.request_id).sort(), labels.map((l) => `req_${l}`).sort());
  const jobs = await recordsOf("system:lanes-test");
  assert.equal(jobs.length, 8);
  const verified = await verifyAuditChain(database.db);
  assert.equal(verified.valid, true, JSON.stringify(verified.first_broken));
  // Lanes are gapless: a batch that ran again left nothing behind.
  const { rows } = await database.db.query<{ lane: number; n: string; top: string }>(
    "select lane, count(*)::text as n, max(seq)::text as top from audit_events group by lane",
  );
  for (const r of rows) assert.equal(r.n, r.top, `lane ${r.lane} has no gap or duplicate`);
  if (database.url) console.log(`  (batches run again after a moved lane: ${await moved(metrics)})`);
});
