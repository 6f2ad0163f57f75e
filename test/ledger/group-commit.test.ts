/**
 * Group commit's documented guarantees under injected failures: a deadlock or serialization
 * failure retries the whole batch without duplicating anything, and a request that cannot commit
 * falls back to request-by-request commits where it alone fails, with nothing of it written
 * (no key, no rows, no transfer, no balance change) and everything of its neighbours written once.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type CommitUnit, GroupCommitter } from "../../src/commit/group-commit.ts";
import type { Db, Queryable } from "../../src/db/db.ts";
import { type Account, Ledger, movement } from "../../src/ledger/index.ts";
import { newId } from "../../src/platform/ids.ts";
import { Metrics } from "../../src/platform/metrics.ts";
import { openTestDatabase, type TestDatabase } from "../support/db.ts";
import { clearingAndAvailable } from "../support/ledger.ts";

let database: TestDatabase;
let ledger: Ledger;
let payer: Account;
let merchant: Account;
const MERCHANT = "acct_groupcommit";

before(async () => {
  database = await openTestDatabase();
  ledger = new Ledger(database.db);
  ({ clearing: payer, available: merchant } = await clearingAndAvailable(ledger, MERCHANT));
});
after(() => database.close());

/** A database whose transactions fail on purpose: `failNext` times with a code, or on a marker. */
class FaultyDb implements Db {
  readonly kind;
  readonly writeConcurrencyMax;
  transactions = 0;
  /** Transactions the committer opened itself (a batch written as one statement is not one). */
  explicitTransactions = 0;
  failNext: Array<"40P01" | "40001"> = [];
  constructor(private readonly inner: Db) {
    this.kind = inner.kind;
    this.writeConcurrencyMax = inner.writeConcurrencyMax;
  }
  query<Row>(sql: string, params?: readonly unknown[]) {
    // A batch written as one statement is its own transaction: it fails the same way, at its end.
    if (sql.includes("group_commit_check(")) {
      this.transactions++;
      const code = this.failNext.shift();
      return this.inner.transaction(async (tx) => {
        const result = await tx.query<Row>(sql, params);
        if (code) throw Object.assign(new Error(`injected ${code}`), { code });
        return result;
      });
    }
    return this.inner.query<Row>(sql, params);
  }
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
    this.transactions++;
    this.explicitTransactions++;
    const code = this.failNext.shift();
    return this.inner.transaction(async (tx) => {
      const result = await work(tx);
      // After the writes, before the commit: the whole transaction must roll back.
      if (code) throw Object.assign(new Error(`injected ${code}`), { code });
      return result;
    });
  }
  close() {
    return this.inner.close();
  }
}

function unit(label: string, amount: bigint, nowMs: number, options: { poison?: boolean } = {}): CommitUnit {
  const eventId = newId("evt", nowMs);
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
          id: eventId,
          merchant_id: MERCHANT,
          mode: "test",
          // A null type breaks a NOT NULL constraint: this request can never commit.
          type: options.poison ? null : "test.event",
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
        amount,
        currency: "EUR",
        code: "test",
        reference: label,
        nowMs,
      }),
    ],
    nowMs,
  };
}

async function written(labels: readonly string[]) {
  const q = database.db;
  const keys = await q.query<{ key: string }>(
    "select key from idempotency_keys where merchant_id = $1 and key = any($2::text[])",
    [MERCHANT, labels],
  );
  const events = await q.query<{ object_id: string }>(
    "select object_id from events where object_id = any($1::text[])",
    [labels],
  );
  const transfers = await q.query<{ reference: string }>(
    "select reference from ledger_transfers where reference = any($1::text[])",
    [labels],
  );
  const sorted = (rows: Array<Record<string, string>>, column: string) => rows.map((r) => r[column]!).sort();
  return {
    keys: sorted(keys.rows, "key"),
    events: sorted(events.rows, "object_id"),
    transfers: sorted(transfers.rows, "reference"),
  };
}

async function merchantCredits(): Promise<bigint> {
  const balances = await ledger.balances(database.db, [merchant.id]);
  return balances.get(merchant.id)?.creditsPosted ?? 0n;
}

test("a deadlock and a serialization failure retry the batch: every request commits exactly once", async () => {
  const db = new FaultyDb(database.db);
  const committer = new GroupCommitter(db, ledger, { batchSizeMax: 64, concurrencyMax: 1 });
  db.failNext = ["40P01", "40001"];
  const before = await merchantCredits();
  const nowMs = Date.now();
  const labels = Array.from({ length: 10 }, (_, i) => `retry-${nowMs}-${i}`);
  const outcomes = await Promise.all(labels.map((l) => committer.submit(unit(l, 100n, nowMs))));
  await committer.close();

  assert.deepEqual(
    outcomes.map((o) => o.ok),
    labels.map(() => true),
  );
  assert.equal(db.failNext.length, 0, "both injected failures were met");
  assert.ok(db.transactions >= 3, "the batch ran again after each failure");
  const seen = await written(labels);
  const expected = [...labels].sort();
  assert.deepEqual(seen, { keys: expected, events: expected, transfers: expected });
  assert.equal(await merchantCredits(), before + 1_000n, "ten transfers of 100, none twice");
});

test("a request that cannot commit fails alone: its neighbours commit once, nothing of it is written", async () => {
  const db = new FaultyDb(database.db);
  const committer = new GroupCommitter(db, ledger, { batchSizeMax: 64, concurrencyMax: 1 });
  const before = await merchantCredits();
  const nowMs = Date.now();
  const labels = Array.from({ length: 6 }, (_, i) => `fallback-${nowMs}-${i}`);
  const poisoned = labels[3]!;
  const settled = await Promise.allSettled(
    labels.map((l) => committer.submit(unit(l, 10n, nowMs, { poison: l === poisoned }))),
  );
  await committer.close();

  settled.forEach((s, i) => {
    if (labels[i] === poisoned) assert.equal(s.status, "rejected", "the bad request fails");
    else assert.deepEqual(s.status === "fulfilled" && s.value, { ok: true }, `${labels[i]} commits`);
  });
  assert.ok(db.transactions >= 1 + labels.length, "one batch, then one transaction per request");
  const good = labels.filter((l) => l !== poisoned).sort();
  assert.deepEqual(await written(labels), { keys: good, events: good, transfers: good });
  assert.equal(await merchantCredits(), before + 50n, "five transfers of 10; the failed one moved nothing");
});

test("a key another writer holds drops only that request, with nothing of it written", async () => {
  const committer = new GroupCommitter(database.db, ledger, { batchSizeMax: 64, concurrencyMax: 1 });
  const nowMs = Date.now();
  const taken = `taken-${nowMs}`;
  assert.deepEqual(await committer.submit(unit(taken, 7n, nowMs)), { ok: true });
  const before = await merchantCredits();
  const labels = [`free-${nowMs}-a`, `free-${nowMs}-b`];
  // The same key again, with its own event and transfer under other ids.
  const again = unit(taken, 7n, nowMs);
  again.rows[0]!.row.object_id = `${taken}-again`;
  again.transfers = [
    movement({
      from: payer.id,
      to: merchant.id,
      amount: 7n,
      currency: "EUR",
      code: "test",
      reference: `${taken}-again`,
      nowMs,
    }),
  ];
  const outcomes = await Promise.all([
    committer.submit(unit(labels[0]!, 1n, nowMs)),
    committer.submit(again),
    committer.submit(unit(labels[1]!, 1n, nowMs)),
  ]);
  await committer.close();
  assert.deepEqual(outcomes, [{ ok: true }, { ok: false, reason: "idempotency_conflict" }, { ok: true }]);
  assert.deepEqual(await written([`${taken}-again`]), { keys: [], events: [], transfers: [] });
  assert.equal(await merchantCredits(), before + 2n);
});

test("a batch that needs no read is one statement, its own transaction; a taken key fails it whole, then a transaction drops that request", async () => {
  const db = new FaultyDb(database.db);
  const metrics = new Metrics();
  const committer = new GroupCommitter(db, ledger, { batchSizeMax: 64, concurrencyMax: 1 }, metrics);
  const nowMs = Date.now();
  const first = [`single-${nowMs}-a`, `single-${nowMs}-b`];
  assert.deepEqual(await Promise.all(first.map((l) => committer.submit(unit(l, 3n, nowMs)))), [
    { ok: true },
    { ok: true },
  ]);
  assert.equal(db.transactions, 1, "one statement for the batch");
  assert.equal(db.explicitTransactions, 0, "and no transaction around it");

  const before = await merchantCredits();
  const again = unit(first[0]!, 5n, nowMs);
  again.transfers = [
    movement({
      from: payer.id,
      to: merchant.id,
      amount: 5n,
      currency: "EUR",
      code: "test",
      reference: "x",
      nowMs,
    }),
  ];
  const fresh = `single-${nowMs}-c`;
  const outcomes = await Promise.all([committer.submit(again), committer.submit(unit(fresh, 3n, nowMs))]);
  await committer.close();
  assert.deepEqual(outcomes, [{ ok: false, reason: "idempotency_conflict" }, { ok: true }]);
  assert.equal((await metrics.commitOneStatementRefused.get()).values[0]?.value, 1, "the statement refused");
  assert.ok(db.explicitTransactions >= 1, "then a transaction found which key");
  assert.equal(await merchantCredits(), before + 3n, "nothing of the refused statement stayed");
  assert.deepEqual((await written([fresh])).transfers, [fresh]);
});
