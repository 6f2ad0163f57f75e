/**
 * Velocity observations are written off the payments' commits (docs/risk.md, "Observations"): in
 * one statement per flush, within OBSERVATION_FLUSH_MS; a process that starts reads back what
 * other processes observed before it, buffered ones included; a crash loses at most what was
 * observed in the last flush period; a database that refuses keeps them for the next flush.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Db } from "../../src/db/db.ts";
import { Risk } from "../../src/risk/index.ts";
import {
  OBSERVATION_BATCH_MAX,
  OBSERVATION_FLUSH_MS,
  type ObservationRow,
  RowBuffer,
} from "../../src/risk/observations.ts";
import { call, createMerchant, createTestApp, type MerchantKeys, type TestApp } from "../support/app.ts";

let t: TestApp;
let m: MerchantKeys;

before(async () => {
  t = await createTestApp();
  m = await createMerchant(t.app, "Observing studio");
  const rule = await call(t.app, "POST", "/v1/risk_rules", {
    key: m.secretKey,
    body: { name: "five an hour", rule: "block if payments_per_ip_1h > 5", mode: "enforce" },
  });
  assert.equal(rule.status, 201);
});
after(async () => t.close());

const scope = () => ({ merchantId: m.merchantId, mode: "test" as const });
const subject = (ip: string) => ({
  flow: "payment" as const,
  amount: 100,
  currency: "EUR",
  method: "sandbox",
  ip,
});

async function written(ip: string): Promise<number> {
  const { rows } = await t.database.db.query<{ n: number }>(
    "select count(*)::int as n from risk_observations where merchant_id = $1 and subject = $2",
    [m.merchantId, `ip:${ip}`],
  );
  return Number(rows[0]!.n);
}

/** A database as a process sees it until it dies: after `crash()` nothing more reaches it. */
function crashable(db: Db) {
  let crashed = false;
  const wrapped: Db = Object.create(db, {
    query: {
      value: (sql: string, params?: unknown[]) =>
        crashed ? Promise.reject(new Error("the process is gone")) : db.query(sql, params),
    },
  });
  return { db: wrapped, crash: () => (crashed = true) };
}

test("payments' observations are written without them, within the flush period, and counted by another process", async () => {
  const ip = "198.51.100.7";
  for (let i = 0; i < 3; i++) {
    const paid = await call<{ status: string }>(t.app, "POST", "/v1/payments", {
      key: m.secretKey,
      body: {
        amount: 100,
        currency: "EUR",
        payment_method: { type: "sandbox", scenario: "approve" },
        ip_address: ip,
      },
    });
    assert.equal(paid.body.status, "succeeded");
  }
  assert.equal(await t.services.risk.flushObservations(), true);
  assert.equal(await written(ip), 3, "the payments' observations, written after their commits");
  // Two more attempts this process has counted but not yet written.
  for (let i = 0; i < 2; i++) await t.services.risk.assess(scope(), subject(ip), Date.now());
  assert.equal(await written(ip), 3, "buffered");
  // Another process that first sees the merchant now reads back what this one observed, the
  // buffered ones included: its read-back waits two flush periods.
  const other = new Risk(t.database.db, t.clock);
  await other.seeded(scope());
  assert.equal(await written(ip), 5, "written by the first process's timer");
  const sixth = await other.assess(scope(), subject(ip), Date.now());
  assert.equal(sixth.action, "block");
  assert.deepEqual(sixth.rows[0]?.row.attribute_values, { payments_per_ip_1h: 6 });
  await other.close();
  assert.equal(await written(ip), 6, "the other process's own, written when it closed");
});

test("a crash loses at most the observations of the last flush period", async () => {
  const ip = "198.51.100.8";
  const { db, crash } = crashable(t.database.db);
  const dying = new Risk(db, t.clock);
  await dying.seeded(scope());
  for (let i = 0; i < 3; i++) await dying.assess(scope(), subject(ip), Date.now());
  // Older than the flush period: written, whatever happens next.
  await new Promise((resolve) => setTimeout(resolve, OBSERVATION_FLUSH_MS * 3));
  assert.equal(await written(ip), 3);
  await dying.assess(scope(), subject(ip), Date.now());
  await dying.assess(scope(), subject(ip), Date.now());
  crash();
  await new Promise((resolve) => setTimeout(resolve, OBSERVATION_FLUSH_MS * 2));
  assert.equal(await written(ip), 3, "the last period's two observations are lost");
  assert.equal(await dying.flushObservations(), false);
});

test("the writer: a full buffer is written at once in one statement; a refusal keeps the rows in order", async () => {
  const statements: number[] = [];
  let refuse = false;
  const db: Db = Object.create(t.database.db, {
    query: {
      value: (sql: string, params: unknown[]) => {
        if (refuse) return Promise.reject(new Error("refused"));
        statements.push((JSON.parse(params[0] as string) as unknown[]).length);
        return t.database.db.query(sql, params);
      },
    },
  });
  const writer = new RowBuffer<ObservationRow>(db, "risk_observations", 60_000);
  const row = (n: number): ObservationRow => ({
    created: new Date(),
    merchant_id: m.merchantId,
    mode: "test",
    kind: "payment",
    subject: `ip:203.0.113.${n % 250}`,
    value: `w${n}`,
  });
  writer.add(Array.from({ length: OBSERVATION_BATCH_MAX - 1 }, (_, n) => row(n)));
  assert.equal(writer.pending, OBSERVATION_BATCH_MAX - 1, "not full: waits for the timer");
  writer.add([row(OBSERVATION_BATCH_MAX - 1)]);
  assert.equal(await writer.flush(), true);
  assert.deepEqual(statements, [OBSERVATION_BATCH_MAX], "written when full, in one statement");
  refuse = true;
  writer.add([row(1), row(2)]);
  assert.equal(await writer.flush(), false);
  assert.equal(writer.pending, 2, "kept");
  refuse = false;
  writer.add([row(3)]);
  await writer.close();
  assert.equal(writer.pending, 0);
  assert.deepEqual(statements, [OBSERVATION_BATCH_MAX, 3]);
  const { rows } = await t.database.db.query<{ value: string }>(
    "select value from risk_observations where merchant_id = $1 and value in ('w1', 'w2', 'w3') order by created, value",
    [m.merchantId],
  );
  assert.equal(rows.filter((r) => r.value === "w1").length, 2, "the full batch's w1 and the kept one");
  assert.equal(rows.filter((r) => r.value === "w3").length, 2);
});
