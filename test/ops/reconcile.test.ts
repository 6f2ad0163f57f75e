/**
 * Reconciliation of an attempt whose provider cannot say what happened: it is asked again with
 * exponential backoff up to a cap (not every 2 s), and after CENTIME_RECONCILE_UNRESOLVED_AFTER_MS
 * it is flagged for a person (one `payment.attempt_unresolved` event, listed at
 * GET /v1/payments/unresolved) and stays `processing` instead of being decided failed. When the
 * provider answers at last, the payment settles and leaves the list.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { PaymentProvider, ProviderAnswer } from "../../src/payments/provider.ts";
import { reconcileDelayMs, reconcileDuePayments } from "../../src/payments/reconcile.ts";
import {
  call,
  createMerchant,
  createTestApp,
  FakeClock,
  type MerchantKeys,
  sandboxPayment,
  type TestApp,
} from "../support/app.ts";

const clock = new FakeClock(Date.parse("2026-03-02T10:00:00Z"));
let t: TestApp;
let m: MerchantKeys;
let answer: ProviderAnswer["outcome"] = { status: "unknown", reason: "sync_not_found" };
const asked: number[] = [];

before(async () => {
  t = await createTestApp({ clock, config: { reconcileAfterMs: 2_000 } });
  m = await createMerchant(t.app);
  const sandbox = t.services.payments.providers.get("sandbox")!;
  // The provider lost its records (a restarted simulator): it answers "no such attempt" until told.
  const forgetful: PaymentProvider = Object.assign(Object.create(sandbox) as PaymentProvider, {
    async sync() {
      asked.push(clock.nowMs());
      return { outcome: answer, interactions: [] };
    },
  });
  t.services.payments.providers = t.services.payments.providers.with(forgetful);
});
after(() => t.close());

const OPTIONS = { backoffMaxMs: 300_000, unresolvedAfterMs: 900_000, random: () => 0.5 };

async function runFor(ms: number, stepMs = 2_000): Promise<void> {
  for (let elapsed = 0; elapsed < ms; elapsed += stepMs) {
    clock.advance(stepMs);
    await reconcileDuePayments(t.services.payments, undefined, OPTIONS);
  }
}

test("the delay doubles from the first check and stops at the cap, with bounded jitter", () => {
  assert.equal(
    reconcileDelayMs(1, 2_000, 300_000, () => 0.5),
    4_000,
  );
  assert.equal(
    reconcileDelayMs(2, 2_000, 300_000, () => 0.5),
    8_000,
  );
  assert.equal(
    reconcileDelayMs(20, 2_000, 300_000, () => 0.5),
    300_000,
  );
  assert.equal(
    reconcileDelayMs(20, 2_000, 300_000, () => 1),
    300_000,
    "jitter never passes the cap",
  );
  assert.equal(
    reconcileDelayMs(3, 2_000, 300_000, () => 0),
    12_800,
  );
});

test("an attempt nobody can account for: backoff, then flagged for a person, never failed", async () => {
  const created = await call<{ id: string; status: string }>(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: sandboxPayment("timeout_then_approve"),
  });
  assert.equal(created.status, 201);
  assert.equal(created.body.status, "processing");
  const id = created.body.id;

  await runFor(9 * 60_000);
  // Every 2 s would be ~270 calls; with doubling from 2 s: 2, 4, 8, … 256 s.
  assert.ok(asked.length >= 7 && asked.length <= 10, `asked ${asked.length} times in 9 minutes`);
  const gaps = asked.slice(1).map((at, i) => at - asked[i]!);
  for (let i = 1; i < gaps.length; i++) {
    assert.ok(gaps[i]! >= gaps[i - 1]!, `gaps never shrink: ${gaps.join(", ")}`);
  }

  const before15 = await call<{ data: unknown[] }>(t.app, "GET", "/v1/payments/unresolved", {
    key: m.secretKey,
  });
  assert.equal(before15.status, 200);
  assert.equal(before15.body.data.length, 0, "not flagged before 15 minutes");

  // Checks at 2, 6, 14, … 510 s, then every 300 s: the one at 1,110 s (18.5 min) is past 15 minutes.
  await runFor(10 * 60_000, 10_000);
  const payment = await call<{ status: string; failure_code: string | null }>(
    t.app,
    "GET",
    `/v1/payments/${id}`,
    {
      key: m.secretKey,
    },
  );
  assert.equal(payment.body.status, "processing", "not decided failed");
  assert.equal(payment.body.failure_code, null);

  const list = await call<{
    data: Array<{
      id: string;
      status: string;
      reconciliation: { status: string; unresolved_since: string; checks: number };
    }>;
  }>(t.app, "GET", "/v1/payments/unresolved", { key: m.secretKey });
  assert.equal(list.status, 200);
  assert.deepEqual(
    list.body.data.map((p) => p.id),
    [id],
  );
  assert.equal(list.body.data[0]!.reconciliation.status, "unresolved");
  assert.ok(list.body.data[0]!.reconciliation.checks >= 8);

  const events = async () =>
    (
      await t.database.db.query<{ n: bigint }>(
        "select count(*) as n from events where object_id = $1 and type = 'payment.attempt_unresolved'",
        [id],
      )
    ).rows[0]!.n;
  assert.equal(await events(), 1n, "one event when flagged");
  await runFor(20 * 60_000, 30_000);
  assert.equal(await events(), 1n, "still one event while it stays unresolved");
  const lateGaps = asked
    .slice(-3)
    .map((at, i, all) => (i === 0 ? 0 : at - all[i - 1]!))
    .slice(1);
  for (const gap of lateGaps)
    assert.ok(gap <= 330_000 && gap >= 240_000, `asked at the cap: ${lateGaps.join(", ")}`);

  // Another merchant sees nothing of it.
  const other = await createMerchant(t.app, "Other");
  const theirs = await call<{ data: unknown[] }>(t.app, "GET", "/v1/payments/unresolved", {
    key: other.secretKey,
  });
  assert.equal(theirs.body.data.length, 0);

  // The provider finds its records: the payment settles and leaves the list.
  answer = { status: "succeeded", reference: "found-it" };
  await runFor(6 * 60_000, 30_000);
  const settled = await call<{ status: string; amount_captured: number }>(
    t.app,
    "GET",
    `/v1/payments/${id}`,
    {
      key: m.secretKey,
    },
  );
  assert.equal(settled.body.status, "succeeded");
  assert.equal(settled.body.amount_captured, 500);
  const after = await call<{ data: unknown[] }>(t.app, "GET", "/v1/payments/unresolved", {
    key: m.secretKey,
  });
  assert.equal(after.body.data.length, 0);
});
