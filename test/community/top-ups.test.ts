/**
 * Top-ups that the conversion cannot honour are refused before the payer is charged (a credit of
 * nothing, a credit past the largest amount), and a top-up that settles later is credited even
 * when its rate has stopped being valid in between.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { reconcileDuePayments } from "../../src/payments/reconcile.ts";
import {
  call,
  createMerchant,
  createTestApp,
  FakeClock,
  type MerchantKeys,
  type TestApp,
} from "../support/app.ts";
import { assertLedgerSound, customer, innerCurrency, rate, wallet } from "./support.ts";

const clock = new FakeClock(Date.parse("2026-03-01T10:00:00Z"));
let t: TestApp;
let m: MerchantKeys;

before(async () => {
  t = await createTestApp({ clock, config: { sandboxAsyncDelayMs: 1000, reconcileAfterMs: 2000 } });
  m = await createMerchant(t.app);
  await innerCurrency(t.app, m, "GEMS");
  await innerCurrency(t.app, m, "DUST", 6);
  await rate(t.app, m, "JPY", "GEMS", "0.5");
  await rate(t.app, m, "EUR", "DUST", "1000000");
});
after(() => t.close());

type Payment = { id: string; status: string; wallet_top_up?: { amount?: number; grant?: string } };
type Failure = { error: { code: string; param: string; message: string } };

function topUp(customerId: string, amount: number, currency: string, target: string, scenario = "approve") {
  return call<Payment & Failure>(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: {
      amount,
      currency,
      customer: customerId,
      payment_method: { type: "sandbox", scenario },
      wallet_top_up: { currency: target },
    },
  });
}

async function paymentsOf(customerId: string) {
  const { rows } = await t.services.db.query<{ id: string }>(
    "select id from payments where customer_id = $1",
    [customerId],
  );
  return rows;
}

test("a top-up worth less than one unit of the wallet's currency is refused: the payer would pay for nothing", async () => {
  const c = await customer(t.app, m);
  // 1 JPY at 0.5 GEMS per JPY is half a GEM: it was charged (succeeded) and credited 0.
  const r = await topUp(c, 1, "JPY", "GEMS");
  assert.equal(r.status, 400, JSON.stringify(r.body));
  assert.equal(r.body.error.code, "parameter_out_of_range");
  assert.equal(r.body.error.param, "amount");
  assert.deepEqual(await paymentsOf(c), []);
  const ok = await topUp(c, 2, "JPY", "GEMS");
  assert.equal(ok.status, 201, JSON.stringify(ok.body));
  assert.equal(ok.body.wallet_top_up?.amount, 1);
});

test("a top-up whose credit would pass the largest amount is refused with a 400, not a 500 after the charge", async () => {
  const c = await customer(t.app, m);
  // 10,000.00 EUR at 1,000,000 DUST per EUR, DUST with 6 digits: 10^16 minor units of DUST.
  const r = await topUp(c, 1_000_000, "EUR", "DUST");
  assert.equal(r.status, 400, JSON.stringify(r.body));
  assert.equal(r.body.error.code, "parameter_out_of_range");
  assert.equal(r.body.error.param, "amount");
  assert.deepEqual(await paymentsOf(c), []);
});

test("a pending top-up whose rate expires before it settles is credited at the rate of its creation", async () => {
  const c = await customer(t.app, m);
  const created = await call(t.app, "POST", "/v1/exchange_rates", {
    key: m.secretKey,
    body: { from: "EUR", to: "GEMS", rate: "2", valid_until: new Date(clock.nowMs() + 500).toISOString() },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const r = await topUp(c, 1000, "EUR", "GEMS", "pending_then_approve");
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal(r.body.status, "processing");
  clock.advance(1000);
  // The payer was charged; settling threw "no exchange rate" at every reconciliation, for ever.
  await reconcileDuePayments(t.services.payments);
  const after = await call<Payment>(t.app, "GET", `/v1/payments/${r.body.id}`, { key: m.secretKey });
  assert.equal(after.body.status, "succeeded");
  assert.equal(after.body.wallet_top_up?.amount, 20);
  assert.equal((await wallet(t.app, m, c, "GEMS")).balance, 20);
  await assertLedgerSound(t.services.db);
});
