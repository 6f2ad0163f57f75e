/**
 * Goal: what a schema fuzzer found (issue 9, section 5) answers a 4xx with the error envelope
 * and changes nothing: U+0000 and lone surrogates anywhere, metadata keys named like JavaScript
 * object members, dates out of range, framework errors, text/plain bodies, key guessing; and
 * sums past 2^53 read back exactly.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { call, createMerchant, createTestApp, type MerchantKeys, type TestApp } from "../support/app.ts";

let t: TestApp;
let m: MerchantKeys;

before(async () => {
  t = await createTestApp();
  m = await createMerchant(t.app);
});
after(() => t.close());

type ErrorReply = {
  error: { type: string; code: string; message: string; param?: string; request_id: string };
};

async function rowCounts() {
  const { rows } = await t.services.db.query<{ c: bigint; p: bigint; pr: bigint; k: bigint; tc: bigint }>(
    `select (select count(*) from customers) as c, (select count(*) from payments) as p,
            (select count(*) from products) as pr, (select count(*) from idempotency_keys) as k,
            (select count(*) from test_clocks) as tc`,
  );
  return rows[0]!;
}

/** A 4xx with the envelope, the Request-Id header and the same id in the body. */
function assertEnvelope(
  reply: { status: number; body: unknown; headers: Record<string, unknown> },
  status: number,
) {
  assert.equal(reply.status, status, JSON.stringify(reply.body));
  const body = reply.body as ErrorReply;
  assert.equal(typeof body.error.code, "string");
  assert.equal(typeof body.error.type, "string");
  assert.equal(typeof body.error.message, "string");
  assert.match(String(reply.headers["request-id"]), /^req_[A-Za-z0-9_-]{16}$/);
  assert.equal(body.error.request_id, reply.headers["request-id"]);
  return body.error;
}

describe("U+0000 and lone surrogates are refused at the edge, once, for every string", () => {
  const cases: Array<{
    name: string;
    method: "GET" | "POST";
    url: string;
    body?: unknown;
    raw?: string;
    param: string;
  }> = [
    { name: "path", method: "GET", url: "/v1/events/%00", param: "id" },
    { name: "path, inside an id", method: "GET", url: "/v1/customers/cus_a%00b", param: "id" },
    { name: "query value", method: "GET", url: "/v1/customers?external_id=a%00b", param: "external_id" },
    {
      name: "body string",
      method: "POST",
      url: "/v1/customers",
      raw: '{"external_id": "a\\u0000b"}',
      param: "external_id",
    },
    {
      name: "body, lone high surrogate",
      method: "POST",
      url: "/v1/products",
      raw: '{"name": "a\\ud800b"}',
      param: "name",
    },
    {
      name: "body, lone low surrogate",
      method: "POST",
      url: "/v1/products",
      raw: '{"name": "a\\udc00"}',
      param: "name",
    },
    {
      name: "metadata value",
      method: "POST",
      url: "/v1/customers",
      raw: '{"metadata": {"note": "x\\ud83d"}}',
      param: "metadata.note",
    },
    {
      name: "metadata key",
      method: "POST",
      url: "/v1/customers",
      raw: '{"metadata": {"a\\u0000": "x"}}',
      param: "metadata.a\u0000",
    },
    {
      name: "nested in a payment method",
      method: "POST",
      url: "/v1/payments",
      raw: '{"amount": 100, "currency": "EUR", "payment_method": {"type": "sandbox", "scenario": "appr\\u0000ove"}}',
      param: "payment_method.scenario",
    },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const before = await rowCounts();
      const reply = await call<ErrorReply>(t.app, c.method, c.url, {
        key: m.secretKey,
        ...(c.raw === undefined ? {} : { rawBody: c.raw }),
        headers: { "idempotency-key": `hostile-${c.name}` },
      });
      const error = assertEnvelope(reply, 400);
      assert.equal(error.code, "parameter_invalid");
      assert.equal(error.param, c.param);
      assert.deepEqual(await rowCounts(), before);
    });
  }

  test("a pair of surrogates (an emoji) is text and is kept", async () => {
    const reply = await call<{ name: string }>(t.app, "POST", "/v1/products", {
      key: m.secretKey,
      rawBody: '{"name": "Gems \\ud83d\\udc8e"}',
    });
    assert.equal(reply.status, 201);
    assert.equal(reply.body.name, "Gems 💎");
  });
});

describe("metadata keys named like JavaScript object members", () => {
  for (const key of ["constructor", "toString", "hasOwnProperty", "valueOf"]) {
    test(`${key} with a value that is not a string: 400 naming the field`, async () => {
      const reply = await call<ErrorReply>(t.app, "POST", "/v1/customers", {
        key: m.secretKey,
        body: { metadata: { [key]: 1 } },
      });
      const error = assertEnvelope(reply, 400);
      assert.equal(error.code, "parameter_invalid_type");
      assert.equal(error.param, `metadata.${key}`);
    });
    test(`${key} with a string value is an ordinary key`, async () => {
      const created = await call<{ id: string; metadata: Record<string, string> }>(
        t.app,
        "POST",
        "/v1/customers",
        {
          key: m.secretKey,
          body: { metadata: { [key]: "x" } },
        },
      );
      assert.equal(created.status, 201);
      const read = await call<{ metadata: Record<string, string> }>(
        t.app,
        "GET",
        `/v1/customers/${created.body.id}`,
        {
          key: m.secretKey,
        },
      );
      assert.equal(Object.getOwnPropertyDescriptor(read.body.metadata, key)?.value, "x");
    });
  }

  test("__proto__ is refused wherever it is a key, and changes nothing", async () => {
    for (const raw of ['{"metadata": {"__proto__": "x"}}', '{"__proto__": {"email": "a@b.co"}}']) {
      const before = await rowCounts();
      const reply = await call<ErrorReply>(t.app, "POST", "/v1/customers", {
        key: m.secretKey,
        rawBody: raw,
      });
      const error = assertEnvelope(reply, 400);
      assert.equal(error.code, "parameter_invalid");
      assert.match(error.param ?? "", /__proto__$/);
      assert.deepEqual(await rowCounts(), before);
    }
  });

  test("a body nested past the limit is a 400 naming where, on keyless routes too; never a stack overflow", async () => {
    // 10,000 levels fit in 20 KB, well under the body limit; they overflowed the edge's check (500).
    const deep = (levels: number) => `${"[".repeat(levels)}${"]".repeat(levels)}`;
    for (const [url, key, raw] of [
      ["/v1/payers", undefined, `{"email": "deep@example.com", "password": ${deep(10_000)}}`],
      ["/v1/customers", m.secretKey, `{"metadata": {"a": ${deep(33)}}}`],
    ] as const) {
      const before = await rowCounts();
      const reply = await call<ErrorReply>(t.app, "POST", url, { ...(key ? { key } : {}), rawBody: raw });
      const error = assertEnvelope(reply, 400);
      assert.equal(error.code, "parameter_invalid");
      assert.match(error.param ?? "", /^(password|metadata\.a)(\[0\])+$/);
      assert.match(error.message, /deeper than 32 levels/);
      assert.deepEqual(await rowCounts(), before);
    }
    // Nesting within the limit is read as before (here refused by the schema, not the edge).
    const within = await call<ErrorReply>(t.app, "POST", "/v1/customers", {
      key: m.secretKey,
      rawBody: `{"metadata": {"a": ${deep(5)}}}`,
    });
    assert.equal(within.status, 400);
    assert.doesNotMatch(within.body.error.message, /deeper than/);
  });

  test("a key named twice in one object is a 400 naming it (JSON.parse kept the last), nothing stored", async () => {
    // A proxy or log in front of the API may read the first `amount`; the platform read the last.
    for (const [raw, param] of [
      [
        '{"amount": 100, "currency": "EUR", "amount": 100000, "payment_method": {"type": "sandbox", "scenario": "approve"}}',
        "amount",
      ],
      [
        '{"amount": 100, "currency": "EUR", "payment_method": {"type": "sandbox", "scenario": "approve", "type": "card"}}',
        "payment_method.type",
      ],
      [
        '{"amount": 100, "currency": "EUR", "metadata": {"a": "1", "\\u0061": "2"}, "payment_method": {"type": "sandbox", "scenario": "approve"}}',
        "metadata.a",
      ],
      [
        '{"amount": 100, "currency": "EUR", "metadata": {"x": "[{\\"k\\": 1}]"}, "payment_method": {"type": "sandbox", "scenario": "approve"}, "currency": "USD"}',
        "currency",
      ],
    ] as const) {
      const before = await rowCounts();
      const reply = await call<ErrorReply>(t.app, "POST", "/v1/payments", { key: m.secretKey, rawBody: raw });
      const error = assertEnvelope(reply, 400);
      assert.equal(error.code, "parameter_invalid", raw);
      assert.equal(error.param, param, raw);
      assert.match(error.message, /names it more than once/);
      assert.deepEqual(await rowCounts(), before);
    }
    // The same key in sibling objects, in array items, and inside strings is no duplicate.
    const fine = await call<{ status: string; metadata: Record<string, string> }>(
      t.app,
      "POST",
      "/v1/payments",
      {
        key: m.secretKey,
        rawBody:
          '{"amount": 100, "currency": "EUR", "metadata": {"type": "\\"type\\": 1, \\"type\\"", "amount": "{\\"amount\\""}, "payment_method": {"type": "sandbox", "scenario": "approve"}}',
      },
    );
    assert.equal(fine.status, 201, JSON.stringify(fine.body));
    assert.equal(fine.body.metadata.type, '"type": 1, "type"');
  });
});

describe("dates out of range", () => {
  for (const frozen of [
    "-271821-04-20T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "0050-06-01T00:00:00Z",
    "1969-12-31T23:59:59Z",
    "10000-01-01T00:00:00Z",
    "9999-12-31T23:59:59-01:00",
    "2026-13-45T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-03-01T25:00:00Z",
    "2026-03-01T10:00:00",
  ]) {
    test(`a test clock frozen at ${frozen}: 400, nothing stored`, async () => {
      const before = await rowCounts();
      const reply = await call<ErrorReply>(t.app, "POST", "/v1/test_clocks", {
        key: m.secretKey,
        body: { frozen_time: frozen },
      });
      const error = assertEnvelope(reply, 400);
      assert.equal(error.param, "frozen_time");
      assert.deepEqual(await rowCounts(), before);
    });
  }

  test("the years that are accepted read back as sent, and the list answers", async () => {
    for (const frozen of [
      "1970-01-01T00:00:00.000Z",
      "9999-12-31T00:00:00.000Z",
      "2026-03-01T00:00:00.000Z",
    ]) {
      const reply = await call<{ frozen_time: string }>(t.app, "POST", "/v1/test_clocks", {
        key: m.secretKey,
        body: { frozen_time: frozen },
      });
      assert.equal(reply.status, 201, JSON.stringify(reply.body));
      assert.equal(reply.body.frozen_time, frozen);
    }
    const list = await call<{ data: Array<{ frozen_time: string }> }>(
      t.app,
      "GET",
      "/v1/test_clocks?limit=100",
      {
        key: m.secretKey,
      },
    );
    assert.equal(list.status, 200);
    assert.equal(list.body.data.length, 3);
  });

  for (const [url, param] of [
    ["/v1/events?created[gt]=999999999999", "created[gt]"],
    ["/v1/events?created[gte]=-271821-04-20T00:00:00Z", "created[gte]"],
    ["/v1/events?created[lt]=10000-01-01T00:00:00Z", "created[lt]"],
    ["/v1/provider_interactions?created[gte]=2026-13-45T00:00:00Z", "created[gte]"],
    ["/v1/provider_interactions?created[lte]=0000-01-01", "created[lte]"],
  ] as const) {
    test(`${url}: 400`, async () => {
      const reply = await call<ErrorReply>(t.app, "GET", url, { key: m.secretKey });
      const error = assertEnvelope(reply, 400);
      assert.equal(error.param, param);
    });
  }
});

describe("framework errors answer the envelope", () => {
  test("a malformed percent-encoding: 400 url_invalid", async () => {
    const reply = await call<ErrorReply>(t.app, "GET", "/v1/customers/%", { key: m.secretKey });
    assert.equal(assertEnvelope(reply, 400).code, "url_invalid");
  });
  test("an id of more than 200 characters: 414 url_too_long", async () => {
    const reply = await call<ErrorReply>(t.app, "GET", `/v1/customers/cus_${"a".repeat(300)}`, {
      key: m.secretKey,
    });
    assert.equal(assertEnvelope(reply, 414).code, "url_too_long");
  });
  test("text/plain bodies: 415, as the docs say", async () => {
    const reply = await call<ErrorReply>(t.app, "POST", "/v1/customers", {
      key: m.secretKey,
      rawBody: "hello",
      headers: { "content-type": "text/plain" },
    });
    assert.equal(assertEnvelope(reply, 415).code, "unsupported_media_type");
  });
  test("a body that is not UTF-8: 400 body_invalid_json saying so, nothing stored", async () => {
    const before = await rowCounts();
    for (const bytes of [
      Buffer.from([...Buffer.from('{"name": "caf'), 0xe9, ...Buffer.from('"}')]),
      Buffer.from([...Buffer.from('{"name": "'), 0xed, 0xa0, 0x80, ...Buffer.from('"}')]),
      Buffer.from([...Buffer.from('{"name": "x'), 0xe2, 0x82, ...Buffer.from('"}')]),
    ]) {
      const reply = await t.app.inject({
        method: "POST",
        url: "/v1/products",
        headers: { authorization: `Bearer ${m.secretKey}`, "content-type": "application/json" },
        payload: bytes,
      });
      const error = assertEnvelope(
        { status: reply.statusCode, body: reply.json(), headers: reply.headers },
        400,
      );
      assert.equal(error.code, "body_invalid_json");
      assert.match(error.message, /not valid UTF-8/);
    }
    assert.deepEqual(await rowCounts(), before);
    const fine = await t.app.inject({
      method: "POST",
      url: "/v1/products",
      headers: { authorization: `Bearer ${m.secretKey}`, "content-type": "application/json" },
      payload: Buffer.from('\ufeff{"name": "café ☕"}'),
    });
    assert.equal(fine.statusCode, 201, fine.body);
    assert.equal(fine.json().name, "café ☕");
  });
  test("a charset other than UTF-8: 415; utf-8 in any spelling is accepted", async () => {
    const post = (contentType: string) =>
      call<ErrorReply>(t.app, "POST", "/v1/products", {
        key: m.secretKey,
        rawBody: '{"name": "plain"}',
        headers: { "content-type": contentType },
      });
    for (const contentType of [
      "application/json; charset=latin1",
      "application/json; Charset=ISO-8859-1",
      "application/json;charset=utf-16",
    ]) {
      const error = assertEnvelope(await post(contentType), 415);
      assert.equal(error.code, "unsupported_media_type", contentType);
      assert.match(error.message, /UTF-8/);
    }
    for (const contentType of [
      "application/json; charset=utf-8",
      'application/json; charset="UTF-8"',
      "application/json;charset=utf8",
    ])
      assert.equal((await post(contentType)).status, 201, contentType);
  });
  test("an unknown route has the envelope and the request id", async () => {
    const reply = await call<ErrorReply>(t.app, "GET", "/v1/nothing_here", { key: m.secretKey });
    assert.equal(assertEnvelope(reply, 404).code, "route_not_found");
  });
});

describe("sums past 2^53", () => {
  test("balance, trial balance and accounts answer exact integers", async () => {
    const paid = await call(t.app, "POST", "/v1/payments", {
      key: m.secretKey,
      body: { amount: 500, currency: "EUR", payment_method: { type: "sandbox", scenario: "approve" } },
    });
    assert.equal(paid.status, 201);
    // What enough large payments leave behind, written directly: every balance row of the
    // merchant grows by 2^53 + 1 on both sides, so the journals still balance.
    const huge = 9_007_199_254_740_993n;
    const grow = (columns: string) =>
      t.services.db.query(
        `update ledger_balances set ${columns}
         where account_id in (select id from ledger_accounts where merchant_id = $2)`,
        [huge.toString(), m.merchantId],
      );
    const get = (url: string) =>
      t.app.inject({ method: "GET", url, headers: { authorization: `Bearer ${m.secretKey}` } });
    /** The database's own sum, as text: what the API must answer, digit for digit. */
    const sum = async (column: string, where: string) => {
      const { rows } = await t.services.db.query<{ total: string }>(
        `select sum(b.${column})::text as total from ledger_balances b join ledger_accounts a on a.id = b.account_id
         where a.merchant_id = $1 and ${where}`,
        [m.merchantId],
      );
      return rows[0]!.total;
    };
    await grow("debits_posted = debits_posted + $1, credits_posted = credits_posted + $1");
    const accounts = await get("/v1/ledger/accounts?limit=100");
    assert.equal(accounts.statusCode, 200, accounts.body);
    for (const match of accounts.body.matchAll(
      /"id":"(la_\w+)".*?"debits_posted":(\d+),"credits_posted":(\d+)/g,
    )) {
      assert.equal(match[2], await sum("debits_posted", `a.id = '${match[1]}'`));
      assert.equal(match[3], await sum("credits_posted", `a.id = '${match[1]}'`));
      assert.ok(BigInt(match[2]!) > huge);
    }
    const trial = await get("/v1/ledger/trial_balance");
    assert.equal(trial.statusCode, 200, trial.body);
    const debits = /"debits":(\d+)/.exec(trial.body)?.[1];
    const credits = /"credits":(\d+)/.exec(trial.body)?.[1];
    assert.equal(debits, await sum("debits_posted", "a.currency = 'EUR'"));
    assert.equal(debits, credits);
    assert.ok(BigInt(debits ?? "0") > huge);
    assert.equal(trial.json().data[0].balanced, true);

    // Now the credits alone: the merchant's available balance is past 2^53, exactly.
    await grow("credits_posted = credits_posted + $1");
    const balance = await get("/v1/balance");
    assert.equal(balance.statusCode, 200, balance.body);
    const available = /"available":\[\{"currency":"EUR","amount":(\d+)\}/.exec(balance.body)?.[1];
    const owned = "a.owner_id = a.merchant_id and a.purpose = 'available'";
    const expected = BigInt(await sum("credits_posted", owned)) - BigInt(await sum("debits_posted", owned));
    assert.equal(available, expected.toString());
    assert.ok(expected > huge);
  });

  test("amounts are bounded where money enters: 10^10 - 1 at most", async () => {
    const over = await call<ErrorReply>(t.app, "POST", "/v1/payments", {
      key: m.secretKey,
      body: {
        amount: 10_000_000_000,
        currency: "EUR",
        payment_method: { type: "sandbox", scenario: "approve" },
      },
    });
    assert.equal(assertEnvelope(over, 400).code, "amount_invalid");
    const max = await call<{ amount: number }>(t.app, "POST", "/v1/payments", {
      key: m.secretKey,
      body: {
        amount: 9_999_999_999,
        currency: "EUR",
        payment_method: { type: "sandbox", scenario: "approve" },
      },
    });
    assert.equal(max.status, 201);
    assert.equal(max.body.amount, 9_999_999_999);
  });
});

describe("authentication failures are throttled per address", () => {
  test("200 random keys: 401s, then 429 with Retry-After, even for a valid key from that address", async () => {
    const throttled = await createTestApp({ config: { authFailuresPerSecond: 1, authFailuresBurst: 20 } });
    try {
      const merchant = await createMerchant(throttled.app);
      const statuses: number[] = [];
      let retryAfter: unknown;
      for (let i = 0; i < 200; i++) {
        const reply = await call<ErrorReply>(throttled.app, "GET", "/v1/customers", {
          key: `sk_test_${Math.random().toString(36).slice(2)}${i}`,
        });
        statuses.push(reply.status);
        if (reply.status === 429) retryAfter = reply.headers["retry-after"];
        // The address's own policy on every answer the failed-authentication limiter decides.
        assert.equal(reply.headers["ratelimit-policy"], '"auth-failures";q=20;w=20', `answer ${i}`);
        assert.match(String(reply.headers.ratelimit), /^"auth-failures";r=\d+;t=\d+$/);
        if (i === 0) assert.match(String(reply.headers.ratelimit), /r=19;/);
        if (reply.status === 429) assert.match(String(reply.headers.ratelimit), /r=0;/);
      }
      assert.deepEqual(new Set(statuses), new Set([401, 429]));
      assert.ok(statuses.indexOf(429) <= 21, `429 from the 21st failure on, got ${statuses.indexOf(429)}`);
      assert.ok(Number(retryAfter) >= 1);
      const blocked = await call<ErrorReply>(throttled.app, "GET", "/v1/customers", {
        key: merchant.secretKey,
      });
      assert.equal(assertEnvelope(blocked, 429).code, "rate_limited");
      assert.equal(blocked.headers["ratelimit-policy"], '"auth-failures";q=20;w=20');
    } finally {
      await throttled.close();
    }
  });
});
