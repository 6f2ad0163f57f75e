/**
 * The back office names a payment's method in the reader's language: a French list and payment
 * page said "carrier" and "sandbox" (the API's type) among French words.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { call, createMerchant, createTestApp, type MerchantKeys, type TestApp } from "../support/app.ts";
import { signedIn } from "./admin-session.ts";

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

test("the payments list and a payment's page name the method in French", async () => {
  const agent = await signedIn(t.app, {
    email: "agent@pixelforge.example",
    role: "support",
    merchant: ours.merchantId,
  });
  const list = await agent.session.get("/admin/payments?lang=fr");
  assert.equal(list.status, 200);
  assert.match(list.body, /<span>Bac à sable<\/span>/);
  const page = await agent.session.get(`/admin/payments/${paymentId}`);
  assert.match(page.body, /<dd>Bac à sable<\/dd>/);
  assert.doesNotMatch(page.body, />sandbox</);
});
