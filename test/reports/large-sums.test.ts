/**
 * Reports add amounts up: past 2^53 minor units (an inner currency's vouchers reach it within the
 * API's limits) a sum is written as an exact JSON integer, never a 500 (docs/http.md, "Money in
 * JSON"; `toJsonSum`).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { innerCurrency, rate } from "../community/support.ts";
import {
  ADMIN_KEY,
  call,
  createMerchant,
  createTestApp,
  type MerchantKeys,
  type TestApp,
} from "../support/app.ts";

let t: TestApp;
let m: MerchantKeys;

before(async () => {
  t = await createTestApp();
  m = await createMerchant(t.app);
  await innerCurrency(t.app, m, "GEMS");
  await rate(t.app, m, "GEMS", "EUR", "0.001");
  // 10,000 cards of 999,999,999,999 GEMS each (both limits of the API): 9,999,999,999,990,000 owed.
  const created = await call<{ id: string }>(t.app, "POST", "/v1/voucher_batches", {
    key: m.secretKey,
    body: { count: 10_000, value: { amount: 999_999_999_999, currency: "GEMS" } },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const approved = await call(t.app, "POST", `/v1/voucher_batches/${created.body.id}/approve`, {
    key: ADMIN_KEY,
  });
  assert.equal(approved.status, 200, JSON.stringify(approved.body));
  const activated = await call(t.app, "POST", `/v1/voucher_batches/${created.body.id}/activate`, {
    key: m.secretKey,
    body: { serial_from: "00000001", serial_to: "00010000" },
  });
  assert.equal(activated.status, 200, JSON.stringify(activated.body));
});
after(() => t.close());

const OWED = "9999999999990000";

async function raw(url: string) {
  const r = await t.app.inject({ method: "GET", url, headers: { authorization: `Bearer ${m.secretKey}` } });
  return { status: r.statusCode, body: r.body };
}

test("the voucher liability report shows an outstanding liability past 2^53 exactly (it answered 500)", async () => {
  const r = await raw("/v1/reports/voucher_liability");
  assert.equal(r.status, 200, r.body);
  assert.match(r.body, new RegExp(`"outstanding":${OWED}[,}]`));
});

test("the currency report shows balances past 2^53 exactly (it answered 500)", async () => {
  const r = await raw("/v1/reports/currencies?reporting_currency=EUR");
  assert.equal(r.status, 200, r.body);
  assert.match(r.body, new RegExp(`"credits":${OWED}[,}]`));
  // 9,999,999,999,990,000 GEMS at 0.001 EUR are 9,999,999,999,990 EUR: 999,999,999,999,000 cents.
  assert.match(r.body, /"converted":-?999999999999000[,}]/);
});
