/**
 * Three scheduler loops on separate connections over one due set (on PostgreSQL; the embedded
 * engine has one connection, so there they interleave on it): no duplicate charge, no miss.
 * The charger is remote (attempts are committed before the operator is called), answers some
 * attempts with timeouts, and one loop "crashes" (stops forever) after sending charges whose
 * answers it never writes. A recovery run after the lease settles those by asking the operator.
 * Another loop's in-process charger throws inside the claiming transaction, which must leave no
 * trace. The operator's own record (which attempts it charged) is compared with our payments.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { billingContext } from "../../src/billing/context.ts";
import { debtAccounts, SYNC_AFTER_MS } from "../../src/billing/engine.ts";
import { type SubscriptionRow, unchargedSchedule } from "../../src/billing/model.ts";
import { type ResolvedRules, rulesFor } from "../../src/billing/rules.ts";
import { type BillingContext, runBillingBatch } from "../../src/billing/scheduler.ts";
import { insertInto } from "../../src/billing/sql.ts";
import type { Db } from "../../src/db/db.ts";
import { openPostgres } from "../../src/db/postgres.ts";
import { Ledger } from "../../src/ledger/ledger.ts";
import type {
  ChargeOutcome,
  ChargeRequest,
  ProviderAnswer,
  SyncRequest,
} from "../../src/payments/provider.ts";
import { paymentAccounts } from "../../src/payments/transitions.ts";
import { newId } from "../../src/platform/ids.ts";
import { createMerchant, createTestApp, FakeClock, type TestApp } from "../support/app.ts";
import { interaction, TestProvider } from "./sim/world.ts";

const SUBSCRIPTIONS = 1500;
const NOW_MS = Date.parse("2026-05-04T12:00:00Z");
const CRASH_AFTER_CHARGES = 120;
const THROW_AFTER_CHARGES = 40;

let t: TestApp;
const extraDbs: Db[] = [];
before(async () => {
  t = await createTestApp({ clock: new FakeClock(NOW_MS) });
});
after(async () => {
  for (const db of extraDbs) await db.close();
  await t.close();
});

/** FNV-1a: the operator's answer is a function of our attempt id, so any process agrees on it. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** What the operator did with an attempt it received. */
function operatorCharged(attemptId: string): boolean {
  return hash(attemptId) % 10 !== 0;
}

class Operator extends TestProvider {
  calls = 0;
  constructor(
    override readonly inProcess: boolean,
    private readonly sent: Map<string, number>,
    private readonly failAfter: number | null,
    private readonly failure: "hang" | "throw",
  ) {
    super();
  }

  async charge(request: ChargeRequest): Promise<ProviderAnswer> {
    this.calls++;
    if (this.failAfter !== null && this.calls > this.failAfter) {
      // A crash: this worker never answers (hang) or dies inside its transaction (throw).
      if (this.failure === "hang") await new Promise(() => {});
      throw new Error("worker crashed");
    }
    this.sent.set(request.attemptId, (this.sent.get(request.attemptId) ?? 0) + 1);
    const charged = operatorCharged(request.attemptId);
    const timeout = hash(`t${request.attemptId}`) % 7 === 0;
    const outcome: ChargeOutcome = timeout
      ? { status: "unknown", reason: "timeout" }
      : charged
        ? { status: "succeeded", reference: request.attemptId }
        : { status: "declined", code: "invalid", message: "SVC0270", retryable: true };
    return { outcome, interactions: [interaction("charge", request.attemptId, outcome)] };
  }

  async sync(request: SyncRequest): Promise<ProviderAnswer> {
    // Asking never charges: the answer is whatever the operator did with the attempt, if it got it.
    const received = this.sent.has(request.attemptId);
    const outcome: ChargeOutcome = !received
      ? { status: "unknown", reason: "sync_not_found" }
      : operatorCharged(request.attemptId)
        ? { status: "succeeded", reference: request.attemptId }
        : { status: "declined", code: "invalid", message: "SVC0270", retryable: true };
    return { outcome, interactions: [interaction("sync", request.attemptId, outcome)] };
  }
}

/** Windows always open and a high TPS: this test is about claims, not about hours. */
function rules(country: string | null, operator: string | null): ResolvedRules {
  return {
    ...rulesFor(country, operator),
    window_minutes: { start_minute: 0, end_minute: 1440 },
    tps_max: 100_000,
  };
}

async function seed(merchantId: string): Promise<void> {
  const db = t.services.db;
  const accounts = paymentAccounts({
    merchant_id: merchantId,
    mode: "test",
    provider: "sandbox",
    currency: "EUR",
  });
  const debt = debtAccounts({ merchant_id: merchantId, mode: "test", currency: "EUR" });
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
      currency: "EUR",
      period: "P1M",
      country: "DE",
      operator: i % 2 === 0 ? "26201" : "26202",
      time_zone: "Europe/Berlin",
      payment_method: { type: "sandbox", scenario: "approve" },
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
}

async function loop(ctx: BillingContext, nowMs: number): Promise<number> {
  let claimed = 0;
  for (;;) {
    let r: Awaited<ReturnType<typeof runBillingBatch>>;
    try {
      r = await runBillingBatch(ctx, { nowMs, batchSize: 50 });
    } catch (error) {
      // The in-transaction crash: the batch rolled back; this worker stops.
      assert.match(String(error), /worker crashed/);
      return claimed;
    }
    claimed += r.claimed;
    if (r.claimed === 0) return claimed;
  }
}

test("three scheduler loops over one due set: no duplicate, no miss, crashes included", async () => {
  const merchant = await createMerchant(t.app, "Concurrency studio");
  await seed(merchant.merchantId);
  const sent = new Map<string, number>();
  const url = t.database.url;
  const connection = async (): Promise<Db> => {
    if (!url) return t.services.db;
    const db = await openPostgres({ url, poolSizeMax: 2 });
    extraDbs.push(db);
    return db;
  };
  const context = async (operator: Operator): Promise<BillingContext> => {
    const db = await connection();
    return billingContext({
      db,
      ledger: url ? new Ledger(db) : t.services.ledger,
      clock: { nowMs: () => NOW_MS },
      providers: t.services.payments.providers.with(operator),
      rules,
    });
  };
  const hanging = new Operator(false, sent, CRASH_AFTER_CHARGES, "hang");
  const throwing = new Operator(true, sent, THROW_AFTER_CHARGES, "throw");
  const healthy = new Operator(false, sent, null, "hang");
  const [a, b, c] = await Promise.all([context(hanging), context(throwing), context(healthy)]);
  // The hanging worker's loop never ends: it is not awaited (its process "died").
  void loop(a, NOW_MS);
  await Promise.all([loop(b, NOW_MS), loop(c, NOW_MS)]);

  // After the lease, a recovery run asks about every attempt whose answer was never written.
  const recovery = await context(new Operator(false, sent, null, "hang"));
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
    attempt_id: string;
    subscription_id: string;
    billing_period: number | null;
  }>(
    "select id, status, attempt_id, subscription_id, billing_period from payments where subscription_id is not null",
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

  // No miss: every subscription was charged for its period or is in dunning after a real decline;
  // nothing is left unknown.
  assert.equal(payments.filter((p) => p.status === "processing").length, 0, "all unknown outcomes settled");
  const attempted = new Set(payments.map((p) => p.subscription_id));
  for (const s of subs) {
    assert.ok(attempted.has(s.id), `${s.id} was never attempted`);
    const paid = successes.has(`${s.id}/0`);
    assert.equal(s.period_index, paid ? 1 : 0, `${s.id} period index`);
    if (!paid) assert.equal(s.status, "past_due", `${s.id} unpaid but ${s.status}`);
  }

  // Our payments are what the operator did: charged exactly when it says so.
  for (const p of payments) {
    const received = sent.has(p.attempt_id);
    assert.equal(p.status === "succeeded", received && operatorCharged(p.attempt_id), `${p.id} ${p.status}`);
  }
  assert.ok(hanging.calls > CRASH_AFTER_CHARGES, "the hanging worker crashed mid-run");
  assert.ok(throwing.calls > THROW_AFTER_CHARGES, "the throwing worker crashed mid-run");

  const { rows: trial } = await db.query<{ debits: bigint; credits: bigint }>(
    "select sum(debits_posted)::bigint as debits, sum(credits_posted)::bigint as credits from ledger_balances",
  );
  assert.equal(trial[0]?.debits, trial[0]?.credits);
});
