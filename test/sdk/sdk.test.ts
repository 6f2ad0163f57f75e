/**
 * The TypeScript SDK (packages/sdk): its committed types are what the generator makes of the
 * served document, and it creates a merchant and a payment against a listening server, with
 * idempotency keys and retries that are safe, and webhook signatures verified.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { typesOf } from "../../packages/sdk/scripts/types.ts";
import { createCentime, type paths, verifyWebhook } from "../../packages/sdk/src/index.ts";
import { signature } from "../../src/events/signing.ts";
import { ADMIN_KEY, createTestApp, type TestApp } from "../support/app.ts";
import { loadDocument } from "../support/openapi.ts";

// A server listening on a socket: the SDK speaks real HTTP through fetch. In this process, so
// that the file does not pay for a child's start (the start itself is test/process/start's).
let t: TestApp;
let url: string;

before(async () => {
  t = await createTestApp();
  url = await t.app.listen({ host: "127.0.0.1", port: 0 });
});
after(() => t.close());

test("the committed SDK types are a fresh generation from the served document", async () => {
  const committed = readFileSync(new URL("../../packages/sdk/src/schema.ts", import.meta.url), "utf8");
  const fresh = await typesOf(await loadDocument(t.app));
  assert.ok(committed === fresh, "packages/sdk/src/schema.ts is stale: run `npm run sdk:generate`");
});

test("a merchant, a customer and a payment through the SDK", async () => {
  const admin = createCentime({ baseUrl: url, apiKey: ADMIN_KEY });
  const merchant = await admin.POST("/v1/merchants", {
    body: { name: "SDK studio", default_currency: "EUR" },
  });
  assert.equal(merchant.response.status, 201, JSON.stringify(merchant.error));
  const secretKey = merchant.data?.secret_key;
  assert.ok(secretKey);
  assert.match(secretKey, /^sk_test_/);

  const centime = createCentime({ baseUrl: url, apiKey: secretKey });
  const customer = await centime.POST("/v1/customers", { body: { external_id: "player-7", country: "FR" } });
  assert.equal(customer.data?.object, "customer");

  const body: paths["/v1/payments"]["post"]["requestBody"]["content"]["application/json"] = {
    amount: 199,
    currency: "EUR",
    customer: customer.data?.id,
    payment_method: { type: "sandbox", scenario: "approve" },
  };
  const paid = await centime.POST("/v1/payments", {
    body,
    params: { header: { "Idempotency-Key": "sdk-1" } },
  });
  assert.equal(paid.response.status, 201, JSON.stringify(paid.error));
  assert.equal(paid.data?.status, "succeeded");
  assert.equal(paid.data?.amount, 199);

  // The same key answers the same payment: nothing is charged twice.
  const replay = await centime.POST("/v1/payments", {
    body,
    params: { header: { "Idempotency-Key": "sdk-1" } },
  });
  assert.equal(replay.data?.id, paid.data?.id);
  assert.equal(replay.response.headers.get("idempotent-replayed"), "true");

  const read = await centime.GET("/v1/payments/{id}", { params: { path: { id: paid.data?.id ?? "" } } });
  assert.equal(read.data?.customer, customer.data?.id);

  // Errors are typed as the error envelope.
  const missing = await centime.GET("/v1/payments/{id}", { params: { path: { id: "pay_missing" } } });
  assert.equal(missing.response.status, 404);
  assert.equal(missing.error?.error.code, "resource_missing");
});

test("a POST that meets a 503 is retried with the same Idempotency-Key, and charged once", async () => {
  const admin = createCentime({ baseUrl: url, apiKey: ADMIN_KEY });
  const merchant = await admin.POST("/v1/merchants", { body: { name: "Retry studio" } });
  const keys: string[] = [];
  let failFirst = true;
  const centime = createCentime({
    baseUrl: url,
    apiKey: merchant.data?.secret_key ?? "",
    retryBaseMs: 1,
    // The first attempt reaches the server, then its answer is lost behind a 503.
    fetch: async (request) => {
      keys.push(request.headers.get("idempotency-key") ?? "");
      const response = await fetch(request);
      if (!failFirst) return response;
      failFirst = false;
      return new Response('{"error":{"code":"service_unavailable"}}', { status: 503 });
    },
  });
  const paid = await centime.POST("/v1/payments", {
    body: { amount: 500, currency: "EUR", payment_method: { type: "sandbox", scenario: "approve" } },
  });
  assert.equal(paid.response.status, 201);
  assert.equal(keys.length, 2);
  assert.ok(keys[0] && keys[0] === keys[1], "one key for both attempts");
  const list = await centime.GET("/v1/payments", { params: { query: { limit: 10 } } });
  assert.deepEqual(
    list.data?.data.map((p) => p.id),
    [paid.data?.id],
    "one payment",
  );
});

test("webhook signatures are verified before the event is trusted", () => {
  const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  const body = JSON.stringify({ id: "evt_1", object: "event", type: "payment.succeeded", data: {} });
  const now = Math.floor(Date.now() / 1000);
  const headers = {
    "webhook-id": "evt_1",
    "webhook-timestamp": String(now),
    "webhook-signature": signature(secret, "evt_1", now, body),
  };
  assert.equal(verifyWebhook(secret, body, headers).type, "payment.succeeded");
  assert.throws(() => verifyWebhook(secret, body.replace("succeeded", "failed"), headers));
  assert.throws(() => verifyWebhook(secret, body, { ...headers, "webhook-timestamp": String(now - 3600) }));
});
