/**
 * Renewals through a real carrier connector against the carrier network simulator: the attempt is
 * committed before the operator is called, the attempt id is the operator's idempotency key, and
 * the answer (at once, or after a sync) settles the subscription. A subscriber without credit goes
 * incomplete (never paid) without being charged.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type BillingContext, runDueBilling } from "../../src/billing/scheduler.ts";
import { closeConnectors } from "../../src/connectors/operators/index.ts";
import type { PaymentProvider } from "../../src/payments/provider.ts";
import { startTestSimulator } from "../connectors/support/fixtures.ts";
import {
  call,
  createMerchant,
  createTestApp,
  FakeClock,
  type MerchantKeys,
  type TestApp,
} from "../support/app.ts";

// 11:00 in Manila.
const clock = new FakeClock(Date.parse("2026-03-02T03:00:00Z"));
let t: TestApp;
let m: MerchantKeys;
let sim: Awaited<ReturnType<typeof startTestSimulator>>;

before(async () => {
  sim = await startTestSimulator(11);
  t = await createTestApp({ clock });
  m = await createMerchant(t.app);
});
after(async () => {
  await closeConnectors();
  await t.close();
  await sim.close();
});

const post = <T = Record<string, unknown>>(url: string, body: unknown = {}) =>
  call<T>(t.app, "POST", url, { key: m.secretKey, body });
const get = <T = Record<string, unknown>>(url: string) => call<T>(t.app, "GET", url, { key: m.secretKey });

/** The billing context with the carrier provider partly replaced (the rest is the real one). */
function withCarrier(replace: (real: PaymentProvider) => Partial<PaymentProvider>): BillingContext {
  const real = t.services.payments.providers.require("carrier");
  const replaced: PaymentProvider = Object.assign(Object.create(real) as PaymentProvider, replace(real));
  return { ...t.services.billing.context, providers: t.services.payments.providers.with(replaced) };
}

test("carrier renewals: charged through the connector, unknowns settled by asking", async () => {
  const product = await post<{ id: string }>("/v1/products", { name: "Daily horoscope" });
  const price = await post<{ id: string }>("/v1/prices", {
    product: product.body.id,
    amount: 500,
    currency: "PHP",
    recurring: { period: "P1D" },
  });
  const subscribe = async (msisdn: string) => {
    const customer = await post<{ id: string }>("/v1/customers", { country: "PH", msisdn });
    const sub = await post<{ id: string; status: string; operator: string }>("/v1/subscriptions", {
      customer: customer.body.id,
      price: price.body.id,
      payment_method: { type: "carrier", msisdn, operator: "51502" },
      consent: { method: "web", text: "5.00 PHP a day" },
    });
    assert.equal(sub.status, 201, JSON.stringify(sub.body));
    assert.equal(sub.body.operator, "51502");
    return sub.body.id;
  };
  const paying = await subscribe("+6391700010000");
  const broke = await subscribe("+6391700020001");

  // The first round's answers are lost on the way back (the operator did charge): an unknown.
  const lost = withCarrier((real) => ({
    async charge(request) {
      await real.charge(request);
      return { outcome: { status: "unknown", reason: "timeout" }, interactions: [] };
    },
  }));
  const first = await runDueBilling(lost, { nowMs: clock.nowMs() });
  assert.equal(first.charged, 2);
  const unknown = await get<{ data: Array<{ status: string }> }>(`/v1/payments?subscription=${paying}`);
  assert.equal(unknown.body.data[0]?.status, "processing", "the lost answer left the attempt unknown");
  for (let round = 0; round < 10; round++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    clock.advance(6 * 60_000);
    await runDueBilling(t.services.billing.context, { nowMs: clock.nowMs() });
    const { rows } = await t.services.db.query("select 1 from payments where status = 'processing' limit 1");
    if (rows.length === 0) break;
  }

  const paid = await get<{ status: string; billing_period: number }>(`/v1/subscriptions/${paying}`);
  assert.equal(paid.body.billing_period, 1);
  assert.equal(paid.body.status, "active");
  const payments = await get<{ data: Array<{ id: string; status: string; amount: number }> }>(
    `/v1/payments?subscription=${paying}`,
  );
  assert.equal(payments.body.data.length, 1);
  assert.equal(payments.body.data[0]?.status, "succeeded");
  // Settled by asking, after the lease: processing at 03:00, succeeded at the 03:06 sync.
  const timeline = await get<{ data: Array<{ type: string; event?: string; at: string }> }>(
    `/v1/payments/${payments.body.data[0]?.id}/timeline`,
  );
  const changes = timeline.body.data.filter((e) => e.type === "state_change").map((e) => [e.event, e.at]);
  assert.deepEqual(changes, [
    ["payment.created", "2026-03-02T03:00:00.000Z"],
    ["payment.processing", "2026-03-02T03:00:00.000Z"],
    ["payment.succeeded", "2026-03-02T03:06:00.000Z"],
  ]);

  const unpaid = await get<{ status: string; billing_period: number }>(`/v1/subscriptions/${broke}`);
  // Never paid: still incomplete while the dunning retries run.
  assert.equal(unpaid.body.status, "incomplete");
  assert.equal(unpaid.body.billing_period, 0);
  const brokePayments = await get<{ data: Array<{ status: string }> }>(`/v1/payments?subscription=${broke}`);
  assert.ok(brokePayments.body.data.every((p) => p.status === "failed"));

  // The operator charged the paying subscriber exactly once, and never the broke one.
  const payer = sim.network.findSubscriber("+6391700010000");
  assert.equal(payer?.balance, 10_000n - 500n);
  assert.equal(sim.network.findSubscriber("+6391700020001")?.balance ?? 0n, 0n);
});

test("a subscription to a number without an operator is routed by lookup, as a one-off payment is", async () => {
  // France has several operators: the number alone needs the operator lookup (it was refused
  // with lookup_failed for subscriptions while payments looked it up).
  const msisdn = "+33612345670";
  const product = await post<{ id: string }>("/v1/products", { name: "Quiz" });
  const price = await post<{ id: string }>("/v1/prices", {
    product: product.body.id,
    amount: 500,
    currency: "EUR",
    recurring: { period: "P1M" },
  });
  const customer = await post<{ id: string }>("/v1/customers", { country: "FR", msisdn });
  const sub = await post<{ operator: string; country: string; payment_method: Record<string, unknown> }>(
    "/v1/subscriptions",
    { customer: customer.body.id, price: price.body.id, payment_method: { type: "carrier", msisdn } },
  );
  assert.equal(sub.status, 201, JSON.stringify(sub.body));
  const payment = await post<{ payment_method: { operator: string } }>("/v1/payments", {
    amount: 500,
    currency: "EUR",
    payment_method: { type: "carrier", msisdn },
  });
  assert.equal(payment.status, 201, JSON.stringify(payment.body));
  assert.match(payment.body.payment_method.operator, /^208\d\d$/);
  assert.equal(sub.body.operator, payment.body.payment_method.operator);
  assert.equal(sub.body.country, "FR");
  assert.deepEqual(sub.body.payment_method, {
    type: "carrier",
    msisdn,
    operator: payment.body.payment_method.operator,
    flow: "direct",
  });
});

test("a renewal whose worker died before sending is given up after 15 minutes, then retried", async () => {
  const product = await post<{ id: string }>("/v1/products", { name: "Weather" });
  const price = await post<{ id: string }>("/v1/prices", {
    product: product.body.id,
    amount: 400,
    currency: "PHP",
    recurring: { period: "P1M" },
  });
  const msisdn = "+6391700030000";
  const customer = await post<{ id: string }>("/v1/customers", { country: "PH", msisdn });
  const sub = await post<{ id: string }>("/v1/subscriptions", {
    customer: customer.body.id,
    price: price.body.id,
    payment_method: { type: "carrier", msisdn, operator: "51502" },
  });
  assert.equal(sub.status, 201, JSON.stringify(sub.body));
  // The attempt is recorded, then the worker dies before the request leaves.
  const crashed = withCarrier(() => ({
    async charge() {
      throw new Error("worker died before sending");
    },
  }));
  await runDueBilling(crashed, { nowMs: clock.nowMs() });
  const attempts = async () =>
    (
      await get<{ data: Array<{ id: string; status: string; failure_code: string | null }> }>(
        `/v1/payments?subscription=${sub.body.id}`,
      )
    ).body.data;
  const [attempt] = await attempts();
  assert.equal(attempt?.status, "processing");
  // Asked after the lease: the operator has no record, but it may still be on its way.
  clock.advance(6 * 60_000);
  await runDueBilling(t.services.billing.context, { nowMs: clock.nowMs() });
  assert.equal((await attempts()).find((p) => p.id === attempt?.id)?.status, "processing");
  // Past 15 minutes it never arrived: failed, nothing charged, and dunning carries on.
  clock.advance(11 * 60_000);
  await runDueBilling(t.services.billing.context, { nowMs: clock.nowMs() });
  const gaveUp = (await attempts()).find((p) => p.id === attempt?.id);
  assert.equal(gaveUp?.status, "failed");
  assert.equal(gaveUp?.failure_code, "attempt_not_found");
  assert.equal(sim.network.findSubscriber(msisdn)?.balance ?? 10_000n, 10_000n, "nothing was charged");
  const retrying = await get<{ status: string; retry_count: number; next_charge_at: string }>(
    `/v1/subscriptions/${sub.body.id}`,
  );
  assert.equal(retrying.body.retry_count, 1);
  // The retry charges once.
  clock.set(Date.parse(retrying.body.next_charge_at));
  await runDueBilling(t.services.billing.context, { nowMs: clock.nowMs() });
  const after = await attempts();
  assert.equal(after.filter((p) => p.status === "succeeded").length, 1, JSON.stringify(after));
  assert.equal(sim.network.findSubscriber(msisdn)?.balance, 10_000n - 400n);
});

test("a remote balance check below the price charges the highest price point it covers", async () => {
  const product = await post<{ id: string }>("/v1/products", { name: "Jokes" });
  const price = await post<{ id: string }>("/v1/prices", {
    product: product.body.id,
    amount: 500,
    currency: "PHP",
    recurring: { period: "P1M" },
  });
  const msisdn = "+6391700040000";
  // 3.00 PHP of credit: the 50% price point (2.50) is the highest it covers.
  sim.network.subscriber(msisdn, "PHP").balance = 300n;
  const customer = await post<{ id: string }>("/v1/customers", { country: "PH", msisdn });
  const sub = await post<{ id: string }>("/v1/subscriptions", {
    customer: customer.body.id,
    price: price.body.id,
    payment_method: { type: "carrier", msisdn, operator: "51502" },
  });
  await runDueBilling(t.services.billing.context, { nowMs: clock.nowMs() });
  const payments = await get<{
    data: Array<{ status: string; amount: number; metadata: Record<string, string> }>;
  }>(`/v1/payments?subscription=${sub.body.id}`);
  assert.equal(payments.body.data.length, 1);
  assert.equal(payments.body.data[0]?.status, "succeeded");
  assert.equal(payments.body.data[0]?.amount, 250);
  assert.equal(payments.body.data[0]?.metadata.price_point_percent, "50");
  const after = await get<{ status: string; debt: number; billing_period: number }>(
    `/v1/subscriptions/${sub.body.id}`,
  );
  assert.equal(after.body.status, "active");
  assert.equal(after.body.billing_period, 1);
  assert.equal(after.body.debt, 250);
  assert.equal(sim.network.findSubscriber(msisdn)?.balance, 50n);

  // Too little for any price point (20% is 1.00): skipped, nothing sent, a failed attempt.
  const poorMsisdn = "+6391700050000";
  sim.network.subscriber(poorMsisdn, "PHP").balance = 50n;
  const poor = await post<{ id: string }>("/v1/customers", { country: "PH", msisdn: poorMsisdn });
  const poorSub = await post<{ id: string }>("/v1/subscriptions", {
    customer: poor.body.id,
    price: price.body.id,
    payment_method: { type: "carrier", msisdn: poorMsisdn, operator: "51502" },
  });
  await runDueBilling(t.services.billing.context, { nowMs: clock.nowMs() });
  const skipped = await get<{ data: Array<{ status: string; failure_code: string }> }>(
    `/v1/payments?subscription=${poorSub.body.id}`,
  );
  assert.deepEqual(
    skipped.body.data.map((p) => [p.status, p.failure_code]),
    [["failed", "insufficient_funds"]],
  );
  assert.equal(sim.network.findSubscriber(poorMsisdn)?.balance, 50n);
  const events = await get<{ data: Array<{ type: string }> }>(`/v1/events?limit=100`);
  assert.ok(events.body.data.some((e) => e.type === "subscription.charge_skipped"));
});
