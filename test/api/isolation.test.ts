/**
 * Merchants never see each other's objects, and test keys never see live objects: every lookup
 * of a foreign id answers 404 as if it did not exist.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  call,
  createMerchant,
  createTestApp,
  type MerchantKeys,
  sandboxPayment,
  type TestApp,
} from "../support/app.ts";

let t: TestApp;
let alice: MerchantKeys;
let bob: MerchantKeys;
const ids: Record<string, string> = {};

before(async () => {
  t = await createTestApp();
  alice = await createMerchant(t.app, "Alice");
  bob = await createMerchant(t.app, "Bob");
  const customer = await call<{ id: string }>(t.app, "POST", "/v1/customers", {
    key: alice.secretKey,
    body: { email: "p@x.io" },
  });
  ids.customer = customer.body.id;
  const payment = await call<{ id: string }>(t.app, "POST", "/v1/payments", {
    key: alice.secretKey,
    body: sandboxPayment("approve"),
  });
  ids.payment = payment.body.id;
  const refund = await call<{ id: string }>(t.app, "POST", "/v1/refunds", {
    key: alice.secretKey,
    body: { payment: ids.payment, amount: 1 },
  });
  ids.refund = refund.body.id;
  const events = await call<{ data: Array<{ id: string }> }>(t.app, "GET", "/v1/events", {
    key: alice.secretKey,
  });
  ids.event = events.body.data[0]!.id;
  const keys = await call<{ data: Array<{ id: string }> }>(t.app, "GET", "/v1/api_keys", {
    key: alice.secretKey,
  });
  ids.api_key = keys.body.data[0]!.id;
  const liveCustomer = await call<{ id: string }>(t.app, "POST", "/v1/customers", {
    key: alice.liveSecretKey,
    body: { email: "live@x.io" },
  });
  ids.live_customer = liveCustomer.body.id;
});
after(() => t.close());

const reads = (): Array<[string, string]> => [
  ["customer", `/v1/customers/${ids.customer}`],
  ["payment", `/v1/payments/${ids.payment}`],
  ["timeline", `/v1/payments/${ids.payment}/timeline`],
  ["refund", `/v1/refunds/${ids.refund}`],
  ["event", `/v1/events/${ids.event}`],
  ["api_key", `/v1/api_keys/${ids.api_key}`],
];

test("the owner can read every object", async () => {
  for (const [name, url] of reads()) {
    const r = await call(t.app, "GET", url, { key: alice.secretKey });
    assert.equal(r.status, 200, name);
  }
});

test("another merchant gets 404 for every id, and cannot act on them", async () => {
  for (const [name, url] of reads()) {
    const r = await call<{ error: { code: string } }>(t.app, "GET", url, { key: bob.secretKey });
    assert.equal(r.status, 404, name);
    assert.equal(r.body.error.code, "resource_missing", name);
  }
  const actions: Array<[string, unknown]> = [
    [`/v1/payments/${ids.payment}/capture`, {}],
    [`/v1/payments/${ids.payment}/cancel`, {}],
    [`/v1/payments/${ids.payment}/confirm`, { pin: "1234" }],
    ["/v1/refunds", { payment: ids.payment, amount: 1 }],
    [`/v1/api_keys/${ids.api_key}/roll`, {}],
  ];
  for (const [url, body] of actions) {
    const r = await call(t.app, "POST", url, { key: bob.secretKey, body });
    assert.equal(r.status, 404, url);
  }
  const revoke = await call(t.app, "DELETE", `/v1/api_keys/${ids.api_key}`, { key: bob.secretKey });
  assert.equal(revoke.status, 404);
  const paying = await call(t.app, "POST", "/v1/payments", {
    key: bob.secretKey,
    body: sandboxPayment("approve", { customer: ids.customer }),
  });
  assert.equal(paying.status, 404);
  const lists = await call<{ data: unknown[] }>(t.app, "GET", "/v1/payments", { key: bob.secretKey });
  assert.equal(lists.body.data.length, 0);
});

test("test keys never see live objects, and live keys never see test objects", async () => {
  const fromTest = await call(t.app, "GET", `/v1/customers/${ids.live_customer}`, { key: alice.secretKey });
  assert.equal(fromTest.status, 404);
  for (const [name, url] of reads()) {
    const r = await call(t.app, "GET", url, { key: alice.liveSecretKey });
    assert.equal(r.status, 404, `live key reading test ${name}`);
  }
  const liveList = await call<{ data: Array<{ id: string }> }>(t.app, "GET", "/v1/customers", {
    key: alice.liveSecretKey,
  });
  assert.deepEqual(
    liveList.body.data.map((c) => c.id),
    [ids.live_customer],
  );
  const testList = await call<{ data: Array<{ id: string }> }>(t.app, "GET", "/v1/customers", {
    key: alice.secretKey,
  });
  assert.ok(!testList.body.data.some((c) => c.id === ids.live_customer));
  const liveSandbox = await call<{ error: { code: string; param: string } }>(t.app, "POST", "/v1/payments", {
    key: alice.liveSecretKey,
    body: sandboxPayment("approve"),
  });
  assert.equal(liveSandbox.status, 400);
  assert.equal(liveSandbox.body.error.code, "payment_method_unavailable");
  assert.equal(liveSandbox.body.error.param, "payment_method.type");
  const liveBalance = await call<{ available: unknown[]; livemode: boolean }>(t.app, "GET", "/v1/balance", {
    key: alice.liveSecretKey,
  });
  assert.equal(liveBalance.body.livemode, true);
  assert.deepEqual(liveBalance.body.available, []);
});

test("publishable keys may not use the server API; the admin key may not act as a merchant", async () => {
  const r = await call<{ error: { code: string; type: string } }>(t.app, "GET", "/v1/payments", {
    key: alice.publishableKey,
  });
  assert.equal(r.status, 403);
  assert.equal(r.body.error.type, "permission_error");
  const { ADMIN_KEY } = await import("../support/app.ts");
  const admin = await call(t.app, "GET", "/v1/payments", { key: ADMIN_KEY });
  assert.equal(admin.status, 403);
  const merchantAsAdmin = await call(t.app, "POST", "/v1/merchants", {
    key: alice.secretKey,
    body: { name: "x" },
  });
  assert.equal(merchantAsAdmin.status, 403);
});

test("a merchant pays with its own customer, and lists the customer's payments", async () => {
  const paying = await call<{ id: string; customer: string }>(t.app, "POST", "/v1/payments", {
    key: alice.secretKey,
    body: sandboxPayment("approve", { customer: ids.customer }),
  });
  assert.equal(paying.status, 201);
  assert.equal(paying.body.customer, ids.customer);
  const list = await call<{ data: Array<{ id: string }> }>(
    t.app,
    "GET",
    `/v1/payments?customer=${ids.customer}`,
    { key: alice.secretKey },
  );
  assert.deepEqual(
    list.body.data.map((p) => p.id),
    [paying.body.id],
  );
});
