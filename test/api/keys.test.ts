/** API keys: a recognisable format with a checksum, stored hashed, created, rolled and revoked. */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { generateKey, hashKey, parseKey } from "../../src/merchants/keys.ts";
import { call, createMerchant, createTestApp, type MerchantKeys, type TestApp } from "../support/app.ts";

let t: TestApp;
let m: MerchantKeys;

before(async () => {
  t = await createTestApp();
  m = await createMerchant(t.app);
});
after(() => t.close());

test("keys have a prefix and a checksum that catches a typo", () => {
  for (const kind of [
    { type: "secret", mode: "test" },
    { type: "publishable", mode: "live" },
  ] as const) {
    const key = generateKey(kind);
    assert.match(key, /^(sk|pk)_(test|live)_[0-9A-Za-z]{38}$/);
    assert.deepEqual(parseKey(key), kind);
    const typo = key.slice(0, 12) + (key[12] === "a" ? "b" : "a") + key.slice(13);
    assert.equal(parseKey(typo), null);
  }
  assert.equal(parseKey("sk_test_short"), null);
});

test("only a hash of a key is stored", async () => {
  const { rows } = await t.services.db.query<{ secret_hash: string; redacted: string }>(
    "select secret_hash, redacted from api_keys where merchant_id = $1",
    [m.merchantId],
  );
  assert.equal(rows.length, 4);
  const hashes = rows.map((r) => r.secret_hash);
  assert.ok(hashes.includes(hashKey(m.secretKey)));
  const dump = JSON.stringify(rows);
  for (const key of [m.secretKey, m.publishableKey, m.liveSecretKey, m.livePublishableKey])
    assert.ok(!dump.includes(key));
  const listed = await call(t.app, "GET", "/v1/api_keys", { key: m.secretKey });
  assert.ok(!JSON.stringify(listed.body).includes(m.secretKey));
});

test("a new key works at once; a revoked key is refused at once", async () => {
  const created = await call<{ id: string; secret: string; type: string }>(t.app, "POST", "/v1/api_keys", {
    key: m.secretKey,
    body: { type: "secret", name: "ci" },
  });
  assert.equal(created.status, 201);
  assert.match(created.body.secret, /^sk_test_/);
  assert.equal((await call(t.app, "GET", "/v1/payments", { key: created.body.secret })).status, 200);
  const revoked = await call<{ active: boolean }>(t.app, "DELETE", `/v1/api_keys/${created.body.id}`, {
    key: m.secretKey,
  });
  assert.equal(revoked.status, 200);
  assert.equal(revoked.body.active, false);
  const after = await call<{ error: { code: string } }>(t.app, "GET", "/v1/payments", {
    key: created.body.secret,
  });
  assert.equal(after.status, 401);
  assert.equal(after.body.error.code, "api_key_invalid");
});

test("rolling a key issues a new one and retires the old one (now, or after a grace period)", async () => {
  const first = await call<{ id: string; secret: string }>(t.app, "POST", "/v1/api_keys", {
    key: m.secretKey,
    body: { type: "secret" },
  });
  const rolled = await call<{ id: string; secret: string; rolled_from: string }>(
    t.app,
    "POST",
    `/v1/api_keys/${first.body.id}/roll`,
    {
      key: m.secretKey,
      body: {},
    },
  );
  assert.equal(rolled.status, 201);
  assert.equal(rolled.body.rolled_from, first.body.id);
  assert.notEqual(rolled.body.secret, first.body.secret);
  assert.equal((await call(t.app, "GET", "/v1/payments", { key: rolled.body.secret })).status, 200);
  assert.equal((await call(t.app, "GET", "/v1/payments", { key: first.body.secret })).status, 401);

  const second = await call<{ id: string; secret: string }>(t.app, "POST", "/v1/api_keys", {
    key: m.secretKey,
    body: { type: "secret" },
  });
  const graceful = await call<{ secret: string }>(t.app, "POST", `/v1/api_keys/${second.body.id}/roll`, {
    key: m.secretKey,
    body: { expires_in: 3600 },
  });
  assert.equal(
    (await call(t.app, "GET", "/v1/payments", { key: second.body.secret })).status,
    200,
    "still valid in its grace period",
  );
  assert.equal((await call(t.app, "GET", "/v1/payments", { key: graceful.body.secret })).status, 200);
});

test("a live key creates live keys only", async () => {
  const r = await call<{ secret: string; livemode: boolean }>(t.app, "POST", "/v1/api_keys", {
    key: m.liveSecretKey,
    body: { type: "publishable" },
  });
  assert.equal(r.body.livemode, true);
  assert.match(r.body.secret, /^pk_live_/);
});
