/**
 * Every write attempted from the back office's pages is in the audit log, refusals included:
 * a role without the permission (403), a refund larger than what is left, a voucher batch with a
 * bad currency, and a maker approving their own request. Each refusal names the action, the
 * object and the status, and changes nothing.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { call, createMerchant, createTestApp, type MerchantKeys, type TestApp } from "../support/app.ts";
import { AdminSession, signedIn } from "./admin-session.ts";

let t: TestApp;
let ours: MerchantKeys;
let paymentId: string;

before(async () => {
  t = await createTestApp();
  ours = await createMerchant(t.app, "Pixel Forge");
  const paid = await call<{ id: string; status: string }>(t.app, "POST", "/v1/payments", {
    key: ours.secretKey,
    body: { amount: 500, currency: "EUR", payment_method: { type: "sandbox", scenario: "approve" } },
  });
  assert.equal(paid.body.status, "succeeded");
  paymentId = paid.body.id;
});
after(() => t.close());

async function records(action: string, object: string | null) {
  const { rows } = await t.services.db.query<{ outcome: string; status_code: number | null; actor: string }>(
    `select outcome, status_code, actor from audit_events
      where action = $1 and ($2::text is null or object = $2) order by id`,
    [action, object],
  );
  return rows;
}

async function refunded(): Promise<number> {
  const payment = await call<{ amount_refunded: number }>(t.app, "GET", `/v1/payments/${paymentId}`, {
    key: ours.secretKey,
  });
  return payment.body.amount_refunded;
}

test("a viewer's refund is refused (403) and recorded as refused, nothing refunded", async () => {
  const viewer = await signedIn(t.app, {
    email: "viewer@pixelforge.example",
    role: "viewer",
    merchant: ours.merchantId,
  });
  await viewer.session.get(`/admin/payments/${paymentId}`);
  const refused = await viewer.session.post(`/admin/payments/${paymentId}/refund`, { amount: "100" });
  assert.equal(refused.status, 403);
  const rows = await records("refunds.create", paymentId);
  assert.deepEqual(
    rows.map((r) => [r.outcome, r.status_code, r.actor]),
    [["refused", 403, viewer.id]],
  );
  assert.equal(await refunded(), 0);
});

test("a refund above what is left is refused and recorded; the right amount then succeeds once", async () => {
  const agent = await signedIn(t.app, {
    email: "support@pixelforge.example",
    role: "support",
    merchant: ours.merchantId,
  });
  await agent.session.get(`/admin/payments/${paymentId}`);
  // The form takes the amount as people write it in the currency: the payment is 5.00 EUR.
  const tooMuch = await agent.session.post(`/admin/payments/${paymentId}/refund`, { amount: "5.01" });
  assert.equal(tooMuch.status, 400);
  await agent.session.get(`/admin/payments/${paymentId}`);
  const tooPrecise = await agent.session.post(`/admin/payments/${paymentId}/refund`, { amount: "2.005" });
  assert.equal(tooPrecise.status, 400);
  assert.match(tooPrecise.body, /like 2 or 2\.50/);
  assert.equal(await refunded(), 0);
  await agent.session.get(`/admin/payments/${paymentId}`);
  // "2" is two euros (200 minor units), not two cents.
  const done = await agent.session.post(`/admin/payments/${paymentId}/refund`, { amount: "2" });
  assert.equal(done.status, 303);
  assert.equal(await refunded(), 200);
  await agent.session.get(`/admin/payments/${paymentId}`);
  const comma = await agent.session.post(`/admin/payments/${paymentId}/refund`, { amount: "0,50" });
  assert.equal(comma.status, 303);
  assert.equal(await refunded(), 250);
  const rows = (await records("refunds.create", paymentId)).filter((r) => r.actor === agent.id);
  assert.deepEqual(
    rows.map((r) => [r.outcome, r.status_code]),
    [
      ["refused", 400],
      ["refused", 400],
      ["success", 201],
      ["success", 201],
    ],
  );
});

test("a voucher batch with a bad currency is refused and recorded; no batch made", async () => {
  const finance = await signedIn(t.app, {
    email: "finance@pixelforge.example",
    role: "finance",
    merchant: ours.merchantId,
  });
  await finance.session.get("/admin/vouchers");
  const refused = await finance.session.post("/admin/vouchers", {
    count: "10",
    amount: "500",
    currency: "e",
  });
  assert.equal(refused.status, 400);
  const rows = await records("voucher_batches.create", null);
  assert.deepEqual(
    rows.map((r) => [r.outcome, r.status_code, r.actor]),
    [["refused", 400, finance.id]],
  );
  const batches = await t.services.db.query("select 1 from voucher_batches where merchant_id = $1", [
    ours.merchantId,
  ]);
  assert.equal(batches.rows.length, 0);
});

test("a refused batch order comes back in the form as typed, the error beside its field", async () => {
  const finance = await signedIn(t.app, {
    email: "finance-form@pixelforge.example",
    role: "finance",
    merchant: ours.merchantId,
  });
  await finance.session.get("/admin/vouchers?lang=fr");
  // A currency that passes the field's pattern but is none: the page said only "This request
  // cannot be completed" and the three fields came back empty.
  const unknown = await finance.session.post("/admin/vouchers", {
    count: "250",
    amount: "500",
    currency: "EURO",
  });
  assert.equal(unknown.status, 400);
  assert.match(unknown.body, /id="count"[^>]*value="250"/);
  assert.match(unknown.body, /id="amount"[^>]*value="500"/);
  assert.match(
    unknown.body,
    /id="currency"[^>]*value="EURO"[^>]*aria-invalid="true" aria-describedby="currency-error"/,
  );
  assert.match(unknown.body, /<p class="field-error" id="currency-error">Saisissez une devise/);
  assert.match(unknown.body, /<a href="#currency">/);
  const badCount = await finance.session.post("/admin/vouchers", {
    count: "0",
    amount: "<b>",
    currency: "EUR",
  });
  assert.equal(badCount.status, 400);
  assert.match(badCount.body, /id="count"[^>]*aria-invalid="true"/);
  assert.match(badCount.body, /id="amount"[^>]*value="&lt;b&gt;"/, "escaped");
  const rows = await records("voucher_batches.create", null);
  assert.ok(rows.filter((r) => r.actor === finance.id).every((r) => r.outcome === "refused"));
});

test("a card's value is typed as written in its currency: '4.99' EUR makes cards of 499 (it took minor units: '5' made cards of 0.05 EUR)", async () => {
  const finance = await signedIn(t.app, {
    email: "finance-value@pixelforge.example",
    role: "finance",
    merchant: ours.merchantId,
  });
  await finance.session.get("/admin/vouchers");
  const values = async () => {
    const { rows } = await t.services.db.query<{ value_amount: string | number; value_currency: string }>(
      "select value_amount, value_currency from voucher_batches where merchant_id = $1 order by id",
      [ours.merchantId],
    );
    return rows.map((r) => `${r.value_amount} ${r.value_currency}`);
  };
  const before = await values();
  for (const [amount, currency] of [
    ["4.99", "EUR"],
    ["5", "eur"],
    ["0,50", "EUR"],
    ["500", "JPY"],
  ] as const) {
    const made = await finance.session.post("/admin/vouchers", { count: "2", amount, currency });
    assert.equal(made.status, 303, `${amount} ${currency}: ${made.body}`);
  }
  assert.deepEqual((await values()).slice(before.length), ["499 EUR", "500 EUR", "50 EUR", "500 JPY"]);
  for (const [amount, currency] of [
    ["4.999", "EUR"],
    ["5.5", "JPY"],
    ["0", "EUR"],
    ["five", "EUR"],
  ] as const) {
    const refused = await finance.session.post("/admin/vouchers", { count: "2", amount, currency });
    assert.equal(refused.status, 400, `${amount} ${currency}`);
    assert.match(refused.body, /id="amount"[^>]*aria-invalid="true"/);
    assert.match(refused.body, /as it is written in the currency/);
  }
  assert.equal((await values()).length, before.length + 4, "nothing made by a refused value");
});

test("a maker approving their own request from the page is refused and recorded", async () => {
  const maker = await signedIn(t.app, {
    email: "maker@pixelforge.example",
    role: "finance",
    merchant: ours.merchantId,
  });
  const asked = await call<{ id: string; status: string }>(t.app, "POST", "/v1/ledger/adjustments", {
    key: maker.apiKey,
    body: { currency: "EUR", amount: 1234, direction: "credit", reason: "goodwill" },
  });
  assert.equal(asked.status, 202);
  await maker.session.get("/admin/approvals");
  const refused = await maker.session.post(`/admin/approvals/${asked.body.id}/approve`);
  assert.ok(refused.status >= 400 && refused.status < 500, String(refused.status));
  const rows = await records("approvals.approve", asked.body.id);
  assert.deepEqual(
    rows.map((r) => [r.outcome, r.status_code, r.actor]),
    [["refused", refused.status, maker.id]],
  );
  const still = await call<{ status: string }>(t.app, "GET", `/v1/approvals/${asked.body.id}`, {
    key: maker.apiKey,
  });
  assert.equal(still.body.status, "pending");
});

test("the codes of a batch leave once: the second download is refused (410) and recorded", async () => {
  const finance = await signedIn(t.app, {
    email: "codes@pixelforge.example",
    role: "finance",
    merchant: ours.merchantId,
  });
  const owner = await signedIn(t.app, {
    email: "owner@pixelforge.example",
    role: "owner",
    merchant: ours.merchantId,
  });
  await finance.session.get("/admin/vouchers");
  const created = await finance.session.post("/admin/vouchers", {
    count: "3",
    amount: "500",
    currency: "EUR",
  });
  assert.equal(created.status, 303);
  const { rows } = await t.services.db.query<{ id: string }>(
    "select id from voucher_batches where merchant_id = $1 order by id desc limit 1",
    [ours.merchantId],
  );
  const batch = rows[0]!.id;
  await owner.session.get("/admin/vouchers");
  const approved = await owner.session.post(`/admin/vouchers/${batch}/approve`);
  assert.equal(approved.location, "/admin/vouchers?done=approved");
  const first = await finance.session.get(`/admin/vouchers/${batch}/codes`);
  assert.equal(first.status, 200);
  assert.equal(first.body.trim().split("\n").length, 4, "a header and three codes");
  const second = await finance.session.get(`/admin/vouchers/${batch}/codes`);
  assert.equal(second.status, 410);
  assert.deepEqual(
    (await records("voucher_batches.codes.read", batch)).map((r) => [r.outcome, r.status_code, r.actor]),
    [
      ["success", 200, finance.id],
      ["refused", 410, finance.id],
    ],
  );
});

test("a refused sign-in keeps the e-mail typed, never the password or the code", async () => {
  const session = new AdminSession(t.app);
  assert.equal((await session.get("/admin/login")).status, 200);
  const refused = await session.post("/admin/login", {
    email: "someone@pixelforge.example",
    password: "not-the-password-4242",
    code: "123456",
  });
  assert.equal(refused.status, 401);
  assert.match(refused.body, /id="email"[^>]*value="someone@pixelforge.example"/);
  assert.doesNotMatch(refused.body, /not-the-password-4242|123456/);
  // What was typed is escaped like everything else.
  await session.get("/admin/login");
  const hostile = await session.post("/admin/login", {
    email: '"><script>x</script>',
    password: "x",
    code: "1",
  });
  assert.doesNotMatch(hostile.body, /<script>x/);
});
