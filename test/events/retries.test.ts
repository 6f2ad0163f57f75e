/**
 * Goal: the retry schedule, on a fake clock. A receiver down for four hours gets attempts on the
 * Standard Webhooks schedule (with jitter), always with the same webhook-id, and the delivery
 * succeeds when it comes back. 410 disables the endpoint; 429 and 503 wait for Retry-After; 3xx is
 * a failure; a relay killed between sending and recording sends again with the same id.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { claimDueDeliveries, runDeliveryPass, sendDelivery } from "../../src/events/delivery.ts";
import {
  createWebhookEndpoint,
  getWebhookEndpoint,
  listWebhookAttempts,
} from "../../src/events/endpoints.ts";
import { WEBHOOK_LIMITS } from "../../src/events/limits.ts";
import { parseRetryAfterMs, retryDelayMs } from "../../src/events/schedule.ts";
import { parseAllowedHosts } from "../../src/events/ssrf.ts";
import { FakeClock } from "../../src/platform/clock.ts";
import { openTestDatabase, type TestDatabase } from "../support/db.ts";
import {
  deliveryStatuses,
  newScope,
  nextDueMs,
  paymentEvent,
  type Receiver,
  startReceiver,
  testTransport,
  verifyAt,
} from "./support.ts";

const HOUR_MS = 60 * 60 * 1000;

describe("retry schedule", () => {
  test("delays follow the schedule within the jitter, then give up", () => {
    const schedule = WEBHOOK_LIMITS.retry_schedule_ms;
    assert.deepEqual(
      schedule.map((_, i) => retryDelayMs(i, () => 0.5)),
      [...schedule],
    );
    for (const [i, base] of schedule.entries()) {
      assert.equal(
        retryDelayMs(i, () => 0),
        Math.round(base * 0.9),
      );
      assert.ok(retryDelayMs(i, () => 0.999_999)! <= Math.round(base * 1.1));
    }
    assert.equal(retryDelayMs(schedule.length, Math.random), undefined);
    // About three days in all.
    const total = schedule.reduce((a, b) => a + b, 0);
    assert.ok(total > 3 * 24 * HOUR_MS && total < 3.5 * 24 * HOUR_MS);
  });

  test("Retry-After reads seconds and HTTP dates, capped", () => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    assert.equal(parseRetryAfterMs("120", now), 120_000);
    assert.equal(parseRetryAfterMs("Thu, 01 Jan 2026 00:10:00 GMT", now), 600_000);
    assert.equal(parseRetryAfterMs("999999999", now), WEBHOOK_LIMITS.retry_after_max_ms);
    assert.equal(parseRetryAfterMs("soon", now), undefined);
    assert.equal(parseRetryAfterMs(undefined, now), undefined);
  });
});

describe("delivery retries on a fake clock", () => {
  let database: TestDatabase;
  const transport = testTransport();
  const clock = new FakeClock();

  before(async () => {
    database = await openTestDatabase();
  });
  after(async () => {
    transport.close();
    await database.close();
  });

  const deps = () => ({ db: database.db, clock, allowedHosts: parseAllowedHosts("127.0.0.1") });
  const pass = () => runDeliveryPass({ db: database.db, clock, transport });

  /** Runs the queue to quiescence, jumping the fake clock to each due time. */
  async function drain(onTick?: (nowMs: number) => Promise<void>) {
    for (let due = await nextDueMs(database.db); due !== undefined; due = await nextDueMs(database.db)) {
      if (due > clock.nowMs()) clock.set(due);
      await onTick?.(clock.nowMs());
      await pass();
    }
  }

  test("a receiver down for 4 hours: scheduled attempts, one webhook-id, success on return", async () => {
    // Find a free port, then leave it closed: connections are refused while the receiver is down.
    const probe = await startReceiver();
    const port = probe.port;
    await probe.close();
    const scope = newScope();
    const endpoint = await createWebhookEndpoint(deps(), scope, {
      url: `http://127.0.0.1:${port}/hooks`,
      events: ["*"],
    });
    const start = clock.nowMs();
    const eventId = await paymentEvent(database.db, scope, clock);

    let receiver: Receiver | undefined;
    await drain(async (nowMs) => {
      if (!receiver && nowMs - start >= 4 * HOUR_MS) receiver = await startReceiver(port);
    });
    assert.ok(receiver, "the receiver came back");
    try {
      const attempts = (
        await listWebhookAttempts(deps(), scope, endpoint.id, {}, { limit: 100 })
      ).data.reverse();
      // Down until 4 h: attempts at 0, 5 s, 5 min, 30 min, 2 h later (about 2 h 35 min in all), then
      // the next after 5 h more lands after the receiver is back.
      assert.equal(attempts.length, 6);
      assert.deepEqual(
        attempts.map((a) => a.status),
        ["failed", "failed", "failed", "failed", "failed", "succeeded"],
      );
      assert.ok(
        attempts.slice(0, 5).every((a) => a.error === "connection_refused" && a.response_status === null),
      );
      assert.equal(attempts[5]!.response_status, 204);
      assert.deepEqual(
        attempts.map((a) => a.attempt_number),
        [1, 2, 3, 4, 5, 6],
      );
      assert.ok(attempts.every((a) => a.event === eventId));
      const times = attempts.map((a) => Date.parse(a.created));
      assert.equal(times[0], start);
      for (let i = 1; i < times.length; i++) {
        const gap = times[i]! - times[i - 1]!;
        const base = WEBHOOK_LIMITS.retry_schedule_ms[i]!;
        assert.ok(
          gap >= Math.floor(base * 0.9) && gap <= Math.ceil(base * 1.1),
          `gap ${i}: ${gap} ms, schedule ${base}`,
        );
      }
      assert.ok(times[4]! - start < 4 * HOUR_MS && times[5]! - start >= 4 * HOUR_MS);

      // The receiver saw one request, verifiable, with the same webhook-id as every attempt.
      assert.equal(receiver.received.length, 1);
      const request = receiver.received[0]!;
      assert.equal(request.headers["webhook-id"], eventId);
      verifyAt(endpoint.secret, request, times[5]!);
      assert.deepEqual(await deliveryStatuses(database.db), ["succeeded"]);
    } finally {
      await receiver.close();
    }
  });

  test("a receiver that never recovers: ten attempts over about three days, then failed", async () => {
    const receiver = await startReceiver();
    receiver.respond((_request, response) => {
      response.statusCode = 500;
      response.end("no");
    });
    try {
      const scope = newScope();
      const endpoint = await createWebhookEndpoint(deps(), scope, { url: receiver.url, events: ["*"] });
      const start = clock.nowMs();
      const eventId = await paymentEvent(database.db, scope, clock);
      await drain();
      const attempts = (await listWebhookAttempts(deps(), scope, endpoint.id, {}, { limit: 100 })).data;
      assert.equal(attempts.length, WEBHOOK_LIMITS.retry_schedule_ms.length);
      assert.ok(attempts.every((a) => a.response_status === 500 && a.error === "http_status"));
      assert.equal(new Set(receiver.received.map((r) => r.headers["webhook-id"])).size, 1);
      assert.equal(receiver.received[0]!.headers["webhook-id"], eventId);
      const { rows } = await database.db.query<{ status: string }>(
        "select status from webhook_deliveries where endpoint_id = $1",
        [endpoint.id],
      );
      assert.deepEqual(
        rows.map((r) => r.status),
        ["failed"],
      );
      assert.ok(clock.nowMs() - start > 2.5 * 24 * HOUR_MS);
      // The endpoint stays enabled: only 410 disables.
      assert.equal((await getWebhookEndpoint(deps(), scope, endpoint.id)).enabled, true);
    } finally {
      await receiver.close();
    }
  });

  test("410 Gone disables the endpoint and cancels what was queued for it", async () => {
    const receiver = await startReceiver();
    receiver.respond((_request, response) => {
      response.statusCode = 410;
      response.end();
    });
    try {
      const scope = newScope();
      const endpoint = await createWebhookEndpoint(deps(), scope, { url: receiver.url, events: ["*"] });
      // Two events for one payment: the second waits behind the first (order per object).
      const paymentId = "pay_gone";
      await paymentEvent(database.db, scope, clock, { paymentId, type: "payment.processing" });
      await paymentEvent(database.db, scope, clock, { paymentId, type: "payment.succeeded" });
      assert.equal(await pass(), 1);
      const after410 = await getWebhookEndpoint(deps(), scope, endpoint.id);
      assert.equal(after410.enabled, false);
      assert.equal(after410.disabled_reason, "gone");
      const { rows } = await database.db.query<{ status: string }>(
        "select status from webhook_deliveries where endpoint_id = $1 order by id",
        [endpoint.id],
      );
      assert.deepEqual(
        rows.map((r) => r.status),
        ["failed", "canceled"],
      );
      // New events are not queued for a disabled endpoint.
      await paymentEvent(database.db, scope, clock);
      const { rows: queued } = await database.db.query(
        "select 1 from webhook_deliveries where endpoint_id = $1",
        [endpoint.id],
      );
      assert.equal(queued.length, 2);
      assert.equal(receiver.received.length, 1);
    } finally {
      await receiver.close();
    }
  });

  for (const status of [429, 503]) {
    test(`${status} waits for Retry-After before the next attempt`, async () => {
      const receiver = await startReceiver();
      receiver.respond((_request, response) => {
        response.statusCode = status;
        response.setHeader("retry-after", "120");
        response.end();
      });
      try {
        const scope = newScope();
        const endpoint = await createWebhookEndpoint(deps(), scope, { url: receiver.url, events: ["*"] });
        const start = clock.nowMs();
        await paymentEvent(database.db, scope, clock);
        assert.equal(await pass(), 1);
        // The schedule alone would retry after about 5 s; Retry-After asks for 120 s.
        assert.equal(await nextDueMs(database.db), start + 120_000);
        clock.advance(119_000);
        assert.equal(await pass(), 0);
        receiver.respond((_request, response) => {
          response.statusCode = 200;
          response.end("ok");
        });
        clock.advance(1_000);
        assert.equal(await pass(), 1);
        const attempts = (await listWebhookAttempts(deps(), scope, endpoint.id, {}, { limit: 10 })).data;
        assert.deepEqual(
          attempts.map((a) => a.response_status),
          [200, status],
        );
        assert.equal(receiver.received.length, 2);
      } finally {
        await receiver.close();
      }
    });
  }

  test("a relay killed between sending and recording sends again, with the same id, after the lease", async () => {
    const receiver = await startReceiver();
    try {
      const scope = newScope();
      const endpoint = await createWebhookEndpoint(deps(), scope, { url: receiver.url, events: ["*"] });
      const eventId = await paymentEvent(database.db, scope, clock);
      // The relay claims and sends, then "dies": the outcome is never recorded.
      const [claimed] = await claimDueDeliveries(database.db, { nowMs: clock.nowMs(), limit: 10 });
      assert.ok(claimed);
      const result = await sendDelivery(claimed, clock.nowMs(), transport);
      assert.equal(result.status, 204);
      // While the lease holds, no other relay sends it.
      assert.equal(await pass(), 0);
      clock.advance(WEBHOOK_LIMITS.lease_ms - 1);
      assert.equal(await pass(), 0);
      // The lease runs out: another relay sends it again.
      clock.advance(1);
      assert.equal(await pass(), 1);
      assert.equal(receiver.received.length, 2);
      assert.deepEqual(
        receiver.received.map((r) => r.headers["webhook-id"]),
        [eventId, eventId],
      );
      for (const request of receiver.received) verifyAt(endpoint.secret, request, clock.nowMs());
      const attempts = (await listWebhookAttempts(deps(), scope, endpoint.id, {}, { limit: 10 })).data;
      assert.deepEqual(
        attempts.map((a) => [a.attempt_number, a.status]),
        [[1, "succeeded"]],
      );
      assert.deepEqual(await deliveryStatuses(database.db).then((s) => s.at(-1)), "succeeded");
    } finally {
      await receiver.close();
    }
  });

  test("a 3xx is a failure and the redirect is not followed", async () => {
    const target = await startReceiver();
    const receiver = await startReceiver();
    receiver.respond((_request, response) => {
      response.statusCode = 307;
      response.setHeader("location", target.url);
      response.end();
    });
    try {
      const scope = newScope();
      const endpoint = await createWebhookEndpoint(deps(), scope, { url: receiver.url, events: ["*"] });
      await paymentEvent(database.db, scope, clock);
      assert.equal(await pass(), 1);
      const [attempt] = (await listWebhookAttempts(deps(), scope, endpoint.id, {}, { limit: 10 })).data;
      assert.equal(attempt?.status, "failed");
      assert.equal(attempt?.response_status, 307);
      assert.equal(attempt?.error, "redirect_not_followed");
      assert.equal(target.received.length, 0);
    } finally {
      await receiver.close();
      await target.close();
    }
  });
});
