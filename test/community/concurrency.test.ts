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
