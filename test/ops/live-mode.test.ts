/**
 * Live mode never fakes money: with no live provider configured, live card, carrier and
 * subscription requests are refused with a 4xx that names what is missing, and nothing is
 * created; raw card numbers are refused in live mode even with a configured provider; a server
 * pointed at a real provider with a default or example secret refuses to start.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { isExampleSecret, liveProviders, liveStartProblem } from "../../src/payments/live-mode.ts";
import type { LiveSettings } from "../../src/platform/config.ts";
import { configFromEnv } from "../../src/platform/config.ts";
import { StartRefused, startServer } from "../../src/server.ts";
import { call, createMerchant, createTestApp, type MerchantKeys, type TestApp } from "../support/app.ts";

type ErrorBody = { error: { type: string; code: string; message: string; param?: string } };

const REAL_SECRET = "psp_live_7f3a9c2e1b4d8f6a0c5e";

describe("which live providers a configuration allows", () => {
  test("nothing configured: every live provider is refused and says what is missing", () => {
    const p = liveProviders({ mode: "auto" });
    assert.equal(p.carrier.ready, false);
    assert.equal(p.card.ready, false);
    assert.equal(p.sandbox.ready, false);
    assert.match(!p.carrier.ready ? p.carrier.missing : "", /CENTIME_CARRIER_NETWORK_URL/);
    assert.match(!p.card.ready ? p.card.missing : "", /CENTIME_CARD_PSP_URL/);
    assert.equal(liveStartProblem({ mode: "auto" }, p), null, "a test-only server starts");
  });

  test("a carrier network with the sandbox password is not live; with a real one it is", () => {
    const sandbox = liveProviders({
      mode: "auto",
      carrierNetworkUrl: "https://net.example",
      carrierPassword: "sandbox",
    });
    assert.equal(sandbox.carrier.ready, false);
    assert.match(!sandbox.carrier.ready ? sandbox.carrier.missing : "", /CENTIME_CARRIER_PASSWORD/);
    const real = liveProviders({
      mode: "auto",
      carrierNetworkUrl: "https://net.operator",
      carrierPassword: REAL_SECRET,
    });
    assert.deepEqual(real.carrier, { ready: true, endpoint: "https://net.operator" });
  });

  test("a card PSP URL with the default secret refuses the start", () => {
    for (const secret of [undefined, "whsec_sandbox", "changeme", "example-secret-123456"]) {
      const settings: LiveSettings = {
        mode: "auto",
        cardPspUrl: "https://psp.example",
        cardPspSecret: secret,
      };
      const problem = liveStartProblem(settings, liveProviders(settings));
      assert.ok(problem?.includes("CENTIME_CARD_PSP_SECRET"), `secret ${secret}: ${problem}`);
    }
    const ok: LiveSettings = { mode: "auto", cardPspUrl: "https://psp.example", cardPspSecret: REAL_SECRET };
    assert.equal(liveStartProblem(ok, liveProviders(ok)), null);
    assert.equal(liveProviders(ok).card.ready, true);
  });

  test("CENTIME_LIVE_MODE=on needs a ready provider; off refuses live even when configured", () => {
    const on: LiveSettings = { mode: "on" };
    assert.match(liveStartProblem(on, liveProviders(on)) ?? "", /no live provider is ready/);
    const off: LiveSettings = { mode: "off", cardPspUrl: "https://psp.example", cardPspSecret: REAL_SECRET };
    const p = liveProviders(off);
    assert.equal(p.card.ready, false);
    assert.match(!p.card.ready ? p.card.missing : "", /CENTIME_LIVE_MODE=off/);
  });

  test("example secrets are recognised, real ones are not", () => {
    for (const s of ["", "sandbox", "whsec_sandbox", "secret", "short", "my-example-key-000"])
      assert.ok(isExampleSecret(s), s);
    assert.equal(isExampleSecret(REAL_SECRET), false);
  });

  test("startServer refuses a real card endpoint with the sandbox secret, before opening anything", async () => {
    const config = {
      ...configFromEnv({
        CENTIME_CARD_PSP_URL: "https://psp.example",
        CENTIME_CARD_PSP_SECRET: "whsec_sandbox",
      }),
      logLevel: "silent",
    };
    await assert.rejects(startServer(config, "all"), (error: unknown) => {
      assert.ok(error instanceof StartRefused);
      assert.match(error.message, /CENTIME_CARD_PSP_SECRET/);
      return true;
    });
  });
});

describe("live requests on a server without live providers", () => {
  let t: TestApp;
  let m: MerchantKeys;
  before(async () => {
    t = await createTestApp();
    m = await createMerchant(t.app, "Live studio");
  });
  after(() => t.close());

  async function livePaymentCount(): Promise<number> {
    const { rows } = await t.database.db.query<{ n: bigint }>(
      "select count(*) as n from payments where merchant_id = $1 and mode = 'live'",
      [m.merchantId],
    );
    return Number(rows[0]!.n);
  }

  test("a live carrier payment is refused (403 live_mode_unavailable naming the missing network)", async () => {
    const r = await call<ErrorBody>(t.app, "POST", "/v1/payments", {
      key: m.liveSecretKey,
      body: {
        amount: 199,
        currency: "EUR",
        payment_method: { type: "carrier", msisdn: "+33612345678", operator: "20801" },
      },
    });
    assert.equal(r.status, 403, JSON.stringify(r.body));
    assert.equal(r.body.error.code, "live_mode_unavailable");
    assert.equal(r.body.error.param, "payment_method.type");
    assert.match(r.body.error.message, /CENTIME_CARRIER_NETWORK_URL/);
    assert.equal(await livePaymentCount(), 0);
  });

  test("a raw card number in live mode is refused and says it is for test mode only", async () => {
    const r = await call<ErrorBody>(t.app, "POST", "/v1/payments", {
      key: m.liveSecretKey,
      body: {
        amount: 199,
        currency: "EUR",
        payment_method: {
          type: "card",
          number: "4242424242424242",
          exp_month: 12,
          exp_year: 2099,
          cvc: "123",
        },
      },
    });
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.error.code, "payment_method_invalid");
    assert.equal(r.body.error.param, "payment_method.number");
    assert.match(r.body.error.message, /test mode only/);
    assert.ok(!JSON.stringify(r.body).includes("4242424242424242"), "the number is not echoed");
    assert.equal(await livePaymentCount(), 0);
  });

  test("a test-mode payment on the same server is not refused", async () => {
    const r = await call<ErrorBody>(t.app, "POST", "/v1/payments", {
      key: m.secretKey,
      body: { amount: 199, currency: "EUR", payment_method: { type: "sandbox", scenario: "approve" } },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  });

  test("a live carrier subscription is refused the same way", async () => {
    const post = (url: string, body: unknown) =>
      call<{ id: string } & ErrorBody>(t.app, "POST", url, { key: m.liveSecretKey, body });
    const customer = await post("/v1/customers", { msisdn: "+33612345678", country: "FR" });
    assert.equal(customer.status, 201, JSON.stringify(customer.body));
    const product = await post("/v1/products", { name: "Pass" });
    assert.equal(product.status, 201, JSON.stringify(product.body));
    const price = await post("/v1/prices", {
      product: product.body.id,
      amount: 199,
      currency: "EUR",
      recurring: { period: "P1W" },
    });
    if (price.status !== 201) {
      // The catalog's field names are billing's; what matters here is the subscription refusal.
      assert.fail(`price: ${JSON.stringify(price.body)}`);
    }
    const sub = await post("/v1/subscriptions", {
      customer: customer.body.id,
      price: price.body.id,
      payment_method: { type: "carrier", msisdn: "+33612345678", operator: "20801" },
    });
    assert.equal(sub.status, 403, JSON.stringify(sub.body));
    assert.equal(sub.body.error.code, "live_mode_unavailable");
    assert.match(sub.body.error.message, /CENTIME_CARRIER_NETWORK_URL/);
  });
});

describe("live requests with a configured card provider", () => {
  let t: TestApp;
  let m: MerchantKeys;
  before(async () => {
    t = await createTestApp({
      config: {
        live: { mode: "auto", cardPspUrl: "https://psp.example", cardPspSecret: REAL_SECRET },
      },
    });
    m = await createMerchant(t.app, "Live card studio");
  });
  after(() => t.close());

  test("carrier stays refused; a raw card number is still refused (the provider collects cards)", async () => {
    const carrier = await call<ErrorBody>(t.app, "POST", "/v1/payments", {
      key: m.liveSecretKey,
      body: {
        amount: 199,
        currency: "EUR",
        payment_method: { type: "carrier", msisdn: "+33612345678", operator: "20801" },
      },
    });
    assert.equal(carrier.status, 403);
    const card = await call<ErrorBody>(t.app, "POST", "/v1/payments", {
      key: m.liveSecretKey,
      body: {
        amount: 199,
        currency: "EUR",
        payment_method: {
          type: "card",
          number: "4242424242424242",
          exp_month: 12,
          exp_year: 2099,
          cvc: "123",
        },
      },
    });
    assert.equal(card.status, 400);
    assert.equal(card.body.error.param, "payment_method.number");
  });
});
