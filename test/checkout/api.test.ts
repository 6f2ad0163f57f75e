/**
 * The checkout API through inject(): apps and their URL rules, checkout sessions (catalog line
 * items or ad-hoc amounts, expiry bounds, publishable keys that may only create sessions for
 * their merchant), expiry with its event, payment links that open a new session per visit and
 * count completed payments, receipts in the development outbox.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  ADMIN_KEY,
  call,
  createMerchant,
  createTestApp,
  type MerchantKeys,
  type TestApp,
} from "../support/app.ts";
import { createPrice, createSessionVia, pathOf, paySandbox } from "./support.ts";

let t: TestApp;
let m: MerchantKeys;
let other: MerchantKeys;

before(async () => {
  t = await createTestApp();
  m = await createMerchant(t.app, "Pixel Forge");
  other = await createMerchant(t.app, "Other studio");
});
after(() => t.close());

type Err = { error: { type: string; code: string; param?: string } };

describe("apps", () => {
  test("created with its origins and fulfilment URL; the signing secret is shown once", async () => {
    const r = await call<Record<string, unknown>>(t.app, "POST", "/v1/apps", {
      key: m.secretKey,
      body: {
        name: "Space Miner",
        allowed_origins: ["https://shop.example.com"],
        fulfilment_url: "https://game.example.com/orders",
      },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.match(String(r.body.id), /^app_/);
    assert.equal(r.body.object, "app");
    assert.deepEqual(r.body.allowed_origins, ["https://shop.example.com"]);
    assert.match(String(r.body.fulfilment_secret), /^whsec_/);
    const got = await call<Record<string, unknown>>(t.app, "GET", `/v1/apps/${r.body.id}`, {
      key: m.secretKey,
    });
    assert.equal(got.status, 200);
    assert.equal(got.body.fulfilment_secret, undefined, "the secret is shown only at creation");
    const list = await call<{ data: { id: string }[] }>(t.app, "GET", "/v1/apps", { key: m.secretKey });
    assert.ok(list.body.data.some((a) => a.id === r.body.id));
    const foreign = await call(t.app, "GET", `/v1/apps/${r.body.id}`, { key: other.secretKey });
    assert.equal(foreign.status, 404);
  });

  test("an origin with a path, and a fulfilment URL on a private address, are refused naming the field", async () => {
    const origin = await call<Err>(t.app, "POST", "/v1/apps", {
      key: m.secretKey,
      body: { name: "X", allowed_origins: ["https://ok.example.com", "https://shop.example.com/path"] },
    });
    assert.equal(origin.status, 400);
    assert.equal(origin.body.error.param, "allowed_origins[1]");
    const privateUrl = await call<Err>(t.app, "POST", "/v1/apps", {
      key: m.secretKey,
      body: { name: "X", fulfilment_url: "http://169.254.169.254/latest" },
    });
    assert.equal(privateUrl.status, 400);
    assert.equal(privateUrl.body.error.param, "fulfilment_url");
    const live = await call<Err>(t.app, "POST", "/v1/apps", {
      key: m.liveSecretKey,
      body: { name: "X", fulfilment_url: "http://game.example.com/orders" },
    });
    assert.equal(live.status, 400, "live fulfilment URLs use https");
  });
});

describe("checkout sessions", () => {
  test("from catalog prices: line items with the product and variant, total in minor units, 24 h by default", async () => {
    const { price, product } = await createPrice(t.app, m.secretKey, 199, "EUR", "Gem pack");
    const variant = await call<{ id: string }>(t.app, "POST", "/v1/products", {
      key: m.secretKey,
      body: { name: "Large", parent: product },
    });
    const variantPrice = await call<{ id: string }>(t.app, "POST", "/v1/prices", {
      key: m.secretKey,
      body: { product: variant.body.id, amount: 499, currency: "EUR" },
    });
    const before = Date.now();
    const r = await call<Record<string, unknown>>(t.app, "POST", "/v1/checkout_sessions", {
      key: m.secretKey,
      body: {
        line_items: [{ price, quantity: 2 }, { price: variantPrice.body.id }],
        payer: { msisdn: "+33612345678", email: "payer@example.com" },
        locale: "fr",
      },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.match(String(r.body.id), /^cs_/);
    assert.equal(r.body.object, "checkout_session");
    assert.equal(r.body.status, "open");
    assert.equal(r.body.amount_total, 2 * 199 + 499);
    assert.equal(r.body.currency, "EUR");
    assert.equal(r.body.payment, null);
    assert.deepEqual(r.body.steps, []);
    assert.match(String(r.body.url), new RegExp(`/checkout/${r.body.id}$`));
    assert.match(String(r.body.client_secret), new RegExp(`^${r.body.id}_secret_`));
    const items = r.body.line_items as { description: string; quantity: number; amount_total: number }[];
    assert.deepEqual(
      items.map((i) => [i.description, i.quantity, i.amount_total]),
      [
        ["Gem pack", 2, 398],
        ["Gem pack · Large", 1, 499],
      ],
    );
    const expires = Date.parse(String(r.body.expires_at));
    assert.ok(Math.abs(expires - (before + 24 * 3600_000)) < 60_000, "24 hours by default");
  });

  test("expiry must be 30 minutes to 24 hours ahead", async () => {
    const at = (ms: number) => new Date(Date.now() + ms).toISOString();
    for (const [ms, ok] of [
      [29 * 60_000 - 61_000, false],
      [30 * 60_000, true],
      [24 * 3600_000, true],
      [25 * 3600_000, false],
    ] as const) {
      const r = await call<Err>(t.app, "POST", "/v1/checkout_sessions", {
        key: m.secretKey,
        body: { amount: 100, currency: "EUR", expires_at: at(ms) },
      });
      assert.equal(r.status, ok ? 201 : 400, `${ms} ms ahead`);
      if (!ok) assert.equal(r.body.error.param, "expires_at");
    }
  });

  test("bad input names the field", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{}, "line_items"],
      [{ amount: 100 }, "currency"],
      [{ amount: 100, currency: "EUR", line_items: [{ price: "price_x" }] }, "amount"],
      [{ line_items: [{ price: "price_01jxxxxxxxxxxxxxxxxxxxxxxx" }] }, "line_items[0].price"],
      [{ amount: 100, currency: "EUR", payer: { msisdn: "12" } }, "payer.msisdn"],
      [{ amount: 100, currency: "EUR", app: "app_missing" }, "app"],
      [{ amount: 100, currency: "EUR", success_url: "javascript:alert(1)" }, "success_url"],
    ];
    for (const [body, param] of cases) {
      const r = await call<Err>(t.app, "POST", "/v1/checkout_sessions", { key: m.secretKey, body });
      assert.equal(r.status >= 400 && r.status < 500, true, JSON.stringify(body));
      assert.equal(r.body.error.param, param, JSON.stringify(r.body));
    }
    const unknown = await call<Err>(t.app, "POST", "/v1/checkout_sessions", {
      key: m.secretKey,
      body: { amount: 100, currency: "EUR", surprise: 1 },
    });
    assert.equal(unknown.status, 400);
    // A total past one payment's maximum says so (it read like insufficient funds).
    const dear = await createPrice(t.app, m.secretKey, 9_999_999_999);
    const tooMuch = await call<Err & { error: { message: string } }>(t.app, "POST", "/v1/checkout_sessions", {
      key: m.secretKey,
      body: { line_items: [{ price: dear.price, quantity: 2 }] },
    });
    assert.equal(tooMuch.status, 400);
    assert.equal(tooMuch.body.error.code, "amount_too_large");
    assert.equal(tooMuch.body.error.param, "line_items");
    assert.match(
      tooMuch.body.error.message,
      /add up to 19999999998 minor units; one payment takes at most 9999999999/,
    );
  });

  test("a publishable key creates sessions for catalog prices of its own merchant, and reads nothing", async () => {
    const { price } = await createPrice(t.app, m.secretKey, 99);
    const created = await call<{ id: string }>(t.app, "POST", "/v1/checkout_sessions", {
      key: m.publishableKey,
      body: { line_items: [{ price }] },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const adHoc = await call<Err>(t.app, "POST", "/v1/checkout_sessions", {
      key: m.publishableKey,
      body: { amount: 1, currency: "EUR" },
    });
    assert.equal(adHoc.status, 403, "a browser cannot choose the amount");
    const foreignPrice = await call<Err>(t.app, "POST", "/v1/checkout_sessions", {
      key: other.publishableKey,
      body: { line_items: [{ price }] },
    });
    assert.equal(foreignPrice.status, 404, "another merchant's price does not exist for this key");
    for (const path of [
      `/v1/checkout_sessions/${created.body.id}`,
      "/v1/checkout_sessions",
      "/v1/apps",
      "/v1/payment_links",
    ]) {
      const r = await call<Err>(t.app, "GET", path, { key: m.publishableKey });
      assert.equal(r.status, 403, path);
      assert.equal(r.body.error.type, "permission_error");
    }
    const expire = await call(t.app, "POST", `/v1/checkout_sessions/${created.body.id}/expire`, {
      key: m.publishableKey,
    });
    assert.equal(expire.status, 403);
  });

  test("expire: open → expired with its event; a second expire answers the same; complete cannot expire", async () => {
    const s = await createSessionVia(t.app, m.secretKey, { amount: 250, currency: "EUR" });
    const r = await call<Record<string, unknown>>(t.app, "POST", `/v1/checkout_sessions/${s.id}/expire`, {
      key: m.secretKey,
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.status, "expired");
    const steps = r.body.steps as { step: string }[];
    assert.deepEqual(
      steps.map((x) => x.step),
      ["abandoned"],
    );
    const again = await call<Record<string, unknown>>(t.app, "POST", `/v1/checkout_sessions/${s.id}/expire`, {
      key: m.secretKey,
    });
    assert.equal(again.status, 200);
    const events = await call<{ data: { type: string; data: { object: { id: string } } }[] }>(
      t.app,
      "GET",
      "/v1/events?type=checkout_session.expired",
      { key: m.secretKey },
    );
    assert.equal(events.body.data.filter((e) => e.data.object.id === s.id).length, 1);

    const paid = await createSessionVia(t.app, m.secretKey, { amount: 250, currency: "EUR" });
    await paySandbox(t, paid.id);
    const refused = await call<Err>(t.app, "POST", `/v1/checkout_sessions/${paid.id}/expire`, {
      key: m.secretKey,
    });
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error.code, "checkout_session_unexpected_state");
  });

  test("a completed session: its payment, the completed event, the charged step, a receipt in the outbox", async () => {
    const s = await createSessionVia(t.app, m.secretKey, {
      amount: 1234,
      currency: "EUR",
      description: "Season pass",
      payer: { email: "ana@example.com" },
    });
    const { payment, session } = await paySandbox(t, s.id);
    assert.equal(payment.status, "succeeded");
    assert.equal(session.status, "complete");
    const got = await call<Record<string, unknown>>(t.app, "GET", `/v1/checkout_sessions/${s.id}`, {
      key: m.secretKey,
    });
    assert.equal(got.body.status, "complete");
    assert.equal(got.body.payment, payment.id);
    assert.deepEqual(
      (got.body.steps as { step: string }[]).map((x) => x.step),
      ["charged"],
    );
    const pay = await call<{ amount_captured: number; metadata: Record<string, string> }>(
      t.app,
      "GET",
      `/v1/payments/${payment.id}`,
      {
        key: m.secretKey,
      },
    );
    assert.equal(pay.body.amount_captured, 1234);
    assert.equal(pay.body.metadata.checkout_session, s.id);
    const events = await call<{ data: { data: { object: { id: string } } }[] }>(
      t.app,
      "GET",
      "/v1/events?type=checkout_session.completed",
      { key: m.secretKey },
    );
    assert.equal(events.body.data.filter((e) => e.data.object.id === s.id).length, 1);
    const receipts = await call<{ data: { recipient: string; body: string; status: string }[] }>(
      t.app,
      "GET",
      `/v1/checkout_receipts?checkout_session=${s.id}`,
      { key: m.secretKey },
    );
    assert.equal(receipts.body.data.length, 1);
    assert.equal(receipts.body.data[0]!.recipient, "ana@example.com");
    assert.equal(receipts.body.data[0]!.status, "outbox");
    assert.match(receipts.body.data[0]!.body, /12[.,]34/);
    assert.match(receipts.body.data[0]!.body, new RegExp(payment.id));
  });

  test("a declined payment leaves the session open for another attempt", async () => {
    const s = await createSessionVia(t.app, m.secretKey, { amount: 300, currency: "EUR" });
    const declined = await paySandbox(t, s.id, "decline_insufficient_funds");
    assert.equal(declined.payment.status, "failed");
    assert.equal(declined.session.status, "open");
    assert.equal(declined.session.payment_id, null);
    const paid = await paySandbox(t, s.id);
    assert.equal(paid.session.status, "complete");
  });
});

describe("payment links", () => {
  test("a link URL opens a new session per visit; uses counts completed payments; max_uses then 410", async () => {
    const { price } = await createPrice(t.app, m.secretKey, 500);
    const r = await call<Record<string, unknown>>(t.app, "POST", "/v1/payment_links", {
      key: m.secretKey,
      body: {
        line_items: [{ price }],
        max_uses: 1,
        after_completion: { type: "hosted_confirmation", message: "Thanks!" },
      },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.match(String(r.body.id), /^plink_/);
    assert.equal(r.body.object, "payment_link");
    assert.equal(r.body.active, true);
    assert.equal(r.body.uses, 0);
    assert.equal(r.body.max_uses, 1);
    assert.equal(r.body.expires_at, null);
    const url = String(r.body.url);
    assert.match(url, /\/pay\/plink_[0-9a-z]{26}\?amount=500&currency=EUR&expires=&kid=k[0-9a-z]+&sig=/);

    const first = await t.app.inject({ method: "GET", url: pathOf(url) });
    const second = await t.app.inject({ method: "GET", url: pathOf(url) });
    assert.equal(first.statusCode, 303);
    assert.equal(second.statusCode, 303);
    const sessionA = String(first.headers.location).split("/")[2]!;
    const sessionB = String(second.headers.location).split("/")[2]!;
    assert.notEqual(sessionA, sessionB, "each visit opens its own session");
    const opened = await call<{ data: { id: string; amount_total: number; payment_link: string }[] }>(
      t.app,
      "GET",
      `/v1/checkout_sessions?payment_link=${r.body.id}`,
      { key: m.secretKey },
    );
    assert.deepEqual(opened.body.data.map((s) => s.id).sort(), [sessionA, sessionB].sort());
    assert.ok(opened.body.data.every((s) => s.amount_total === 500 && s.payment_link === r.body.id));

    await paySandbox(t, sessionA);
    const link = await call<Record<string, unknown>>(t.app, "GET", `/v1/payment_links/${r.body.id}`, {
      key: m.secretKey,
    });
    assert.equal(link.body.uses, 1);
    const usedUp = await t.app.inject({ method: "GET", url: pathOf(url) });
    assert.equal(usedUp.statusCode, 410);
    assert.match(usedUp.headers["content-type"] as string, /text\/html/);
    assert.match(usedUp.body, /used up/);
  });

  test("deactivated links answer 410; reactivated they work again", async () => {
    const r = await call<{ id: string; url: string }>(t.app, "POST", "/v1/payment_links", {
      key: m.secretKey,
      body: { amount: 300, currency: "EUR", description: "Donation" },
    });
    const off = await call<{ active: boolean }>(t.app, "POST", `/v1/payment_links/${r.body.id}`, {
      key: m.secretKey,
      body: { active: false },
    });
    assert.equal(off.status, 200);
    assert.equal(off.body.active, false);
    const page = await t.app.inject({ method: "GET", url: pathOf(r.body.url) });
    assert.equal(page.statusCode, 410);
    assert.match(page.body, /turned off/);
    await call(t.app, "POST", `/v1/payment_links/${r.body.id}`, { key: m.secretKey, body: { active: true } });
    assert.equal((await t.app.inject({ method: "GET", url: pathOf(r.body.url) })).statusCode, 303);
    const list = await call<{ data: { id: string }[] }>(t.app, "GET", "/v1/payment_links?limit=100", {
      key: m.secretKey,
    });
    assert.ok(list.body.data.some((l) => l.id === r.body.id));
  });

  test("an Idempotency-Key replays the same link", async () => {
    const body = { amount: 700, currency: "EUR" };
    const headers = { "idempotency-key": "link-once-1" };
    const a = await call<{ id: string }>(t.app, "POST", "/v1/payment_links", {
      key: m.secretKey,
      body,
      headers,
    });
    const b = await call<{ id: string }>(t.app, "POST", "/v1/payment_links", {
      key: m.secretKey,
      body,
      headers,
    });
    assert.equal(a.body.id, b.body.id);
    assert.equal(b.headers["idempotent-replayed"], "true");
  });

  test("key rotation needs the admin key", async () => {
    const r = await call<Err>(t.app, "POST", "/v1/payment_link_keys/rotate", { key: m.secretKey, body: {} });
    assert.equal(r.status, 403);
    const ok = await call<{ kid: string }>(t.app, "POST", "/v1/payment_link_keys/rotate", {
      key: ADMIN_KEY,
      body: {},
    });
    assert.equal(ok.status, 200);
    assert.match(ok.body.kid, /^k/);
  });
});

describe("pages", () => {
  test("every checkout message is translated in every locale", async () => {
    const { missingKeys } = await import("../../src/web/index.ts");
    const { CHECKOUT_CATALOGUES } = await import("../../src/checkout/index.ts");
    assert.deepEqual(missingKeys(CHECKOUT_CATALOGUES), {});
    assert.equal(Object.keys(CHECKOUT_CATALOGUES).length, 6, "six locales");
  });

  test("a session's page: strict CSP, framing only by the app's origins, a form token bound to the session", async () => {
    const app = await call<{ id: string }>(t.app, "POST", "/v1/apps", {
      key: m.secretKey,
      body: { name: "Framed", allowed_origins: ["https://shop.example.com"] },
    });
    const s = await createSessionVia(t.app, m.secretKey, { amount: 100, currency: "EUR", app: app.body.id });
    const page = await t.app.inject({ method: "GET", url: `/checkout/${s.id}/carrier` });
    assert.equal(page.statusCode, 200);
    const csp = String(page.headers["content-security-policy"]);
    assert.match(csp, /script-src 'self';/);
    assert.match(csp, /frame-ancestors https:\/\/shop\.example\.com;/);
    assert.equal(page.headers["x-frame-options"], undefined);
    const plain = await createSessionVia(t.app, m.secretKey, { amount: 100, currency: "EUR" });
    const unframed = await t.app.inject({ method: "GET", url: `/checkout/${plain.id}/carrier` });
    assert.match(String(unframed.headers["content-security-policy"]), /frame-ancestors 'none'/);
    assert.equal(unframed.headers["x-frame-options"], "DENY");
    // A form without its token, with another session's token, or from another origin is refused.
    const token = /name="_token" value="([^"]+)"/.exec(page.body)![1]!;
    const otherToken = /name="_token" value="([^"]+)"/.exec(unframed.body)![1]!;
    const post = (body: string, headers: Record<string, string> = {}) =>
      t.app.inject({
        method: "POST",
        url: `/checkout/${s.id}/carrier/start`,
        headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
        payload: body,
      });
    assert.equal((await post("msisdn=%2B31612345678")).statusCode, 403);
    assert.equal((await post(`_token=${otherToken}&msisdn=%2B31612345678`)).statusCode, 403);
    assert.equal(
      (await post(`_token=${token}&msisdn=%2B31612345678`, { origin: "https://evil.example" })).statusCode,
      403,
    );
    const bad = await post(`_token=${token}&msisdn=12`);
    assert.equal(bad.statusCode, 400, "a bad number with a good token: the form again, with its error");
    assert.match(bad.body, /Enter a mobile number/);
  });
});
