/**
 * Webhooks and local development: `http://localhost` is refused when the endpoint is created, like
 * 127.0.0.1, with a 400 that names CENTIME_WEBHOOK_ALLOWED_HOSTS; listed there, it is accepted;
 * a delivery the SSRF guard blocks is logged with what to do. And `centime listen` forwards a
 * merchant's test-mode events to a local URL, signed like webhooks.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Webhook } from "standardwebhooks";
import { listen } from "../../src/cli/listen.ts";
import { createWebhookEndpoint } from "../../src/events/endpoints.ts";
import { startWebhookWorker } from "../../src/events/worker.ts";
import { systemClock } from "../../src/platform/clock.ts";
import { ApiError } from "../../src/platform/errors.ts";
import { newScope, paymentEvent, type Receiver, startReceiver } from "../events/support.ts";
import {
  call,
  createMerchant,
  createTestApp,
  type MerchantKeys,
  sandboxPayment,
  type TestApp,
} from "../support/app.ts";
import { eventually } from "../support/server.ts";

let t: TestApp;
let m: MerchantKeys;
before(async () => {
  t = await createTestApp();
  m = await createMerchant(t.app);
});
after(() => t.close());

describe("local webhook endpoints", () => {
  test("localhost and its aliases are refused at creation, and the 400 names CENTIME_WEBHOOK_ALLOWED_HOSTS", async () => {
    for (const url of [
      "http://localhost:3000/hooks",
      "http://LOCALHOST./hooks",
      "http://api.localhost/hooks",
      "http://127.0.0.1:3000/hooks",
      "http://[::1]:3000/hooks",
    ]) {
      const r = await call<{ error: { code: string; param: string; message: string } }>(
        t.app,
        "POST",
        "/v1/webhook_endpoints",
        { key: m.secretKey, body: { url, events: ["*"] } },
      );
      assert.equal(r.status, 400, `${url}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, "parameter_invalid");
      assert.equal(r.body.error.param, "url");
      assert.match(r.body.error.message, /CENTIME_WEBHOOK_ALLOWED_HOSTS/, url);
    }
  });

  test("listed in the allowed hosts, localhost is accepted", async () => {
    const endpoint = await createWebhookEndpoint(
      { db: t.database.db, clock: systemClock, allowedHosts: new Set(["localhost"]) },
      { merchantId: m.merchantId, mode: "test" },
      { url: "http://localhost:3000/hooks", events: ["*"] },
    );
    assert.equal(endpoint.url, "http://localhost:3000/hooks");
    await assert.rejects(
      createWebhookEndpoint(
        { db: t.database.db, clock: systemClock, allowedHosts: new Set(["127.0.0.1"]) },
        { merchantId: m.merchantId, mode: "test" },
        { url: "http://localhost:3000/hooks", events: ["*"] },
      ),
      (error: unknown) => error instanceof ApiError && error.param === "url",
      "an allowed address does not allow the name",
    );
  });

  test("a blocked delivery is logged, naming CENTIME_WEBHOOK_ALLOWED_HOSTS", async () => {
    const scope = newScope();
    // A public-looking name that resolves to loopback: accepted when saved, blocked when sent.
    await createWebhookEndpoint({ db: t.database.db, clock: systemClock, allowedHosts: new Set() }, scope, {
      url: "http://hooks.example.com/x",
      events: ["*"],
    });
    const warnings: string[] = [];
    const results: string[] = [];
    const logger = {
      warn: (_fields: object, message?: string) => void warnings.push(message ?? ""),
      error: () => {},
      info: () => {},
    };
    const worker = startWebhookWorker({
      db: t.database.db,
      logger,
      allowedHosts: new Set(),
      resolver: async () => [{ address: "127.0.0.1", family: 4 }],
      pollIntervalMs: 20,
      onAttempt: (_endpoint, result) => void results.push(result),
    });
    try {
      await paymentEvent(t.database.db, scope, systemClock);
      await eventually(async () => (results.length > 0 ? true : undefined), 20_000);
    } finally {
      await worker.stop();
    }
    assert.deepEqual(results.slice(0, 1), ["blocked"]);
    assert.ok(
      warnings.some((w) => w.includes("blocked") && w.includes("CENTIME_WEBHOOK_ALLOWED_HOSTS")),
      warnings.join("\n"),
    );
  });
});

describe("centime listen", () => {
  let receiver: Receiver;
  let base: string;
  before(async () => {
    receiver = await startReceiver();
    base = await t.app.listen({ host: "127.0.0.1", port: 0 });
  });
  after(() => receiver.close());

  test("forwards new test-mode events to a local URL, signed with the session's secret, each once", async () => {
    const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const abort = new AbortController();
    const lines: string[] = [];
    const other = await createMerchant(t.app, "Someone else");
    const running = listen({
      apiUrl: base,
      apiKey: m.secretKey,
      forwardTo: receiver.url,
      events: new Set(["payment.succeeded", "payment.failed"]),
      secret,
      pollMs: 50,
      print: (line) => lines.push(line),
      signal: abort.signal,
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const paid = await call<{ id: string }>(t.app, "POST", "/v1/payments", {
      key: m.secretKey,
      body: sandboxPayment("approve"),
    });
    const declined = await call<{ id: string }>(t.app, "POST", "/v1/payments", {
      key: m.secretKey,
      body: sandboxPayment("decline_generic"),
    });
    await call(t.app, "POST", "/v1/payments", { key: other.secretKey, body: sandboxPayment("approve") });
    await eventually(async () => (receiver.received.length >= 2 ? true : undefined), 20_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    abort.abort();
    const forwarded = await running;

    assert.equal(forwarded, 2, lines.join("\n"));
    assert.equal(
      receiver.received.length,
      2,
      "each event once, nothing of another merchant, no payment.created",
    );
    const verifier = new Webhook(secret);
    const bodies = receiver.received.map(
      (r) =>
        verifier.verify(r.body, {
          "webhook-id": String(r.headers["webhook-id"]),
          "webhook-timestamp": String(r.headers["webhook-timestamp"]),
          "webhook-signature": String(r.headers["webhook-signature"]),
        }) as { type: string; data: { object: { id: string } } },
    );
    assert.deepEqual(
      bodies.map((b) => [b.type, b.data.object.id]),
      [
        ["payment.succeeded", paid.body.id],
        ["payment.failed", declined.body.id],
      ],
    );
    assert.ok(
      lines.every((l) => / -> 204$/.test(l)),
      lines.join("\n"),
    );
  });
});
