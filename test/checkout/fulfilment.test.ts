/**
 * Delivery after payment: the app's fulfilment URL receives one Standard Webhooks-signed order per
 * completed session, with its line items and codes, retried while the game server is down (same
 * webhook-id each time), and the session's fulfilment_status follows: pending → delivered | failed.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { Webhook } from "standardwebhooks";
import { defaultFulfilmentSender, FULFILMENT_BACKOFF_S } from "../../src/checkout/fulfilment.ts";
import { deliverDueFulfilments } from "../../src/checkout/index.ts";
import {
  call,
  createMerchant,
  createTestApp,
  FakeClock,
  type MerchantKeys,
  type TestApp,
} from "../support/app.ts";
import { createPrice, createSessionVia, paySandbox } from "./support.ts";

interface Received {
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

let t: TestApp;
let m: MerchantKeys;
let server: Server;
let url: string;
const received: Received[] = [];
let answers: number[] = [];
const clock = new FakeClock(Date.now());

before(async () => {
  server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => {
      body += chunk;
    });
    request.on("end", () => {
      received.push({ headers: request.headers, body });
      response.statusCode = answers.shift() ?? 200;
      response.end("ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/orders`;
  process.env.CENTIME_WEBHOOK_ALLOWED_HOSTS = "127.0.0.1";
  t = await createTestApp({ clock });
  m = await createMerchant(t.app);
});
after(async () => {
  await t.close();
  server.close();
});

const send = () => defaultFulfilmentSender(new Set(["127.0.0.1"]));
const deliver = () => deliverDueFulfilments(t.services.checkout.ctx, send());

async function status(sessionId: string) {
  return (
    await call<{ fulfilment_status: string | null }>(t.app, "GET", `/v1/checkout_sessions/${sessionId}`, {
      key: m.secretKey,
    })
  ).body.fulfilment_status;
}

test("retried while the game server is down, delivered once, signed, with line items and codes", async () => {
  const app = await call<{ id: string; fulfilment_secret: string }>(t.app, "POST", "/v1/apps", {
    key: m.secretKey,
    body: { name: "Space Miner", fulfilment_url: url },
  });
  assert.equal(app.status, 201, JSON.stringify(app.body));
  const { price, product } = await createPrice(t.app, m.secretKey, 450, "EUR", "Starter pack");
  await call(t.app, "POST", `/v1/products/${product}/codes`, {
    key: m.secretKey,
    body: { codes: ["AAAA-1111"] },
  });
  const s = await createSessionVia(t.app, m.secretKey, {
    line_items: [{ price }],
    app: app.body.id,
    metadata: { player: "p-42" },
  });
  assert.equal(await status(s.id), "pending");
  received.length = 0;
  answers = [503, 500];

  await paySandbox(t, s.id);
  assert.equal(await deliver(), 1);
  assert.equal(await deliver(), 0, "not due again before its backoff");
  clock.advance(FULFILMENT_BACKOFF_S[0] * 1000);
  assert.equal(await deliver(), 1);
  assert.equal(await status(s.id), "pending");
  clock.advance(FULFILMENT_BACKOFF_S[1] * 1000);
  assert.equal(await deliver(), 1);
  assert.equal(await status(s.id), "delivered");
  clock.advance(24 * 3600_000);
  assert.equal(await deliver(), 0, "an acknowledged order is never sent again");

  assert.equal(received.length, 3);
  const ids = new Set(received.map((r) => r.headers["webhook-id"]));
  assert.equal(ids.size, 1, "the same webhook-id on every retry, so the game can de-duplicate");
  const last = received[2]!;
  const verified = new Webhook(app.body.fulfilment_secret).verify(last.body, {
    "webhook-id": String(last.headers["webhook-id"]),
    "webhook-timestamp": String(last.headers["webhook-timestamp"]),
    "webhook-signature": String(last.headers["webhook-signature"]),
  }) as Record<string, unknown>;
  assert.equal(verified.checkout_session, s.id);
  assert.equal(verified.amount_total, 450);
  assert.deepEqual(verified.codes, [{ product, code: "AAAA-1111" }]);
  assert.deepEqual(verified.metadata, { player: "p-42" });
  const items = verified.line_items as { price: string; product: string; quantity: number; name: string }[];
  assert.deepEqual(
    items.map((i) => [i.price, i.product, i.quantity, i.name]),
    [[price, product, 1, "Starter pack"]],
  );
  assert.throws(() =>
    new Webhook(app.body.fulfilment_secret).verify(last.body.replace("450", "1"), {
      "webhook-id": String(last.headers["webhook-id"]),
      "webhook-timestamp": String(last.headers["webhook-timestamp"]),
      "webhook-signature": String(last.headers["webhook-signature"]),
    }),
  );
});

test("one order per completed session, however many times completion is reached; failed when the schedule runs out", async () => {
  const app = await call<{ id: string }>(t.app, "POST", "/v1/apps", {
    key: m.secretKey,
    body: { name: "Down forever", fulfilment_url: url },
  });
  const s = await createSessionVia(t.app, m.secretKey, { amount: 100, currency: "EUR", app: app.body.id });
  const { payment } = await paySandbox(t, s.id);
  const { completeSession, loadPayment } = await import("../../src/checkout/attempts.ts");
  const row = await loadPayment(t.services.db, payment.id);
  await Promise.all([1, 2, 3].map(() => completeSession(t.services.checkout.ctx, s.id, row!)));
  const { rows } = await t.services.db.query("select 1 from checkout_fulfilments where session_id = $1", [
    s.id,
  ]);
  assert.equal(rows.length, 1);
  received.length = 0;
  answers = Array(FULFILMENT_BACKOFF_S.length + 1).fill(503);
  for (let i = 0; i <= FULFILMENT_BACKOFF_S.length; i++) {
    assert.equal(await deliver(), 1, `attempt ${i + 1}`);
    clock.advance((FULFILMENT_BACKOFF_S[i] ?? 0) * 1000);
  }
  assert.equal(await status(s.id), "failed");
  assert.equal(await deliver(), 0);
  assert.equal(received.length, FULFILMENT_BACKOFF_S.length + 1);
});

test("a session without a fulfilment URL has nothing to deliver", async () => {
  const s = await createSessionVia(t.app, m.secretKey, { amount: 100, currency: "EUR" });
  assert.equal(await status(s.id), null);
  await paySandbox(t, s.id);
  assert.equal(await status(s.id), null);
});
