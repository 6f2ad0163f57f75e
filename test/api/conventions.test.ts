/** API conventions: OpenAPI document, health and readiness, metrics, rate limits, customers. */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ERROR_CATALOGUE } from "../../src/platform/errors.ts";
import {
  call,
  createMerchant,
  createTestApp,
  FakeClock,
  type MerchantKeys,
  type TestApp,
} from "../support/app.ts";

let t: TestApp;
let m: MerchantKeys;

before(async () => {
  // A frozen clock: the rate limiter's buckets refill only when the test says so.
  t = await createTestApp({ clock: new FakeClock(), config: { rateLimitPerSecond: 5, rateLimitBurst: 10 } });
  m = await createMerchant(t.app);
});
after(() => t.close());

test("/openapi.json is an OpenAPI 3.1 document of the API with the error catalogue", async () => {
  const r = await call<{
    openapi: string;
    paths: Record<string, unknown>;
    components: { schemas: { Error: unknown } };
  }>(t.app, "GET", "/openapi.json");
  assert.equal(r.status, 200);
  assert.equal(r.body.openapi, "3.1.0");
  for (const path of [
    "/v1/payments",
    "/v1/payments/{id}/capture",
    "/v1/refunds",
    "/v1/customers",
    "/v1/ledger/trial_balance",
  ]) {
    assert.ok(path in r.body.paths, path);
  }
  const codes = JSON.stringify(r.body.components.schemas.Error);
  for (const code of Object.keys(ERROR_CATALOGUE)) assert.ok(codes.includes(code), code);
  const docs = await t.app.inject({ method: "GET", url: "/docs/" });
  assert.equal(docs.statusCode, 200);
  assert.match(docs.body, /<html/i);
});

test("/health and /ready report the process and the database", async () => {
  assert.equal((await call(t.app, "GET", "/health")).status, 200);
  const ready = await call<{ status: string; migrations: { pending: number[] } }>(t.app, "GET", "/ready");
  assert.equal(ready.status, 200);
  assert.equal(ready.body.status, "ready");
  assert.deepEqual(ready.body.migrations.pending, []);
});

test("/metrics serves Prometheus text with request counters", async () => {
  await call(t.app, "GET", "/v1/customers", { key: m.secretKey });
  const r = await t.app.inject({ method: "GET", url: "/metrics" });
  assert.equal(r.statusCode, 200);
  assert.match(
    r.body,
    /centime_http_requests_total\{method="GET",route="\/v1\/customers",status="200"\} \d+/,
  );
});

test("a key past its rate limit gets 429 with Retry-After, and other keys are not affected", async () => {
  const busy = await createMerchant(t.app, "Busy");
  const other = await createMerchant(t.app, "Other");
  const replies = [];
  for (let i = 0; i < 15; i++)
    replies.push(await call(t.app, "GET", "/v1/customers", { key: busy.secretKey }));
  const limited = replies.filter((r) => r.status === 429);
  assert.equal(limited.length, 5, "the burst of 10 passes, the next 5 wait");
  const first = limited[0]!;
  assert.equal((first.body as { error: { type: string; code: string } }).error.type, "rate_limit_error");
  assert.ok(Number(first.headers["retry-after"]) >= 1);
  assert.equal((await call(t.app, "GET", "/v1/customers", { key: other.secretKey })).status, 200);
  (t.clock as FakeClock).advance(1000);
  assert.equal(
    (await call(t.app, "GET", "/v1/customers", { key: busy.secretKey })).status,
    200,
    "refilled after a second",
  );
});

test("customers: created with validated fields, listed, found by external id", async () => {
  const other = await createMerchant(t.app, "Customers");
  const created = await call<{ id: string; object: string; msisdn: string; time_zone: string }>(
    t.app,
    "POST",
    "/v1/customers",
    {
      key: other.secretKey,
      body: {
        external_id: "player-42",
        msisdn: "+33612345678",
        country: "FR",
        time_zone: "Europe/Paris",
        locale: "fr-FR",
      },
    },
  );
  assert.equal(created.status, 201);
  assert.equal(created.body.object, "customer");
  assert.match(created.body.id, /^cus_/);
  const found = await call<{ data: Array<{ id: string }> }>(
    t.app,
    "GET",
    "/v1/customers?external_id=player-42",
    { key: other.secretKey },
  );
  assert.deepEqual(
    found.body.data.map((c) => c.id),
    [created.body.id],
  );
  // IANA aliases are time zones too: ICU's list of canonical names has Asia/Calcutta, not
  // Asia/Kolkata, and the check that read that list refused Indian customers.
  for (const zone of ["Asia/Kolkata", "Asia/Calcutta", "UTC", "America/Argentina/Buenos_Aires"]) {
    const accepted = await call<{ time_zone: string }>(t.app, "POST", "/v1/customers", {
      key: other.secretKey,
      body: { time_zone: zone },
    });
    assert.equal(accepted.status, 201, `${zone}: ${JSON.stringify(accepted.body)}`);
    assert.equal(accepted.body.time_zone, zone);
  }
  for (const [field, value] of [
    ["msisdn", "0612345678"],
    ["country", "ZZ"],
    ["time_zone", "Mars/Olympus"],
    ["email", "not-an-email"],
  ] as const) {
    const bad = await call<{ error: { param: string } }>(t.app, "POST", "/v1/customers", {
      key: other.secretKey,
      body: { [field]: value },
    });
    assert.equal(bad.status, 400, field);
    assert.equal(bad.body.error.param, field);
  }
});
