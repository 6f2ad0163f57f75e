/** 50 concurrent spends on one wallet never take it below zero. */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { call, createMerchant, createTestApp, type MerchantKeys, type TestApp } from "../support/app.ts";
import { assertLedgerSound, customer, innerCurrency, wallet } from "./support.ts";

let t: TestApp;
let m: MerchantKeys;

before(async () => {
  t = await createTestApp();
  m = await createMerchant(t.app);
  await innerCurrency(t.app, m, "GEMS");
});
after(() => t.close());

test("50 concurrent spends of 30 on a wallet holding 1,000 in three grants: 33 succeed, 17 get 402, balance 10", async () => {
  const c = await customer(t.app, m);
  for (const [amount, category] of [
    [400, "paid"],
    [300, "promotional"],
    [300, "paid"],
  ] as const)
    await call(t.app, "POST", "/v1/wallet_grants", {
      key: m.secretKey,
      body: { customer: c, currency: "GEMS", amount, category },
    });
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, i) =>
      call<{ status: string; error?: { code: string } }>(t.app, "POST", "/v1/payments", {
        key: m.secretKey,
        headers: { "idempotency-key": `spend-${i}` },
        body: {
          amount: 30,
          currency: "GEMS",
          customer: c,
          payment_method: { type: "wallet" },
          capture: i % 2 ? "manual" : "automatic",
        },
      }),
    ),
  );
  const ok = results.filter((r) => r.status === 201);
  const short = results.filter((r) => r.status === 402);
  const others = results.filter((r) => r.status !== 201 && r.status !== 402);
  assert.deepEqual(
    others.map((r) => [r.status, r.body]),
    [],
  );
  assert.equal(ok.length, 33);
  assert.equal(short.length, 17);
  assert.ok(short.every((r) => r.body.error?.code === "insufficient_funds"));
  assert.equal((await wallet(t.app, m, c, "GEMS")).balance, 10);
  await assertLedgerSound(t.services.db);
});

test("concurrent refunds of one customer's wallet payments all succeed: each refund's money goes back in one ledger call, never a deadlock", async () => {
  const c = await customer(t.app, m);
  await call(t.app, "POST", "/v1/wallet_grants", {
    key: m.secretKey,
    body: { customer: c, currency: "GEMS", amount: 2000, category: "paid" },
  });
  const payments: string[] = [];
  for (let i = 0; i < 20; i++) {
    const r = await call<{ id: string; status: string }>(t.app, "POST", "/v1/payments", {
      key: m.secretKey,
      body: { amount: 70, currency: "GEMS", customer: c, payment_method: { type: "wallet" } },
    });
    assert.equal(r.body.status, "succeeded", JSON.stringify(r.body));
    payments.push(r.body.id);
  }
  // Two refunds per payment (the whole, and half), all at once: they wrote the refund and its wallet
  // credit in two ledger statements, each on its own balance slot, and deadlocked (500) on PostgreSQL.
  const results = await Promise.all(
    payments.flatMap((payment) =>
      [undefined, 35].map((amount) =>
        call<{ status: string; error?: { code: string } }>(t.app, "POST", "/v1/refunds", {
          key: m.secretKey,
          body: amount === undefined ? { payment } : { payment, amount },
        }),
      ),
    ),
  );
  const unexpected = results.filter(
    (r) => r.status !== 201 && r.body.error?.code !== "refund_exceeds_captured",
  );
  assert.deepEqual(
    unexpected.map((r) => [r.status, r.body]),
    [],
  );
  const refunded = results.filter((r) => r.status === 201 && r.body.status === "succeeded");
  const w = await wallet(t.app, m, c, "GEMS");
  // 2,000 granted, 1,400 spent, and what the refunds gave back.
  const { rows } = await t.services.db.query<{ total: bigint }>(
    "select coalesce(sum(amount), 0)::bigint as total from refunds where status = 'succeeded' and payment_id = any($1::text[])",
    [payments],
  );
  assert.ok(refunded.length >= 20);
  assert.equal(w.balance, 600 + Number(rows[0]!.total));
  await assertLedgerSound(t.services.db);
});
