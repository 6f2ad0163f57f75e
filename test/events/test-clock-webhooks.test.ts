/**
 * Events of renewals run under a test clock carry the clock's time, days ahead of the wall clock;
 * their webhooks must still be deliverable now, not when real time gets there (the soak found
 * 3,000 deliveries of test-clock renewals waiting a day and a half).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { call, createMerchant, createTestApp, type MerchantKeys, type TestApp } from "../support/app.ts";

let t: TestApp;
let m: MerchantKeys;

before(async () => {
  // The endpoint is never called here; its address only has to be accepted.
  process.env.CENTIME_WEBHOOK_ALLOWED_HOSTS = "127.0.0.1";
  t = await createTestApp();
  m = await createMerchant(t.app);
});
after(() => t.close());

async function post<T = { id: string }>(url: string, body: unknown): Promise<T> {
  const r = await call<T>(t.app, "POST", url, { key: m.secretKey, body });
  assert.ok(r.status < 300, `${url}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

test("a renewal under a test clock moved days ahead is delivered now", async () => {
  await post("/v1/webhook_endpoints", { url: "http://127.0.0.1:9/hooks", events: ["*"] });
  const frozenMs = Date.now();
  const clock = await post("/v1/test_clocks", { frozen_time: new Date(frozenMs).toISOString() });
  const product = await post("/v1/products", { name: "Daily pass" });
  const price = await post("/v1/prices", {
    product: product.id,
    amount: 99,
    currency: "EUR",
    recurring: { period: "P1D" },
  });
  const customer = await post("/v1/customers", { country: "DE", test_clock: clock.id });
  await post("/v1/subscriptions", {
    customer: customer.id,
    price: price.id,
    payment_method: { type: "sandbox", scenario: "approve" },
  });
  await post(`/v1/test_clocks/${clock.id}/advance`, {
    frozen_time: new Date(frozenMs + 3 * 86_400_000).toISOString(),
  });
  let status = "advancing";
  for (let i = 0; i < 2_000 && status !== "ready"; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    status = (
      await call<{ status: string }>(t.app, "GET", `/v1/test_clocks/${clock.id}`, { key: m.secretKey })
    ).body.status;
  }
  assert.equal(status, "ready");

  const { rows } = await t.database.db.query<{ ahead: number; due_later: number; total: number }>(
    `select count(*) filter (where e.created > now() + interval '1 hour')::int as ahead,
            count(*) filter (where d.next_attempt_at > now() + interval '1 minute')::int as due_later,
            count(*)::int as total
       from webhook_deliveries d join events e on e.id = d.event_id
      where d.merchant_id = $1`,
    [m.merchantId],
  );
  const { ahead, due_later: dueLater, total } = rows[0]!;
  assert.ok(ahead >= 3, `renewal events stamped ahead of real time: ${ahead} of ${total}`);
  assert.equal(dueLater, 0, "no delivery waits for the wall clock to reach the test clock");
});
