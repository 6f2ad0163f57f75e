/**
 * DATABASE_READ_URL: the lists that may lag (the wire log, events) read the replica; what must
 * read its own writes (a payment just created, a single event) reads the primary. The "replica"
 * here is a second database holding different rows, so where each read went is visible.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { buildApp } from "../../src/http/app.ts";
import { configFromEnv } from "../../src/platform/config.ts";
import { newId } from "../../src/platform/ids.ts";
import { createLogger } from "../../src/platform/log.ts";
import { createServices, type Services } from "../../src/services.ts";
import { ADMIN_KEY, call, createMerchant, type MerchantKeys, sandboxPayment } from "../support/app.ts";
import { openTestDatabase, type TestDatabase } from "../support/db.ts";

let primary: TestDatabase;
let replica: TestDatabase;
let services: Services;
let app: Awaited<ReturnType<typeof buildApp>>;
let m: MerchantKeys;

before(async () => {
  primary = await openTestDatabase();
  replica = await openTestDatabase();
  const config = { ...configFromEnv({}), adminKey: ADMIN_KEY, logLevel: "silent", rateLimitPerSecond: 0 };
  services = createServices({ config, db: primary.db, readDb: replica.db, logger: createLogger("silent") });
  app = await buildApp(services);
  m = await createMerchant(app);
});
after(async () => {
  await app.close();
  await services.committer.close();
  await primary.close();
  await replica.close();
});

test("the wire log and event lists read the replica; a payment just created reads the primary", async () => {
  const created = await call<{ id: string; status: string }>(app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: sandboxPayment("approve"),
  });
  assert.equal(created.status, 201);
  // Read your own write: on the primary, whatever the replica says.
  const read = await call<{ id: string }>(app, "GET", `/v1/payments/${created.body.id}`, {
    key: m.secretKey,
  });
  assert.equal(read.status, 200);

  // Rows only the replica has: the lists show them, so they were read there.
  const now = Date.now();
  const interactionId = newId("ix", now);
  await replica.db.query(
    "insert into provider_interactions select * from json_populate_recordset(null::provider_interactions, $1::json)",
    [
      JSON.stringify([
        {
          id: interactionId,
          merchant_id: m.merchantId,
          mode: "test",
          provider: "carrier",
          operation: "camara.charge",
          request: { on: "replica" },
          response: { ok: true },
          outcome: "succeeded",
          latency_ms: 5,
          created: new Date(now).toISOString(),
        },
      ]),
    ],
  );
  const eventId = newId("evt", now);
  await replica.db.query("insert into events select * from json_populate_recordset(null::events, $1::json)", [
    JSON.stringify([
      {
        id: eventId,
        merchant_id: m.merchantId,
        mode: "test",
        type: "payment.succeeded",
        object_id: "pay_replica",
        payment_id: null,
        data: { object: { id: "pay_replica" } },
        created: new Date(now).toISOString(),
      },
    ]),
  ]);
  const interactions = await call<{ data: Array<{ id: string; request: unknown }> }>(
    app,
    "GET",
    "/v1/provider_interactions",
    { key: m.secretKey },
  );
  assert.deepEqual(
    interactions.body.data.map((i) => [i.id, i.request]),
    [[interactionId, { on: "replica" }]],
  );
  const events = await call<{ data: Array<{ id: string }> }>(app, "GET", "/v1/events", { key: m.secretKey });
  assert.deepEqual(
    events.body.data.map((e) => e.id),
    [eventId],
    "the primary's payment events are not in the replica's list",
  );
  // A single event is read on the primary: the replica-only one is not found there.
  const single = await call(app, "GET", `/v1/events/${eventId}`, { key: m.secretKey });
  assert.equal(single.status, 404);
});
