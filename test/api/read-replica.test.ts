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
import { signedIn } from "../backoffice/admin-session.ts";
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

test("analytics reports read the replica; exchange rates stay on the primary", async () => {
  const bucket = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3_600_000);
  // A rollup only the replica has: the report shows it, so it was read there.
  await replica.db.query(
    `insert into analytics_rollups (grain, bucket, merchant_id, mode, metric, currency, count, amount)
     values ('hour', $1, $2, 'test', 'succeeded', 'EUR', 7, 4900)`,
    [bucket.toISOString(), m.merchantId],
  );
  const report = await call<{
    series: Array<{ key: Record<string, string>; points: Array<{ count: number }> }>;
  }>(
    app,
    "GET",
    `/v1/analytics/payments?from=${encodeURIComponent(new Date(bucket.getTime() - 3_600_000).toISOString())}`,
    { key: m.secretKey },
  );
  assert.equal(report.status, 200, JSON.stringify(report.body));
  const succeeded = report.body.series.find((s) => s.key.currency === "EUR");
  assert.deepEqual(
    succeeded?.points.map((p) => p.count),
    [7],
  );

  // A rate set is read back at once (the primary), whatever the replica holds.
  const set = await call(app, "POST", "/v1/analytics/exchange_rates", {
    key: ADMIN_KEY,
    body: { from_currency: "GBP", to_currency: "EUR", day: "2026-01-01", rate: "1.17" },
  });
  assert.equal(set.status, 200, JSON.stringify(set.body));
  const rates = await call<{ data: Array<{ from_currency: string }> }>(
    app,
    "GET",
    "/v1/analytics/exchange_rates?to_currency=EUR",
    { key: ADMIN_KEY },
  );
  assert.deepEqual(
    rates.body.data.map((r) => r.from_currency),
    ["GBP"],
  );
});

test("back-office search reads the replica; a payment's own page reads the primary", async () => {
  const created = await call<{ id: string }>(app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: sandboxPayment("approve"),
  });
  assert.equal(created.status, 201);
  // The replica holds a copy of the payment under another id (a row the primary never had).
  const replicaOnlyId = newId("pay");
  const { rows } = await primary.db.query<{ row: Record<string, unknown> }>(
    "select row_to_json(p) as row from payments p where id = $1",
    [created.body.id],
  );
  await replica.db.query(
    "insert into payments select * from json_populate_recordset(null::payments, $1::json)",
    [JSON.stringify([{ ...rows[0]!.row, id: replicaOnlyId }])],
  );

  // Signed in as a browser would (the back-office tests' session: password, TOTP, CSRF, cookies).
  const { session } = await signedIn(app, {
    email: "support@replica.example",
    role: "support",
    merchant: m.merchantId,
  });
  const found = await session.get(`/admin/payments?q=${replicaOnlyId}`);
  assert.equal(found.status, 200);
  assert.ok(found.body.includes(replicaOnlyId), "the search lists the replica's row");
  const primaryPayment = await session.get(`/admin/payments?q=${created.body.id}`);
  assert.ok(
    !primaryPayment.body.includes(`/admin/payments/${created.body.id}`),
    "the primary's row is not searched",
  );
  // The payment's own page reads the primary.
  const page = await session.get(`/admin/payments/${created.body.id}`);
  assert.equal(page.status, 200);
});
