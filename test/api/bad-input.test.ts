/**
 * Bad input: every malformed request answers a 4xx with a code from the catalogue and the field
 * in `param`, never a 500, and changes nothing.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import fc from "fast-check";
import { EVENT_TYPES } from "../../src/events/types.ts";
import { ERROR_CATALOGUE } from "../../src/platform/errors.ts";
import { call, createMerchant, createTestApp, type MerchantKeys, type TestApp } from "../support/app.ts";

let t: TestApp;
let m: MerchantKeys;

before(async () => {
  t = await createTestApp();
  m = await createMerchant(t.app);
});
after(() => t.close());

const good = { amount: 500, currency: "EUR", payment_method: { type: "sandbox", scenario: "approve" } };

async function counts() {
  const { rows } = await t.services.db.query<{ p: bigint; e: bigint; l: bigint; i: bigint }>(
    `select (select count(*) from payments) as p, (select count(*) from events) as e,
            (select count(*) from ledger_transfers) as l, (select count(*) from idempotency_keys) as i`,
  );
  return rows[0]!;
}

type ErrorReply = { error: { type: string; code: string; message: string; param?: string } };

const cases: Array<{
  name: string;
  body?: unknown;
  raw?: string;
  contentType?: string;
  code: string;
  param?: string;
  status?: number;
}> = [
  { name: "amount as a string", body: { ...good, amount: "500" }, code: "amount_invalid", param: "amount" },
  { name: "amount zero", body: { ...good, amount: 0 }, code: "amount_invalid", param: "amount" },
  { name: "negative amount", body: { ...good, amount: -1 }, code: "amount_invalid", param: "amount" },
  {
    name: "fractional amount (more minor digits than EUR has)",
    body: { ...good, amount: 1.5 },
    code: "amount_invalid",
    param: "amount",
  },
  {
    name: "fractional amount for JPY",
    body: { ...good, currency: "JPY", amount: 10.5 },
    code: "amount_invalid",
    param: "amount",
  },
  { name: "huge amount", body: { ...good, amount: 1e20 }, code: "amount_invalid", param: "amount" },
  {
    name: "amount past 2^53",
    raw: '{"amount":9007199254740993,"currency":"EUR","payment_method":{"type":"sandbox","scenario":"approve"}}',
    code: "amount_invalid",
    param: "amount",
  },
  { name: "amount null", body: { ...good, amount: null }, code: "amount_invalid", param: "amount" },
  {
    name: "missing amount",
    body: { currency: "EUR", payment_method: good.payment_method },
    code: "parameter_missing",
    param: "amount",
  },
  {
    name: "unknown currency",
    body: { ...good, currency: "ABC" },
    code: "currency_invalid",
    param: "currency",
  },
  {
    name: "lower-case currency",
    body: { ...good, currency: "eur" },
    code: "currency_invalid",
    param: "currency",
  },
  {
    name: "test-only currency code",
    body: { ...good, currency: "XTS" },
    code: "currency_invalid",
    param: "currency",
  },
  {
    name: "currency as a number",
    body: { ...good, currency: 978 },
    code: "currency_invalid",
    param: "currency",
  },
  {
    name: "unknown top-level field",
    body: { ...good, surprise: true },
    code: "parameter_unknown",
    param: "surprise",
  },
  {
    name: "unknown nested field",
    body: { ...good, payment_method: { ...good.payment_method, extra: 1 } },
    code: "parameter_unknown",
    param: "payment_method.extra",
  },
  {
    name: "unknown payment method type",
    body: { ...good, payment_method: { type: "bitcoin" } },
    code: "payment_method_invalid",
    param: "payment_method.type",
  },
  {
    name: "unknown sandbox scenario",
    body: { ...good, payment_method: { type: "sandbox", scenario: "win" } },
    code: "payment_method_invalid",
    param: "payment_method.scenario",
  },
  {
    name: "payment_method not an object",
    body: { ...good, payment_method: "sandbox" },
    code: "payment_method_invalid",
    param: "payment_method",
  },
  {
    name: "capture not in the list",
    body: { ...good, capture: "later" },
    code: "parameter_invalid",
    param: "capture",
  },
  {
    name: "description too long",
    body: { ...good, description: "x".repeat(1001) },
    code: "parameter_too_long",
    param: "description",
  },
  {
    name: "metadata value not a string",
    body: { ...good, metadata: { a: 1 } },
    code: "parameter_invalid_type",
    param: "metadata.a",
  },
  {
    name: "too many metadata keys",
    body: { ...good, metadata: Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`k${i}`, "v"])) },
    code: "parameter_out_of_range",
    param: "metadata",
  },
  {
    // LIMITS.metadata_key_length_max (40) was in the schema's key type, which a record's JSON
    // schema drops: keys of any length were stored.
    name: "metadata key longer than 40 characters",
    body: { ...good, metadata: { ["k".repeat(41)]: "v" } },
    code: "parameter_too_long",
    param: `metadata.${"k".repeat(41)}`,
  },
  { name: "body is an array", body: [good], code: "body_not_object" },
  { name: "body is a string", raw: '"hello"', code: "body_not_object" },
  { name: "malformed JSON", raw: '{"amount": 5,', code: "body_invalid_json" },
  {
    name: "oversized body",
    raw: JSON.stringify({ ...good, description: "x".repeat(70_000) }),
    code: "body_too_large",
    status: 413,
  },
  {
    name: "not JSON at all",
    raw: "amount=5",
    contentType: "application/x-www-form-urlencoded",
    code: "unsupported_media_type",
    status: 415,
  },
  {
    name: "unknown customer",
    body: { ...good, customer: "cus_00000000000000000000000000" },
    code: "resource_missing",
    param: "customer",
    status: 404,
  },
];

for (const c of cases) {
  test(`bad input: ${c.name}`, async () => {
    const before = await counts();
    const r = await call<ErrorReply>(t.app, "POST", "/v1/payments", {
      key: m.secretKey,
      ...(c.raw === undefined ? { body: c.body } : { rawBody: c.raw }),
      headers: {
        "idempotency-key": `bad-${c.name}`,
        ...(c.contentType ? { "content-type": c.contentType } : {}),
      },
    });
    assert.equal(r.status, c.status ?? 400, JSON.stringify(r.body));
    assert.equal(r.body.error.code, c.code);
    assert.equal(r.body.error.param, c.param);
    assert.equal(
      r.body.error.type,
      ERROR_CATALOGUE[
        c.body === undefined && c.raw === undefined
          ? "parameter_invalid"
          : (c.code as keyof typeof ERROR_CATALOGUE)
      ].type,
    );
    assert.ok(!JSON.stringify(r.body).includes("    at "), "no stack trace");
    assert.deepEqual(await counts(), before, "nothing changed");
  });
}

test("bad list parameters answer 400 naming the parameter", async () => {
  for (const [query, param] of [
    ["limit=0", "limit"],
    ["limit=101", "limit"],
    ["limit=abc", "limit"],
    ["status=paid", "status"],
    ["colour=red", "colour"],
  ] as const) {
    const r = await call<ErrorReply>(t.app, "GET", `/v1/payments?${query}`, { key: m.secretKey });
    assert.equal(r.status, 400, query);
    assert.equal(r.body.error.param, param, query);
  }
});

test("a filter naming an object by id refuses what cannot be that object's id (it answered an empty list)", async () => {
  const unknownCustomer = `cus_${"0".repeat(26)}`;
  const aPayment = `pay_${"0".repeat(26)}`;
  for (const [path, param, prefix] of [
    ["/v1/payments", "customer", "cus"],
    ["/v1/payments", "subscription", "sub"],
    ["/v1/refunds", "payment", "pay"],
    ["/v1/subscriptions", "customer", "cus"],
    ["/v1/subscriptions", "price", "price"],
    ["/v1/subscriptions", "test_clock", "clock"],
    ["/v1/prices", "product", "prod"],
    ["/v1/ledger/entries", "account", "la"],
    ["/v1/risk_decisions", "payment", "pay"],
    ["/v1/refund_requests", "payment", "pay"],
    ["/v1/checkout_sessions", "payment_link", "plink"],
    ["/v1/checkout_receipts", "checkout_session", "cs"],
    ["/v1/provider_interactions", "payment", "pay"],
    ["/v1/commissions", "affiliate", "cus"],
  ] as const) {
    for (const value of ["bogus", prefix === "pay" ? unknownCustomer : aPayment, `${prefix}_x`]) {
      const r = await call<ErrorReply>(t.app, "GET", `${path}?${param}=${value}`, { key: m.secretKey });
      assert.equal(r.status, 400, `${path}?${param}=${value}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.code, "parameter_invalid");
      assert.equal(r.body.error.param, param);
      assert.match(r.body.error.message, new RegExp(`must be an id: ${prefix}_ and 26`));
    }
    // A well-formed id of nothing this merchant has is still an empty list, not an error.
    const wellFormed = `${prefix}_${"0".repeat(26)}`;
    const ok = await call<{ data: unknown[] }>(t.app, "GET", `${path}?${param}=${wellFormed}`, {
      key: m.secretKey,
    });
    assert.equal(ok.status, 200, `${path}?${param}=${wellFormed}: ${JSON.stringify(ok.body)}`);
    assert.deepEqual(ok.body.data, []);
  }
});

test("a known URL with a method it does not take answers 405 with Allow; an unknown URL 404", async () => {
  const r = await call<ErrorReply>(t.app, "DELETE", "/v1/payments", { key: m.secretKey });
  assert.equal(r.status, 405);
  assert.equal(r.body.error.code, "method_not_allowed");
  assert.equal(r.headers.allow, "GET, HEAD, POST");
  assert.match(r.body.error.message, /DELETE is not allowed on \/v1\/payments; it takes GET, HEAD, POST/);
  const one = await call<ErrorReply>(t.app, "POST", `/v1/payments/pay_${"0".repeat(26)}`, {
    key: m.secretKey,
  });
  assert.equal(one.status, 405);
  assert.equal(one.headers.allow, "GET, HEAD");
  const missing = await call<ErrorReply>(t.app, "DELETE", "/v1/paymentz", { key: m.secretKey });
  assert.equal(missing.status, 404);
  assert.equal(missing.body.error.code, "route_not_found");
});

test("authentication errors name what is wrong", async () => {
  const none = await call<ErrorReply>(t.app, "GET", "/v1/payments");
  assert.equal(none.status, 401);
  assert.equal(none.body.error.code, "api_key_missing");
  const flipped = `${m.secretKey.slice(0, -1)}${m.secretKey.endsWith("A") ? "B" : "A"}`;
  const bad = await call<ErrorReply>(t.app, "GET", "/v1/payments", { key: flipped });
  assert.equal(bad.status, 401);
  assert.equal(bad.body.error.code, "api_key_invalid");
  assert.equal(bad.body.error.type, "authentication_error");
});

test("unknown routes answer 404 in the error format", async () => {
  const r = await call<ErrorReply>(t.app, "GET", "/v1/nothing-here", { key: m.secretKey });
  assert.equal(r.status, 404);
  assert.equal(r.body.error.code, "route_not_found");
});

test("property: random JSON bodies never cause a 500 or a write", async () => {
  const before = await counts();
  await fc.assert(
    fc.asyncProperty(fc.jsonValue(), async (value) => {
      const r = await call<ErrorReply>(t.app, "POST", "/v1/payments", { key: m.secretKey, body: value });
      assert.ok(r.status >= 400 && r.status < 500, `status ${r.status} for ${JSON.stringify(value)}`);
      assert.ok(r.body.error.code in ERROR_CATALOGUE);
    }),
    { numRuns: 200 },
  );
  assert.deepEqual(await counts(), before);
});

test("property: random mutations of a good body are either accepted as a payment or refused with a param", async () => {
  const fields = fc.record(
    {
      amount: fc.oneof(fc.integer(), fc.double(), fc.string(), fc.constant(null), fc.bigInt().map(String)),
      currency: fc.oneof(fc.constantFrom("EUR", "JPY", "KWD", "eur", "ZZZ", ""), fc.string()),
      extra: fc.string(),
    },
    { requiredKeys: [] },
  );
  await fc.assert(
    fc.asyncProperty(fields, async (patch) => {
      const body = { ...good, ...patch };
      const r = await call<ErrorReply & { status?: string }>(t.app, "POST", "/v1/payments", {
        key: m.secretKey,
        body,
      });
      if (r.status === 201) {
        assert.ok(Number.isInteger(body.amount) && (body.amount as number) > 0);
        return;
      }
      assert.ok(r.status >= 400 && r.status < 500);
      assert.ok(r.body.error.param, `a param for ${JSON.stringify(patch)}`);
    }),
    { numRuns: 150 },
  );
});

test("a webhook endpoint's unknown event type is refused with 400 naming the entry; the document lists the types", async () => {
  const r = await call<{ error: { code: string; param: string } }>(t.app, "POST", "/v1/webhook_endpoints", {
    key: m.secretKey,
    body: { url: "https://hooks.example.com/x", events: ["payment.succeeded", "payment.succeded"] },
  });
  assert.equal(r.status, 400);
  assert.equal(r.body.error.param, "events[1]");
  const ok = await call(t.app, "POST", "/v1/webhook_endpoints", {
    key: m.secretKey,
    body: { url: "https://hooks.example.com/y", events: ["*", "refund.created"] },
  });
  assert.equal(ok.status, 201);
  const document = (await call(t.app, "GET", "/openapi.json")).body as {
    paths: Record<string, { post?: { requestBody?: { content: Record<string, { schema: unknown }> } } }>;
  };
  const schema =
    document.paths["/v1/webhook_endpoints"]!.post!.requestBody!.content["application/json"]!.schema;
  assert.deepEqual(
    (schema as { properties: { events: { items: { enum: string[] } } } }).properties.events.items.enum,
    ["*", ...EVENT_TYPES],
  );
});
