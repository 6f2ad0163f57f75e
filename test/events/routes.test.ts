/**
 * Goal: the HTTP routes of webhook endpoints and events, called through `inject()` on a small app
 * with the core's edge and secret-key surface (authentication stubbed), end to end with a delivery.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { FastifyInstance } from "fastify";
import { runDeliveryPass } from "../../src/events/delivery.ts";
import { webhookRoutes } from "../../src/events/routes.ts";
import { parseAllowedHosts } from "../../src/events/ssrf.ts";
import { createHost } from "../../src/http/host.ts";
import { IdempotencyGate } from "../../src/idempotency/index.ts";
import { FakeClock } from "../../src/platform/clock.ts";
import { ApiError } from "../../src/platform/errors.ts";
import { createLogger } from "../../src/platform/log.ts";
import { openTestDatabase, type TestDatabase } from "../support/db.ts";
import { newScope, paymentEvent, type Receiver, startReceiver, testTransport, verifyAt } from "./support.ts";

describe("webhook routes", () => {
  let database: TestDatabase;
  let app: FastifyInstance;
  let receiver: Receiver;
  const clock = new FakeClock();
  const scope = newScope();
  const auth = { authorization: `Bearer ${scope.merchantId}` };

  before(async () => {
    database = await openTestDatabase();
    receiver = await startReceiver();
    // The core's edge and secret-key surface, with an authentication that takes the merchant id
    // as the key.
    const host = createHost({
      logger: createLogger("silent"),
      db: database.db,
      clock,
      idempotency: new IdempotencyGate(database.db, clock),
      authenticate: async (authorization) => {
        const merchantId = authorization?.replace(/^Bearer /, "");
        if (!merchantId) throw new ApiError("api_key_missing");
        return { kind: "merchant", merchantId, mode: "test", keyType: "secret", keyId: `key_${merchantId}` };
      },
      rateLimit: { perSecond: 0, burst: 0 },
      authFailureLimit: { perSecond: 0, burst: 0 },
    });
    app = host.app;
    await app.register(
      host.surfaces.secret(webhookRoutes, {
        db: database.db,
        clock,
        allowedHosts: parseAllowedHosts("127.0.0.1"),
      }),
    );
  });
  after(async () => {
    await app.close();
    await receiver.close();
    await database.close();
  });

  test("create, get, list, update, rotate, attempts, delete", async () => {
    const created = await app.inject({
      method: "POST",
      url: "/v1/webhook_endpoints",
      headers: auth,
      payload: { url: receiver.url, events: ["payment.succeeded"], description: "shop" },
    });
    assert.equal(created.statusCode, 201);
    const endpoint = created.json();
    assert.equal(endpoint.object, "webhook_endpoint");
    assert.match(endpoint.secret, /^whsec_/);

    const fetched = await app.inject({
      method: "GET",
      url: `/v1/webhook_endpoints/${endpoint.id}`,
      headers: auth,
    });
    assert.equal(fetched.statusCode, 200);
    assert.equal(fetched.json().secret, undefined);
    assert.equal(fetched.json().description, "shop");

    const list = await app.inject({ method: "GET", url: "/v1/webhook_endpoints?limit=1", headers: auth });
    assert.equal(list.json().object, "list");
    assert.deepEqual(
      list.json().data.map((e: { id: string }) => e.id),
      [endpoint.id],
    );

    const updated = await app.inject({
      method: "POST",
      url: `/v1/webhook_endpoints/${endpoint.id}`,
      headers: auth,
      payload: { events: ["*"], description: null },
    });
    assert.equal(updated.statusCode, 200);
    assert.deepEqual(updated.json().events, ["*"]);

    const rotated = await app.inject({
      method: "POST",
      url: `/v1/webhook_endpoints/${endpoint.id}/rotate_secret`,
      headers: auth,
      payload: { overlap_seconds: 3600 },
    });
    assert.equal(rotated.statusCode, 200);
    assert.notEqual(rotated.json().secret, endpoint.secret);
    assert.equal(rotated.json().previous_secret_expires, new Date(clock.nowMs() + 3_600_000).toISOString());

    const eventId = await paymentEvent(database.db, scope, clock);
    const transport = testTransport();
    try {
      assert.equal(await runDeliveryPass({ db: database.db, clock, transport }), 1);
    } finally {
      transport.close();
    }
    verifyAt(endpoint.secret, receiver.received[0]!, clock.nowMs());
    verifyAt(rotated.json().secret, receiver.received[0]!, clock.nowMs());

    const attempts = await app.inject({
      method: "GET",
      url: `/v1/webhook_endpoints/${endpoint.id}/attempts?event=${eventId}`,
      headers: auth,
    });
    assert.equal(attempts.statusCode, 200);
    const [attempt] = attempts.json().data;
    assert.equal(attempt.object, "webhook_attempt");
    assert.equal(attempt.event, eventId);
    assert.equal(attempt.status, "succeeded");
    assert.equal(attempt.response_status, 204);
    assert.equal(typeof attempt.latency_ms, "number");

    const redeliver = await app.inject({
      method: "POST",
      url: `/v1/events/${eventId}/redeliver`,
      headers: auth,
      payload: { endpoint: endpoint.id },
    });
    assert.equal(redeliver.statusCode, 202);
    assert.deepEqual(redeliver.json().webhook_endpoints, [endpoint.id]);

    const deleted = await app.inject({
      method: "DELETE",
      url: `/v1/webhook_endpoints/${endpoint.id}`,
      headers: auth,
    });
    assert.deepEqual(deleted.json(), { id: endpoint.id, object: "webhook_endpoint", deleted: true });
    const gone = await app.inject({
      method: "GET",
      url: `/v1/webhook_endpoints/${endpoint.id}`,
      headers: auth,
    });
    assert.equal(gone.statusCode, 404);
    assert.equal(gone.json().error.code, "resource_missing");
  });

  test("events: list with filters and get", async () => {
    const start = clock.nowMs();
    const first = await paymentEvent(database.db, scope, clock, {
      type: "payment.created",
      paymentId: "pay_r",
    });
    clock.advance(10_000);
    const second = await paymentEvent(database.db, scope, clock, {
      type: "payment.succeeded",
      paymentId: "pay_r",
    });
    const ids = async (query: string) => {
      const response = await app.inject({ method: "GET", url: `/v1/events?${query}`, headers: auth });
      assert.equal(response.statusCode, 200, response.body);
      return response.json().data.map((e: { id: string }) => e.id);
    };
    assert.deepEqual(await ids("object_id=pay_r"), [second, first]);
    assert.deepEqual(await ids("object_id=pay_r&type=payment.created"), [first]);
    assert.deepEqual(
      await ids(`object_id=pay_r&created[gt]=${encodeURIComponent(new Date(start).toISOString())}`),
      [second],
    );
    assert.deepEqual(await ids(`object_id=pay_r&created[lte]=${Math.floor(start / 1000)}`), [first]);
    const bad = await app.inject({ method: "GET", url: "/v1/events?created[gte]=yesterday", headers: auth });
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().error.param, "created[gte]");
    const event = await app.inject({ method: "GET", url: `/v1/events/${second}`, headers: auth });
    assert.equal(event.json().object, "event");
    assert.equal(event.json().livemode, false);
    assert.equal(event.json().data.object.id, "pay_r");
    const other = await app.inject({
      method: "GET",
      url: `/v1/events/${second}`,
      headers: { authorization: "Bearer mer_other" },
    });
    assert.equal(other.statusCode, 404);
  });

  test("bad requests get catalogue errors", async () => {
    const live = await app.inject({
      method: "POST",
      url: "/v1/webhook_endpoints",
      headers: auth,
      payload: { url: "http://10.0.0.1/hooks", events: ["*"] },
    });
    assert.equal(live.statusCode, 400);
    assert.equal(live.json().error.code, "parameter_invalid");
    assert.equal(live.json().error.param, "url");
    const missing = await app.inject({
      method: "POST",
      url: "/v1/webhook_endpoints",
      headers: auth,
      payload: { url: receiver.url },
    });
    assert.equal(missing.statusCode, 400);
    const unauthenticated = await app.inject({ method: "GET", url: "/v1/webhook_endpoints" });
    assert.equal(unauthenticated.statusCode, 401);
  });
});
