/**
 * Renewals through a real carrier connector against the carrier network simulator: the attempt is
 * committed before the operator is called, the attempt id is the operator's idempotency key, and
 * the answer (at once, or after a sync) settles the subscription. A subscriber without credit goes
 * past_due without being charged.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { runDueBilling } from "../../src/billing/scheduler.ts";
import { closeConnectors } from "../../src/connectors/operators/index.ts";
import { defaultBalance } from "../../src/simulator/network.ts";
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

  for (let round = 0; round < 10; round++) {
    await runDueBilling(t.services.billing.context, { nowMs: clock.nowMs() });
    const { rows } = await t.services.db.query("select 1 from payments where status = 'processing' limit 1");
    if (rows.length === 0) break;
    // Let callbacks arrive, then ask about what is still unknown after the lease.
    await new Promise((resolve) => setTimeout(resolve, 50));
    clock.advance(6 * 60_000);
  }

  const paid = await get<{ status: string; billing_period: number }>(`/v1/subscriptions/${paying}`);
  assert.equal(paid.body.billing_period, 1);
  assert.equal(paid.body.status, "active");
  const payments = await get<{ data: Array<{ id: string; status: string; amount: number }> }>(
    `/v1/payments?subscription=${paying}`,
  );
  assert.equal(payments.body.data.length, 1);
  assert.equal(payments.body.data[0]?.status, "succeeded");
  const timeline = await get<{ data?: unknown[] }>(`/v1/payments/${payments.body.data[0]?.id}/timeline`);
  assert.equal(timeline.status, 200);

  const unpaid = await get<{ status: string; billing_period: number }>(`/v1/subscriptions/${broke}`);
  assert.equal(unpaid.body.status, "past_due");
  assert.equal(unpaid.body.billing_period, 0);
  const brokePayments = await get<{ data: Array<{ status: string }> }>(`/v1/payments?subscription=${broke}`);
  assert.ok(brokePayments.body.data.every((p) => p.status === "failed"));

  // The operator charged the paying subscriber exactly once, and never the broke one.
  const payer = sim.network.findSubscriber("+6391700010000");
  assert.equal(payer?.balance, defaultBalance("PHP") - 500n);
  assert.equal(sim.network.findSubscriber("+6391700020001")?.balance ?? 0n, 0n);
});
