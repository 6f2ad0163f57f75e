/**
 * Idempotency keys with the contract's semantics: one execution per key, exact replays, 422 for a
 * reused key with another body, per merchant and mode, and one payment out of 100 racing requests.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { DAY_MS, FakeClock } from "../../src/platform/clock.ts";
import {
  call,
  createMerchant,
  createTestApp,
  type MerchantKeys,
  sandboxPayment,
  type TestApp,
} from "../support/app.ts";

let t: TestApp;
let m: MerchantKeys;

before(async () => {
  t = await createTestApp();
  m = await createMerchant(t.app);
});
after(() => t.close());

async function paymentCount(merchantId: string): Promise<bigint> {
  const { rows } = await t.services.db.query<{ n: bigint }>(
    "select count(*) as n from payments where merchant_id = $1",
    [merchantId],
  );
  return rows[0]!.n;
}

test("a retry with the same key and body replays the stored response exactly", async () => {
  const headers = { "idempotency-key": "order-1" };
  const first = await call(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: sandboxPayment("approve"),
    headers,
  });
  const second = await call(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: sandboxPayment("approve"),
    headers,
  });
  assert.equal(first.status, 201);
  assert.equal(second.status, 201);
  assert.equal(first.headers["idempotent-replayed"], undefined);
  assert.equal(second.headers["idempotent-replayed"], "true");
  assert.deepEqual(second.body, first.body);
});

test("the same key with a different body is refused with 422 and changes nothing", async () => {
  const headers = { "idempotency-key": "order-2" };
  await call(t.app, "POST", "/v1/payments", { key: m.secretKey, body: sandboxPayment("approve"), headers });
  const before = await paymentCount(m.merchantId);
  const reused = await call<{ error: { code: string; type: string } }>(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: sandboxPayment("approve", { amount: 501 }),
    headers,
  });
  assert.equal(reused.status, 422);
  assert.equal(reused.body.error.code, "idempotency_key_reused");
  assert.equal(reused.body.error.type, "idempotency_error");
  assert.equal(await paymentCount(m.merchantId), before);
});

test("key order in the body does not make a different request", async () => {
  const headers = { "idempotency-key": "order-3" };
  const a = await call(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    rawBody: '{"amount":300,"currency":"EUR","payment_method":{"type":"sandbox","scenario":"approve"}}',
    headers,
  });
  const b = await call(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    rawBody: '{"payment_method":{"scenario":"approve","type":"sandbox"},"currency":"EUR","amount":300}',
    headers,
  });
  assert.equal(b.headers["idempotent-replayed"], "true");
  assert.deepEqual(a.body, b.body);
});

// "Concurrent": on the embedded database (one connection) the 100 requests' transactions run one
// at a time; real races between their commits happen in the PostgreSQL run (CI runs this file on both).
test("100 concurrent requests with one key create exactly one payment", async () => {
  const other = await createMerchant(t.app, "Racer");
  const headers = { "idempotency-key": "race-1" };
  const replies = await Promise.all(
    Array.from({ length: 100 }, () =>
      call<{ id?: string; error?: { code: string } }>(t.app, "POST", "/v1/payments", {
        key: other.secretKey,
        body: sandboxPayment("approve", { amount: 1234 }),
        headers,
      }),
    ),
  );
  assert.equal(await paymentCount(other.merchantId), 1n);
  const created = replies.filter((r) => r.status === 201);
  const ids = new Set(created.map((r) => r.body.id));
  assert.equal(ids.size, 1, "every 201 names the same payment");
  for (const r of replies) {
    if (r.status === 201) continue;
    assert.equal(r.status, 409);
    assert.equal(r.body.error?.code, "idempotency_key_in_use");
  }
  const { rows } = await t.services.db.query<{ n: bigint }>(
    "select count(*) as n from ledger_transfers where merchant_id = $1",
    [other.merchantId],
  );
  assert.equal(rows[0]!.n, 1n, "one payment, one ledger transfer");
  // Once the first has finished, every retry is a replay.
  const later = await call<{ id: string }>(t.app, "POST", "/v1/payments", {
    key: other.secretKey,
    body: sandboxPayment("approve", { amount: 1234 }),
    headers,
  });
  assert.equal(later.status, 201);
  assert.ok(ids.has(later.body.id));
});

test("without the in-process set of keys in flight (as across two API processes), 100 concurrent requests with one key still create one payment: the database claim decides", async () => {
  const other = await createMerchant(t.app, "Racer without memory");
  // The gate's in-memory set answers 409 to a second request in this process at once; another
  // process has its own. A set that never holds anything leaves only the commit's claim.
  const forgetful = new (class extends Set<string> {
    override has(): boolean {
      return false;
    }
  })();
  const original: unknown = Reflect.get(t.services.idempotency, "inFlight");
  assert.ok(original instanceof Set, "the gate keeps its keys in flight in a Set");
  Reflect.set(t.services.idempotency, "inFlight", forgetful);
  try {
    const headers = { "idempotency-key": "race-2" };
    const replies = await Promise.all(
      Array.from({ length: 100 }, () =>
        call<{ id?: string; error?: { code: string } }>(t.app, "POST", "/v1/payments", {
          key: other.secretKey,
          body: sandboxPayment("approve", { amount: 4321 }),
          headers,
        }),
      ),
    );
    assert.equal(await paymentCount(other.merchantId), 1n, "one payment");
    const ids = new Set(replies.filter((r) => r.status === 201).map((r) => r.body.id));
    assert.equal(ids.size, 1, "every 201 names the same payment");
    for (const r of replies)
      if (r.status !== 201)
        assert.equal(r.body.error?.code, "idempotency_key_in_use", JSON.stringify(r.body));
    const { rows } = await t.services.db.query<{ n: bigint }>(
      "select count(*) as n from ledger_transfers where merchant_id = $1",
      [other.merchantId],
    );
    assert.equal(rows[0]!.n, 1n, "one ledger transfer");
  } finally {
    Reflect.set(t.services.idempotency, "inFlight", original);
  }
});

test("keys are scoped per merchant and per mode", async () => {
  const other = await createMerchant(t.app, "Neighbour");
  const headers = { "idempotency-key": "shared-key" };
  const a = await call<{ id: string }>(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: sandboxPayment("approve"),
    headers,
  });
  const b = await call<{ id: string }>(t.app, "POST", "/v1/payments", {
    key: other.secretKey,
    body: sandboxPayment("approve"),
    headers,
  });
  assert.equal(a.status, 201);
  assert.equal(b.status, 201);
  assert.notEqual(a.body.id, b.body.id);
  assert.equal(b.headers["idempotent-replayed"], undefined);
  const live = await call(t.app, "POST", "/v1/customers", {
    key: m.liveSecretKey,
    body: { email: "a@b.co" },
    headers,
  });
  assert.equal(live.status, 201, "the same key in live mode is a different key");
});

test("bad idempotency keys are refused before anything happens", async () => {
  const before = await paymentCount(m.merchantId);
  for (const key of ["x".repeat(256), "caf\u00e9", "tab\tkey"]) {
    const r = await call<{ error: { code: string; param: string } }>(t.app, "POST", "/v1/payments", {
      key: m.secretKey,
      body: sandboxPayment("approve"),
      headers: { "idempotency-key": key },
    });
    assert.equal(r.status, 400, key);
    assert.equal(r.body.error.code, "idempotency_key_invalid");
    assert.equal(r.body.error.param, "Idempotency-Key");
  }
  assert.equal(await paymentCount(m.merchantId), before);
});

test("a validation error is not stored: the key can be used again with a good body", async () => {
  const headers = { "idempotency-key": "fix-and-retry" };
  const bad = await call(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: sandboxPayment("approve", { amount: -5 }),
    headers,
  });
  assert.equal(bad.status, 400);
  const good = await call(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: sandboxPayment("approve"),
    headers,
  });
  assert.equal(good.status, 201);
});

test("replaying a merchant creation does not hand out its keys again", async () => {
  const headers = { "idempotency-key": "merchant-once" };
  const { ADMIN_KEY } = await import("../support/app.ts");
  const first = await call<{ merchant: { id: string }; secret_key: string | null }>(
    t.app,
    "POST",
    "/v1/merchants",
    {
      key: ADMIN_KEY,
      body: { name: "Once" },
      headers,
    },
  );
  const again = await call<{ merchant: { id: string }; secret_key: string | null }>(
    t.app,
    "POST",
    "/v1/merchants",
    {
      key: ADMIN_KEY,
      body: { name: "Once" },
      headers,
    },
  );
  assert.match(first.body.secret_key ?? "", /^sk_test_/);
  assert.equal(again.headers["idempotent-replayed"], "true");
  assert.equal(again.body.merchant.id, first.body.merchant.id);
  assert.equal(again.body.secret_key, null);
});

test("a key is retained for 24 hours (a replay at 23:59:59) and past them is forgotten at once, before the cleanup job runs: the request runs afresh", async () => {
  const clock = new FakeClock(Date.now());
  const timed = await createTestApp({ clock });
  try {
    const merchant = await createMerchant(timed.app);
    const headers = { "idempotency-key": "renewal-order" };
    const first = await call<{ id: string }>(timed.app, "POST", "/v1/payments", {
      key: merchant.secretKey,
      body: sandboxPayment("approve"),
      headers,
    });
    assert.equal(first.status, 201);

    // Within the 24 hours the same request replays the first payment, another body is refused.
    clock.advance(DAY_MS - 1_000);
    const kept = await call<{ id: string }>(timed.app, "POST", "/v1/payments", {
      key: merchant.secretKey,
      body: sandboxPayment("approve"),
      headers,
    });
    assert.equal(kept.status, 201);
    assert.equal(kept.body.id, first.body.id, "retained for the whole 24 hours");
    assert.equal(kept.headers["idempotent-replayed"], "true");
    const early = await call<{ error: { code: string } }>(timed.app, "POST", "/v1/payments", {
      key: merchant.secretKey,
      body: sandboxPayment("approve", { amount: 777 }),
      headers,
    });
    assert.equal(early.status, 422);
    assert.equal(early.body.error.code, "idempotency_key_reused");

    // Just past them the stored row still exists (nothing deleted it) but no longer binds the key.
    clock.advance(2_000);
    const { rows } = await timed.services.db.query<{ n: bigint }>(
      "select count(*) as n from idempotency_keys where key = 'renewal-order'",
    );
    assert.equal(rows[0]!.n, 1n, "the expired row is still in the table");
    const late = await call<{ id: string; amount: number }>(timed.app, "POST", "/v1/payments", {
      key: merchant.secretKey,
      body: sandboxPayment("approve", { amount: 777 }),
      headers,
    });
    assert.equal(late.status, 201, JSON.stringify(late.body));
    assert.notEqual(late.body.id, first.body.id);
    assert.equal(late.body.amount, 777);
    assert.equal(late.headers["idempotent-replayed"], undefined);
    // And the key now binds the new request for its own 24 hours.
    const replay = await call<{ id: string }>(timed.app, "POST", "/v1/payments", {
      key: merchant.secretKey,
      body: sandboxPayment("approve", { amount: 777 }),
      headers,
    });
    assert.equal(replay.status, 201);
    assert.equal(replay.body.id, late.body.id);
    assert.equal(replay.headers["idempotent-replayed"], "true");
  } finally {
    await timed.close();
  }
});
