/**
 * Step 5 of a billing batch (src/billing/steps/enact.ts), without a database: what each plan
 * becomes (a job moved or deleted, a settlement without a charge, an attempt), with a recording
 * stand-in for the batch's writes. Written for mutation testing of enact.ts.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Plan, Settlement } from "../../src/billing/engine.ts";
import { SYNC_AFTER_MS } from "../../src/billing/engine.ts";
import type { JobRow, SubscriptionRow } from "../../src/billing/model.ts";
import { DEFAULT_DUNNING_POLICY } from "../../src/billing/policy.ts";
import type { Claim } from "../../src/billing/steps/claim.ts";
import { enact, recordRemote } from "../../src/billing/steps/enact.ts";
import {
  type Attempt,
  emptyReport,
  type Item,
  type SubscriptionPayment,
} from "../../src/billing/steps/types.ts";
import type { BatchWrites } from "../../src/billing/steps/writes.ts";
import { subscriptionRow } from "./subscription-row.ts";

const NOW = Date.parse("2026-03-01T10:00:00Z");

function sub(id: string, extra: Partial<SubscriptionRow> = {}): SubscriptionRow {
  const created = new Date(NOW - 86_400_000);
  return subscriptionRow({
    id,
    period: "month",
    anchor: created,
    created,
    period_index: 3,
    charges_succeeded: 0,
    ...extra,
  });
}

function item(id: string, extra: Partial<SubscriptionRow> = {}, capped = false): Item {
  const job = { subscription_id: id, pending_payment_id: "pay_wait", attempts: 2 } as unknown as JobRow;
  return {
    job,
    sub: sub(id, extra),
    rules: { partial_payments: true } as Item["rules"],
    policy: DEFAULT_DUNNING_POLICY,
    provider: { name: "sandbox" } as Item["provider"],
    capped,
    dayKey: "D2026-03-01",
    monthKey: "M2026-03",
  };
}

/** Records every call enact makes on the batch's writes. */
function recorder() {
  const calls: Array<[string, ...unknown[]]> = [];
  const writes = {
    deleteJob: (id: string) => calls.push(["deleteJob", id]),
    moveJob: (job: JobRow, runAtMs: number, pending: string | null) =>
      calls.push(["moveJob", job.subscription_id, runAtMs, pending]),
    settlement: (it: Item, s: Settlement, extra?: readonly string[]) =>
      calls.push(["settlement", it.sub.id, s, extra]),
    sentAttempt: (a: Attempt) => calls.push(["sentAttempt", a.payment.id]),
  } as unknown as BatchWrites;
  return { calls, writes };
}

function claim(pending: Array<[string, Partial<SubscriptionPayment>]> = [], orphans: string[] = []): Claim {
  return {
    items: [],
    orphans,
    pending: new Map(pending.map(([id, p]) => [id, { id, ...p } as SubscriptionPayment])),
  };
}

test("orphans and drops delete their jobs; deferrals move them and are counted by reason", () => {
  const { calls, writes } = recorder();
  const report = emptyReport();
  const attempts = enact(
    [
      { item: item("sub_a"), plan: { kind: "drop" } },
      { item: item("sub_b"), plan: { kind: "defer", run_at_ms: NOW + 60_000, reason: "outside_window" } },
      { item: item("sub_c"), plan: { kind: "defer", run_at_ms: NOW + 120_000, reason: "outside_window" } },
      { item: item("sub_d"), plan: { kind: "defer", run_at_ms: NOW + 5, reason: "cap_reached" } },
    ],
    claim([], ["sub_gone"]),
    writes,
    report,
    NOW,
  );
  assert.deepEqual(attempts, []);
  assert.deepEqual(calls, [
    ["deleteJob", "sub_gone"],
    ["deleteJob", "sub_a"],
    ["moveJob", "sub_b", NOW + 60_000, "pay_wait"],
    ["moveJob", "sub_c", NOW + 120_000, "pay_wait"],
    ["moveJob", "sub_d", NOW + 5, "pay_wait"],
  ]);
  assert.equal(report.deferred, 3);
  assert.deepEqual(report.deferredBy, { outside_window: 2, cap_reached: 1 });
  assert.equal(report.charged, 0);
  assert.equal(report.synced, 0);
});

test("a skipped charge settles as a failed attempt for dunning, with its own event; nothing is charged", () => {
  const { calls, writes } = recorder();
  const report = emptyReport();
  const attempts = enact(
    [{ item: item("sub_s"), plan: { kind: "skip", reason: "balance_low" } }],
    claim(),
    writes,
    report,
    NOW,
  );
  assert.deepEqual(attempts, []);
  assert.equal(calls.length, 1);
  const [name, id, s, extra] = calls[0]!;
  assert.equal(name, "settlement");
  assert.equal(id, "sub_s");
  assert.deepEqual(extra, ["subscription.charge_skipped"]);
  const settled = s as Settlement;
  assert.equal(settled.sub.status, "past_due", "dunning starts");
  assert.equal(settled.sub.retry_count, 1);
  assert.equal(settled.used, 0n);
  assert.equal(report.charged, 0);
});

test("giving up cancels (writing off debt); a write-off clears the debt and runs the job again now", () => {
  const { calls, writes } = recorder();
  enact(
    [
      {
        item: item("sub_g", {
          retry_count: 3,
          retry_started: new Date(NOW - 6 * 86_400_000),
          status: "past_due",
        }),
        plan: { kind: "give_up", reason: "retries_exhausted" },
      },
      {
        item: item("sub_w", { debt: 700n, debt_since: new Date(NOW - 40 * 86_400_000) }),
        plan: { kind: "write_off" },
      },
    ],
    claim(),
    writes,
    emptyReport(),
    NOW,
  );
  assert.equal(calls.length, 2);
  const gaveUp = calls[0]![2] as Settlement;
  assert.equal(calls[0]![1], "sub_g");
  assert.equal(gaveUp.sub.status, "canceled");
  assert.equal(gaveUp.sub.cancel_reason, "retries_exhausted");
  assert.equal(gaveUp.run_at_ms, null);
  // The subscription itself, copied: everything but what giving up changes is kept.
  assert.equal(gaveUp.sub.id, "sub_g");
  assert.equal(gaveUp.sub.amount, 500n);
  assert.equal(gaveUp.sub.merchant_id, "mer_1");
  const written = calls[1]![2] as Settlement;
  assert.equal(calls[1]![1], "sub_w");
  assert.equal(calls[1]![3], undefined, "no extra events");
  assert.equal(written.sub.debt, 0n);
  assert.equal(written.sub.debt_since, null);
  assert.equal(written.sub.updated.getTime(), NOW);
  assert.equal(written.run_at_ms, NOW);
  assert.equal(written.pending_payment_id, null);
  assert.deepEqual(written.events, ["subscription.debt_written_off"]);
  assert.equal(written.transfers.length, 1);
  assert.equal(written.transfers[0]!.amount, 700n);
  assert.equal(written.used, 0n);
});

test("a sync asks about the attempt the job waits for, if it is still processing; otherwise the job forgets it", () => {
  const { calls, writes } = recorder();
  const report = emptyReport();
  const created = new Date(NOW - 1000);
  const attempts = enact(
    [
      { item: item("sub_p", {}, true), plan: { kind: "sync", payment_id: "pay_period" } },
      { item: item("sub_d"), plan: { kind: "sync", payment_id: "pay_debt" } },
      { item: item("sub_x"), plan: { kind: "sync", payment_id: "pay_done" } },
      { item: item("sub_y"), plan: { kind: "sync", payment_id: "pay_lost" } },
    ],
    claim([
      ["pay_period", { status: "processing", billing_period: 3, amount: 250n, created }],
      ["pay_debt", { status: "processing", billing_period: null, amount: 80n, created }],
      ["pay_done", { status: "succeeded", billing_period: 3, amount: 500n, created }],
    ]),
    writes,
    report,
    NOW,
  );
  assert.equal(report.synced, 2);
  assert.deepEqual(calls, [
    ["moveJob", "sub_x", NOW, null],
    ["moveJob", "sub_y", NOW, null],
  ]);
  assert.deepEqual(
    attempts.map((a) => [a.item.sub.id, a.payment.id, a.isNew, a.purpose, a.reserved, a.usageKeys, a.answer]),
    [
      ["sub_p", "pay_period", false, "period", 250n, ["D2026-03-01", "M2026-03"], null],
      ["sub_d", "pay_debt", false, "debt", 80n, null, null],
    ],
  );
});

test("a charge becomes a new attempt of the planned amount, reserved under the caps when capped", () => {
  const { calls, writes } = recorder();
  const report = emptyReport();
  const charge = (purpose: "period" | "debt", amount: bigint): Plan => ({
    kind: "charge",
    purpose,
    amount,
    billing_period: purpose === "period" ? 3 : null,
    percent: 100,
  });
  const attempts = enact(
    [
      { item: item("sub_1", {}, true), plan: charge("period", 500n) },
      { item: item("sub_2"), plan: charge("debt", 120n) },
    ],
    claim(),
    writes,
    report,
    NOW,
  );
  assert.deepEqual(calls, []);
  assert.equal(report.charged, 2);
  assert.deepEqual(
    attempts.map((a) => [
      a.item.sub.id,
      a.isNew,
      a.purpose,
      a.reserved,
      a.usageKeys,
      a.answer,
      a.payment.amount,
    ]),
    [
      ["sub_1", true, "period", 500n, ["D2026-03-01", "M2026-03"], null, 500n],
      ["sub_2", true, "debt", 120n, null, null, 120n],
    ],
  );
  assert.equal(attempts[0]!.payment.billing_period, 3);
  assert.equal(attempts[1]!.payment.billing_period, null);
});

test("remote attempts: new ones are recorded, and every job points at its attempt until a sync", () => {
  const { calls, writes } = recorder();
  const a = (id: string, isNew: boolean) =>
    ({ item: item(id), payment: { id: `pay_${id}` }, isNew }) as unknown as Attempt;
  recordRemote([a("n", true), a("o", false)], writes, NOW);
  assert.deepEqual(calls, [
    ["sentAttempt", "pay_n"],
    ["moveJob", "n", NOW + SYNC_AFTER_MS, "pay_n"],
    ["moveJob", "o", NOW + SYNC_AFTER_MS, "pay_o"],
  ]);
});
