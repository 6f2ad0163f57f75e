/**
 * The customer, subscription and catalog screens over HTTP, signed in as staff: search finds a
 * customer by id, e-mail, number and name but never another merchant's; the buttons cancel,
 * pause and resume through billing (a second press changes nothing), each press in the audit log;
 * a role without the permission sees no button and gets 403; a bad amount is named beside its field.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { runDueBilling } from "../../src/billing/scheduler.ts";
import { call, createMerchant, createTestApp, type MerchantKeys, type TestApp } from "../support/app.ts";
import { middayTimeZone } from "../support/time-zones.ts";
import { type AdminSession, signedIn } from "./admin-session.ts";

let t: TestApp;
let ours: MerchantKeys;
let theirs: MerchantKeys;
let agent: AdminSession;
let customerId: string;
let priceId: string;
let counter = 0;

const api = async <T = Record<string, unknown>>(key: string, url: string, body?: unknown) => {
  const r = await call<T & { id: string }>(t.app, body === undefined ? "GET" : "POST", url, {
    key,
    ...(body === undefined ? {} : { body }),
  });
  assert.ok(r.status < 300, `${url}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
};

/** An active weekly subscription of our customer (its first charge taken by the scheduler). */
async function activeSubscription(): Promise<string> {
  const sub = await api<{ status: string }>(ours.secretKey, "/v1/subscriptions", {
    customer: customerId,
    price: priceId,
    payment_method: { type: "sandbox", scenario: "approve" },
  });
  await runDueBilling(t.services.billing.context, { nowMs: Date.now() });
  const now = await api<{ status: string }>(ours.secretKey, `/v1/subscriptions/${sub.id}`);
  assert.equal(now.status, "active");
  return sub.id;
}

async function staff(role: string, merchant: string | null = ours.merchantId) {
  counter++;
  return signedIn(t.app, { email: `${role}${counter}@pixelforge.example`, role, merchant });
}

before(async () => {
  t = await createTestApp();
  ours = await createMerchant(t.app, "Pixel Forge");
  theirs = await createMerchant(t.app, "Other Studio");
  customerId = (
    await api(ours.secretKey, "/v1/customers", {
      email: "Alice.Martin@example.org",
      msisdn: "+33612345678",
      // Midday where she lives: the scheduler charges at once whatever the hour the suite runs.
      time_zone: middayTimeZone(),
      metadata: { name: "Alice Martin" },
    })
  ).id;
  const product = await api(ours.secretKey, "/v1/products", { name: "Football alerts" });
  priceId = (
    await api(ours.secretKey, "/v1/prices", {
      product: product.id,
      amount: 199,
      currency: "EUR",
      recurring: { period: "P1W" },
    })
  ).id;
  agent = (await staff("support")).session;
});
after(() => t.close());

describe("customers", () => {
  test("search finds the customer by id, e-mail, number and name prefix", async () => {
    for (const q of [
      customerId,
      "alice.martin@EXAMPLE.org",
      "+33 6 12 34 56 78",
      "33612345678",
      "ali",
      "Alice M",
    ]) {
      const page = await agent.get(`/admin/customers?q=${encodeURIComponent(q)}`);
      assert.equal(page.status, 200, q);
      assert.ok(page.body.includes(`href="/admin/customers/${customerId}"`), `found by ${q}`);
    }
    for (const q of ["bob", "nobody@example.org", "+33699999999", "%", "_lice"]) {
      const page = await agent.get(`/admin/customers?q=${encodeURIComponent(q)}`);
      assert.ok(!page.body.includes(`/admin/customers/${customerId}`), `not found by ${q}`);
      assert.ok(page.body.includes("No customer matches."), q);
    }
  });

  test("another merchant's customer is neither found nor shown", async () => {
    const other = await api(theirs.secretKey, "/v1/customers", {
      email: "carol@example.org",
      metadata: { name: "Carol" },
    });
    const found = await agent.get("/admin/customers?q=carol%40example.org");
    assert.ok(!found.body.includes(other.id));
    assert.equal((await agent.get(`/admin/customers?q=${other.id}`)).body.includes(other.id), true); // echoed in the box
    assert.ok(
      !(await agent.get(`/admin/customers?q=${other.id}`)).body.includes(
        `href="/admin/customers/${other.id}"`,
      ),
    );
    const shown = await agent.get(`/admin/customers/${other.id}`);
    assert.equal(shown.status, 404);
    assert.ok(!shown.body.includes("carol@example.org"));
  });

  test("the list pages through every customer, newest first", async () => {
    const many = await createMerchant(t.app, "Many Customers");
    const ids: string[] = [];
    for (let i = 0; i < 27; i++)
      ids.push((await api(many.secretKey, "/v1/customers", { external_id: `c${i}` })).id);
    const { session } = await staff("viewer", many.merchantId);
    const first = await session.get("/admin/customers");
    const links = (body: string) =>
      [...body.matchAll(/href="\/admin\/customers\/(cus_[0-9a-z]+)"/g)].map((m) => m[1]);
    assert.deepEqual(links(first.body), ids.slice().reverse().slice(0, 25));
    const next = /href="(\/admin\/customers\?after=[^"]+)" rel="next"/.exec(first.body)?.[1];
    assert.ok(next, "a next page link");
    const second = await session.get(next.replaceAll("&amp;", "&"));
    assert.deepEqual(links(second.body), ids.slice(0, 2).reverse());
    assert.ok(!second.body.includes('rel="next"'));
  });

  test("the customer page shows subscriptions, wallets, entitlements and recent payments", async () => {
    const sub = await activeSubscription();
    await api(ours.secretKey, "/v1/wallet_grants", {
      customer: customerId,
      currency: "EUR",
      amount: 250,
      category: "promotional",
      expires_at: "2099-01-01T00:00:00Z",
    });
    const page = await agent.get(`/admin/customers/${customerId}`);
    assert.equal(page.status, 200);
    assert.ok(page.body.includes("Alice Martin"));
    assert.ok(page.body.includes(`id="${sub}"`));
    assert.ok(page.body.includes("€1.99 a week"));
    assert.ok(page.body.includes(`action="/admin/subscriptions/${sub}/pause"`));
    assert.ok(page.body.includes(`action="/admin/subscriptions/${sub}/cancel"`));
    assert.ok(page.body.includes("€2.50"), "the wallet's balance");
    assert.ok(page.body.includes("Promotional"));
    const { data } = await api<{ data: Array<{ id: string }> }>(
      ours.secretKey,
      `/v1/payments?customer=${customerId}`,
    );
    assert.ok(data.length > 0);
    assert.ok(page.body.includes(`href="/admin/payments/${data[0]!.id}"`));
  });
});

describe("subscription buttons", () => {
  const audited = async (sub: string, action: string) =>
    (
      await t.services.db.query<{ outcome: string; actor: string }>(
        "select outcome, actor from audit_events where object = $1 and action = $2 order by id",
        [sub, action],
      )
    ).rows;

  test("cancel stops the subscription once: a second press changes nothing", async () => {
    const sub = await activeSubscription();
    await agent.get(`/admin/customers/${customerId}`);
    const back = `/admin/customers/${customerId}`;
    const first = await agent.post(`/admin/subscriptions/${sub}/cancel`, { back });
    const second = await agent.post(`/admin/subscriptions/${sub}/cancel`, { back });
    assert.equal(first.status, 303);
    assert.equal(first.location, `${back}?done=canceled`);
    assert.equal(second.status, 303);
    assert.equal(second.location, `${back}?done=unchanged`);
    const now = await api<{ status: string; cancel_reason: string; next_charge_at: string | null }>(
      ours.secretKey,
      `/v1/subscriptions/${sub}`,
    );
    assert.equal(now.status, "canceled");
    assert.equal(now.cancel_reason, "requested");
    assert.equal(now.next_charge_at, null);
    const events = await t.services.db.query(
      "select 1 from events where type = 'subscription.canceled' and data -> 'object' ->> 'id' = $1",
      [sub],
    );
    assert.equal(events.rows.length, 1);
    const records = await audited(sub, "subscriptions.cancel");
    assert.deepEqual(
      records.map((r) => r.outcome),
      ["success", "refused"],
    );
    const page = await agent.get(`${back}?done=unchanged`);
    assert.ok(page.body.includes("Nothing changed"));
    assert.ok(
      !page.body.includes(`action="/admin/subscriptions/${sub}/cancel"`),
      "no button on a canceled one",
    );
  });

  test("pause and resume from the subscriptions list", async () => {
    const sub = await activeSubscription();
    const list = await agent.get("/admin/subscriptions?status=active");
    assert.ok(list.body.includes(`id="${sub}"`));
    const paused = await agent.post(`/admin/subscriptions/${sub}/pause`, {
      back: "/admin/subscriptions?status=active",
    });
    assert.equal(paused.location, "/admin/subscriptions?status=active&done=paused");
    let now = await api<{ status: string; next_charge_at: string | null }>(
      ours.secretKey,
      `/v1/subscriptions/${sub}`,
    );
    assert.equal(now.status, "paused");
    assert.equal(now.next_charge_at, null);
    const pausedList = await agent.get("/admin/subscriptions?status=paused");
    assert.ok(pausedList.body.includes(`action="/admin/subscriptions/${sub}/resume"`));
    assert.ok(!pausedList.body.includes(`action="/admin/subscriptions/${sub}/pause"`));
    const resumed = await agent.post(`/admin/subscriptions/${sub}/resume`, { back: "https://evil.example/" });
    assert.equal(resumed.location, "/admin/subscriptions?done=resumed", "never sent off the back office");
    now = await api(ours.secretKey, `/v1/subscriptions/${sub}`);
    assert.equal(now.status, "active");
    assert.ok(now.next_charge_at);
    assert.deepEqual(
      (await audited(sub, "subscriptions.pause")).map((r) => r.outcome),
      ["success"],
    );
    assert.deepEqual(
      (await audited(sub, "subscriptions.resume")).map((r) => r.outcome),
      ["success"],
    );
  });

  test("another merchant's subscription cannot be touched from our pages", async () => {
    const product = await api(theirs.secretKey, "/v1/products", { name: "Their alerts" });
    const price = await api(theirs.secretKey, "/v1/prices", {
      product: product.id,
      amount: 99,
      currency: "EUR",
      recurring: { period: "P1D" },
    });
    const customer = await api(theirs.secretKey, "/v1/customers", { email: "dan@example.org" });
    const sub = await api(theirs.secretKey, "/v1/subscriptions", {
      customer: customer.id,
      price: price.id,
      payment_method: { type: "sandbox", scenario: "approve" },
    });
    await agent.get("/admin/subscriptions");
    for (const action of ["cancel", "pause"]) {
      const refused = await agent.post(`/admin/subscriptions/${sub.id}/${action}`, {
        back: "/admin/subscriptions",
      });
      assert.equal(refused.status, 404, action);
    }
    const now = await api<{ status: string }>(theirs.secretKey, `/v1/subscriptions/${sub.id}`);
    assert.notEqual(now.status, "canceled");
    assert.notEqual(now.status, "paused");
    assert.ok(!(await agent.get("/admin/subscriptions")).body.includes(sub.id));
  });

  test("a viewer sees no button and is refused the action", async () => {
    const sub = await activeSubscription();
    const { session } = await staff("viewer");
    const page = await session.get(`/admin/customers/${customerId}`);
    assert.equal(page.status, 200);
    assert.ok(page.body.includes(`id="${sub}"`));
    assert.ok(!page.body.includes(`/admin/subscriptions/${sub}/`), "no button");
    assert.ok(
      !(await session.get("/admin/subscriptions")).body.includes('<button type="submit" aria-describedby'),
    );
    const refused = await session.post(`/admin/subscriptions/${sub}/cancel`, {
      back: "/admin/subscriptions",
    });
    assert.equal(refused.status, 403);
    const now = await api<{ status: string }>(ours.secretKey, `/v1/subscriptions/${sub}`);
    assert.equal(now.status, "active");
  });

  test("without customer:read: no navigation entry and 403", async () => {
    const owner = await staff("owner");
    const role = await call(t.app, "POST", "/v1/roles", {
      key: owner.apiKey,
      body: { name: "payments-only", permissions: ["payment:read"] },
    });
    assert.equal(role.status, 201, JSON.stringify(role.body));
    const { session } = await staff("payments-only");
    const payments = await session.get("/admin/payments");
    assert.equal(payments.status, 200);
    for (const href of ["/admin/customers", "/admin/subscriptions", "/admin/catalog"]) {
      assert.ok(!payments.body.includes(`href="${href}"`), href);
      assert.equal((await session.get(href)).status, 403, href);
    }
    assert.equal((await session.get(`/admin/customers/${customerId}`)).status, 403);
    // The owner sees all three.
    const full = await owner.session.get("/admin/payments");
    for (const href of ["/admin/customers", "/admin/subscriptions", "/admin/catalog"])
      assert.ok(full.body.includes(`href="${href}"`), href);
  });

  test("platform staff choose a merchant first (sent to the choice and back), as on the other pages", async () => {
    const { session, id: staffId } = await staff("support", null);
    const page = await session.get("/admin/customers");
    assert.equal(page.status, 303);
    assert.equal(page.location, "/admin/merchants?next=%2Fadmin%2Fcustomers");
    const choice = await session.get(page.location!);
    assert.equal(choice.status, 200);
    assert.ok(choice.body.includes(ours.merchantId) && choice.body.includes(theirs.merchantId));
    // A forged merchant id or mode is refused naming the field; nothing is chosen.
    assert.equal(
      (await session.post("/admin/merchants/choose", { merchant: "mer_nope0000000", mode: "test" })).status,
      400,
    );
    assert.equal(
      (await session.post("/admin/merchants/choose", { merchant: ours.merchantId, mode: "prod" })).status,
      400,
    );
    assert.equal((await session.get("/admin/customers")).status, 303);
    const chosen = await session.post("/admin/merchants/choose", {
      merchant: ours.merchantId,
      mode: "test",
      next: "/admin/customers",
    });
    assert.equal(chosen.status, 303);
    assert.equal(chosen.location, "/admin/customers");
    // Who opened which merchant's data is in the audit log.
    const { rows } = await t.services.db.query<{ actor: string; outcome: string }>(
      "select actor, outcome from audit_events where action = 'merchants.choose' and object = $1",
      [ours.merchantId],
    );
    assert.deepEqual(rows, [{ actor: staffId, outcome: "success" }]);
    const customers = await session.get(`/admin/customers?q=${encodeURIComponent("+33612345678")}`);
    assert.equal(customers.status, 200);
    assert.ok(customers.body.includes(customerId), "our merchant's customer");
    assert.ok(customers.body.includes("Merchant: Pixel Forge (Test data)"));
    // A merchant's own team has no such choice.
    assert.equal((await agent.get("/admin/merchants")).status, 404);
  });
});

describe("catalog", () => {
  test("a product and a price created with the form; a bad amount is named beside its field", async () => {
    const { session, id } = await staff("developer");
    const empty = await session.get("/admin/catalog");
    assert.equal(empty.status, 200);
    const created = await session.post("/admin/catalog/products", { "product-name": "Gold coins" });
    assert.equal(created.status, 303);
    assert.equal(created.location, "/admin/catalog?done=product");
    const { data } = await api<{ data: Array<{ id: string; name: string }> }>(ours.secretKey, "/v1/products");
    const gold = data.find((p) => p.name === "Gold coins");
    assert.ok(gold);

    // A variant under its product; a variant of a variant is refused beside the parent field.
    const variant = await session.post("/admin/catalog/products", {
      "product-name": "Gold coins: 100",
      "product-parent": gold.id,
    });
    assert.equal(variant.status, 303);
    const variants = await api<{ data: Array<{ id: string; name: string }> }>(
      ours.secretKey,
      `/v1/products?parent=${gold.id}`,
    );
    assert.deepEqual(
      variants.data.map((v) => v.name),
      ["Gold coins: 100"],
    );
    const nested = await session.post("/admin/catalog/products", {
      "product-name": "Gold coins: 100: shiny",
      "product-parent": variants.data[0]!.id,
    });
    assert.equal(nested.status, 400);
    assert.match(nested.body, /id="product-parent-error">A variant cannot be the parent of another variant./);
    assert.match(
      (await session.get("/admin/catalog")).body,
      /Variants<\/p>\s*<ul class="variants">\s*<li>Gold coins: 100 /,
    );

    const before = await api<{ data: unknown[] }>(ours.secretKey, `/v1/prices?product=${gold.id}`);
    // Amounts as written in the currency: "1.999" has a digit EUR does not have ("1.99" is fine).
    for (const amount of ["1.999", "0", "-5", "abc", ""]) {
      const bad = await session.post("/admin/catalog/prices", {
        "price-product": gold.id,
        "price-amount": amount,
        "price-currency": "EUR",
      });
      assert.equal(bad.status, 400, amount);
      assert.match(
        bad.body,
        /<p class="field-error" id="price-amount-error">Enter the amount as it is written in the currency/,
      );
      assert.match(
        bad.body,
        /id="price-amount"[^>]*aria-describedby="price-amount-hint price-amount-error"[^>]*aria-invalid="true"/,
      );
      assert.ok(!bad.body.includes('id="price-currency-error"'), "only the amount is wrong");
      assert.ok(bad.body.includes(`value="${amount}"`), "what was typed stays");
    }
    const unknownCountry = await session.post("/admin/catalog/prices", {
      "price-product": gold.id,
      "price-amount": "199",
      "price-currency": "EUR",
      "price-country": "XX",
    });
    assert.equal(unknownCountry.status, 400);
    assert.match(unknownCountry.body, /id="price-country-error">country must be an ISO 3166-1/);
    const after = await api<{ data: unknown[] }>(ours.secretKey, `/v1/prices?product=${gold.id}`);
    assert.equal(after.data.length, before.data.length, "nothing was created");

    const good = await session.post("/admin/catalog/prices", {
      "price-product": gold.id,
      "price-amount": "4.99",
      "price-currency": "eur",
      "price-period": "P1M",
      "price-trial": "7",
    });
    assert.equal(good.status, 303);
    const prices = await api<{
      data: Array<{ amount: number; currency: string; recurring: { period: string }; trial_days: number }>;
    }>(ours.secretKey, `/v1/prices?product=${gold.id}`);
    assert.deepEqual(
      prices.data.map((p) => [p.amount, p.currency, p.recurring.period, p.trial_days]),
      [[499, "EUR", "P1M", 7]],
    );
    const page = await session.get("/admin/catalog?done=price");
    assert.ok(page.body.includes("€4.99 a month"));
    // Each press is in the audit log, refusals too, under the staff member who pressed.
    const { rows } = await t.services.db.query<{ action: string; outcome: string }>(
      "select action, outcome from audit_events where actor = $1 and action in ('products.create', 'prices.create') order by id",
      [id],
    );
    assert.deepEqual(
      rows.map((r) => `${r.action} ${r.outcome}`),
      [
        "products.create success",
        "products.create success",
        "products.create refused",
        ...Array(6).fill("prices.create refused"),
        "prices.create success",
      ],
    );
  });

  test("a viewer sees the catalog without the forms and cannot post them", async () => {
    const { session } = await staff("viewer");
    const page = await session.get("/admin/catalog");
    assert.equal(page.status, 200);
    assert.ok(page.body.includes("Football alerts"));
    assert.ok(!page.body.includes('action="/admin/catalog/products"'));
    const refused = await session.post("/admin/catalog/products", { "product-name": "Sneaky" });
    assert.equal(refused.status, 403);
  });
});
