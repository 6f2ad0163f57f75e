/**
 * Goal: what a payer changes is real. Cancel stops renewals (a test clock runs weeks of them);
 * a refund request under the merchant's threshold is refunded exactly once however often and
 * however concurrently it is asked; above it the merchant answers through the API (approve
 * refunds once, decline says why), with events; the ledger balances throughout.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { PayerThrottle, settleRefundedRequests } from "../../src/payers/index.ts";
import { call, createMerchant, createTestApp, type MerchantKeys, type TestApp } from "../support/app.ts";
import { payerCall, type Session, signInWithCode } from "./support.ts";

let t: TestApp;
let m: MerchantKeys;
let alice: Session;
let aliceCustomer: string;
// Germany: no double opt-in, so a subscription starts without a PIN.
const MSISDN = "+4915112340001";

type List<T> = { data: T[]; has_more: boolean };
type RefundRequest = {
  id: string;
  status: string;
  decision: string | null;
  refund: string | null;
  refund_status: string | null;
  amount: number;
  decline_reason: string | null;
};

const post = <T = Record<string, unknown>>(url: string, body: unknown = {}) =>
  call<T>(t.app, "POST", url, { key: m.secretKey, body });
const get = <T = Record<string, unknown>>(url: string) => call<T>(t.app, "GET", url, { key: m.secretKey });

async function pay(amount: number) {
  const r = await post<{ id: string; status: string }>("/v1/payments", {
    amount,
    currency: "EUR",
    customer: aliceCustomer,
    payment_method: { type: "sandbox", scenario: "approve" },
  });
  assert.equal(r.body.status, "succeeded");
  return r.body.id;
}

async function trialBalanced() {
  const r = await get<{ data: Array<{ currency: string; debits: number; credits: number }> }>(
    "/v1/ledger/trial_balance",
  );
  for (const row of r.body.data) assert.equal(row.debits, row.credits, `${row.currency} balances`);
}

async function waitForClock(id: string) {
  let status = "advancing";
  for (let i = 0; i < 10_000 && status !== "ready"; i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    status = (await get<{ status: string }>(`/v1/test_clocks/${id}`)).body.status;
  }
  assert.equal(status, "ready");
}

before(async () => {
  t = await createTestApp();
  t.services.payers.ctx.throttle = new PayerThrottle();
  m = await createMerchant(t.app, "Horoscopes Ltd");
  const c = await post<{ id: string }>("/v1/customers", { msisdn: MSISDN, country: "DE" });
  aliceCustomer = c.body.id;
  alice = await signInWithCode(t.app, { msisdn: MSISDN });
  const policy = await post<{ automatic_max: Record<string, number> }>("/v1/refund_request_policy", {
    automatic_max: { EUR: 500 },
  });
  assert.equal(policy.status, 200, JSON.stringify(policy.body));
  assert.deepEqual(policy.body.automatic_max, { EUR: 500 });
});
after(() => t.close());

describe("cancel", () => {
  test("a payer's cancel stops renewals on a test clock; cancelling again is harmless", async () => {
    const clock = await post<{ id: string }>("/v1/test_clocks", { frozen_time: "2026-01-05T12:00:00Z" });
    const clockId = clock.body.id;
    const customer = await post<{ id: string }>("/v1/customers", {
      msisdn: MSISDN,
      country: "DE",
      test_clock: clockId,
    });
    const product = await post<{ id: string }>("/v1/products", { name: "Weekly stars" });
    const price = await post<{ id: string }>("/v1/prices", {
      product: product.body.id,
      amount: 150,
      currency: "EUR",
      recurring: { period: "P1W" },
    });
    const sub = await post<{ id: string; status: string }>("/v1/subscriptions", {
      customer: customer.body.id,
      price: price.body.id,
      payment_method: { type: "sandbox", scenario: "approve" },
    });
    assert.equal(sub.status, 201, JSON.stringify(sub.body));
    const advance = async (to: string) => {
      const r = await post(`/v1/test_clocks/${clockId}/advance`, { frozen_time: to });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      await waitForClock(clockId);
    };
    const charges = async () =>
      (
        await get<List<{ status: string }>>(`/v1/payments?subscription=${sub.body.id}&limit=100`)
      ).body.data.filter((p) => p.status === "succeeded").length;
    await advance("2026-01-27T12:00:00Z");
    const before = await charges();
    assert.ok(before >= 3, `renewals ran: ${before}`);

    const mine = await payerCall<{ status: string; next_charge_at: string | null }>(
      t.app,
      alice.token,
      "GET",
      `/v1/payer/subscriptions/${sub.body.id}`,
    );
    assert.equal(mine.status, 200);
    assert.ok(mine.body.next_charge_at);
    const canceled = await payerCall<{ status: string; next_charge_at: string | null }>(
      t.app,
      alice.token,
      "POST",
      `/v1/payer/subscriptions/${sub.body.id}/cancel`,
    );
    assert.equal(canceled.status, 200, JSON.stringify(canceled.body));
    assert.equal(canceled.body.status, "canceled");
    assert.equal(canceled.body.next_charge_at, null);
    const again = await payerCall<{ status: string }>(
      t.app,
      alice.token,
      "POST",
      `/v1/payer/subscriptions/${sub.body.id}/cancel`,
    );
    assert.equal(again.status, 200);
    assert.equal(again.body.status, "canceled");

    await advance("2026-04-27T12:00:00Z");
    assert.equal(await charges(), before, "no charge after the cancel");
    const merchantView = await get<{ status: string; cancel_reason: string }>(
      `/v1/subscriptions/${sub.body.id}`,
    );
    assert.equal(merchantView.body.cancel_reason, "subscriber");
    const events = await get<List<{ type: string; data: { object: { id: string } } }>>(
      "/v1/events?type=subscription.canceled",
    );
    assert.ok(events.body.data.some((e) => e.data.object.id === sub.body.id));
    await trialBalanced();
  });
});

describe("refund requests", () => {
  test("under the threshold: refunded at once, exactly once however many clicks arrive together", async () => {
    const payment = await pay(300);
    const clicks = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        payerCall<RefundRequest>(t.app, alice.token, "POST", "/v1/payer/refund_requests", {
          payment,
          ...(i === 0 ? { reason: "I did not mean to buy this" } : {}),
        }),
      ),
    );
    for (const c of clicks) assert.ok(c.status === 201 || c.status === 200, JSON.stringify(c.body));
    assert.equal(clicks.filter((c) => c.status === 201).length, 1, "one request was created");
    assert.equal(new Set(clicks.map((c) => c.body.id)).size, 1, "every click answers the same request");
    const refunds = await get<List<{ amount: number; status: string }>>(`/v1/refunds?payment=${payment}`);
    assert.equal(refunds.body.data.length, 1, JSON.stringify(refunds.body));
    assert.equal(refunds.body.data[0]!.amount, 300);
    assert.equal(refunds.body.data[0]!.status, "succeeded");
    const p = await get<{ amount_refunded: number }>(`/v1/payments/${payment}`);
    assert.equal(p.body.amount_refunded, 300);
    const request = await get<RefundRequest>(`/v1/refund_requests/${clicks[0]!.body.id}`);
    assert.equal(request.body.status, "approved");
    assert.equal(request.body.decision, "automatic");
    assert.equal(request.body.refund_status, "succeeded");
    // A later click, with an Idempotency-Key or not, still answers the same request.
    const later = await payerCall<RefundRequest>(
      t.app,
      alice.token,
      "POST",
      "/v1/payer/refund_requests",
      { payment },
      {
        "idempotency-key": "click-13",
      },
    );
    assert.equal(later.status, 200);
    assert.equal(later.body.id, request.body.id);
    const payerView = await payerCall<{ refund_request: { status: string }; amount_refunded: number }>(
      t.app,
      alice.token,
      "GET",
      `/v1/payer/payments/${payment}`,
    );
    assert.equal(payerView.body.amount_refunded, 300);
    assert.equal(payerView.body.refund_request.status, "approved");
    await trialBalanced();
  });

  test("a crash between the request and its refund: the next click makes the refund, once", async () => {
    const payment = await pay(200);
    // The request committed as approved, the refund never made (the process died in between).
    const real = t.services.payers.ctx.refund;
    t.services.payers.ctx.refund = async () => {
      throw new Error("process died");
    };
    const crashed = await payerCall(t.app, alice.token, "POST", "/v1/payer/refund_requests", { payment });
    assert.equal(crashed.status, 500);
    t.services.payers.ctx.refund = real;
    const retried = await Promise.all(
      [1, 2, 3].map(() =>
        payerCall<RefundRequest>(t.app, alice.token, "POST", "/v1/payer/refund_requests", { payment }),
      ),
    );
    for (const r of retried) assert.equal(r.status, 200, JSON.stringify(r.body));
    const refunds = await get<List<{ amount: number }>>(`/v1/refunds?payment=${payment}`);
    assert.equal(refunds.body.data.length, 1);
    assert.equal(
      (await get<RefundRequest>(`/v1/refund_requests/${retried[0]!.body.id}`)).body.refund_status,
      "succeeded",
    );
  });

  test("above the threshold: the merchant approves (refund once, events) or declines (reason)", async () => {
    const big = await pay(900);
    const asked = await payerCall<RefundRequest>(t.app, alice.token, "POST", "/v1/payer/refund_requests", {
      payment: big,
      reason: "Charged twice",
    });
    assert.equal(asked.status, 201);
    assert.equal(asked.body.status, "pending");
    assert.equal(asked.body.refund, null);
    assert.equal((await get<List<unknown>>(`/v1/refunds?payment=${big}`)).body.data.length, 0);
    const pending = await get<List<RefundRequest>>("/v1/refund_requests?status=pending");
    assert.deepEqual(
      pending.body.data.map((r) => r.id),
      [asked.body.id],
    );
    const approvals = await Promise.all(
      [1, 2, 3].map(() => post<RefundRequest>(`/v1/refund_requests/${asked.body.id}/approve`)),
    );
    for (const r of approvals) assert.equal(r.status, 200, JSON.stringify(r.body));
    const refunds = await get<List<{ amount: number }>>(`/v1/refunds?payment=${big}`);
    assert.equal(refunds.body.data.length, 1);
    assert.equal(refunds.body.data[0]!.amount, 900);
    const approved = await get<RefundRequest>(`/v1/refund_requests/${asked.body.id}`);
    assert.equal(approved.body.decision, "merchant");
    assert.equal(approved.body.refund_status, "succeeded");
    const declineLate = await post<{ error: { code: string } }>(
      `/v1/refund_requests/${asked.body.id}/decline`,
    );
    assert.equal(declineLate.status, 409);
    assert.equal(declineLate.body.error.code, "refund_request_unexpected_state");

    const other = await pay(1200);
    const asked2 = await payerCall<RefundRequest>(t.app, alice.token, "POST", "/v1/payer/refund_requests", {
      payment: other,
    });
    const declined = await post<RefundRequest>(`/v1/refund_requests/${asked2.body.id}/decline`, {
      reason: "The item was delivered and used",
    });
    assert.equal(declined.status, 200, JSON.stringify(declined.body));
    assert.equal(declined.body.status, "declined");
    const approveLate = await post(`/v1/refund_requests/${asked2.body.id}/approve`);
    assert.equal(approveLate.status, 409);
    const mine = await payerCall<List<RefundRequest>>(t.app, alice.token, "GET", "/v1/payer/refund_requests");
    const seen = mine.body.data.find((r) => r.id === asked2.body.id);
    assert.equal(seen?.decline_reason, "The item was delivered and used");
    assert.equal((await get<List<unknown>>(`/v1/refunds?payment=${other}`)).body.data.length, 0);

    const events =
      await get<List<{ type: string; data: { object: { id: string } } }>>("/v1/events?limit=100");
    const types = (id: string) =>
      events.body.data
        .filter((e) => e.data.object.id === id)
        .map((e) => e.type)
        .sort();
    assert.deepEqual(types(asked.body.id), ["refund_request.approved", "refund_request.created"]);
    assert.deepEqual(types(asked2.body.id), ["refund_request.created", "refund_request.declined"]);
    // Another merchant never sees these requests.
    const stranger = await createMerchant(t.app, "Stranger");
    const foreign = await call(t.app, "GET", `/v1/refund_requests/${asked.body.id}`, {
      key: stranger.secretKey,
    });
    assert.equal(foreign.status, 404);
    const foreignApprove = await call(t.app, "POST", `/v1/refund_requests/${asked2.body.id}/approve`, {
      key: stranger.secretKey,
      body: {},
    });
    assert.equal(foreignApprove.status, 404);
    await trialBalanced();
  });

  test("a request the merchant refunded meanwhile: approving answers 200 and points at the refunds, never a refusal after the approval committed", async () => {
    // Part refunded meanwhile: the approval refunds the rest, once.
    const part = await pay(800);
    const askedPart = await payerCall<RefundRequest>(
      t.app,
      alice.token,
      "POST",
      "/v1/payer/refund_requests",
      {
        payment: part,
      },
    );
    assert.equal(askedPart.body.status, "pending");
    assert.equal((await post("/v1/refunds", { payment: part, amount: 300 })).status, 201);
    const approvedPart = await post<RefundRequest>(`/v1/refund_requests/${askedPart.body.id}/approve`);
    assert.equal(approvedPart.status, 200, JSON.stringify(approvedPart.body));
    const partRefunds = await get<List<{ id: string; amount: number }>>(`/v1/refunds?payment=${part}`);
    assert.deepEqual(
      partRefunds.body.data.map((r) => r.amount),
      [500, 300],
    );
    assert.equal(approvedPart.body.refund, partRefunds.body.data[0]!.id);

    // Refunded in full meanwhile: it answered 400 refund_exceeds_captured naming `amount` (which
    // the merchant never sent), while the request had turned approved with no refund.
    const whole = await pay(700);
    const askedWhole = await payerCall<RefundRequest>(
      t.app,
      alice.token,
      "POST",
      "/v1/payer/refund_requests",
      {
        payment: whole,
      },
    );
    const merchantRefund = await post<{ id: string }>("/v1/refunds", { payment: whole });
    assert.equal(merchantRefund.status, 201);
    const approvedWhole = await post<RefundRequest>(`/v1/refund_requests/${askedWhole.body.id}/approve`);
    assert.equal(approvedWhole.status, 200, JSON.stringify(approvedWhole.body));
    assert.equal(approvedWhole.body.status, "approved");
    assert.equal(approvedWhole.body.refund, merchantRefund.body.id);
    assert.equal(approvedWhole.body.refund_status, "succeeded");
    assert.equal((await get<List<unknown>>(`/v1/refunds?payment=${whole}`)).body.data.length, 1);
    const mine = await payerCall<List<RefundRequest>>(t.app, alice.token, "GET", "/v1/payer/refund_requests");
    const seen = mine.body.data.find((r) => r.id === askedWhole.body.id);
    assert.equal(seen?.refund, merchantRefund.body.id);
    await trialBalanced();
  });

  test("a pending request whose payment the merchant refunded in full is answered by the worker: approved, with that refund and its event", async () => {
    const paid = await pay(650);
    const asked = await payerCall<RefundRequest>(t.app, alice.token, "POST", "/v1/payer/refund_requests", {
      payment: paid,
    });
    assert.equal(asked.body.status, "pending");
    // A part refunded leaves the request to the merchant.
    assert.equal((await post("/v1/refunds", { payment: paid, amount: 150 })).status, 201);
    await settleRefundedRequests(t.services.db, Date.now());
    assert.equal((await get<RefundRequest>(`/v1/refund_requests/${asked.body.id}`)).body.status, "pending");
    // The rest refunded: the payer has their money; the request stopped waiting for a decision.
    const rest = await post<{ id: string }>("/v1/refunds", { payment: paid });
    assert.equal(rest.status, 201);
    assert.ok((await settleRefundedRequests(t.services.db, Date.now())) >= 1);
    const settled = await get<RefundRequest>(`/v1/refund_requests/${asked.body.id}`);
    assert.equal(settled.body.status, "approved");
    assert.equal(settled.body.decision, "merchant");
    assert.equal(settled.body.refund, rest.body.id);
    assert.equal(settled.body.refund_status, "succeeded");
    const mine = await payerCall<List<RefundRequest>>(t.app, alice.token, "GET", "/v1/payer/refund_requests");
    assert.equal(mine.body.data.find((r) => r.id === asked.body.id)?.status, "approved");
    const events =
      await get<List<{ type: string; data: { object: { id: string } } }>>("/v1/events?limit=100");
    assert.deepEqual(
      events.body.data
        .filter((e) => e.data.object.id === asked.body.id)
        .map((e) => e.type)
        .sort(),
      ["refund_request.approved", "refund_request.created"],
    );
    // Once only: the next run finds nothing of it, and a late approve answers it as it is.
    await settleRefundedRequests(t.services.db, Date.now());
    const again = await post<RefundRequest>(`/v1/refund_requests/${asked.body.id}/approve`);
    assert.equal(again.status, 200);
    assert.equal(again.body.refund, rest.body.id);
    assert.equal((await get<List<unknown>>(`/v1/refunds?payment=${paid}`)).body.data.length, 2);
    await trialBalanced();
  });

  test("a payment that failed or is already refunded cannot be asked for; bad input names the field", async () => {
    const failed = await post<{ id: string; status: string }>("/v1/payments", {
      amount: 100,
      currency: "EUR",
      customer: aliceCustomer,
      payment_method: { type: "sandbox", scenario: "decline_generic" },
    });
    assert.equal(failed.body.status, "failed");
    const r = await payerCall<{ error: { code: string; param: string } }>(
      t.app,
      alice.token,
      "POST",
      "/v1/payer/refund_requests",
      { payment: failed.body.id },
    );
    assert.equal(r.status, 409);
    assert.equal(r.body.error.code, "payment_unexpected_state");
    assert.equal(r.body.error.param, "payment");
    const missing = await payerCall<{ error: { param: string } }>(
      t.app,
      alice.token,
      "POST",
      "/v1/payer/refund_requests",
      {},
    );
    assert.equal(missing.status, 400);
    assert.equal(missing.body.error.param, "payment");
  });

  test("the policy refuses keys that are not currency codes (their values were stored unchecked)", async () => {
    for (const [key, value] of [
      ["eur", "lots"],
      ["EUR ", -1],
      ["x", { a: 1 }],
    ] as const) {
      const r = await post<{ error: { code: string; param: string } }>("/v1/refund_request_policy", {
        automatic_max: { [key]: value },
      });
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body.error.param, `automatic_max.${key}`);
    }
    const kept = await get<{ automatic_max: Record<string, number> }>("/v1/refund_request_policy");
    assert.deepEqual(kept.body.automatic_max, { EUR: 500 });
  });
});
