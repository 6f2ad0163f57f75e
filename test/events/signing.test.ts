/**
 * Goal: every delivery verifies with the official `standardwebhooks` package, including during a
 * secret rotation, when both the old and the new signature are sent and each verifies on its own.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Webhook, WebhookVerificationError } from "standardwebhooks";
import { runDeliveryPass } from "../../src/events/delivery.ts";
import { createWebhookEndpoint, rotateWebhookEndpointSecret } from "../../src/events/endpoints.ts";
import { signature } from "../../src/events/signing.ts";
import { parseAllowedHosts } from "../../src/events/ssrf.ts";
import { FakeClock } from "../../src/platform/clock.ts";
import { openTestDatabase, type TestDatabase } from "../support/db.ts";
import { newScope, paymentEvent, type Receiver, startReceiver, testTransport, verifyAt } from "./support.ts";

describe("webhook signatures", () => {
  let database: TestDatabase;
  let receiver: Receiver;
  const transport = testTransport();
  const clock = new FakeClock();

  before(async () => {
    database = await openTestDatabase();
    receiver = await startReceiver();
  });
  after(async () => {
    transport.close();
    await receiver.close();
    await database.close();
  });

  const deps = () => ({ db: database.db, clock, allowedHosts: parseAllowedHosts("127.0.0.1") });
  const pass = () => runDeliveryPass({ db: database.db, clock, transport });

  test("our HMAC matches the package's own signature", () => {
    const secret = new Webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").sign(
      "msg_1",
      new Date(1_700_000_000_000),
      "{}",
    );
    assert.equal(signature("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_1", 1_700_000_000, "{}"), secret);
  });

  test("a delivery carries the Standard Webhooks headers and verifies with the package", async () => {
    const scope = newScope();
    const endpoint = await createWebhookEndpoint(deps(), scope, { url: receiver.url, events: ["*"] });
    assert.match(endpoint.secret, /^whsec_[A-Za-z0-9+/]+=*$/);
    const eventId = await paymentEvent(database.db, scope, clock);
    receiver.received.length = 0;
    assert.equal(await pass(), 1);
    const request = receiver.received[0]!;
    assert.equal(request.headers["webhook-id"], eventId);
    assert.equal(request.headers["webhook-timestamp"], String(Math.floor(clock.nowMs() / 1000)));
    assert.equal(request.headers["content-type"], "application/json");
    const payload = verifyAt(endpoint.secret, request, clock.nowMs()) as Record<string, unknown>;
    assert.equal(payload.id, eventId);
    assert.equal(payload.object, "event");
    assert.equal(payload.type, "payment.succeeded");
    assert.equal(payload.created, new Date(clock.nowMs()).toISOString());
    assert.deepEqual((payload.data as { object: { amount: number } }).object.amount, 199);
    // A wrong secret or a tampered body is refused.
    assert.throws(
      () => verifyAt("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", request, clock.nowMs()),
      WebhookVerificationError,
    );
    assert.throws(
      () =>
        verifyAt(endpoint.secret, { ...request, body: request.body.replace("199", "999") }, clock.nowMs()),
      WebhookVerificationError,
    );
  });

  test("during a rotation both signatures are sent and each verifies with its own secret", async () => {
    const scope = newScope();
    const created = await createWebhookEndpoint(deps(), scope, {
      url: receiver.url,
      events: ["payment.succeeded"],
    });
    const rotated = await rotateWebhookEndpointSecret(deps(), scope, created.id, {
      overlapMs: 60 * 60 * 1000,
    });
    assert.notEqual(rotated.secret, created.secret);
    assert.equal(rotated.previous_secret_expires, new Date(clock.nowMs() + 60 * 60 * 1000).toISOString());

    await paymentEvent(database.db, scope, clock);
    receiver.received.length = 0;
    assert.equal(await pass(), 1);
    const request = receiver.received[0]!;
    const signatures = String(request.headers["webhook-signature"]).split(" ");
    assert.equal(signatures.length, 2);
    assert.ok(signatures.every((s) => s.startsWith("v1,")));
    // Either secret alone verifies the message, as a receiver midway through switching would.
    verifyAt(rotated.secret, request, clock.nowMs());
    verifyAt(created.secret, request, clock.nowMs());
    // And each signature is the one of its own secret: the new one first.
    for (const [index, secret] of [rotated.secret, created.secret].entries()) {
      const alone = { ...request, headers: { ...request.headers, "webhook-signature": signatures[index]! } };
      verifyAt(secret, alone, clock.nowMs());
      assert.throws(() => verifyAt(index === 0 ? created.secret : rotated.secret, alone, clock.nowMs()));
    }

    // After the overlap only the new secret signs.
    clock.advance(60 * 60 * 1000 + 1);
    await paymentEvent(database.db, scope, clock);
    receiver.received.length = 0;
    assert.equal(await pass(), 1);
    const later = receiver.received[0]!;
    assert.equal(String(later.headers["webhook-signature"]).split(" ").length, 1);
    verifyAt(rotated.secret, later, clock.nowMs());
    assert.throws(() => verifyAt(created.secret, later, clock.nowMs()), WebhookVerificationError);
  });

  test("a rotation without overlap retires the old secret at once", async () => {
    const scope = newScope();
    const created = await createWebhookEndpoint(deps(), scope, { url: receiver.url, events: ["*"] });
    const rotated = await rotateWebhookEndpointSecret(deps(), scope, created.id, { overlapMs: 0 });
    assert.equal(rotated.previous_secret_expires, null);
    await paymentEvent(database.db, scope, clock);
    receiver.received.length = 0;
    await pass();
    const request = receiver.received[0]!;
    verifyAt(rotated.secret, request, clock.nowMs());
    assert.throws(() => verifyAt(created.secret, request, clock.nowMs()), WebhookVerificationError);
  });
});
