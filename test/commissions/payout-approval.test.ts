/**
 * Four eyes on commission payouts (issue 12): a staff member's payout is only asked for (202), the
 * maker cannot approve it, a second person with commission:payout runs it once with exactly the
 * arguments asked; a merchant's own secret key (automation) still pays at once.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { assertLedgerSound, customer, innerCurrency, rate, wallet } from "../community/support.ts";
import {
  ADMIN_KEY,
  call,
  createMerchant,
  createTestApp,
  FakeClock,
  type MerchantKeys,
  type TestApp,
} from "../support/app.ts";

let t: TestApp;
let m: MerchantKeys;
const clock = new FakeClock(Date.parse("2026-03-01T00:00:00Z"));
const DAY = 86_400_000;
const keys: Record<string, string> = {};

interface Approval {
  id: string;
  status: string;
  action: string;
  arguments: Record<string, unknown>;
  result: Record<string, unknown> | null;
}

before(async () => {
  t = await createTestApp({ clock });
  m = await createMerchant(t.app);
  const plan = await call(t.app, "POST", "/v1/commission_plans", {
    key: m.secretKey,
    body: { levels: [{ level: 1, percent: "10" }], hold_days: 14, max_depth: 1 },
  });
  assert.equal(plan.status, 201, JSON.stringify(plan.body));
  for (const [name, role] of [
    ["finance1", "finance"],
    ["finance2", "finance"],
    ["support1", "support"],
  ] as const) {
    const r = await call<{ api_key: string }>(t.app, "POST", "/v1/staff", {
      key: ADMIN_KEY,
      body: { email: `${name}@studio.example`, role, merchant: m.merchantId },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    keys[name] = r.body.api_key;
  }
  await innerCurrency(t.app, m, "GOLD");
  await rate(t.app, m, "EUR", "GOLD", "2");
});
after(() => t.close());

/** An affiliate with one approved commission of 10 % of `amount` EUR cents. */
async function affiliateEarning(amount: number): Promise<string> {
  const affiliate = await customer(t.app, m, {});
  const payer = await customer(t.app, m, { referred_by: affiliate });
  const r = await call(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: {
      amount,
      currency: "EUR",
      customer: payer,
      payment_method: { type: "sandbox", scenario: "approve" },
    },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  clock.advance(15 * DAY);
  await t.services.community.commissions.approveDue(clock.nowMs());
  return affiliate;
}

async function statuses(affiliate: string): Promise<string[]> {
  const r = await call<{ data: Array<{ status: string }> }>(
    t.app,
    "GET",
    `/v1/commissions?affiliate=${affiliate}`,
    {
      key: m.secretKey,
    },
  );
  return r.body.data.map((c) => c.status);
}

test("a staff member's payout waits (202); the maker and a role without the permission cannot approve; a second person pays once", async () => {
  const affiliate = await affiliateEarning(4000);
  assert.deepEqual(await statuses(affiliate), ["approved"]);
  const asked = await call<Approval>(t.app, "POST", "/v1/commission_payouts", {
    key: keys.finance1,
    body: { affiliate, method: "wallet", currency: "GOLD" },
  });
  assert.equal(asked.status, 202, JSON.stringify(asked.body));
  assert.equal(asked.body.action, "commission.payout");
  assert.equal(asked.body.status, "pending");
  assert.deepEqual(asked.body.arguments, {
    merchant: m.merchantId,
    mode: "test",
    affiliate,
    method: "wallet",
    currency: "GOLD",
  });
  // Nothing moved yet.
  assert.deepEqual(await statuses(affiliate), ["approved"]);
  assert.equal((await wallet(t.app, m, affiliate, "GOLD")).balance, 0);

  const own = await call<{ error: { code: string } }>(
    t.app,
    "POST",
    `/v1/approvals/${asked.body.id}/approve`,
    {
      key: keys.finance1,
    },
  );
  assert.equal(own.status, 403);
  assert.equal(own.body.error.code, "approval_own_request");
  const support = await call(t.app, "POST", `/v1/approvals/${asked.body.id}/approve`, { key: keys.support1 });
  assert.equal(support.status, 403);
  assert.deepEqual(await statuses(affiliate), ["approved"]);

  const approved = await call<Approval>(t.app, "POST", `/v1/approvals/${asked.body.id}/approve`, {
    key: keys.finance2,
  });
  assert.equal(approved.status, 200, JSON.stringify(approved.body));
  assert.equal(approved.body.status, "approved");
  assert.equal(approved.body.result?.object, "commission_payout");
  assert.deepEqual(approved.body.result?.totals, [{ currency: "EUR", amount: 400 }]);
  // 400 cents at 2 GOLD a euro: 8 GOLD, once.
  assert.deepEqual(await statuses(affiliate), ["paid"]);
  assert.equal((await wallet(t.app, m, affiliate, "GOLD")).balance, 8);

  const again = await call<{ error: { code: string } }>(
    t.app,
    "POST",
    `/v1/approvals/${asked.body.id}/approve`,
    {
      key: keys.finance2,
    },
  );
  assert.equal(again.status, 409);
  assert.equal(again.body.error.code, "approval_not_pending");
  assert.equal((await wallet(t.app, m, affiliate, "GOLD")).balance, 8);
  await assertLedgerSound(t.services.db);
});

test("a payout approval runs with the arguments asked, not others written in later", async () => {
  const affiliate = await affiliateEarning(1000);
  const asked = await call<Approval>(t.app, "POST", "/v1/commission_payouts", {
    key: keys.finance1,
    body: { affiliate, method: "external" },
  });
  assert.equal(asked.status, 202);
  await t.services.db.query(
    `update approvals set arguments = jsonb_set(arguments, '{method}', '"wallet"') where id = $1`,
    [asked.body.id],
  );
  const approved = await call<{ error: { code: string } }>(
    t.app,
    "POST",
    `/v1/approvals/${asked.body.id}/approve`,
    { key: keys.finance2 },
  );
  assert.equal(approved.status, 409);
  assert.equal(approved.body.error.code, "approval_arguments_changed");
  assert.deepEqual(await statuses(affiliate), ["approved"]);
});

test("a bad payout is refused when asked, naming the field, before any approval exists", async () => {
  const affiliate = await affiliateEarning(1000);
  const r = await call<{ error: { param: string } }>(t.app, "POST", "/v1/commission_payouts", {
    key: keys.finance1,
    body: { affiliate, method: "wallet" },
  });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.param, "currency");
  const pending = await call<{ data: Approval[] }>(t.app, "GET", "/v1/approvals?status=pending", {
    key: keys.finance2,
  });
  assert.equal(
    pending.body.data.filter((a) => a.action === "commission.payout" && a.arguments.affiliate === affiliate)
      .length,
    0,
  );
});

test("the merchant's own secret key (automation, no person) still pays at once", async () => {
  const affiliate = await affiliateEarning(2000);
  const r = await call<{ totals: unknown }>(t.app, "POST", "/v1/commission_payouts", {
    key: m.secretKey,
    body: { affiliate, method: "external" },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.deepEqual(r.body.totals, [{ currency: "EUR", amount: 200 }]);
  assert.deepEqual(await statuses(affiliate), ["paid"]);
});
