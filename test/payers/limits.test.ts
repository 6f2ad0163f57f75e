/**
 * Goal: the payer's own limits, as the payment path's risk hook will ask them: a blocked merchant
 * is refused for that payer's number only; a monthly cap counts this calendar month's payments at
 * every merchant (refunds give room back) and refuses the charge that would pass it.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { checkPayerLimits, PayerThrottle } from "../../src/payers/index.ts";
import {
  call,
  createMerchant,
  createTestApp,
  FakeClock,
  type MerchantKeys,
  type TestApp,
} from "../support/app.ts";
import { payerCall, type Session, signInWithCode } from "./support.ts";

const clock = new FakeClock(Date.parse("2026-06-10T12:00:00Z"));
let t: TestApp;
let a: MerchantKeys;
let b: MerchantKeys;
let payer: Session;
const MSISDN = "+4915112345001";

async function pay(keys: MerchantKeys, amount: number) {
  const c = await call<{ id: string }>(t.app, "POST", "/v1/customers", {
    key: keys.secretKey,
    body: { msisdn: MSISDN },
  });
  const p = await call<{ id: string; status: string }>(t.app, "POST", "/v1/payments", {
    key: keys.secretKey,
    body: {
      amount,
      currency: "EUR",
      customer: c.body.id,
      payment_method: { type: "sandbox", scenario: "approve" },
    },
  });
  assert.equal(p.body.status, "succeeded");
  return p.body.id;
}

const check = (keys: MerchantKeys, amount: number, msisdn = MSISDN) =>
  checkPayerLimits(t.services.db, {
    merchantId: keys.merchantId,
    mode: "test",
    msisdn,
    amount: BigInt(amount),
    currency: "EUR",
    nowMs: clock.nowMs(),
  });

before(async () => {
  t = await createTestApp({ clock });
  t.services.payers.ctx.throttle = new PayerThrottle();
  a = await createMerchant(t.app, "A");
  b = await createMerchant(t.app, "B");
  await pay(a, 700);
  payer = await signInWithCode(t.app, { msisdn: MSISDN });
});
after(() => t.close());

test("a blocked merchant is refused for the payer's number, not for anyone else's", async () => {
  assert.deepEqual(await check(a, 100), { allowed: true });
  const blocked = await payerCall(t.app, payer.token, "POST", `/v1/payer/merchant_blocks/${a.merchantId}`);
  assert.equal(blocked.status, 200, JSON.stringify(blocked.body));
  assert.equal((await check(a, 100)).allowed, false);
  assert.deepEqual(await check(b, 100), { allowed: true });
  assert.deepEqual(await check(a, 100, "+4915112345002"), { allowed: true });
  await payerCall(t.app, payer.token, "DELETE", `/v1/payer/merchant_blocks/${a.merchantId}`);
  assert.deepEqual(await check(a, 100), { allowed: true });
});

test("a monthly cap counts this month at every merchant; refunds give room back", async () => {
  const set = await payerCall(t.app, payer.token, "POST", "/v1/payer/account", {
    monthly_caps: { EUR: 1000 },
  });
  assert.equal(set.status, 200, JSON.stringify(set.body));
  const second = await pay(b, 200);
  // 700 + 200 spent: 100 more fits, 101 does not.
  assert.deepEqual(await check(b, 100), { allowed: true });
  const over = await check(a, 101);
  assert.equal(over.allowed, false);
  assert.equal(over.allowed === false && over.reason, "payer_cap_exceeded");
  await call(t.app, "POST", "/v1/refunds", { key: b.secretKey, body: { payment: second } });
  assert.deepEqual(await check(a, 300), { allowed: true });
  // Next month starts from zero.
  clock.set(Date.parse("2026-07-01T00:00:01Z"));
  assert.deepEqual(await check(a, 1000), { allowed: true });
  // A month later the token has long expired: sign in again to remove the cap.
  payer = await signInWithCode(t.app, { msisdn: MSISDN });
  const removed = await payerCall<{ monthly_caps: Record<string, number> }>(
    t.app,
    payer.token,
    "POST",
    "/v1/payer/account",
    {
      monthly_caps: { EUR: null },
    },
  );
  assert.deepEqual(removed.body.monthly_caps, {}, JSON.stringify(removed.body));
});

async function customerOf(keys: MerchantKeys, msisdn = MSISDN): Promise<string> {
  const c = await call<{ id: string }>(t.app, "POST", "/v1/customers", {
    key: keys.secretKey,
    body: { msisdn },
  });
  assert.equal(c.status, 201, JSON.stringify(c.body));
  return c.body.id;
}

async function charge(keys: MerchantKeys, customer: string, amount: number) {
  const p = await call<{ id: string; status: string; failure_code: string | null; failure_message: string }>(
    t.app,
    "POST",
    "/v1/payments",
    {
      key: keys.secretKey,
      body: { amount, currency: "EUR", customer, payment_method: { type: "sandbox", scenario: "approve" } },
    },
  );
  assert.equal(p.status, 201, JSON.stringify(p.body));
  return p.body;
}

async function transfersOf(paymentId: string): Promise<number> {
  const { rows } = await t.services.db.query<{ n: number }>(
    "select count(*)::int as n from ledger_transfers where reference = $1",
    [paymentId],
  );
  return Number(rows[0]!.n);
}

test("the payment path refuses a merchant the payer blocked: failed, named, no money moved", async () => {
  payer = await signInWithCode(t.app, { msisdn: MSISDN });
  const blocked = await payerCall(t.app, payer.token, "POST", `/v1/payer/merchant_blocks/${a.merchantId}`);
  assert.equal(blocked.status, 200, JSON.stringify(blocked.body));
  const refused = await charge(a, await customerOf(a), 100);
  assert.equal(refused.status, "failed");
  assert.equal(refused.failure_code, "payer_blocked_merchant");
  assert.match(refused.failure_message, /blocked this merchant/);
  assert.equal(await transfersOf(refused.id), 0);
  // Another merchant, and another payer at the same merchant, are charged as usual.
  assert.equal((await charge(b, await customerOf(b), 100)).status, "succeeded");
  assert.equal((await charge(a, await customerOf(a, "+4915112345099"), 100)).status, "succeeded");
  await payerCall(t.app, payer.token, "DELETE", `/v1/payer/merchant_blocks/${a.merchantId}`);
  assert.equal((await charge(a, await customerOf(a), 100)).status, "succeeded");
});

test("monthly caps are keyed by currency codes: another key is refused, not stored", async () => {
  for (const [key, value] of [
    ["eur", 100],
    ["EURO", "x"],
  ] as const) {
    const r = await payerCall<{ error: { code: string; param: string } }>(
      t.app,
      payer.token,
      "POST",
      "/v1/payer/account",
      { monthly_caps: { [key]: value } },
    );
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.error.param, `monthly_caps.${key}`);
  }
});

test("the payment path refuses a charge over the monthly cap; two racing the cap: one passes", async () => {
  // 200 spent this month (the test above); a cap of 1,000 leaves 800.
  const set = await payerCall(t.app, payer.token, "POST", "/v1/payer/account", {
    monthly_caps: { EUR: 1000 },
  });
  assert.equal(set.status, 200, JSON.stringify(set.body));
  assert.equal((await charge(b, await customerOf(b), 300)).status, "succeeded");
  // 500 left: either of these fits alone, not both.
  const [ca, cb] = [await customerOf(a), await customerOf(b)];
  const raced = await Promise.all([charge(a, ca, 300), charge(b, cb, 300)]);
  assert.deepEqual(raced.map((p) => p.failure_code ?? p.status).sort(), ["payer_cap_exceeded", "succeeded"]);
  const loser = raced.find((p) => p.status === "failed")!;
  assert.match(loser.failure_message, /cap of 1000/);
  assert.equal(await transfersOf(loser.id), 0);
  // 800 spent: 200 fits exactly, one more minor unit does not.
  assert.equal((await charge(a, ca, 201)).failure_code, "payer_cap_exceeded");
  assert.equal((await charge(a, ca, 200)).status, "succeeded");
  // A payer without a cap in the currency is not held back.
  await payerCall(t.app, payer.token, "POST", "/v1/payer/account", { monthly_caps: { EUR: null } });
  assert.equal((await charge(a, ca, 5000)).status, "succeeded");
});
