/**
 * Three scheduler loops on separate connections over one due set, charging through the real
 * carrier connector (OneAPI, Globe 51502) against the carrier network simulator: no duplicate
 * charge, no miss, crashes included.
 *
 * Real races happen only on PostgreSQL (CI's PostgreSQL run): the embedded engine has one
 * connection, so there the loops interleave on it one transaction at a time.
 *
 * - One loop "crashes" (stops forever) after some charges: half of its last attempts were sent
 *   to the operator and their answers never written, half never left the worker.
 * - One loop dies inside its claiming transaction (its database fails the batch's writes), which
 *   must leave no trace: nothing was sent, since remote attempts are sent after commit.
 * - The healthy loop loses some answers on the way back (the operator charged; we hear nothing).
 * A recovery run after the lease asks the operator about every unknown: what it charged is
 * settled as succeeded, what it never received is given up after 15 minutes (attempt_not_found).
 * The simulator's own records (by our attempt id) are compared with our payments.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { billingContext } from "../../src/billing/context.ts";
import { debtAccounts, SYNC_AFTER_MS } from "../../src/billing/engine.ts";
import { type SubscriptionRow, unchargedSchedule } from "../../src/billing/model.ts";
import { type ResolvedRules, rulesFor } from "../../src/billing/rules.ts";
import { type BillingContext, runBillingBatch } from "../../src/billing/scheduler.ts";
import { insertInto } from "../../src/billing/sql.ts";
import { closeConnectors, getOperator } from "../../src/connectors/operators/index.ts";
import type { Db, Queryable } from "../../src/db/db.ts";
import { openPostgres } from "../../src/db/postgres.ts";
import { Ledger } from "../../src/ledger/ledger.ts";
import type { PaymentProvider } from "../../src/payments/provider.ts";
import { paymentAccounts } from "../../src/payments/transitions.ts";
import { newId } from "../../src/platform/ids.ts";
import { defaultBalance } from "../../src/simulator/network.ts";
import { startTestSimulator } from "../connectors/support/fixtures.ts";
import { createMerchant, createTestApp, FakeClock, type TestApp } from "../support/app.ts";

const SUBSCRIPTIONS = 300;
const OPERATOR = "51502";
const SCOPE = `${OPERATOR}/oneapi`;
const NOW_MS = Date.parse("2026-05-04T12:00:00Z");
const CRASH_AFTER_CHARGES = 40;
const THROW_AFTER_BATCHES = 2;

let t: TestApp;
let sim: Awaited<ReturnType<typeof startTestSimulator>>;
const extraDbs: Db[] = [];
before(async () => {
  sim = await startTestSimulator(13);
  // This test is about claims, not about the operator's TPS (set before any connector exists).
  const operator = getOperator(OPERATOR);
  if (operator) operator.tps_max = 100_000;
  t = await createTestApp({ clock: new FakeClock(NOW_MS) });
});
after(async () => {
  for (const db of extraDbs) await db.close();
  await closeConnectors();
  await t.close();
  await sim.close();
});

/** FNV-1a: which answers the healthy worker loses is a function of our attempt id. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The real carrier provider, counting what it sends, with a worker's failure on top. */
function worker(
  sent: Map<string, number>,
  failure: "none" | "crash" | "lose_answers",
): PaymentProvider & {
  calls: number;
} {
  const real = t.services.payments.providers.require("carrier");
  const wrapper = Object.create(real) as PaymentProvider & { calls: number };
  wrapper.calls = 0;
  wrapper.charge = async (request) => {
    wrapper.calls++;
    if (failure === "crash" && wrapper.calls > CRASH_AFTER_CHARGES) {
      // The process dies: before the request left (odd calls) or after, its answer never written.
      if (wrapper.calls % 2 === 1) return new Promise(() => {});
      sent.set(request.attemptId, (sent.get(request.attemptId) ?? 0) + 1);
      await real.charge(request);
      return new Promise(() => {});
    }
    sent.set(request.attemptId, (sent.get(request.attemptId) ?? 0) + 1);
    const answer = await real.charge(request);
    if (failure === "lose_answers" && hash(request.attemptId) % 7 === 0)
      return { outcome: { status: "unknown", reason: "timeout" }, interactions: [] };
    return answer;
  };
  return wrapper;
}

/** A database whose transactions fail at the batch's writes after some batches (a crash). */
function dyingDb(db: Db): Db {
  let batches = 0;
  return {
    kind: db.kind,
    writeConcurrencyMax: db.writeConcurrencyMax,
    query: (sql, params) => db.query(sql, params),
    close: () => db.close(),
    transaction: (work) =>
      db.transaction((tx) => {
        const dying: Queryable = {
          query: async (sql, params) => {
            if (sql.trimStart().startsWith("update billing_jobs") && ++batches > THROW_AFTER_BATCHES)
              throw new Error("worker crashed");
            return tx.query(sql, params);
          },
        };
        return work(dying);
      }),
  };
}

/** Windows always open and a high TPS: this test is about claims, not about hours. */
function rules(country: string | null, operator: string | null): ResolvedRules {
  return {
    ...rulesFor(country, operator),
    window_minutes: { start_minute: 0, end_minute: 1440 },
    tps_max: 100_000,
  };
}

/** A subscriber number of the simulator's "normal" kind (100.00 PHP of credit). */
const msisdnOf = (i: number) => `+639178${String(i + 1000).padStart(6, "0")}`;

async function seed(merchantId: string): Promise<SubscriptionRow[]> {
  const db = t.services.db;
  const accounts = paymentAccounts({
    merchant_id: merchantId,
    mode: "test",
    provider: "carrier",
    currency: "PHP",
  });
  const debt = debtAccounts({ merchant_id: merchantId, mode: "test", currency: "PHP" });
  await t.services.ledger.ensureAccounts(
    [accounts.clearing, accounts.available, debt.debt, debt.unbilled],
    NOW_MS,
  );
  const subs: SubscriptionRow[] = [];
  for (let i = 0; i < SUBSCRIPTIONS; i++) {
    const at = new Date(NOW_MS - 60_000);
    subs.push({
      id: newId("sub", NOW_MS),
      merchant_id: merchantId,
      mode: "test",
      customer_id: `cus_c${i}`,
      price_id: "price_x",
      product_id: "prod_x",
      status: "active",
      amount: BigInt(100 + (i % 50)),
      currency: "PHP",
      period: "P1M",
      country: "PH",
      operator: OPERATOR,
      time_zone: "Asia/Manila",
      payment_method: { type: "carrier", msisdn: msisdnOf(i), operator: OPERATOR, flow: "direct" },
      consent: { method: "web", recorded_at: at.toISOString() },
      next_action: null,
      ...unchargedSchedule(at),
      test_clock_id: null,
      metadata: {},
      created: at,
      updated: at,
    });
  }
  await insertInto(db, "subscriptions", subs);
  await insertInto(
    db,
    "billing_jobs",
    subs.map((s) => ({
      subscription_id: s.id,
      merchant_id: s.merchant_id,
      mode: s.mode,
      clock_key: "",
      run_at: s.anchor,
      pending_payment_id: null,
      attempts: 0,
      created: s.created,
    })),
  );
  return subs;
}

async function loop(ctx: BillingContext, nowMs: number): Promise<number> {
  let claimed = 0;
  for (;;) {
    let r: Awaited<ReturnType<typeof runBillingBatch>>;
    try {
      r = await runBillingBatch(ctx, { nowMs, batchSize: 25 });
    } catch (error) {
      // The in-transaction crash: the batch rolled back; this worker stops.
      assert.match(String(error), /worker crashed/);
      return claimed;
    }
    claimed += r.claimed;
    if (r.claimed === 0) return claimed;
  }
}

// "Concurrent": on the embedded database (one connection) these transactions run one at a time;
// real races between them happen in the PostgreSQL run (.ci/run runs every test file on both).
test("three scheduler loops over one due set through the real connector: no duplicate, no miss, crashes included", async () => {
  const merchant = await createMerchant(t.app, "Concurrency studio");
  const seeded = await seed(merchant.merchantId);
  const sent = new Map<string, number>();
  const url = t.database.url;
  const connection = async (): Promise<Db> => {
    if (!url) return t.services.db;
    const db = await openPostgres({ url, poolSizeMax: 2 });
    extraDbs.push(db);
    return db;
  };
  const context = async (provider: PaymentProvider, dies = false): Promise<BillingContext> => {
    const db = await connection();
    return billingContext({
      db: dies ? dyingDb(db) : db,
      ledger: url ? new Ledger(db) : t.services.ledger,
      clock: { nowMs: () => NOW_MS },
      providers: t.services.payments.providers.with(provider),
      rules,
    });
  };
  const crashing = worker(sent, "crash");
  const healthy = worker(sent, "lose_answers");
  const [a, b, c] = await Promise.all([
    context(crashing),
    context(worker(sent, "none"), true),
    context(healthy),
  ]);
  // The crashed worker's loop never ends: it is not awaited (its process "died").
  void loop(a, NOW_MS);
  await Promise.all([loop(b, NOW_MS), loop(c, NOW_MS)]);

  // After the lease, a recovery run asks about every attempt whose answer was never written.
  const recovery = await context(worker(sent, "none"));
  const later = NOW_MS + SYNC_AFTER_MS + 60_000;
  for (let round = 0; round < 20; round++) {
    await loop(recovery, later + round * (SYNC_AFTER_MS + 1000));
    const { rows } = await t.services.db.query("select 1 from payments where status = 'processing' limit 1");
    if (rows.length === 0) break;
  }

  const db = t.services.db;
  const { rows: payments } = await db.query<{
    id: string;
    status: string;
    amount: bigint;
    attempt_id: string;
    subscription_id: string;
    billing_period: number | null;
    failure_code: string | null;
  }>(
    `select id, status, amount, attempt_id, subscription_id, billing_period, failure_code
     from payments where subscription_id is not null`,
  );
  const { rows: subs } = await db.query<{ id: string; status: string; period_index: number }>(
    "select id, status, period_index from subscriptions",
  );

  // No duplicate: at most one success per subscription and period; no attempt sent twice.
  const successes = new Map<string, number>();
  for (const p of payments) {
    if (p.status !== "succeeded") continue;
    const key = `${p.subscription_id}/${p.billing_period}`;
    successes.set(key, (successes.get(key) ?? 0) + 1);
  }
  for (const [key, n] of successes) assert.equal(n, 1, `${key} succeeded ${n} times`);
  for (const [attempt, n] of sent) assert.equal(n, 1, `${attempt} sent ${n} times`);

  // No miss: every subscription was charged for its period or is in dunning after a decline;
  // nothing is left unknown.
  assert.equal(payments.filter((p) => p.status === "processing").length, 0, "all unknown outcomes settled");
  const attempted = new Set(payments.map((p) => p.subscription_id));
  for (const s of subs) {
    assert.ok(attempted.has(s.id), `${s.id} was never attempted`);
    const paid = successes.has(`${s.id}/0`);
    assert.equal(s.period_index, paid ? 1 : 0, `${s.id} period index`);
    if (!paid) assert.equal(s.status, "past_due", `${s.id} unpaid but ${s.status}`);
  }

  // Our payments are what the operator did, by its own records: charged exactly when succeeded,
  // and an attempt it never received failed as not found.
  let notFound = 0;
  for (const p of payments) {
    const txn = sim.network.txnByKey(SCOPE, p.attempt_id);
    assert.equal(
      p.status === "succeeded",
      txn?.status === "charged",
      `${p.id} ${p.status} vs ${txn?.status}`,
    );
    if (txn?.status === "charged") assert.equal(txn.amount, p.amount);
    if (!txn) {
      // Never received: given up after 15 minutes, or refused by the connector before it left
      // (its rate limiter or circuit breaker).
      assert.ok(
        p.failure_code === "attempt_not_found" || p.failure_code === "provider_unavailable",
        `${p.id} never reached the operator: ${p.failure_code}`,
      );
      if (p.failure_code === "attempt_not_found") notFound++;
    }
  }
  assert.ok(notFound > 0, "some attempts died before they were sent");
  // And every subscriber's credit went down by exactly what succeeded.
  const paidBy = new Map<string, bigint>();
  for (const p of payments) if (p.status === "succeeded") paidBy.set(p.subscription_id, p.amount);
  for (const [i, s] of seeded.entries()) {
    // The simulator's default balance is per currency (about 100 USD worth: PHP 5,700.00).
    const balance = sim.network.findSubscriber(msisdnOf(i))?.balance ?? defaultBalance("PHP");
    assert.equal(balance, defaultBalance("PHP") - (paidBy.get(s.id) ?? 0n), `${s.id} credit`);
  }
  assert.ok(crashing.calls > CRASH_AFTER_CHARGES, "the crashing worker crashed mid-run");
  assert.ok(healthy.calls > 0, "the healthy worker charged");

  // The ledger: the merchant's available money is exactly what succeeded.
  const captured = payments.filter((p) => p.status === "succeeded").reduce((sum, p) => sum + p.amount, 0n);
  const { rows: available } = await db.query<{ credits: bigint; debits: bigint }>(
    `select coalesce(sum(b.credits_posted), 0)::bigint as credits, coalesce(sum(b.debits_posted), 0)::bigint as debits
     from ledger_balances b join ledger_accounts a on a.id = b.account_id
     where a.merchant_id = $1 and a.purpose = 'available'`,
    [merchant.merchantId],
  );
  assert.equal((available[0]?.credits ?? 0n) - (available[0]?.debits ?? 0n), captured);
});
