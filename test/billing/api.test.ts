/**
 * Billing through the HTTP API: catalog validation, subscriptions with consent and double opt-in,
 * renewals by the scheduler on a fake clock, dunning to past_due and cancel, partial payments with
 * debt on the ledger, MO STOP, and test clocks.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { runDueBilling } from "../../src/billing/scheduler.ts";
import {
  call,
  createMerchant,
  createTestApp,
  FakeClock,
  type MerchantKeys,
  type TestApp,
} from "../support/app.ts";

type Sub = {
  id: string;
  status: string;
  next_action: { type: string; enter_pin: { attempts_remaining: number } } | null;
  consent: { method: string; recorded_at: string; pin_verified_at?: string };
  billing_period: number;
  debt: number;
  retry_count: number;
  current_period_end: string | null;
  next_charge_at: string | null;
  cancel_reason: string | null;
  test_clock: string | null;
  trial_end: string | null;
};
type Payment = { id: string; status: string; amount: number; customer: string; subscription: string | null };

const clock = new FakeClock(Date.parse("2026-03-02T10:00:00Z"));
let t: TestApp;
let m: MerchantKeys;

before(async () => {
  t = await createTestApp({ clock });
  m = await createMerchant(t.app);
});
after(() => t.close());

const post = <T = Record<string, unknown>>(url: string, body: unknown = {}) =>
  call<T>(t.app, "POST", url, { key: m.secretKey, body });
const get = <T = Record<string, unknown>>(url: string) => call<T>(t.app, "GET", url, { key: m.secretKey });
const runScheduler = () => runDueBilling(t.services.billing.context, { nowMs: clock.nowMs() });

async function product(name = "Football alerts") {
  const r = await post<{ id: string }>("/v1/products", { name });
  assert.equal(r.status, 201);
  return r.body.id;
}

async function price(body: Record<string, unknown>) {
  const r = await post<{ id: string }>("/v1/prices", body);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.id;
}

async function customer(body: Record<string, unknown> = {}) {
  const r = await post<{ id: string }>("/v1/customers", body);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.id;
}

async function trialBalanced() {
  const r = await get<{ data: Array<{ currency: string; debits: number; credits: number }> }>(
    "/v1/ledger/trial_balance",
  );
  for (const row of r.body.data) assert.equal(row.debits, row.credits, `${row.currency} balances`);
}

describe("catalog", () => {
  test("products with variants and prices per country, validation names the parameter", async () => {
    const parent = await product("Game coins");
    const variant = await post<{ parent: string }>("/v1/products", { name: "Game coins: gold", parent });
    assert.equal(variant.status, 201);
    assert.equal(variant.body.parent, parent);
    const list = await get<{ data: unknown[] }>(`/v1/products?parent=${parent}`);
    assert.equal(list.body.data.length, 1);

    const daily = await post<{ type: string; recurring: { period: string } }>("/v1/prices", {
      product: parent,
      amount: 99,
      currency: "EUR",
      country: "FR",
      recurring: { period: "P1D" },
      trial_days: 3,
    });
    assert.equal(daily.status, 201);
    assert.equal(daily.body.type, "recurring");
    const oneTime = await post<{ type: string; recurring: null }>("/v1/prices", {
      product: parent,
      amount: 500,
      currency: "NGN",
    });
    assert.equal(oneTime.body.type, "one_time");

    const bad = [
      [{ product: parent, amount: 99, currency: "EUR", recurring: { period: "1 day" } }, "recurring.period"],
      [{ product: parent, amount: 99, currency: "EUR", recurring: { period: "PT1M" } }, "recurring.period"],
      [{ product: parent, amount: 0, currency: "EUR" }, "amount"],
      [{ product: parent, amount: 99, currency: "EURO" }, "currency"],
      [{ product: parent, amount: 99, currency: "EUR", country: "XX" }, "country"],
      [{ product: parent, amount: 99, currency: "EUR", trial_days: 7 }, "trial_days"],
      [{ product: "prod_missing", amount: 99, currency: "EUR" }, "product"],
      [{ product: parent, amount: 99, currency: "EUR", colour: "red" }, "colour"],
    ] as const;
    for (const [body, param] of bad) {
      const r = await post<{ error: { param: string } }>("/v1/prices", body);
      assert.ok(r.status === 400 || r.status === 404, `${param}: ${r.status}`);
      assert.equal(r.body.error.param, param);
    }
    const nested = await post<{ error: { param: string } }>("/v1/products", {
      name: "x",
      parent: variant.body.parent,
    });
    assert.equal(nested.status, 201);
  });
});

describe("subscriptions", () => {
  test("double opt-in in France: incomplete until the PIN, then renewals in the window", async () => {
    const p = await price({
      product: await product(),
      amount: 199,
      currency: "EUR",
      country: "FR",
      recurring: { period: "P1W" },
    });
    const c = await customer({ country: "FR", msisdn: "+33612345678" });
    const created = await post<Sub>("/v1/subscriptions", {
      customer: c,
      price: p,
      payment_method: { type: "sandbox", scenario: "approve" },
      consent: { method: "web", ip_address: "192.0.2.1", text: "I agree to 1.99 EUR a week" },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.status, "incomplete");
    assert.equal(created.body.next_action?.type, "enter_pin");
    // Nothing is charged before the PIN.
    assert.equal(created.body.next_charge_at, null);
    assert.equal(created.body.consent.method, "web");

    const wrong = await post<{ error: { code: string } }>(`/v1/subscriptions/${created.body.id}/confirm`, {
      pin: "0000",
    });
    assert.equal(wrong.status, 402);
    assert.equal(wrong.body.error.code, "incorrect_pin");
    const after1 = await get<Sub>(`/v1/subscriptions/${created.body.id}`);
    assert.equal(after1.body.next_action?.enter_pin.attempts_remaining, 2);

    const ok = await post<Sub>(`/v1/subscriptions/${created.body.id}/confirm`, { pin: "1234" });
    assert.equal(ok.status, 200);
    // Confirmed but not paid yet: incomplete until the first charge succeeds, which is due now.
    assert.equal(ok.body.status, "incomplete");
    assert.equal(ok.body.next_action, null);
    assert.equal(ok.body.next_charge_at, "2026-03-02T10:00:00.000Z");
    assert.ok(ok.body.consent.pin_verified_at);

    const report = await runScheduler();
    assert.equal(report.succeeded, 1);
    const renewed = await get<Sub>(`/v1/subscriptions/${created.body.id}`);
    assert.equal(renewed.body.status, "active");
    assert.equal(renewed.body.billing_period, 1);
    // The next renewal is due when the paid period ends.
    assert.equal(renewed.body.next_charge_at, renewed.body.current_period_end);
    assert.equal(renewed.body.current_period_end, "2026-03-09T10:00:00.000Z");

    const payments = await get<{ data: Payment[] }>(`/v1/payments?subscription=${created.body.id}`);
    assert.equal(payments.body.data.length, 1);
    assert.equal(payments.body.data[0]?.status, "succeeded");
    assert.equal(payments.body.data[0]?.subscription, created.body.id);
    const byCustomer = await get<{ data: Payment[] }>(`/v1/payments?customer=${c}`);
    assert.equal(byCustomer.body.data.length, 1);
    const subsOfCustomer = await get<{ data: Sub[] }>(`/v1/subscriptions?customer=${c}&status=active`);
    assert.deepEqual(
      subsOfCustomer.body.data.map((s) => s.id),
      [created.body.id],
    );
    // A renewal is an ordinary payment: it can be refunded.
    const refund = await post<{ status: string }>("/v1/refunds", {
      payment: payments.body.data[0]?.id,
      amount: 50,
    });
    assert.equal(refund.status, 201, JSON.stringify(refund.body));
    assert.equal(refund.body.status, "succeeded");

    // A week later at 23:00 Paris (22:00Z) is quiet hours: the charge waits for 08:00 local.
    clock.set(Date.parse("2026-03-09T22:00:00Z"));
    assert.equal((await runScheduler()).charged, 0);
    clock.set(Date.parse("2026-03-10T09:30:00Z"));
    assert.equal((await runScheduler()).succeeded, 1);

    const events = await get<{ data: Array<{ type: string }> }>("/v1/events?limit=100");
    const types = new Set(events.body.data.map((e) => e.type));
    for (const type of [
      "subscription.created",
      "subscription.requires_action",
      "subscription.updated",
      "subscription.renewed",
      "subscription.receipt",
      "payment.created",
      "payment.succeeded",
    ])
      assert.ok(types.has(type), type);

    const canceled = await post<Sub>(`/v1/subscriptions/${created.body.id}/cancel`);
    assert.equal(canceled.body.status, "canceled");
    const again = await post<{ error: { code: string } }>(`/v1/subscriptions/${created.body.id}/cancel`);
    assert.equal(again.status, 409);
    clock.set(Date.parse("2026-03-20T10:00:00Z"));
    assert.equal((await runScheduler()).charged, 0);
    await trialBalanced();
  });

  test("insufficient funds: retries down the price ladder, debt on the ledger", async () => {
    clock.set(Date.parse("2026-04-01T09:00:00Z"));
    const p = await price({
      product: await product(),
      amount: 1000,
      currency: "NGN",
      recurring: { period: "P1D" },
    });
    const c = await customer({ country: "NG" });
    const created = await post<Sub>("/v1/subscriptions", {
      customer: c,
      price: p,
      payment_method: { type: "sandbox", scenario: "approve", balance: 600 },
    });
    assert.equal(created.body.status, "incomplete");
    // The balance check shows 600: the scheduler charges the 50% price point instead of failing.
    await runScheduler();
    const s1 = await get<Sub>(`/v1/subscriptions/${created.body.id}`);
    assert.equal(s1.body.status, "active");
    assert.equal(s1.body.debt, 500);
    const payments = await get<{ data: Payment[] }>(`/v1/payments?subscription=${created.body.id}`);
    assert.equal(payments.body.data[0]?.amount, 500);
    const { rows } = await t.services.db.query<{ code: string; amount: bigint }>(
      "select code, amount from ledger_transfers where reference = $1",
      [payments.body.data[0]?.id],
    );
    assert.deepEqual(rows.map((r) => r.code).sort(), ["debt_recorded", "payment_capture"]);
    await trialBalanced();

    const declined = await post<Sub>("/v1/subscriptions", {
      customer: c,
      price: p,
      payment_method: { type: "sandbox", scenario: "decline_insufficient_funds" },
    });
    clock.advance(2 * 3_600_000);
    await runScheduler();
    const d1 = await get<Sub>(`/v1/subscriptions/${declined.body.id}`);
    // Its first charge failed: never paid, so still incomplete (a failed renewal is past_due).
    assert.equal(d1.body.status, "incomplete");
    assert.equal(d1.body.retry_count, 1);
    // Retries over five days (inside windows), then the default policy cancels.
    for (let hour = 0; hour < 7 * 24; hour++) {
      clock.advance(3_600_000);
      await runScheduler();
    }
    const d2 = await get<Sub>(`/v1/subscriptions/${declined.body.id}`);
    assert.equal(d2.body.status, "canceled");
    assert.equal(d2.body.cancel_reason, "retries_exhausted");
    const attempts = await get<{ data: Payment[] }>(
      `/v1/payments?subscription=${declined.body.id}&limit=100`,
    );
    assert.ok(attempts.body.data.length >= 5, `${attempts.body.data.length} attempts`);
    // 100% then 50% then 20% of the price.
    const amounts = new Set(attempts.body.data.map((p) => p.amount));
    assert.deepEqual(
      [...amounts].sort((a, b) => a - b),
      [200, 500, 1000],
    );
    await trialBalanced();
  });

  test("hard decline cancels at once; a pause policy pauses after retries", async () => {
    const p = await price({
      product: await product(),
      amount: 300,
      currency: "KES",
      recurring: { period: "P1W" },
    });
    const c = await customer({ country: "KE" });
    const blocked = await post<Sub>("/v1/subscriptions", {
      customer: c,
      price: p,
      payment_method: { type: "sandbox", scenario: "decline_blocked" },
    });
    await runScheduler();
    const b = await get<Sub>(`/v1/subscriptions/${blocked.body.id}`);
    assert.equal(b.body.status, "canceled");
    assert.equal(b.body.cancel_reason, "hard_decline");

    const policy = await post<{ final_action: string }>("/v1/dunning_policies", {
      final_action: "pause",
      retry_days_max: 1,
    });
    assert.equal(policy.status, 200);
    const badPolicy = await post<{ error: { param: string } }>("/v1/dunning_policies", {
      partial_ladder_percent: [100, 60, 70],
    });
    assert.equal(badPolicy.status, 400);
    assert.equal(badPolicy.body.error.param, "partial_ladder_percent.2");
    const soft = await post<Sub>("/v1/subscriptions", {
      customer: c,
      price: p,
      payment_method: { type: "sandbox", scenario: "decline_generic" },
    });
    for (let hour = 0; hour < 3 * 24; hour++) {
      await runScheduler();
      clock.advance(3_600_000);
    }
    const s = await get<Sub>(`/v1/subscriptions/${soft.body.id}`);
    assert.equal(s.body.status, "paused");
    const resumed = await post<Sub>(`/v1/subscriptions/${soft.body.id}/resume`);
    assert.equal(resumed.body.status, "active");
  });

  test("a timeout is settled by asking, never by charging again", async () => {
    const p = await price({
      product: await product(),
      amount: 150,
      currency: "GHS",
      recurring: { period: "P1D" },
    });
    const c = await customer({ country: "GH" });
    const s = await post<Sub>("/v1/subscriptions", {
      customer: c,
      price: p,
      payment_method: { type: "sandbox", scenario: "timeout_then_approve" },
    });
    const hour = clock.nowMs() - (clock.nowMs() % 86_400_000) + 12 * 3_600_000;
    clock.set(hour + 86_400_000);
    await runScheduler();
    let payments = await get<{ data: Payment[] }>(`/v1/payments?subscription=${s.body.id}`);
    assert.equal(payments.body.data.length, 1);
    assert.equal(payments.body.data[0]?.status, "processing");
    clock.advance(10 * 60_000);
    await runScheduler();
    payments = await get<{ data: Payment[] }>(`/v1/payments?subscription=${s.body.id}`);
    assert.equal(payments.body.data.length, 1);
    assert.equal(payments.body.data[0]?.status, "succeeded");
    const sub = await get<Sub>(`/v1/subscriptions/${s.body.id}`);
    assert.equal(sub.body.billing_period, 1);
  });

  test("validation and state errors name what is wrong", async () => {
    const oneTime = await price({ product: await product(), amount: 100, currency: "EUR" });
    const c = await customer({ country: "DE" });
    const r1 = await post<{ error: { param: string } }>("/v1/subscriptions", {
      customer: c,
      price: oneTime,
      payment_method: { type: "sandbox", scenario: "approve" },
    });
    assert.equal(r1.status, 400);
    assert.equal(r1.body.error.param, "price");
    const overCap = await price({
      product: await product(),
      amount: 6000,
      currency: "EUR",
      recurring: { period: "P1M" },
    });
    const r2 = await post<{ error: { param: string } }>("/v1/subscriptions", {
      customer: c,
      price: overCap,
      payment_method: { type: "sandbox", scenario: "approve" },
    });
    assert.equal(r2.status, 400);
    assert.equal(r2.body.error.param, "price");
    const r3 = await post<{ error: { param: string } }>("/v1/subscriptions", {
      customer: c,
      price: overCap,
      payment_method: { type: "sandbox", scenario: "nope" },
    });
    assert.equal(r3.status, 400);
    assert.equal(r3.body.error.param, "payment_method.scenario");
    const r4 = await post<{ error: { param: string } }>("/v1/subscriptions", {
      customer: "cus_missing",
      price: overCap,
      payment_method: { type: "sandbox", scenario: "approve" },
    });
    assert.equal(r4.status, 404);
    assert.equal(r4.body.error.param, "customer");
  });

  test("a card cannot renew a subscription: the error lists the method types that can", async () => {
    const p = await price({
      product: await product(),
      amount: 100,
      currency: "EUR",
      recurring: { period: "P1M" },
    });
    const c = await customer({ country: "DE" });
    const r = await post<{ error: { code: string; param: string; message: string } }>("/v1/subscriptions", {
      customer: c,
      price: p,
      payment_method: { type: "card", number: "4242424242424242", exp_month: 12, exp_year: 2030, cvc: "123" },
    });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.code, "payment_method_invalid");
    assert.equal(r.body.error.param, "payment_method.type");
    assert.match(r.body.error.message, /must be one of sandbox, carrier\b/);
    // A one-off payment lists its own (cards included).
    const pay = await post<{ error: { param: string; message: string } }>("/v1/payments", {
      amount: 100,
      currency: "EUR",
      payment_method: { type: "wire" },
    });
    assert.equal(pay.status, 400);
    assert.equal(pay.body.error.param, "payment_method.type");
    assert.match(pay.body.error.message, /must be one of sandbox, carrier, card\b/);
  });

  test("a new subscription is incomplete until its first charge and tells when it will charge", async () => {
    const p = await price({
      product: await product(),
      amount: 300,
      currency: "EUR",
      recurring: { period: "P1M" },
    });
    const c = await customer({ country: "DE" });
    const created = await post<Sub>("/v1/subscriptions", {
      customer: c,
      price: p,
      payment_method: { type: "sandbox", scenario: "decline_generic" },
    });
    assert.equal(created.status, 201);
    assert.equal(created.body.status, "incomplete");
    assert.equal(created.body.next_charge_at, new Date(clock.nowMs()).toISOString());
    // A failed first charge leaves it incomplete (never paid), retried later.
    await runScheduler();
    const failed = await get<Sub>(`/v1/subscriptions/${created.body.id}`);
    assert.equal(failed.body.status, "incomplete");
    assert.equal(failed.body.retry_count, 1);
    assert.ok(failed.body.next_charge_at && Date.parse(failed.body.next_charge_at) > clock.nowMs());
    const listed = await get<{ data: Sub[] }>(`/v1/subscriptions?customer=${c}`);
    assert.equal(listed.body.data[0]?.next_charge_at, failed.body.next_charge_at);
    // Canceled: nothing will be charged.
    const canceled = await post<Sub>(`/v1/subscriptions/${created.body.id}/cancel`, {});
    assert.equal(canceled.body.next_charge_at, null);
    // With a trial: trialing, first charge when the trial ends.
    const trial = await price({
      product: await product(),
      amount: 300,
      currency: "EUR",
      recurring: { period: "P1M" },
      trial_days: 7,
    });
    const trialing = await post<Sub>("/v1/subscriptions", {
      customer: c,
      price: trial,
      payment_method: { type: "sandbox", scenario: "approve" },
    });
    assert.equal(trialing.body.status, "trialing");
    assert.equal(trialing.body.next_charge_at, trialing.body.trial_end);
  });

  test("an MO STOP cancels the subscriber's subscriptions", async () => {
    const p = await price({
      product: await product(),
      amount: 50,
      currency: "ZAR",
      recurring: { period: "P1D" },
    });
    const c = await customer({ country: "NG", msisdn: "+2348031234567" });
    const s = await post<Sub>("/v1/subscriptions", {
      customer: c,
      price: p,
      payment_method: { type: "sandbox", scenario: "approve" },
      consent: { method: "mo", reference: "mo_1", text: "SUB NEWS" },
    });
    const mo = await post<{ stop: boolean; canceled_subscriptions: string[] }>("/v1/mo_messages", {
      msisdn: "+2348031234567",
      text: "stop",
    });
    assert.equal(mo.body.stop, true);
    assert.deepEqual(mo.body.canceled_subscriptions, [s.body.id]);
    const after = await get<Sub>(`/v1/subscriptions/${s.body.id}`);
    assert.equal(after.body.cancel_reason, "mo_stop");
  });
});

describe("test clocks", () => {
  test("a month of daily renewals in one advance; the clock is advancing until done", async () => {
    const clockReply = await post<{ id: string; status: string; frozen_time: string }>("/v1/test_clocks", {
      frozen_time: "2026-01-05T12:00:00Z",
    });
    assert.equal(clockReply.status, 201);
    const id = clockReply.body.id;
    const live = await call<{ error: { code: string } }>(t.app, "POST", "/v1/test_clocks", {
      key: m.liveSecretKey,
      body: { frozen_time: "2026-01-05T12:00:00Z" },
    });
    assert.equal(live.status, 403);

    const p = await price({
      product: await product(),
      amount: 100,
      currency: "EUR",
      recurring: { period: "P1D" },
      trial_days: 2,
    });
    const c = await customer({ country: "DE", test_clock: id });
    const s = await post<Sub>("/v1/subscriptions", {
      customer: c,
      price: p,
      payment_method: { type: "sandbox", scenario: "approve" },
    });
    assert.equal(s.body.status, "trialing");
    assert.equal(s.body.test_clock, id);
    assert.equal(s.body.trial_end, "2026-01-07T12:00:00.000Z");

    const advanced = await post<{ status: string }>(`/v1/test_clocks/${id}/advance`, {
      frozen_time: "2026-02-05T12:00:00Z",
    });
    assert.equal(advanced.status, 200);
    assert.equal(advanced.body.status, "advancing");
    const backwards = await post<{ error: { code: string } }>(`/v1/test_clocks/${id}/advance`, {
      frozen_time: "2026-01-01T12:00:00Z",
    });
    assert.equal(backwards.status, 400);
    let status = "advancing";
    for (let i = 0; i < 10_000 && status !== "ready"; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      status = (await get<{ status: string }>(`/v1/test_clocks/${id}`)).body.status;
    }
    assert.equal(status, "ready");
    const sub = await get<Sub>(`/v1/subscriptions/${s.body.id}`);
    assert.equal(sub.body.status, "active");
    // Jan 7 .. Feb 5 inclusive: 30 daily renewals.
    assert.equal(sub.body.billing_period, 30);
    const payments = await get<{ data: Payment[] }>(`/v1/payments?subscription=${s.body.id}&limit=100`);
    assert.equal(payments.body.data.length, 30);
    assert.ok(payments.body.data.every((p) => p.status === "succeeded"));
  });
});
