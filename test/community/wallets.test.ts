/** Wallets over HTTP: grants, top-ups at a recorded rate, spending in the documented order, holds, refunds. */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { call, createMerchant, createTestApp, type MerchantKeys, type TestApp } from "../support/app.ts";
import { assertLedgerSound, customer, innerCurrency, rate, wallet } from "./support.ts";

let t: TestApp;
let m: MerchantKeys;

before(async () => {
  t = await createTestApp();
  m = await createMerchant(t.app);
  await innerCurrency(t.app, m, "GEMS");
  await rate(t.app, m, "EUR", "GEMS", "1.25");
});
after(() => t.close());

type Payment = {
  id: string;
  status: string;
  amount: number;
  currency: string;
  wallet_top_up?: Record<string, unknown>;
};

function spend(customerId: string, amount: number, extra: Record<string, unknown> = {}) {
  return call<Payment & { error?: { code: string; type: string } }>(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: { amount, currency: "GEMS", customer: customerId, payment_method: { type: "wallet" }, ...extra },
  });
}

test("inner currencies are 4 to 8 capital letters and never ISO codes; rates are decimal strings", async () => {
  for (const code of ["EUR", "gems", "ABCDEFGHI", "G3MS"]) {
    const r = await call<{ error: { code: string; param: string } }>(t.app, "POST", "/v1/currencies", {
      key: m.secretKey,
      body: { code, name: "x", minor_digits: 0 },
    });
    assert.equal(r.status, 400, code);
    assert.equal(r.body.error.param, "code");
  }
  const again = await call<{ error: { code: string } }>(t.app, "POST", "/v1/currencies", {
    key: m.secretKey,
    body: { code: "GEMS", name: "again", minor_digits: 0 },
  });
  assert.equal(again.status, 409);
  for (const bad of ["1e3", "-1", "0", "1.", "01.5", 1.5]) {
    const r = await call<{ error: { param: string } }>(t.app, "POST", "/v1/exchange_rates", {
      key: m.secretKey,
      body: { from: "EUR", to: "GEMS", rate: bad },
    });
    assert.equal(r.status, 400, String(bad));
    assert.equal(r.body.error.param, "rate");
  }
});

test("a top-up converts at the current rate, rounds down, books the residue and records the rate", async () => {
  const c = await customer(t.app, m);
  // 9.99 EUR at 1.25 GEMS per EUR (0 digits): 999 cents * 1.25 / 100 = 12.4875 -> 12 GEMS.
  const r = await call<Payment>(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: {
      amount: 999,
      currency: "EUR",
      customer: c,
      payment_method: { type: "sandbox", scenario: "approve" },
      wallet_top_up: { currency: "GEMS" },
    },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal(r.body.status, "succeeded");
  assert.equal(r.body.wallet_top_up?.amount, 12);
  assert.equal(r.body.wallet_top_up?.rate, "1.25");
  const w = await wallet(t.app, m, c, "GEMS");
  assert.equal(w.balance, 12);
  const grant = w.grants[0] as unknown as {
    category: string;
    conversion: Record<string, unknown>;
    source: string;
  };
  assert.equal(grant.category, "paid");
  assert.equal(grant.source, "top_up");
  // 12 GEMS are worth 960 cents exactly; the other 39 cents are worth less than one GEM.
  assert.equal(grant.conversion.source_converted, 960);
  assert.equal(grant.conversion.source_residue, 39);
  assert.equal(grant.conversion.rate, "1.25");
  const { rows } = await t.services.db.query<{ amount: bigint }>(
    "select amount from ledger_transfers where code = 'conversion_residue' and reference = $1",
    [r.body.id],
  );
  assert.deepEqual(
    rows.map((x) => x.amount),
    [39n],
  );
  await assertLedgerSound(t.services.db);
});

test("a wallet payment draws grants in the documented order, one ledger entry per grant", async () => {
  const c = await customer(t.app, m);
  const future = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString();
  const grant = async (amount: number, category: string, extra: Record<string, unknown> = {}) => {
    const r = await call<{ id: string }>(t.app, "POST", "/v1/wallet_grants", {
      key: m.secretKey,
      body: { customer: c, currency: "GEMS", amount, category, ...extra },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.id;
  };
  const paidOld = await grant(100, "paid");
  const promo = await grant(100, "promotional");
  const soon = await grant(100, "paid", { expires_at: future(1) });
  const urgent = await grant(10, "paid", { priority: 5 });
  const r = await spend(c, 250);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal(r.body.status, "succeeded");
  const { rows } = await t.services.db.query<{ reference: string; amount: bigint }>(
    "select reference, amount from ledger_transfers where code = 'wallet_spend' and reference = any($1::text[]) order by id",
    [[paidOld, promo, soon, urgent]],
  );
  // priority first, then soonest expiry, then promotional before paid, then oldest.
  assert.deepEqual(
    rows.map((x) => [x.reference, x.amount]),
    [
      [urgent, 10n],
      [soon, 100n],
      [promo, 100n],
      [paidOld, 40n],
    ],
  );
  assert.equal((await wallet(t.app, m, c, "GEMS")).balance, 60);
  await assertLedgerSound(t.services.db);
});

test("a short wallet answers 402 insufficient_funds and writes nothing", async () => {
  const c = await customer(t.app, m);
  await call(t.app, "POST", "/v1/wallet_grants", {
    key: m.secretKey,
    body: { customer: c, currency: "GEMS", amount: 30, category: "paid" },
  });
  const r = await spend(c, 31);
  assert.equal(r.status, 402);
  assert.equal(r.body.error?.code, "insufficient_funds");
  assert.equal(r.body.error?.type, "payment_error");
  const list = await call<{ data: unknown[] }>(t.app, "GET", `/v1/payments?customer=${c}`, {
    key: m.secretKey,
  });
  assert.equal(list.body.data.length, 0);
  assert.equal((await wallet(t.app, m, c, "GEMS")).balance, 30);
});

test("hold and capture: a partial capture gives the rest back; a cancel gives everything back", async () => {
  const c = await customer(t.app, m);
  await call(t.app, "POST", "/v1/wallet_grants", {
    key: m.secretKey,
    body: { customer: c, currency: "GEMS", amount: 100, category: "paid" },
  });
  const held = await spend(c, 80, { capture: "manual" });
  assert.equal(held.body.status, "requires_capture");
  assert.equal((await wallet(t.app, m, c, "GEMS")).balance, 20);
  assert.equal((await spend(c, 30)).status, 402);
  const captured = await call<Payment>(t.app, "POST", `/v1/payments/${held.body.id}/capture`, {
    key: m.secretKey,
    body: { amount: 50 },
  });
  assert.equal(captured.status, 200, JSON.stringify(captured.body));
  assert.equal((await wallet(t.app, m, c, "GEMS")).balance, 50);
  const second = await spend(c, 40, { capture: "manual" });
  const canceled = await call<Payment>(t.app, "POST", `/v1/payments/${second.body.id}/cancel`, {
    key: m.secretKey,
  });
  assert.equal(canceled.body.status, "canceled");
  assert.equal((await wallet(t.app, m, c, "GEMS")).balance, 50);
  await assertLedgerSound(t.services.db);
});

test("a refund of a wallet payment comes back as paid credit", async () => {
  const c = await customer(t.app, m);
  await call(t.app, "POST", "/v1/wallet_grants", {
    key: m.secretKey,
    body: { customer: c, currency: "GEMS", amount: 100, category: "promotional" },
  });
  const p = await spend(c, 70);
  const r = await call<{ status: string; effects: { wallet_credit: { amount: number } } }>(
    t.app,
    "POST",
    "/v1/refunds",
    {
      key: m.secretKey,
      body: { payment: p.body.id, amount: 25 },
    },
  );
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal(r.body.status, "succeeded");
  assert.equal(r.body.effects.wallet_credit.amount, 25);
  const w = await wallet(t.app, m, c, "GEMS");
  assert.equal(w.balance, 55);
  assert.deepEqual(w.grants.map((g) => [g.category, g.remaining]).sort(), [
    ["paid", 25],
    ["promotional", 30],
  ]);
  await assertLedgerSound(t.services.db);
});

test("a refund of a top-up takes back unspent credit first and says what it could not", async () => {
  const c = await customer(t.app, m);
  const top = await call<Payment>(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: {
      amount: 1000,
      currency: "EUR",
      customer: c,
      payment_method: { type: "sandbox", scenario: "approve" },
      wallet_top_up: { currency: "GEMS" },
    },
  });
  assert.equal(top.body.wallet_top_up?.amount, 12); // 10 EUR * 1.25 = 12.5 -> 12
  assert.equal((await spend(c, 9)).status, 201);
  const r = await call<{ effects: { wallet_top_up_reversal: Record<string, unknown> } }>(
    t.app,
    "POST",
    "/v1/refunds",
    {
      key: m.secretKey,
      body: { payment: top.body.id },
    },
  );
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.deepEqual(r.body.effects.wallet_top_up_reversal, {
    currency: "GEMS",
    amount_requested: 12,
    amount_taken_back: 3,
    amount_not_taken_back: 9,
  });
  assert.equal((await wallet(t.app, m, c, "GEMS")).balance, 0);
  await assertLedgerSound(t.services.db);
});

test("a top-up refunded while part of its credit was held: the credit the hold gives back is taken back then", async () => {
  const c = await customer(t.app, m);
  const top = await call<Payment>(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: {
      amount: 1000,
      currency: "EUR",
      customer: c,
      payment_method: { type: "sandbox", scenario: "approve" },
      wallet_top_up: { currency: "GEMS" },
    },
  });
  assert.equal(top.body.wallet_top_up?.amount, 12);
  const hold = await spend(c, 9, { capture: "manual" });
  assert.equal(hold.body.status, "requires_capture");
  const r = await call<{ effects: { wallet_top_up_reversal: Record<string, unknown> } }>(
    t.app,
    "POST",
    "/v1/refunds",
    {
      key: m.secretKey,
      body: { payment: top.body.id },
    },
  );
  assert.equal(r.body.effects.wallet_top_up_reversal.amount_not_taken_back, 9);
  const canceled = await call<{ status: string }>(t.app, "POST", `/v1/payments/${hold.body.id}/cancel`, {
    key: m.secretKey,
  });
  assert.equal(canceled.body.status, "canceled");
  // The 9 came back to the revoked grant and stayed on the customer's wallet account, spendable by
  // nobody: the payer had all 10 EUR back and the ledger still owed 9 GEMS.
  const { rows } = await t.services.db.query<{ held: bigint }>(
    `select coalesce(sum(b.credits_posted - b.debits_posted - b.debits_pending), 0)::bigint as held
     from ledger_accounts a join ledger_balances b on b.account_id = a.id
     where a.owner_id = $1 and a.purpose = 'wallet_paid'`,
    [c],
  );
  assert.equal(rows[0]!.held, 0n);
  const { rows: back } = await t.services.db.query<{ amount: bigint }>(
    `select sum(t.amount)::bigint as amount from ledger_transfers t join ledger_accounts a on a.id = t.debit_account_id
     where a.owner_id = $1 and t.code = 'wallet_top_up_reversal'`,
    [c],
  );
  assert.equal(back[0]!.amount, 12n);
  assert.equal((await wallet(t.app, m, c, "GEMS")).balance, 0);
  await assertLedgerSound(t.services.db);
});

test("expired grants leave the wallet: paid into breakage, promotional back to promotions", async () => {
  const c = await customer(t.app, m);
  const soon = new Date(Date.now() + 60_000).toISOString();
  for (const category of ["paid", "promotional"])
    await call(t.app, "POST", "/v1/wallet_grants", {
      key: m.secretKey,
      body: { customer: c, currency: "GEMS", amount: 40, category, expires_at: soon },
    });
  await spend(c, 10); // promotional first (same expiry)
  const swept = await t.services.community.wallets.expireDue(Date.now() + 120_000);
  assert.ok(swept >= 2);
  const { rows } = await t.services.db.query<{ code: string; amount: bigint }>(
    `select t.code, t.amount from ledger_transfers t join wallet_grants g on g.id = t.reference
     where g.customer_id = $1 and t.code in ('wallet_breakage', 'wallet_promotion_reversal') order by t.code`,
    [c],
  );
  assert.deepEqual(
    rows.map((x) => [x.code, x.amount]),
    [
      ["wallet_breakage", 40n],
      ["wallet_promotion_reversal", 30n],
    ],
  );
  await assertLedgerSound(t.services.db);
});

test("a hold released after its grants expired: the credit it gives back expires too, never stays on the wallet", async () => {
  const c = await customer(t.app, m);
  const soon = new Date(Date.now() + 60_000).toISOString();
  for (const category of ["paid", "promotional"])
    await call(t.app, "POST", "/v1/wallet_grants", {
      key: m.secretKey,
      body: { customer: c, currency: "GEMS", amount: 100, category, expires_at: soon },
    });
  // Promotional first: 100 of it and 50 of the paid grant held, 50 paid left.
  const hold = await spend(c, 150, { capture: "manual" });
  assert.equal(hold.body.status, "requires_capture", JSON.stringify(hold.body));
  const later = Date.now() + 120_000;
  await t.services.community.wallets.expireDue(later); // the paid grant's 50 go to breakage
  const captured = await call<{ status: string }>(t.app, "POST", `/v1/payments/${hold.body.id}/capture`, {
    key: m.secretKey,
    body: { amount: 30 },
  });
  assert.equal(captured.body.status, "succeeded", JSON.stringify(captured.body));
  // 70 promotional and 50 paid came back to grants that had expired: they stayed there for ever,
  // on the customer's wallet accounts, with no job to sweep them.
  await t.services.community.wallets.expireDue(later);
  const { rows } = await t.services.db.query<{ purpose: string; held: bigint }>(
    `select a.purpose, sum(b.credits_posted - b.debits_posted - b.debits_pending)::bigint as held
     from ledger_accounts a join ledger_balances b on b.account_id = a.id
     where a.owner_id = $1 group by a.purpose order by a.purpose`,
    [c],
  );
  assert.deepEqual(
    rows.map((r) => [r.purpose, r.held]),
    [
      ["wallet_paid", 0n],
      ["wallet_promotional", 0n],
    ],
  );
  const { rows: sunk } = await t.services.db.query<{ code: string; amount: bigint }>(
    `select t.code, sum(t.amount)::bigint as amount from ledger_transfers t join wallet_grants g on g.id = t.reference
     where g.customer_id = $1 and t.code in ('wallet_breakage', 'wallet_promotion_reversal') group by t.code order by t.code`,
    [c],
  );
  assert.deepEqual(
    sunk.map((x) => [x.code, x.amount]),
    [
      ["wallet_breakage", 100n],
      ["wallet_promotion_reversal", 70n],
    ],
  );
  await assertLedgerSound(t.services.db);
});

test("a wallet payment needs a customer; a real-money payment cannot be made in an inner currency", async () => {
  const noCustomer = await call<{ error: { code: string; param: string } }>(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: { amount: 5, currency: "GEMS", payment_method: { type: "wallet" } },
  });
  assert.equal(noCustomer.status, 400);
  assert.equal(noCustomer.body.error.param, "customer");
  const sandbox = await call<{ error: { param: string } }>(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: { amount: 5, currency: "GEMS", payment_method: { type: "sandbox", scenario: "approve" } },
  });
  assert.equal(sandbox.status, 400);
  assert.equal(sandbox.body.error.param, "payment_method.type");
  const unknown = await call<{ error: { param: string } }>(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: { amount: 5, currency: "COINS", payment_method: { type: "wallet" }, customer: "cus_x" },
  });
  assert.equal(unknown.status, 400);
  assert.equal(unknown.body.error.param, "currency");
});
