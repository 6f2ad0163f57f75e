/**
 * The wallet and voucher-code methods of the hosted page: offered only to a session with a
 * customer; the wallet pays when it holds enough and says so when it does not; a voucher code is
 * redeemed once into the customer's wallet and pays the session; a bad code gets one message and
 * nothing is charged; the ledger stays balanced.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { formToken } from "../../src/checkout/page-kit.ts";
import { assertLedgerSound, customer, wallet } from "../community/support.ts";
import {
  ADMIN_KEY,
  call,
  createMerchant,
  createTestApp,
  type MerchantKeys,
  type TestApp,
} from "../support/app.ts";
import { createSessionVia } from "./support.ts";

let t: TestApp;
let m: MerchantKeys;
before(async () => {
  t = await createTestApp();
  m = await createMerchant(t.app);
});
after(() => t.close());

function token(sessionId: string): string {
  return formToken(t.services.config.sessionSecret, sessionId);
}

async function post(path: string, sessionId: string, form: Record<string, string> = {}) {
  return t.app.inject({
    method: "POST",
    url: path,
    headers: { "content-type": "application/x-www-form-urlencoded" },
    payload: new URLSearchParams({ _token: token(sessionId), ...form }).toString(),
  });
}

async function grant(customerId: string, amount: number) {
  const r = await call(t.app, "POST", "/v1/wallet_grants", {
    key: m.secretKey,
    body: { customer: customerId, currency: "EUR", amount, category: "paid" },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
}

async function vouchers(count: number, amount: number, prefix: string) {
  const created = await call<{ id: string }>(t.app, "POST", "/v1/voucher_batches", {
    key: m.secretKey,
    body: { count, value: { amount, currency: "EUR" }, serial_prefix: prefix },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const approved = await call(t.app, "POST", `/v1/voucher_batches/${created.body.id}/approve`, {
    key: ADMIN_KEY,
  });
  assert.equal(approved.status, 200, JSON.stringify(approved.body));
  const csv = await t.app.inject({
    method: "GET",
    url: `/v1/voucher_batches/${created.body.id}/codes`,
    headers: { authorization: `Bearer ${m.secretKey}` },
  });
  const codes = csv.body
    .trim()
    .split("\n")
    .slice(1)
    .map((l) => l.split(",")[1]!);
  const activated = await call(t.app, "POST", `/v1/voucher_batches/${created.body.id}/activate`, {
    key: m.secretKey,
    body: { serial_from: `${prefix}00000001`, serial_to: count },
  });
  assert.equal(activated.status, 200, JSON.stringify(activated.body));
  return codes;
}

async function sessionStatus(id: string) {
  const r = await call<{
    status: string;
    payment: string | null;
    steps: { step: string; method: string | null }[];
  }>(t.app, "GET", `/v1/checkout_sessions/${id}`, { key: m.secretKey });
  return r.body;
}

test("without a customer the page offers neither wallet nor voucher", async () => {
  const s = await createSessionVia(t.app, m.secretKey, { amount: 300, currency: "EUR" });
  const page = await t.app.inject({ method: "GET", url: `/checkout/${s.id}` });
  assert.equal(page.statusCode, 200);
  assert.doesNotMatch(page.body, /\/wallet"|\/voucher"/);
  const direct = await t.app.inject({ method: "GET", url: `/checkout/${s.id}/wallet` });
  assert.equal(direct.statusCode, 303);
  assert.equal(direct.headers.location, `/checkout/${s.id}`);
});

test("wallet: short, it says so and offers no button; with enough, one click pays and completes", async () => {
  const c = await customer(t.app, m);
  await grant(c, 200);
  const s = await createSessionVia(t.app, m.secretKey, { amount: 300, currency: "EUR", customer: c });
  const list = await t.app.inject({ method: "GET", url: `/checkout/${s.id}` });
  assert.match(list.body, new RegExp(`href="/checkout/${s.id}/wallet"`));
  assert.match(list.body, new RegExp(`href="/checkout/${s.id}/voucher"`));
  const short = await t.app.inject({ method: "GET", url: `/checkout/${s.id}/wallet` });
  assert.equal(short.statusCode, 200);
  assert.match(short.body, /Your wallet holds €2\.00/);
  assert.match(short.body, /does not hold enough/);
  assert.doesNotMatch(short.body, /wallet\/pay/);
  // Posting anyway is refused by the wallet, and nothing is charged.
  const forced = await post(`/checkout/${s.id}/wallet/pay`, s.id);
  assert.equal(forced.statusCode, 303);
  assert.equal(forced.headers.location, `/checkout/${s.id}/wallet?error=insufficient`);
  assert.equal((await sessionStatus(s.id)).status, "open");
  assert.equal((await wallet(t.app, m, c, "EUR")).balance, 200);
  await grant(c, 150);
  const enough = await t.app.inject({ method: "GET", url: `/checkout/${s.id}/wallet` });
  assert.match(enough.body, /Pay €3\.00 from your wallet/);
  const paid = await post(`/checkout/${s.id}/wallet/pay`, s.id);
  assert.equal(paid.headers.location, `/checkout/${s.id}/done`);
  const done = await sessionStatus(s.id);
  assert.equal(done.status, "complete");
  assert.ok(done.steps.some((x) => x.step === "charged" && x.method === "wallet"));
  assert.equal((await wallet(t.app, m, c, "EUR")).balance, 50);
  // A second click after completion charges nothing more.
  const again = await post(`/checkout/${s.id}/wallet/pay`, s.id);
  assert.equal(again.headers.location, `/checkout/${s.id}/done`);
  assert.equal((await wallet(t.app, m, c, "EUR")).balance, 50);
  await assertLedgerSound(t.services.db);
});

test("voucher: a bad code gets one message; a good one is redeemed once and pays; a small one stays in the wallet", async () => {
  const c = await customer(t.app, m);
  const [big, reused] = await vouchers(2, 500, "V");
  const [small] = await vouchers(1, 100, "W");
  const s = await createSessionVia(t.app, m.secretKey, { amount: 300, currency: "EUR", customer: c });
  const form = await t.app.inject({ method: "GET", url: `/checkout/${s.id}/voucher` });
  assert.equal(form.statusCode, 200);
  assert.match(form.body, /autocomplete="off"/);
  // A refused code comes back in the field as typed (escaped), to correct one character: it was
  // cleared, and the payer retyped sixteen characters for one typo.
  const bad = await post(`/checkout/${s.id}/voucher/redeem`, s.id, { code: 'NOT-A-CODE"><b>' });
  assert.equal(bad.statusCode, 400);
  assert.match(bad.body, /This code cannot be used/);
  assert.match(
    bad.body,
    /id="voucher-code"[^>]*value="NOT-A-CODE&quot;&gt;&lt;b&gt;"[^>]*aria-invalid="true"/s,
  );
  const badPage = await t.app.inject({ method: "GET", url: `/checkout/${s.id}/voucher?error=invalid` });
  assert.equal(badPage.statusCode, 400);
  assert.match(badPage.body, /This code cannot be used/);
  assert.match(badPage.body, /id="voucher-code"[^>]*aria-invalid="true"/s);
  const noToken = await t.app.inject({
    method: "POST",
    url: `/checkout/${s.id}/voucher/redeem`,
    headers: { "content-type": "application/x-www-form-urlencoded" },
    payload: `code=${small}`,
  });
  assert.equal(noToken.statusCode, 403, "the form token is required");

  const tooSmall = await post(`/checkout/${s.id}/voucher/redeem`, s.id, { code: small! });
  assert.equal(tooSmall.headers.location, `/checkout/${s.id}/voucher?error=short`);
  assert.equal((await wallet(t.app, m, c, "EUR")).balance, 100, "the small voucher is kept in the wallet");
  assert.equal((await sessionStatus(s.id)).status, "open");

  const good = await post(`/checkout/${s.id}/voucher/redeem`, s.id, { code: big!.toLowerCase() });
  assert.equal(good.headers.location, `/checkout/${s.id}/done`);
  const done = await sessionStatus(s.id);
  assert.equal(done.status, "complete");
  assert.ok(done.steps.some((x) => x.step === "charged" && x.method === "wallet"));
  assert.equal((await wallet(t.app, m, c, "EUR")).balance, 300, "100 + 500 - 300");

  // The same code on another session: refused like any bad code.
  const s2 = await createSessionVia(t.app, m.secretKey, { amount: 300, currency: "EUR", customer: c });
  const twice = await post(`/checkout/${s2.id}/voucher/redeem`, s2.id, { code: big! });
  assert.equal(twice.statusCode, 400);
  assert.match(twice.body, /This code cannot be used/);
  assert.ok(reused);
  await assertLedgerSound(t.services.db);
});
