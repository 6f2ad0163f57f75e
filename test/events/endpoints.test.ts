/**
 * Goal: the webhook endpoint and event services: create (secret shown once), get, list with
 * cursors, update, disable, delete; scoping by merchant and mode; the outbox fan-out queues a
 * delivery per matching enabled endpoint in the writing transaction; the events list and its
 * filters; redelivery; retention.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  createWebhookEndpoint,
  deleteWebhookEndpoint,
  getWebhookEndpoint,
  listWebhookEndpoints,
  updateWebhookEndpoint,
} from "../../src/events/endpoints.ts";
import { getEvent, listEvents, redeliverEvent } from "../../src/events/events.ts";
import { WEBHOOK_LIMITS } from "../../src/events/limits.ts";
import { pruneEventsData } from "../../src/events/retention.ts";
import { parseAllowedHosts } from "../../src/events/ssrf.ts";
import { EVENT_TYPES } from "../../src/events/types.ts";
import { FakeClock } from "../../src/platform/clock.ts";
import { ApiError } from "../../src/platform/errors.ts";
import { isWellFormedId } from "../../src/platform/ids.ts";
import { openTestDatabase, type TestDatabase } from "../support/db.ts";
import { newScope, paymentEvent } from "./support.ts";

const URL = "https://hooks.example.com/centime";

function rejectsWith(code: string, param?: string) {
  return (error: unknown) =>
    error instanceof ApiError && error.code === code && (param === undefined || error.param === param);
}

describe("webhook endpoints and events", () => {
  let database: TestDatabase;
  const clock = new FakeClock();
  before(async () => {
    database = await openTestDatabase();
  });
  after(async () => {
    await database.close();
  });
  const deps = () => ({ db: database.db, clock, allowedHosts: parseAllowedHosts("") });

  async function deliveriesFor(endpointId: string) {
    const { rows } = await database.db.query<{ event_id: string; status: string; manual: boolean }>(
      "select event_id, status, manual from webhook_deliveries where endpoint_id = $1 order by id",
      [endpointId],
    );
    return rows;
  }

  test("create shows the secret once; get and list never do", async () => {
    const scope = newScope();
    const created = await createWebhookEndpoint(deps(), scope, {
      url: URL,
      events: ["payment.succeeded", "refund.created", "payment.succeeded"],
      description: "orders",
    });
    assert.ok(isWellFormedId(created.id, "we"));
    assert.equal(created.object, "webhook_endpoint");
    assert.equal(created.created, new Date(clock.nowMs()).toISOString());
    assert.deepEqual(created.events, ["payment.succeeded", "refund.created"]);
    assert.equal(created.enabled, true);
    assert.match(created.secret, /^whsec_/);
    const fetched = await getWebhookEndpoint(deps(), scope, created.id);
    assert.equal("secret" in fetched, false);
    assert.equal(JSON.stringify(fetched).includes(created.secret.slice(6)), false);
    const { secret: _secret, ...withoutSecret } = created;
    assert.deepEqual(fetched, withoutSecret);
    const listed = await listWebhookEndpoints(deps(), scope, {});
    assert.equal(JSON.stringify(listed).includes(created.secret.slice(6)), false);
  });

  test("bad input gets named errors", async () => {
    const scope = newScope();
    await assert.rejects(
      createWebhookEndpoint(deps(), scope, { url: URL, events: [] }),
      rejectsWith("parameter_missing", "events"),
    );
    await assert.rejects(
      createWebhookEndpoint(deps(), scope, { url: URL, events: ["payment.succeeded", "Payment Succeeded"] }),
      rejectsWith("parameter_invalid", "events[1]"),
    );
    // A misspelt or invented type would receive nothing, for ever: refused, naming the entry.
    for (const typo of ["payment.succeded", "payment.nope", "voucher.redeemed"]) {
      await assert.rejects(
        createWebhookEndpoint(deps(), scope, { url: URL, events: ["refund.created", typo] }),
        rejectsWith("parameter_invalid", "events[1]"),
      );
    }
    await assert.rejects(
      updateWebhookEndpoint(
        deps(),
        scope,
        (await createWebhookEndpoint(deps(), scope, { url: URL, events: ["*"] })).id,
        {
          events: ["payment.nope"],
        },
      ),
      rejectsWith("parameter_invalid", "events[0]"),
    );
    // Every type Centime writes can be subscribed to, all on one endpoint.
    const every = await createWebhookEndpoint(deps(), scope, { url: URL, events: [...EVENT_TYPES] });
    assert.deepEqual(every.events, [...EVENT_TYPES]);
    await assert.rejects(
      createWebhookEndpoint(deps(), newScope("live"), { url: "http://hooks.example.com/", events: ["*"] }),
      rejectsWith("parameter_invalid", "url"),
    );
    await assert.rejects(getWebhookEndpoint(deps(), scope, "we_missing"), rejectsWith("resource_missing"));
    await assert.rejects(
      listWebhookEndpoints(deps(), scope, { limit: 101 }),
      rejectsWith("parameter_out_of_range", "limit"),
    );
  });

  test("a merchant has at most a limited number of endpoints per mode", async () => {
    const scope = newScope();
    for (let i = 0; i < WEBHOOK_LIMITS.endpoints_per_merchant_max; i++) {
      await createWebhookEndpoint(deps(), scope, { url: URL, events: ["*"] });
    }
    await assert.rejects(
      createWebhookEndpoint(deps(), scope, { url: URL, events: ["*"] }),
      rejectsWith("parameter_out_of_range"),
    );
    // The other mode has its own allowance.
    await createWebhookEndpoint(deps(), { ...scope, mode: "live" }, { url: URL, events: ["*"] });
  });

  test("lists are newest first with cursors both ways", async () => {
    const scope = newScope();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      clock.advance(1000);
      ids.push((await createWebhookEndpoint(deps(), scope, { url: URL, events: ["*"] })).id);
    }
    const newestFirst = [...ids].reverse();
    const first = await listWebhookEndpoints(deps(), scope, { limit: 2 });
    assert.equal(first.object, "list");
    assert.deepEqual(
      first.data.map((e) => e.id),
      newestFirst.slice(0, 2),
    );
    assert.equal(first.has_more, true);
    const second = await listWebhookEndpoints(deps(), scope, { limit: 2, starting_after: first.data[1]!.id });
    assert.deepEqual(
      second.data.map((e) => e.id),
      newestFirst.slice(2, 4),
    );
    const last = await listWebhookEndpoints(deps(), scope, { limit: 2, starting_after: second.data[1]!.id });
    assert.deepEqual(
      last.data.map((e) => e.id),
      newestFirst.slice(4),
    );
    assert.equal(last.has_more, false);
    const back = await listWebhookEndpoints(deps(), scope, { limit: 2, ending_before: second.data[0]!.id });
    assert.deepEqual(
      back.data.map((e) => e.id),
      newestFirst.slice(0, 2),
    );
    // Another merchant, or the other mode, sees none of them.
    assert.equal((await listWebhookEndpoints(deps(), newScope(), {})).data.length, 0);
    assert.equal((await listWebhookEndpoints(deps(), { ...scope, mode: "live" }, {})).data.length, 0);
    await assert.rejects(
      getWebhookEndpoint(deps(), { ...scope, mode: "live" }, ids[0]!),
      rejectsWith("resource_missing"),
    );
  });

  test("fan-out queues one delivery per enabled endpoint whose filter matches", async () => {
    const scope = newScope();
    const all = await createWebhookEndpoint(deps(), scope, { url: URL, events: ["*"] });
    const refunds = await createWebhookEndpoint(deps(), scope, { url: URL, events: ["refund.created"] });
    const payments = await createWebhookEndpoint(deps(), scope, { url: URL, events: ["payment.succeeded"] });
    const disabled = await createWebhookEndpoint(deps(), scope, { url: URL, events: ["*"], enabled: false });
    const otherMode = await createWebhookEndpoint(
      deps(),
      { ...scope, mode: "live" },
      { url: URL, events: ["*"] },
    );
    const paid = await paymentEvent(database.db, scope, clock, { type: "payment.succeeded" });
    const refunded = await paymentEvent(database.db, scope, clock, { type: "refund.created" });
    assert.deepEqual(
      (await deliveriesFor(all.id)).map((d) => d.event_id),
      [paid, refunded],
    );
    assert.deepEqual(
      (await deliveriesFor(refunds.id)).map((d) => d.event_id),
      [refunded],
    );
    assert.deepEqual(
      (await deliveriesFor(payments.id)).map((d) => d.event_id),
      [paid],
    );
    assert.deepEqual(await deliveriesFor(disabled.id), []);
    assert.deepEqual(await deliveriesFor(otherMode.id), []);
  });

  test("an event that rolls back queues nothing; one without endpoints costs no delivery row", async () => {
    const scope = newScope();
    const endpoint = await createWebhookEndpoint(deps(), scope, { url: URL, events: ["*"] });
    await assert.rejects(
      database.db.transaction(async (tx) => {
        await tx.query(
          "insert into events (id, merchant_id, mode, type, object_id, data, created) values ('evt_rollback', $1, $2, 'payment.created', 'pay_x', '{}', now())",
          [scope.merchantId, scope.mode],
        );
        throw new Error("the payment failed to commit");
      }),
    );
    assert.deepEqual(await deliveriesFor(endpoint.id), []);
    const before = await database.db.query<{ n: bigint }>("select count(*) as n from webhook_deliveries");
    await paymentEvent(database.db, newScope(), clock);
    const afterInsert = await database.db.query<{ n: bigint }>(
      "select count(*) as n from webhook_deliveries",
    );
    assert.equal(afterInsert.rows[0]!.n, before.rows[0]!.n);
  });

  test("transactions that commit out of id order both reach the queue", async () => {
    const scope = newScope();
    const endpoint = await createWebhookEndpoint(deps(), scope, { url: URL, events: ["*"] });
    const insert = (id: string) =>
      `insert into events (id, merchant_id, mode, type, object_id, data, created) values ('${id}', $1, $2, 'payment.created', '${id}_pay', '{}', now())`;
    const smaller = "evt_00000000000000000000000001";
    const larger = "evt_00000000000000000000000002";
    if (database.db.kind === "postgres") {
      // Truly interleaved: the smaller id is written first but commits after the larger one.
      let release: () => void = () => {};
      const mayCommit = new Promise<void>((resolve) => {
        release = resolve;
      });
      let inserted: () => void = () => {};
      const hasInserted = new Promise<void>((resolve) => {
        inserted = resolve;
      });
      const pending = database.db.transaction(async (tx) => {
        await tx.query(insert(smaller), [scope.merchantId, scope.mode]);
        inserted();
        await mayCommit;
      });
      await hasInserted;
      await database.db.transaction((tx) => tx.query(insert(larger), [scope.merchantId, scope.mode]));
      assert.deepEqual(
        (await deliveriesFor(endpoint.id)).map((d) => d.event_id),
        [larger],
      );
      release();
      await pending;
    } else {
      // The embedded engine has one connection, so transactions cannot interleave; commit the larger
      // id first, which is what a relay reading events by id cursor would miss.
      await database.db.transaction((tx) => tx.query(insert(larger), [scope.merchantId, scope.mode]));
      await database.db.transaction((tx) => tx.query(insert(smaller), [scope.merchantId, scope.mode]));
    }
    assert.deepEqual((await deliveriesFor(endpoint.id)).map((d) => d.event_id).sort(), [smaller, larger]);
  });

  test("events written by one multi-table statement (the core's group commit) are fanned out", async () => {
    const scope = newScope();
    const endpoint = await createWebhookEndpoint(deps(), scope, { url: URL, events: ["*"] });
    const created = new Date(clock.nowMs()).toISOString();
    const events = ["evt_00000000000000000000000010", "evt_00000000000000000000000011"].map((id) => ({
      id,
      merchant_id: scope.merchantId,
      mode: scope.mode,
      type: "payment.created",
      object_id: `pay_${id.slice(-2)}`,
      payment_id: null,
      data: { object: { id: `pay_${id.slice(-2)}` } },
      created,
    }));
    await database.db.query(
      `with events_rows as (insert into events select * from json_populate_recordset(null::events, $1::json)),
            interactions as (insert into provider_interactions select * from json_populate_recordset(null::provider_interactions, $2::json))
       select 1`,
      [
        JSON.stringify(events),
        JSON.stringify([
          {
            id: "ix_cte",
            merchant_id: scope.merchantId,
            mode: scope.mode,
            provider: "sandbox",
            operation: "charge",
            request: {},
            outcome: "success",
            latency_ms: 1,
            created,
          },
        ]),
      ],
    );
    assert.deepEqual(
      (await deliveriesFor(endpoint.id)).map((d) => d.event_id),
      events.map((e) => e.id),
    );
  });

  test("update changes url, events and description; disabling cancels what is queued", async () => {
    const scope = newScope();
    const endpoint = await createWebhookEndpoint(deps(), scope, {
      url: URL,
      events: ["*"],
      description: "a",
    });
    const updated = await updateWebhookEndpoint(deps(), scope, endpoint.id, {
      url: "https://other.example.com/hooks",
      events: ["refund.succeeded"],
      description: null,
    });
    assert.equal(updated.url, "https://other.example.com/hooks");
    assert.deepEqual(updated.events, ["refund.succeeded"]);
    assert.equal(updated.description, null);
    await paymentEvent(database.db, scope, clock, { type: "refund.succeeded" });
    assert.equal((await deliveriesFor(endpoint.id))[0]?.status, "pending");
    const disabled = await updateWebhookEndpoint(deps(), scope, endpoint.id, { enabled: false });
    assert.equal(disabled.enabled, false);
    assert.equal(disabled.disabled_reason, null);
    assert.equal((await deliveriesFor(endpoint.id))[0]?.status, "canceled");
    const enabled = await updateWebhookEndpoint(deps(), scope, endpoint.id, { enabled: true });
    assert.equal(enabled.enabled, true);
    await assert.rejects(
      updateWebhookEndpoint(deps(), scope, endpoint.id, { url: "http://10.0.0.1/" }),
      rejectsWith("parameter_invalid", "url"),
    );
  });

  test("delete removes the endpoint and its queue", async () => {
    const scope = newScope();
    const endpoint = await createWebhookEndpoint(deps(), scope, { url: URL, events: ["*"] });
    await paymentEvent(database.db, scope, clock);
    assert.deepEqual(await deleteWebhookEndpoint(deps(), scope, endpoint.id), {
      id: endpoint.id,
      object: "webhook_endpoint",
      deleted: true,
    });
    assert.deepEqual(await deliveriesFor(endpoint.id), []);
    await assert.rejects(deleteWebhookEndpoint(deps(), scope, endpoint.id), rejectsWith("resource_missing"));
  });

  test("events: get, list newest first, filter by type, object and created range", async () => {
    const scope = newScope();
    const start = clock.nowMs();
    const a = await paymentEvent(database.db, scope, clock, { type: "payment.created", paymentId: "pay_a" });
    clock.advance(60_000);
    const b = await paymentEvent(database.db, scope, clock, {
      type: "payment.succeeded",
      paymentId: "pay_a",
    });
    clock.advance(60_000);
    const c = await paymentEvent(database.db, scope, clock, {
      type: "payment.succeeded",
      paymentId: "pay_c",
    });
    const event = await getEvent(deps(), scope, b);
    assert.equal(event.object, "event");
    assert.equal(event.type, "payment.succeeded");
    assert.equal(event.created, new Date(start + 60_000).toISOString());
    assert.deepEqual((event.data as { object: { id: string } }).object.id, "pay_a");
    const ids = async (filters: Parameters<typeof listEvents>[2]) =>
      (await listEvents(deps(), scope, filters, {})).data.map((e) => e.id);
    assert.deepEqual(await ids({}), [c, b, a]);
    assert.deepEqual(await ids({ type: "payment.succeeded" }), [c, b]);
    assert.deepEqual(await ids({ objectId: "pay_a" }), [b, a]);
    assert.deepEqual(await ids({ createdGte: start + 60_000 }), [c, b]);
    assert.deepEqual(await ids({ createdGt: start + 60_000 }), [c]);
    assert.deepEqual(await ids({ createdLte: start + 60_000 }), [b, a]);
    assert.deepEqual(await ids({ createdLt: start + 60_000, createdGte: start }), [a]);
    await assert.rejects(getEvent(deps(), newScope(), a), rejectsWith("resource_missing"));
    await assert.rejects(getEvent(deps(), { ...scope, mode: "live" }, a), rejectsWith("resource_missing"));
  });

  test("redeliver queues the event again, by hand, for matching endpoints or one named endpoint", async () => {
    const scope = newScope();
    const one = await createWebhookEndpoint(deps(), scope, { url: URL, events: ["*"] });
    const two = await createWebhookEndpoint(deps(), scope, { url: URL, events: ["payment.succeeded"] });
    const other = await createWebhookEndpoint(deps(), scope, { url: URL, events: ["refund.created"] });
    const eventId = await paymentEvent(database.db, scope, clock);
    const all = await redeliverEvent(deps(), scope, eventId);
    assert.equal(all.object, "event_redelivery");
    assert.deepEqual([...all.webhook_endpoints].sort(), [one.id, two.id].sort());
    const named = await redeliverEvent(deps(), scope, eventId, { endpointId: one.id });
    assert.deepEqual(named.webhook_endpoints, [one.id]);
    assert.deepEqual(
      (await deliveriesFor(one.id)).map((d) => d.manual),
      [false, true, true],
    );
    assert.deepEqual(await deliveriesFor(other.id), []);
    await updateWebhookEndpoint(deps(), scope, two.id, { enabled: false });
    await assert.rejects(
      redeliverEvent(deps(), scope, eventId, { endpointId: two.id }),
      rejectsWith("parameter_invalid", "endpoint"),
    );
    await assert.rejects(redeliverEvent(deps(), scope, "evt_missing"), rejectsWith("resource_missing"));
    await assert.rejects(redeliverEvent(deps(), newScope(), eventId), rejectsWith("resource_missing"));
  });

  test("retention keeps 30 days of events and deliveries, then prunes them", async () => {
    const scope = newScope();
    const endpoint = await createWebhookEndpoint(deps(), scope, { url: URL, events: ["*"] });
    const old = await paymentEvent(database.db, scope, clock);
    clock.advance(WEBHOOK_LIMITS.retention_ms - 1000);
    const recent = await paymentEvent(database.db, scope, clock);
    await pruneEventsData(database.db, clock.nowMs());
    assert.equal((await getEvent(deps(), scope, old)).id, old);
    clock.advance(2000);
    assert.ok((await pruneEventsData(database.db, clock.nowMs())) >= 2);
    await assert.rejects(getEvent(deps(), scope, old), rejectsWith("resource_missing"));
    assert.equal((await getEvent(deps(), scope, recent)).id, recent);
    assert.deepEqual(
      (await deliveriesFor(endpoint.id)).map((d) => d.event_id),
      [recent],
    );
  });
});
