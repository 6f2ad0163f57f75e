/**
 * `/admin/refund-requests`: the refunds payers asked for in their portal, answered by the
 * merchant's team. Approve refunds the payment once (a form sent twice refunds nothing more);
 * decline tells the payer why; the payment's page points at a waiting request; a viewer sees the
 * queue without the buttons and is refused if they post anyway.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { PayerThrottle } from "../../src/payers/index.ts";
import { payerCall, type Session, signInWithCode } from "../payers/support.ts";
import { call, createMerchant, createTestApp, type MerchantKeys, type TestApp } from "../support/app.ts";
import { signedIn } from "./admin-session.ts";

let t: TestApp;
let m: MerchantKeys;
let payer: Session;
let customer: string;
const MSISDN = "+4915112340077";

type RefundRequest = { id: string; status: string; refund: string | null; decline_reason: string | null };

before(async () => {
  t = await createTestApp();
  t.services.payers.ctx.throttle = new PayerThrottle();
  m = await createMerchant(t.app, "Refund desk studio");
  const c = await call<{ id: string }>(t.app, "POST", "/v1/customers", {
    key: m.secretKey,
    body: { msisdn: MSISDN, country: "DE" },
  });
  customer = c.body.id;
  payer = await signInWithCode(t.app, { msisdn: MSISDN });
});
after(() => t.close());

async function paidAndAsked(amount: number, reason: string) {
  const paid = await call<{ id: string }>(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: { amount, currency: "EUR", customer, payment_method: { type: "sandbox", scenario: "approve" } },
  });
  assert.equal(paid.status, 201, JSON.stringify(paid.body));
  const asked = await payerCall<RefundRequest>(t.app, payer.token, "POST", "/v1/payer/refund_requests", {
    payment: paid.body.id,
    reason,
  });
  assert.equal(asked.status, 201, JSON.stringify(asked.body));
  assert.equal(
    asked.body.status,
    "pending",
    "above the automatic threshold (none set): the merchant decides",
  );
  return { payment: paid.body.id, request: asked.body.id };
}

const refunded = async (payment: string) =>
  (await call<{ amount_refunded: number }>(t.app, "GET", `/v1/payments/${payment}`, { key: m.secretKey }))
    .body.amount_refunded;

const requestOf = async (id: string) =>
  (await call<RefundRequest>(t.app, "GET", `/v1/refund_requests/${id}`, { key: m.secretKey })).body;

test("a support agent approves a payer's request once and declines another with a reason the payer sees", async () => {
  const first = await paidAndAsked(700, "Bought by mistake");
  const second = await paidAndAsked(300, "Never arrived");
  const agent = await signedIn(t.app, {
    email: "desk@studio.example",
    role: "support",
    merchant: m.merchantId,
  });

  const paymentPage = await agent.session.get(`/admin/payments/${first.payment}`);
  assert.match(paymentPage.body, /The payer asked for a refund of this payment/);
  assert.match(paymentPage.body, /href="\/admin\/refund-requests"/);

  const queue = await agent.session.get("/admin/refund-requests");
  assert.equal(queue.status, 200);
  for (const asked of [first, second]) assert.match(queue.body, new RegExp(`id="${asked.request}"`));
  assert.match(queue.body, /Bought by mistake/);
  const key = new RegExp(
    `/admin/refund-requests/${first.request}/approve">[\\s\\S]*?name="idempotency_key" value="([^"]+)"`,
  ).exec(queue.body)?.[1];
  assert.ok(key, "the approve form carries its key");

  const approved = await agent.session.post(`/admin/refund-requests/${first.request}/approve`, {
    idempotency_key: key,
  });
  assert.equal(approved.status, 303);
  assert.equal(approved.location, "/admin/refund-requests?done=approved");
  assert.equal(await refunded(first.payment), 700);
  const after = await requestOf(first.request);
  assert.equal(after.status, "approved");
  assert.ok(after.refund, "the refund is linked to the request");

  // The same form again (a double click, a reload): nothing more is refunded.
  await agent.session.get("/admin/refund-requests");
  const again = await agent.session.post(`/admin/refund-requests/${first.request}/approve`, {
    idempotency_key: key,
  });
  assert.equal(again.location, "/admin/refund-requests?done=already");
  assert.equal(await refunded(first.payment), 700);

  const declined = await agent.session.post(`/admin/refund-requests/${second.request}/decline`, {
    idempotency_key: "decline-once",
    reason: "Delivered on 2 December",
  });
  assert.equal(declined.location, "/admin/refund-requests?done=declined");
  assert.equal(await refunded(second.payment), 0);
  const seen = await payerCall<{ data: RefundRequest[] }>(
    t.app,
    payer.token,
    "GET",
    "/v1/payer/refund_requests",
  );
  const mine = seen.body.data.find((r) => r.id === second.request);
  assert.equal(mine?.status, "declined");
  assert.equal(mine?.decline_reason, "Delivered on 2 December");

  const emptied = await agent.session.get("/admin/refund-requests");
  assert.doesNotMatch(emptied.body, new RegExp(`id="${first.request}"|id="${second.request}"`));
});

test("a viewer sees the queue without buttons and is refused (403) when posting anyway", async () => {
  const asked = await paidAndAsked(400, "Changed my mind");
  const viewer = await signedIn(t.app, {
    email: "look@studio.example",
    role: "viewer",
    merchant: m.merchantId,
  });
  const queue = await viewer.session.get("/admin/refund-requests");
  assert.equal(queue.status, 200);
  assert.match(queue.body, new RegExp(`id="${asked.request}"`));
  assert.doesNotMatch(queue.body, /refund-requests\/[^"]+\/approve/);
  const refused = await viewer.session.post(`/admin/refund-requests/${asked.request}/approve`, {
    idempotency_key: "viewer-try",
  });
  assert.equal(refused.status, 403);
  assert.equal(await refunded(asked.payment), 0);
  assert.equal((await requestOf(asked.request)).status, "pending");
});
