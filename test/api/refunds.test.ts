/** Refunds: full and partial, and never past the captured amount, however many race. */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { reconcileDueRefunds } from "../../src/payments/reconcile.ts";
import { settleRefund } from "../../src/payments/refund.ts";
import {
  call,
  createMerchant,
  createTestApp,
  FakeClock,
  type MerchantKeys,
  sandboxPayment,
  type TestApp,
} from "../support/app.ts";
import { auditMerchantBooks } from "../support/auditor.ts";

let t: TestApp;
let m: MerchantKeys;

before(async () => {
  t = await createTestApp();
  m = await createMerchant(t.app);
});
after(async () => {
  // Whatever the tests above did, the merchant's books agree with its payments and refunds.
  await auditMerchantBooks(async (path) => (await call(t.app, "GET", path, { key: m.secretKey })).body);
  await t.close();
});

type Refund = { id: string; status: string; amount: number; payment: string };

async function paid(amount: number) {
  const r = await call<{ id: string }>(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: sandboxPayment("approve", { amount }),
  });
  assert.equal(r.status, 201);
  return r.body.id;
}

test("a full refund by default, then nothing is left", async () => {
  const id = await paid(900);
  const r = await call<Refund>(t.app, "POST", "/v1/refunds", { key: m.secretKey, body: { payment: id } });
  assert.equal(r.status, 201);
  assert.equal(r.body.status, "succeeded");
  assert.equal(r.body.amount, 900);
  const p = await call<{ amount_refunded: number }>(t.app, "GET", `/v1/payments/${id}`, { key: m.secretKey });
  assert.equal(p.body.amount_refunded, 900);
  const more = await call<{ error: { code: string; param: string } }>(t.app, "POST", "/v1/refunds", {
    key: m.secretKey,
    body: { payment: id, amount: 1 },
  });
  assert.equal(more.status, 400);
  assert.equal(more.body.error.code, "refund_exceeds_captured");
  assert.equal(more.body.error.param, "amount");
  // Without an amount a refund takes what is left: nothing, which is refused, not a refund of 0.
  const rest = await call<{ error: { code: string; param: string } }>(t.app, "POST", "/v1/refunds", {
    key: m.secretKey,
    body: { payment: id },
  });
  assert.equal(rest.status, 400);
  assert.equal(rest.body.error.code, "refund_exceeds_captured");
  assert.equal(rest.body.error.param, "amount");
  const balance = await call<{ available: Array<{ currency: string; amount: number }> }>(
    t.app,
    "GET",
    "/v1/balance",
    { key: m.secretKey },
  );
  assert.ok(balance.body.available.every((b) => b.amount >= 0));
});

// "Concurrent": on the embedded database (one connection) these transactions run one at a time;
// real races between them happen in the PostgreSQL run (.ci/run runs every test file on both).
test("50 concurrent partial refunds never sum past the capture", async () => {
  const captured = 1000;
  const id = await paid(captured);
  const amounts = Array.from({ length: 50 }, (_, i) => 30 + (i % 7) * 10);
  const replies = await Promise.all(
    amounts.map((amount) =>
      call<Refund>(t.app, "POST", "/v1/refunds", { key: m.secretKey, body: { payment: id, amount } }),
    ),
  );
  const accepted = replies.filter((r) => r.status === 201);
  const refused = replies.filter((r) => r.status !== 201);
  const total = accepted.reduce((sum, r) => sum + r.body.amount, 0);
  assert.ok(total <= captured, `refunded ${total} of ${captured}`);
  assert.ok(refused.length > 0, "some refunds had to be refused");
  for (const r of refused)
    assert.equal((r.body as unknown as { error: { code: string } }).error.code, "refund_exceeds_captured");
  const p = await call<{ amount_refunded: number }>(t.app, "GET", `/v1/payments/${id}`, { key: m.secretKey });
  assert.equal(p.body.amount_refunded, total);
  const { rows } = await t.services.db.query<{ n: bigint; sum: bigint }>(
    "select count(*) as n, coalesce(sum(amount), 0)::bigint as sum from ledger_transfers where code = 'refund' and reference in (select id from refunds where payment_id = $1)",
    [id],
  );
  assert.equal(rows[0]!.n, BigInt(accepted.length));
  assert.equal(rows[0]!.sum, BigInt(total));
});

test("property: any sequence of refund requests keeps refunded <= captured and the ledger in step", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 5000 }),
      fc.array(fc.integer({ min: 1, max: 3000 }), { maxLength: 8 }),
      async (captured, asks) => {
        const id = await paid(captured);
        let expected = 0;
        for (const amount of asks) {
          const r = await call<Refund>(t.app, "POST", "/v1/refunds", {
            key: m.secretKey,
            body: { payment: id, amount },
          });
          if (expected + amount <= captured) {
            assert.equal(r.status, 201);
            expected += amount;
          } else {
            assert.equal(r.status, 400);
          }
        }
        const p = await call<{ amount_refunded: number }>(t.app, "GET", `/v1/payments/${id}`, {
          key: m.secretKey,
        });
        assert.equal(p.body.amount_refunded, expected);
      },
    ),
    { numRuns: 15 },
  );
  const tb = await call<{ data: Array<{ debits: number; credits: number }> }>(
    t.app,
    "GET",
    "/v1/ledger/trial_balance",
    { key: m.secretKey },
  );
  for (const row of tb.body.data) assert.equal(row.debits, row.credits);
});

test("only succeeded payments can be refunded; unknown payments answer 404 naming the field", async () => {
  const failed = await call<{ id: string }>(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: sandboxPayment("decline_generic"),
  });
  const r = await call<{ error: { code: string } }>(t.app, "POST", "/v1/refunds", {
    key: m.secretKey,
    body: { payment: failed.body.id },
  });
  assert.equal(r.status, 409);
  assert.equal(r.body.error.code, "payment_unexpected_state");
  const missing = await call<{ error: { code: string; param: string } }>(t.app, "POST", "/v1/refunds", {
    key: m.secretKey,
    body: { payment: "pay_00000000000000000000000000" },
  });
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.param, "payment");
});

test("refunds appear on the payment's timeline with their provider interaction", async () => {
  const id = await paid(400);
  await call(t.app, "POST", "/v1/refunds", { key: m.secretKey, body: { payment: id, amount: 100 } });
  const tl = await call<{ data: Array<{ type: string; event?: string; operation?: string }> }>(
    t.app,
    "GET",
    `/v1/payments/${id}/timeline`,
    {
      key: m.secretKey,
    },
  );
  const names = tl.body.data.map((e) => e.event ?? e.operation);
  assert.deepEqual(names, [
    "payment.created",
    "charge",
    "payment.succeeded",
    "refund.created",
    "refund",
    "refund.succeeded",
  ]);
});

describe("refunds the provider refuses or answers later (sandbox refund scenarios)", () => {
  const clock = new FakeClock(Date.now());
  let timed: TestApp;
  let merchant: MerchantKeys;
  before(async () => {
    timed = await createTestApp({ clock });
    merchant = await createMerchant(timed.app);
  });
  after(() => timed.close());

  async function paidWith(scenario: string): Promise<string> {
    const r = await call<{ id: string; status: string }>(timed.app, "POST", "/v1/payments", {
      key: merchant.secretKey,
      body: sandboxPayment(scenario, { amount: 800 }),
    });
    assert.equal(r.status, 201);
    assert.equal(r.body.status, "succeeded", "the charge itself is approved");
    return r.body.id;
  }
  async function refund(payment: string, amount?: number) {
    return call<Refund & { failure_code: string | null }>(timed.app, "POST", "/v1/refunds", {
      key: merchant.secretKey,
      body: amount === undefined ? { payment } : { payment, amount },
    });
  }
  async function refunded(payment: string): Promise<number> {
    const p = await call<{ amount_refunded: number }>(timed.app, "GET", `/v1/payments/${payment}`, {
      key: merchant.secretKey,
    });
    return p.body.amount_refunded;
  }
  async function available(): Promise<number> {
    const b = await call<{ available: Array<{ currency: string; amount: number }> }>(
      timed.app,
      "GET",
      "/v1/balance",
      { key: merchant.secretKey },
    );
    return b.body.available.find((x) => x.currency === "EUR")?.amount ?? 0;
  }
  async function eventTypes(refundId: string): Promise<string[]> {
    const { rows } = await timed.services.db.query<{ type: string }>(
      "select type from events where object_id = $1",
      [refundId],
    );
    // A test clock in the past gives ids of one millisecond in no particular order: compare as sets.
    return rows.map((r) => r.type).sort();
  }

  test("a declined refund fails, moves no money and gives its reservation back", async () => {
    const payment = await paidWith("refund_declined");
    const before = await available();
    const r = await refund(payment);
    assert.equal(r.status, 201);
    assert.equal(r.body.status, "failed");
    assert.equal(r.body.failure_code, "refund_declined");
    assert.equal(await refunded(payment), 0);
    assert.equal(await available(), before, "the merchant's balance did not move");
    assert.deepEqual(await eventTypes(r.body.id), ["refund.created", "refund.failed"]);
    // The whole amount can be asked for again: nothing stayed reserved.
    const again = await refund(payment, 800);
    assert.equal(again.status, 201, JSON.stringify(again.body));
    assert.equal(again.body.status, "failed");
  });

  test("a pending refund holds its amount, then reconciliation settles it as succeeded, once", async () => {
    const payment = await paidWith("refund_pending_then_succeeded");
    const before = await available();
    const r = await refund(payment, 300);
    assert.equal(r.body.status, "pending");
    assert.equal(await available(), before, "nothing moves while the provider has not answered");
    assert.equal(await reconcileDueRefunds(timed.services.payments), 0, "not asked again before its delay");
    // The reserved 300 cannot be refunded twice meanwhile: 501 more would pass the capture.
    const over = await refund(payment, 501);
    assert.equal(over.status, 400);
    clock.advance(t.services.config.reconcileAfterMs + 1);
    assert.equal(await reconcileDueRefunds(timed.services.payments), 1);
    assert.equal(await reconcileDueRefunds(timed.services.payments), 0, "settled once");
    const settled = await call<Refund>(timed.app, "GET", `/v1/refunds/${r.body.id}`, {
      key: merchant.secretKey,
    });
    assert.equal(settled.body.status, "succeeded");
    assert.equal(await refunded(payment), 300);
    assert.equal(await available(), before - 300);
    assert.deepEqual(await eventTypes(r.body.id), ["refund.created", "refund.succeeded"]);
    // A late second answer (a crossed reconciliation) changes nothing: the first one won.
    await settleRefund(timed.services.payments, r.body.id, { status: "succeeded", interactions: [] });
    assert.equal(await refunded(payment), 300);
    assert.equal(await available(), before - 300);
    assert.deepEqual(await eventTypes(r.body.id), ["refund.created", "refund.succeeded"]);
  });

  test("a pending refund that ends failed releases its reservation and moves no money", async () => {
    const payment = await paidWith("refund_pending_then_failed");
    const before = await available();
    const r = await refund(payment);
    assert.equal(r.body.status, "pending");
    clock.advance(t.services.config.reconcileAfterMs + 1);
    assert.equal(await reconcileDueRefunds(timed.services.payments), 1);
    const settled = await call<Refund & { failure_code: string }>(
      timed.app,
      "GET",
      `/v1/refunds/${r.body.id}`,
      {
        key: merchant.secretKey,
      },
    );
    assert.equal(settled.body.status, "failed");
    assert.equal(settled.body.failure_code, "refund_declined");
    assert.equal(await refunded(payment), 0);
    assert.equal(await available(), before);
    const again = await refund(payment, 800);
    assert.equal(again.status, 201, "the full amount is refundable again");
  });
});
