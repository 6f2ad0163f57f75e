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
