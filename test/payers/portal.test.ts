/**
 * Goal: the portal's forms do only what the signed-in payer may. Every portal route tried with
 * another payer's ids answers 404 and changes nothing; a POST without the page's CSRF token is
 * refused; caps are parsed in the currency's own digits without floats; the portal's and the
 * messages' catalogues are complete in every locale.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { NOTIFICATION_CATALOGUES } from "../../src/notifications/index.ts";
import { PayerThrottle } from "../../src/payers/index.ts";
import { PORTAL_CATALOGUES } from "../../src/portal/index.ts";
import { missingKeys, parseMajorAmount } from "../../src/web/index.ts";
import { call, createMerchant, createTestApp, type MerchantKeys, type TestApp } from "../support/app.ts";
import { caughtCode } from "./support.ts";

let t: TestApp;
let m: MerchantKeys;
const ALICE = "+4915112340010";
const BOB = "+4915112340020";
let bobPayment: string;
let bobSubscription: string;
let alicePayment: string;

/** A browser in miniature: a cookie jar and the page's CSRF token. */
class Visitor {
  private readonly cookies = new Map<string, string>();
  csrf = "";

  async request(method: "GET" | "POST", url: string, form?: Record<string, string>) {
    const payload = form ? new URLSearchParams({ _csrf: this.csrf, ...form }).toString() : undefined;
    const response = await t.app.inject({
      method,
      url,
      headers: {
        cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; "),
        ...(payload === undefined ? {} : { "content-type": "application/x-www-form-urlencoded" }),
      },
      ...(payload === undefined ? {} : { payload }),
    });
    for (const c of response.cookies as Array<{ name: string; value: string }>)
      this.cookies.set(c.name, c.value);
    const token = /name="csrf-token" content="([^"]+)"/.exec(response.body)?.[1];
    if (token) this.csrf = token;
    return response;
  }

  async signIn(msisdn: string) {
    await this.request("GET", "/portal");
    const sent = await this.request("POST", "/portal/code", { contact: msisdn });
    assert.equal(sent.statusCode, 200, sent.body);
    const signedIn = await this.request("POST", "/portal/signin", {
      contact: msisdn,
      code: await caughtCode(t.app, msisdn),
    });
    assert.equal(signedIn.statusCode, 303, signedIn.body);
    return (await this.request("GET", "/portal")).body;
  }
}

const post = <T = Record<string, unknown>>(url: string, body: unknown = {}) =>
  call<T>(t.app, "POST", url, { key: m.secretKey, body });

async function customerPaysAndSubscribes(msisdn: string) {
  const c = await post<{ id: string }>("/v1/customers", { msisdn, country: "DE" });
  const p = await post<{ id: string }>("/v1/payments", {
    amount: 250,
    currency: "EUR",
    customer: c.body.id,
    payment_method: { type: "sandbox", scenario: "approve" },
  });
  const product = await post<{ id: string }>("/v1/products", { name: "Stars" });
  const price = await post<{ id: string }>("/v1/prices", {
    product: product.body.id,
    amount: 99,
    currency: "EUR",
    recurring: { period: "P1W" },
  });
  const s = await post<{ id: string }>("/v1/subscriptions", {
    customer: c.body.id,
    price: price.body.id,
    payment_method: { type: "sandbox", scenario: "approve" },
  });
  return { payment: p.body.id, subscription: s.body.id };
}

before(async () => {
  t = await createTestApp();
  t.services.payers.ctx.throttle = new PayerThrottle();
  m = await createMerchant(t.app, "Stars GmbH");
  ({ payment: bobPayment, subscription: bobSubscription } = await customerPaysAndSubscribes(BOB));
  ({ payment: alicePayment } = await customerPaysAndSubscribes(ALICE));
  await post("/v1/refund_request_policy", { automatic_max: { EUR: 1000 } });
});
after(() => t.close());

test("every portal route with another payer's ids: 404, nothing changes", async () => {
  const alice = new Visitor();
  const page = await alice.signIn(ALICE);
  assert.ok(page.includes(alicePayment));
  assert.ok(!page.includes(bobPayment) && !page.includes(bobSubscription));
  const tries = [
    await alice.request("POST", `/portal/subscriptions/${bobSubscription}/cancel`, {}),
    await alice.request("POST", `/portal/payments/${bobPayment}/refund`, { reason: "not mine" }),
    await alice.request("GET", `/portal/subscriptions/${bobSubscription}/consent`),
    await alice.request("POST", `/portal/merchants/mer_notmine/block`, {}),
  ];
  for (const r of tries) assert.equal(r.statusCode, 404, r.body.slice(0, 300));
  const sub = await call<{ status: string }>(t.app, "GET", `/v1/subscriptions/${bobSubscription}`, {
    key: m.secretKey,
  });
  assert.notEqual(sub.body.status, "canceled");
  const refunds = await call<{ data: unknown[] }>(t.app, "GET", `/v1/refunds?payment=${bobPayment}`, {
    key: m.secretKey,
  });
  assert.deepEqual(refunds.body.data, []);
  // Her own: the refund is made, the consent record downloads.
  const own = await alice.request("POST", `/portal/payments/${alicePayment}/refund`, {});
  assert.equal(own.statusCode, 303);
  assert.match(String(own.headers.location), /done=refund_approved/);
});

test("a POST without the page's CSRF token is refused; signed out, actions lead back to sign-in", async () => {
  const visitor = new Visitor();
  await visitor.request("GET", "/portal");
  visitor.csrf = "forged";
  const forged = await visitor.request("POST", "/portal/code", { contact: ALICE });
  assert.equal(forged.statusCode, 403);
  const fresh = new Visitor();
  await fresh.request("GET", "/portal");
  const signedOut = await fresh.request("POST", `/portal/subscriptions/${bobSubscription}/cancel`, {});
  assert.equal(signedOut.statusCode, 303);
  assert.equal(signedOut.headers.location, "/portal");
});

test("a monthly cap is saved in minor units; a bad amount says how to fix it", async () => {
  const alice = new Visitor();
  await alice.signIn(ALICE);
  const saved = await alice.request("POST", "/portal/caps", { currency: "EUR", amount: "20,50" });
  assert.equal(saved.statusCode, 303);
  const { rows } = await t.services.db.query<{ monthly_caps: Record<string, number> }>(
    "select p.monthly_caps from payers p join payer_identities i on i.payer_id = p.id where i.value = $1",
    [ALICE],
  );
  assert.deepEqual(rows[0]!.monthly_caps, { EUR: 2050 });
  const bad = await alice.request("POST", "/portal/caps", { currency: "EUR", amount: "20.505" });
  assert.match(String(bad.headers.location), /error=amount/);
  const page = await alice.request("GET", String(bad.headers.location));
  assert.match(page.body, /Enter an amount like 20 or 20.50/);
  // The form comes back as it was left: the currency chosen, the amount typed.
  assert.match(page.body, /<option value="EUR" selected>/);
  assert.match(page.body, /id="cap-amount"[^>]*value="20.505"/);

  // A currency without decimals says so, and stays chosen (it went back to the first currency).
  await t.services.db.query(
    `update payers set monthly_caps = monthly_caps || '{"JPY": 3000}'::jsonb
      where id = (select payer_id from payer_identities where value = $1)`,
    [ALICE],
  );
  const jpy = await alice.request("POST", "/portal/caps", { currency: "JPY", amount: "12.50" });
  assert.match(String(jpy.headers.location), /error=amount&currency=JPY&amount=12.50/);
  const jpyPage = await alice.request("GET", String(jpy.headers.location));
  assert.match(jpyPage.body, /Enter a whole amount like 20</);
  assert.doesNotMatch(jpyPage.body, /like 20 or 20.50/);
  assert.match(jpyPage.body, /<option value="JPY" selected>/);
  assert.doesNotMatch(jpyPage.body, /<option value="EUR" selected>/);
  assert.match(jpyPage.body, /id="cap-amount"[^>]*value="12.50"/);
});

test("amounts typed by people become minor units in the currency's own digits, never floats", () => {
  assert.equal(parseMajorAmount("20", "EUR"), 2000n);
  assert.equal(parseMajorAmount("20.5", "EUR"), 2050n);
  assert.equal(parseMajorAmount("0,07", "EUR"), 7n);
  assert.equal(parseMajorAmount("500", "JPY"), 500n);
  assert.equal(parseMajorAmount("1.5", "JPY"), null);
  assert.equal(parseMajorAmount("1.234", "KWD"), 1234n);
  assert.equal(parseMajorAmount("9999999999.99", "EUR"), 999999999999n);
  assert.equal(parseMajorAmount("-1", "EUR"), null);
  assert.equal(parseMajorAmount("1e3", "EUR"), null);
  assert.equal(parseMajorAmount("10", "XXXX"), null);
});

test("the portal's and the messages' catalogues are complete in every locale", () => {
  assert.deepEqual(missingKeys(PORTAL_CATALOGUES), {});
  assert.deepEqual(missingKeys(NOTIFICATION_CATALOGUES), {});
});

test("a wrong code keeps the contact masked as the first page showed it", async () => {
  const visitor = new Visitor();
  await visitor.request("GET", "/portal");
  const email = "masked.payer@example.net";
  const sent = await visitor.request("POST", "/portal/code", { contact: email });
  assert.equal(sent.statusCode, 200, sent.body);
  assert.match(sent.body, /m•••@example\.net/);
  const wrong = await visitor.request("POST", "/portal/signin", { contact: email, code: "000000" });
  assert.equal(wrong.statusCode, 401);
  assert.match(wrong.body, /m•••@example\.net/);
  // The full address is only in the hidden field the form sends back, not in the page's text.
  assert.doesNotMatch(wrong.body.replace(/<input[^>]*>/g, ""), /masked\.payer@example\.net/);
});
