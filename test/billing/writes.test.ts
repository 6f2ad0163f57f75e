/**
 * A billing batch's writes (src/billing/steps/writes.ts) on a real database, without the
 * scheduler: which subscriptions, payments, events, journals, audit records and jobs one batch
 * writes, with which columns and amounts. A job moved then dropped is deleted; a settlement that
 * changes nothing audits nothing; a decline gives back the whole cap reservation, a smaller
 * charge the rest. Written for mutation testing of writes.ts (see docs/testing.md).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type BillingContext, billingContext } from "../../src/billing/context.ts";
import { debtAccounts, debtTransfer } from "../../src/billing/engine.ts";
import type { JobRow, SubscriptionRow } from "../../src/billing/model.ts";
import { DEFAULT_DUNNING_POLICY } from "../../src/billing/policy.ts";
import { insertInto } from "../../src/billing/sql.ts";
import type { Item, SubscriptionPayment } from "../../src/billing/steps/types.ts";
import { BatchWrites } from "../../src/billing/steps/writes.ts";
import { Ledger } from "../../src/ledger/ledger.ts";
import type { ProviderRegistry } from "../../src/payments/index.ts";
import { openTestDatabase, type TestDatabase } from "../support/db.ts";
import { attempt, HOUR, MERCHANT, NOW, payment, settled, settlement, sub, usage } from "./writes-cases.ts";

let database: TestDatabase;
let ctx: BillingContext;
before(async () => {
  database = await openTestDatabase();
  ctx = billingContext({
    db: database.db,
    ledger: new Ledger(database.db),
    clock: { nowMs: () => NOW },
    providers: {} as ProviderRegistry,
  });
  const accounts = debtAccounts({ merchant_id: MERCHANT, mode: "test", currency: "EUR" });
  await ctx.ledger.ensureAccounts([accounts.debt, accounts.unbilled], NOW);
  const at = new Date(NOW - 40 * 24 * HOUR);
  await insertInto(database.db, "products", [
    {
      id: "prod_w",
      merchant_id: MERCHANT,
      mode: "test",
      name: "Game pass",
      description: null,
      parent_id: null,
      active: true,
      metadata: {},
      created: at,
      updated: at,
    },
  ]);
});
after(() => database.close());

/** Subscriptions and their jobs as the batch claimed them (attempts 2 each). */
async function seed(ids: string[]): Promise<Item[]> {
  const subs = ids.map((id) => sub(id));
  await insertInto(database.db, "subscriptions", subs);
  const jobs: JobRow[] = subs.map((s) => ({
    subscription_id: s.id,
    merchant_id: MERCHANT,
    mode: "test",
    clock_key: "",
    run_at: new Date(NOW),
    pending_payment_id: null,
    attempts: 2,
    created: s.created,
  }));
  await insertInto(database.db, "billing_jobs", jobs);
  return subs.map((s, i) => ({
    job: jobs[i]!,
    sub: s,
    rules: { partial_payments: true } as Item["rules"],
    policy: DEFAULT_DUNNING_POLICY,
    provider: { name: "sandbox" } as Item["provider"],
    capped: true,
    dayKey: "D2026-03-01",
    monthKey: "M2026-03",
  }));
}

async function flush(writes: BatchWrites, cap = usage().stub): Promise<void> {
  await database.db.transaction((tx) => writes.flush(ctx, tx, cap));
}

const q = async <T>(sql: string, params: unknown[] = []) => (await database.db.query<T>(sql, params)).rows;

test("a settlement: the subscription's changed columns, its events, its audit record, its job moved", async () => {
  const [item] = await seed(["sub_w1"]);
  const before = item!.sub;
  const now = new Date(NOW);
  const next: SubscriptionRow = {
    ...before,
    status: "past_due",
    anchor: new Date(NOW - HOUR),
    anchor_period: 1,
    period_index: 2,
    current_period_start: new Date(NOW - 2 * HOUR),
    current_period_end: new Date(NOW + 30 * 24 * HOUR),
    retry_count: 1,
    retry_started: now,
    ladder_step: 1,
    debt: 120n,
    debt_since: now,
    last_charge_at: now,
    last_reminder_at: now,
    charges_succeeded: 2,
    cancel_reason: "none_yet",
    canceled_at: new Date(NOW + 1),
    updated: now,
    metadata: { changed: "not written" },
  };
  const writes = new BatchWrites(NOW);
  const debt = debtTransfer(next, 120n, "debt_recorded", "pay_w1", NOW);
  writes.settlement(
    item!,
    settlement(next, {
      run_at_ms: NOW + 4 * HOUR,
      events: ["subscription.updated", "subscription.past_due"],
      transfers: [debt],
    }),
    ["subscription.receipt"],
  );
  await flush(writes);

  const [row] = await q<Record<string, unknown>>("select * from subscriptions where id = 'sub_w1'");
  const { metadata: _kept, ...written } = next;
  for (const [column, value] of Object.entries(written)) assert.deepEqual(row![column], value, column);
  assert.deepEqual(row!.metadata, {}, "only the settlement's columns travel");

  const events = await q<{ type: string; data: { object: { next_charge_at: string; status: string } } }>(
    "select type, data from events where object_id = 'sub_w1' order by id",
  );
  assert.deepEqual(
    events.map((e) => e.type),
    ["subscription.updated", "subscription.past_due", "subscription.receipt"],
  );
  for (const e of events) {
    assert.equal(e.data.object.status, "past_due");
    assert.equal(
      e.data.object.next_charge_at,
      new Date(NOW + 4 * HOUR).toISOString(),
      "the next charge is the job's next run",
    );
  }
  const [job] = await q<JobRow>("select * from billing_jobs where subscription_id = 'sub_w1'");
  assert.deepEqual(
    [job!.run_at.getTime(), job!.pending_payment_id, job!.attempts],
    [NOW + 4 * HOUR, null, 3],
  );
  const [transfer] = await q<{ amount: bigint; code: string; reference: string }>(
    "select amount, code, reference from ledger_transfers where id = $1",
    [debt.id],
  );
  assert.deepEqual({ ...transfer }, { amount: 120n, code: "debt_recorded", reference: "pay_w1" });
  const audits = await q<{
    actor: string;
    action: string;
    merchant_id: string;
    mode: string;
    changes: unknown;
  }>("select actor, action, merchant_id, mode, changes from audit_events where object = 'sub_w1'");
  assert.deepEqual(audits, [
    {
      actor: "system:billing_charges",
      action: "subscriptions.renewal",
      merchant_id: MERCHANT,
      mode: "test",
      changes: {
        status: { from: "active", to: "past_due" },
        period_index: { from: "1", to: "2" },
        debt: { from: "0", to: "120" },
        retry_count: { from: "0", to: "1" },
        ladder_step: { from: "0", to: "1" },
        charges_succeeded: { from: "1", to: "2" },
        events: ["subscription.updated", "subscription.past_due", "subscription.receipt"],
      },
    },
  ]);
});

test("jobs: one waits for its attempt, one ends (no next charge), one moved then dropped is deleted; no change, no audit", async () => {
  const [waiting, ended, dropped, other] = await seed(["sub_w2", "sub_w3", "sub_w4", "sub_w5"]);
  const writes = new BatchWrites(NOW);
  writes.settlement(
    waiting!,
    settlement(waiting!.sub, { run_at_ms: NOW + 300_000, pending_payment_id: "pay_wait" }),
  );
  writes.settlement(
    ended!,
    settlement({ ...ended!.sub, status: "canceled" }, { run_at_ms: null, events: ["subscription.canceled"] }),
  );
  writes.settlement(dropped!, settlement(dropped!.sub));
  writes.deleteJob(dropped!.job.subscription_id);
  writes.subscriptionEvents(other!.sub, []);
  await flush(writes);

  const jobs = await q<JobRow>(
    "select * from billing_jobs where subscription_id in ('sub_w2', 'sub_w3', 'sub_w4', 'sub_w5') order by subscription_id",
  );
  assert.deepEqual(
    jobs.map((j) => [j.subscription_id, j.run_at.getTime(), j.pending_payment_id, j.attempts]),
    [
      ["sub_w2", NOW + 300_000, "pay_wait", 3],
      ["sub_w5", NOW, null, 2],
    ],
  );
  const [ended_] = await q<{ status: string }>("select status from subscriptions where id = 'sub_w3'");
  assert.equal(ended_!.status, "canceled");
  const audits = await q<{ object: string; changes: Record<string, unknown> }>(
    "select object, changes from audit_events where object in ('sub_w2', 'sub_w3', 'sub_w4', 'sub_w5')",
  );
  assert.deepEqual(audits, [
    {
      object: "sub_w3",
      changes: { status: { from: "active", to: "canceled" }, events: ["subscription.canceled"] },
    },
  ]);
  // An ended subscription has no next charge; no event without a type.
  const events = await q<{ object_id: string; type: string; data: { object: { next_charge_at: unknown } } }>(
    "select object_id, type, data from events where object_id in ('sub_w2', 'sub_w3', 'sub_w4', 'sub_w5')",
  );
  assert.deepEqual(
    events.map((e) => [e.object_id, e.type, e.data.object.next_charge_at]),
    [["sub_w3", "subscription.canceled", null]],
  );
});

test("attempts: a new one is inserted with its events; an answer updates the known payment and logs its exchanges", async () => {
  const [fresh, known] = await seed(["sub_w6", "sub_w7"]);
  const sent = payment(fresh!, 500n);
  const earlier = payment(known!, 500n);
  // The earlier attempt was written by a batch before.
  const first = new BatchWrites(NOW - HOUR);
  first.sentAttempt({ ...attempt(known!, earlier, true), answer: null });
  await flush(first);

  const writes = new BatchWrites(NOW);
  writes.sentAttempt({ ...attempt(fresh!, sent, true), answer: null });
  const a = attempt(known!, earlier, false);
  const cap = usage();
  writes.settledAttempt(a, settled(a, "succeeded", 250n), cap.stub);
  await flush(writes, cap.stub);

  const payments = await q<SubscriptionPayment>(
    "select * from payments where id in ($1, $2) order by subscription_id",
    [sent.id, earlier.id],
  );
  assert.deepEqual(
    payments.map((p) => [p.id, p.status, p.amount, p.subscription_id]),
    [
      [sent.id, "processing", 500n, "sub_w6"],
      [earlier.id, "succeeded", 250n, "sub_w7"],
    ],
  );
  const answered = payments[1]!;
  assert.deepEqual(
    [
      answered.amount_captured,
      answered.failure_code,
      answered.provider_reference,
      answered.metadata,
      answered.updated.getTime(),
    ],
    [250n, null, "ref_1", { subscription: "sub_w7", answered: "yes" }, NOW],
  );
  const events = await q<{ type: string; payment_id: string }>(
    "select type, payment_id from events where payment_id in ($1, $2) order by id",
    [sent.id, earlier.id],
  );
  assert.deepEqual(events, [
    { type: "payment.created", payment_id: earlier.id },
    { type: "payment.processing", payment_id: earlier.id },
    { type: "payment.created", payment_id: sent.id },
    { type: "payment.processing", payment_id: sent.id },
    { type: "payment.succeeded", payment_id: earlier.id },
  ]);
  const interactions = await q<{ payment_id: string; operation: string; latency_ms: number }>(
    "select payment_id, operation, latency_ms from provider_interactions where payment_id in ($1, $2)",
    [sent.id, earlier.id],
  );
  assert.deepEqual(interactions, [{ payment_id: earlier.id, operation: "charge", latency_ms: 7 }]);
  assert.deepEqual(cap.adjusted, [["sub_w7", ["D", "M"], -250n]], "a smaller charge gives back the rest");
});

test("a new attempt answered in the same batch is inserted once, with its final state", async () => {
  const [item] = await seed(["sub_w8"]);
  const p = payment(item!, 500n);
  const writes = new BatchWrites(NOW);
  const a = attempt(item!, p, true);
  writes.settledAttempt(a, settled(a, "failed"), usage().stub);
  await flush(writes);
  const rows = await q<{ status: string; failure_code: string }>(
    "select status, failure_code from payments where id = $1",
    [p.id],
  );
  assert.deepEqual(
    rows.map((r) => ({ ...r })),
    [{ status: "failed", failure_code: "insufficient_funds" }],
  );
});

test("caps: a decline gives back the whole reservation, a smaller charge the rest; the rest keep theirs", () => {
  const items = [sub("c1"), sub("c2"), sub("c3"), sub("c4"), sub("c5")].map(
    (s) => ({ job: { subscription_id: s.id, attempts: 0 }, sub: s }) as unknown as Item,
  );
  const cap = usage();
  const writes = new BatchWrites(NOW);
  const of = (i: number, keys?: readonly [string, string] | null) =>
    attempt(items[i]!, payment(items[i]!, 500n), false, keys);
  const declined = of(0);
  writes.settledAttempt(declined, settled(declined, "failed"), cap.stub);
  const whole = of(1);
  writes.settledAttempt(whole, settled(whole, "succeeded"), cap.stub);
  const unknown = of(2);
  writes.settledAttempt(unknown, settled(unknown, "processing"), cap.stub);
  const uncapped = of(3, null);
  writes.settledAttempt(uncapped, settled(uncapped, "failed"), cap.stub);
  const partial = of(4);
  writes.settledAttempt(partial, settled(partial, "succeeded", 100n), cap.stub);
  assert.deepEqual(cap.adjusted, [
    ["c1", ["D", "M"], -500n],
    ["c5", ["D", "M"], -400n],
  ]);
});

test("a journal replayed is accepted; one the ledger refuses fails the whole batch", async () => {
  const [item] = await seed(["sub_w9"]);
  const journal = debtTransfer(item!.sub, 70n, "debt_recorded", "pay_w9", NOW);
  const once = new BatchWrites(NOW);
  once.settlement(item!, settlement(item!.sub, { transfers: [journal] }));
  await flush(once);
  const replay = new BatchWrites(NOW);
  replay.settlement(item!, settlement(item!.sub, { transfers: [journal], run_at_ms: NOW + 2 * HOUR }));
  await flush(replay);
  const changed = new BatchWrites(NOW);
  changed.settlement(
    item!,
    settlement(
      { ...item!.sub, status: "past_due" },
      { transfers: [{ ...journal, amount: 71n }], run_at_ms: NOW + 3 * HOUR },
    ),
  );
  await assert.rejects(
    flush(changed),
    /the ledger accepts a billing journal \(exists_with_different_fields\)/,
  );
  const [job] = await q<JobRow>("select * from billing_jobs where subscription_id = 'sub_w9'");
  const [row] = await q<{ status: string }>("select status from subscriptions where id = 'sub_w9'");
  assert.deepEqual([job!.run_at.getTime(), job!.attempts, row!.status], [NOW + 2 * HOUR, 3, "active"]);
  const transfers = await q<{ amount: bigint }>("select amount from ledger_transfers where id = $1", [
    journal.id,
  ]);
  assert.deepEqual(
    transfers.map((t) => t.amount),
    [70n],
  );
});
