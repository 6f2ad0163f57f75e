/** Affiliate commissions over several levels: accrual held, voided by a refund in the hold, approval, payout; a 100,000-member tree. */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  call,
  createMerchant,
  createTestApp,
  FakeClock,
  type MerchantKeys,
  type TestApp,
} from "../support/app.ts";
import { assertLedgerSound, customer, innerCurrency, rate, wallet } from "./support.ts";

let t: TestApp;
let m: MerchantKeys;
const clock = new FakeClock(Date.parse("2026-03-01T00:00:00Z"));
const DAY = 86_400_000;

before(async () => {
  t = await createTestApp({ clock });
  m = await createMerchant(t.app);
  const plan = await call(t.app, "POST", "/v1/commission_plans", {
    key: m.secretKey,
    body: {
      levels: [
        { level: 1, percent: "10" },
        { level: 2, percent: "5" },
        { level: 3, percent: "2.5" },
      ],
      hold_days: 14,
      max_depth: 3,
    },
  });
  assert.equal(plan.status, 201, JSON.stringify(plan.body));
});
after(() => t.close());

type Commission = {
  id: string;
  affiliate: string;
  level: number;
  amount: number;
  status: string;
  currency: string;
};

async function chain(length: number) {
  const ids: string[] = [];
  for (let i = 0; i < length; i++)
    ids.push(await customer(t.app, m, i === 0 ? {} : { referred_by: ids[i - 1] }));
  return ids;
}

async function pay(customerId: string, amount: number) {
  const r = await call<{ id: string; status: string }>(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: {
      amount,
      currency: "EUR",
      customer: customerId,
      payment_method: { type: "sandbox", scenario: "approve" },
    },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.id;
}

async function commissionsOf(affiliate: string, status?: string) {
  const q = status ? `&status=${status}` : "";
  const r = await call<{ data: Commission[] }>(t.app, "GET", `/v1/commissions?affiliate=${affiliate}${q}`, {
    key: m.secretKey,
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.data;
}

test("referred_by must name an existing customer (so referrals never loop); plans are checked", async () => {
  const r = await call<{ error: { param: string } }>(t.app, "POST", "/v1/customers", {
    key: m.secretKey,
    body: { referred_by: "cus_nobody" },
  });
  assert.equal(r.status, 404);
  assert.equal(r.body.error.param, "referred_by");
  const tooMuch = await call<{ error: { param: string } }>(t.app, "POST", "/v1/commission_plans", {
    key: m.secretKey,
    body: {
      levels: [
        { level: 1, percent: "60" },
        { level: 2, percent: "40.01" },
      ],
      hold_days: 1,
      max_depth: 2,
    },
  });
  assert.equal(tooMuch.status, 400);
  assert.equal(tooMuch.body.error.param, "levels");
  const deep = await call<{ error: { param: string } }>(t.app, "POST", "/v1/commission_plans", {
    key: m.secretKey,
    body: { levels: [{ level: 3, percent: "1" }], hold_days: 1, max_depth: 2 },
  });
  assert.equal(deep.status, 400);
});

test("a payment accrues pending commissions up the chain to max_depth; a refund within the hold voids them", async () => {
  const [a, b, c, d, payer] = await chain(5);
  const paymentId = await pay(payer!, 1999);
  // level 1 = d (10%), level 2 = c (5%), level 3 = b (2.5%); a is beyond max_depth.
  assert.deepEqual(
    (await commissionsOf(d!)).map((x) => [x.level, x.amount, x.status]),
    [[1, 199, "pending"]],
  );
  assert.deepEqual(
    (await commissionsOf(c!)).map((x) => [x.level, x.amount]),
    [[2, 99]],
  );
  assert.deepEqual(
    (await commissionsOf(b!)).map((x) => [x.level, x.amount]),
    [[3, 49]],
  );
  assert.deepEqual(await commissionsOf(a!), []);
  // 19.99 * 17.5% = 349.825 -> pool 349; levels 199 + 99 + 49 = 347; residue 2.
  const { rows } = await t.services.db.query<{ amount: bigint }>(
    "select amount from ledger_transfers where code = 'commission_residue' and reference = $1",
    [paymentId],
  );
  assert.deepEqual(
    rows.map((r) => r.amount),
    [2n],
  );
  const half = await call(t.app, "POST", "/v1/refunds", {
    key: m.secretKey,
    body: { payment: paymentId, amount: 1000 },
  });
  assert.equal(half.status, 201);
  assert.deepEqual(
    (await commissionsOf(d!)).map((x) => [x.amount, x.status]),
    [[99, "pending"]],
  );
  await call(t.app, "POST", "/v1/refunds", { key: m.secretKey, body: { payment: paymentId } });
  assert.deepEqual(
    (await commissionsOf(d!)).map((x) => [x.amount, x.status]),
    [[99, "reversed"]],
  );
  assert.equal((await commissionsOf(c!, "reversed")).length, 1);
  await assertLedgerSound(t.services.db);
});

test("after the hold: approved, a refund books a negative commission, payout to the wallet or outside, a statement", async () => {
  await innerCurrency(t.app, m, "GOLD");
  await rate(t.app, m, "EUR", "GOLD", "2");
  const [aff, payer] = await chain(2);
  const first = await pay(payer!, 5000);
  await pay(payer!, 3000);
  clock.advance(15 * DAY);
  assert.ok((await t.services.community.commissions.approveDue(clock.nowMs())) >= 2);
  assert.deepEqual((await commissionsOf(aff!, "approved")).map((x) => x.amount).sort(), [300, 500]);
  // A refund after the hold claws back the commission with a negative one.
  await call(t.app, "POST", "/v1/refunds", { key: m.secretKey, body: { payment: first, amount: 2000 } });
  assert.deepEqual((await commissionsOf(aff!, "approved")).map((x) => x.amount).sort(), [300, 300]);
  const { rows } = await t.services.db.query<{ amount: bigint }>(
    "select t.amount from ledger_transfers t join commissions c on c.id = t.reference where t.code = 'commission_reversal' and c.payment_id = $1",
    [first],
  );
  assert.deepEqual(
    rows.map((r) => r.amount),
    [200n],
  );
  const payout = await call<{ commissions: number; wallet_grants: { amount: number }[] }>(
    t.app,
    "POST",
    "/v1/commission_payouts",
    {
      key: m.secretKey,
      body: { affiliate: aff, method: "wallet", currency: "GOLD" },
    },
  );
  assert.equal(payout.status, 201, JSON.stringify(payout.body));
  assert.equal(payout.body.commissions, 2);
  assert.equal(payout.body.wallet_grants[0]!.amount, 12); // 600 cents * 2 GOLD/EUR = 12 GOLD
  assert.equal((await wallet(t.app, m, aff!, "GOLD")).balance, 12);
  assert.equal((await commissionsOf(aff!, "paid")).length, 2);
  const statement = await call<{ totals: { currency: string; paid: number; approved: number }[] }>(
    t.app,
    "GET",
    `/v1/commissions/statement?affiliate=${aff}`,
    { key: m.secretKey },
  );
  assert.deepEqual(statement.body.totals, [
    { currency: "EUR", pending: 0, approved: 0, paid: 600, reversed: 0 },
  ]);
  const [other, payer2] = await chain(2);
  await pay(payer2!, 1000);
  clock.advance(15 * DAY);
  await t.services.community.commissions.approveDue(clock.nowMs());
  const outside = await call<{ totals: { amount: number }[] }>(t.app, "POST", "/v1/commission_payouts", {
    key: m.secretKey,
    body: { affiliate: other, method: "external" },
  });
  assert.deepEqual(outside.body.totals, [{ currency: "EUR", amount: 100 }]);
  await assertLedgerSound(t.services.db);
});

test("a wallet payout worth less than one unit of the wallet's currency is refused; the commissions stay approved", async () => {
  // GOLD (0 digits) at 2 per EUR from the test above. 10% of 4.00 EUR is 40 cents: 0.8 GOLD.
  const [aff, payer] = await chain(2);
  await pay(payer!, 400);
  clock.advance(15 * DAY);
  await t.services.community.commissions.approveDue(clock.nowMs());
  assert.deepEqual(
    (await commissionsOf(aff!, "approved")).map((x) => x.amount),
    [40],
  );
  // It answered 201 "paid" with no grant: the 40 cents went to the merchant's conversion residue.
  const r = await call<{ error: { code: string; param: string } }>(t.app, "POST", "/v1/commission_payouts", {
    key: m.secretKey,
    body: { affiliate: aff, method: "wallet", currency: "GOLD" },
  });
  assert.equal(r.status, 400, JSON.stringify(r.body));
  assert.equal(r.body.error.code, "parameter_out_of_range");
  assert.equal(r.body.error.param, "currency");
  assert.equal((await commissionsOf(aff!, "approved")).length, 1);
  assert.equal((await wallet(t.app, m, aff!, "GOLD")).balance, 0);
  const outside = await call<{ totals: { amount: number }[] }>(t.app, "POST", "/v1/commission_payouts", {
    key: m.secretKey,
    body: { affiliate: aff, method: "external" },
  });
  assert.deepEqual(outside.body.totals, [{ currency: "EUR", amount: 40 }]);
  await assertLedgerSound(t.services.db);
});

test("a tree of 100,000 members: accrual for one payment takes bounded time", async () => {
  // Built in SQL: a 10-ary tree (each member refers up to 10), the deepest member pays.
  const db = t.services.db;
  // Ids of the shape newId makes (cus_ and 26 characters): the commissions list filters by one.
  const prefix = "cus_tree";
  await db.query(
    `insert into customers (id, merchant_id, mode, metadata, created, referred_by)
     select $1 || lpad(n::text, 22, '0'), $2, 'test', '{}', now(),
       case when n = 0 then null else $1 || lpad(((n - 1) / 10)::text, 22, '0') end
     from generate_series(0, 99999) as n`,
    [prefix, m.merchantId],
  );
  const deepest = `${prefix}${String(99999).padStart(22, "0")}`;
  await pay(deepest, 100); // warm: accounts of this chain
  const timings: number[] = [];
  for (let i = 0; i < 5; i++) {
    const start = performance.now();
    await pay(deepest, 1000);
    timings.push(performance.now() - start);
  }
  const median = [...timings].sort((a, b) => a - b)[2]!;
  console.log(
    `# 100,000-member tree: payment with 3-level accrual, median ${median.toFixed(1)} ms (${t.services.db.kind})`,
  );
  // Bounded by max_depth primary-key reads, whatever the tree: generous for a loaded machine.
  assert.ok(median < 1000, `median ${median} ms`);
  const parent = `${prefix}${String(9999).padStart(22, "0")}`;
  assert.equal((await commissionsOf(parent)).filter((c) => c.amount === 100).length, 5);
});
