/**
 * Goal: payer accounts and the /v1/payer API. A payer signs up with a password or signs in with a
 * one-time code (SMS or e-mail, read from the development catcher); codes are hashed, expire and
 * allow few attempts; sign-in is throttled; refresh tokens rotate and a reused one revokes the
 * family; a payer sees the payments and subscriptions their confirmed identities match at every
 * merchant, and nothing else: every route answers 404 for another payer's ids.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { PayerThrottle } from "../../src/payers/index.ts";
import {
  ADMIN_KEY,
  call,
  createMerchant,
  createTestApp,
  FakeClock,
  type MerchantKeys,
  type TestApp,
} from "../support/app.ts";
import { caughtCode, payerCall, type Session, signInWithCode } from "./support.ts";

const clock = new FakeClock(Date.parse("2026-05-04T09:00:00Z"));
let t: TestApp;
let a: MerchantKeys;
let b: MerchantKeys;

const ALICE_MSISDN = "+33612345670";
const ALICE_EMAIL = "alice@example.com";
const BOB_MSISDN = "+33612345671";

type Payment = {
  id: string;
  merchant: { id: string; name: string };
  amount: number;
  payment_method: { type: string };
};
type List<T> = { data: T[]; has_more: boolean };

const post = <T = Record<string, unknown>>(key: string, url: string, body: unknown = {}) =>
  call<T>(t.app, "POST", url, { key, body });

async function customer(key: string, body: Record<string, unknown>) {
  const r = await post<{ id: string }>(key, "/v1/customers", body);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.id;
}

async function pay(key: string, customerId: string, amount: number) {
  const r = await post<{ id: string; status: string }>(key, "/v1/payments", {
    amount,
    currency: "EUR",
    customer: customerId,
    payment_method: { type: "sandbox", scenario: "approve" },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal(r.body.status, "succeeded");
  return r.body.id;
}

async function subscribe(key: string, customerId: string) {
  const product = await post<{ id: string }>(key, "/v1/products", { name: "Daily horoscope" });
  const price = await post<{ id: string }>(key, "/v1/prices", {
    product: product.body.id,
    amount: 99,
    currency: "EUR",
    recurring: { period: "P1W" },
  });
  const sub = await post<{ id: string; status: string }>(key, "/v1/subscriptions", {
    customer: customerId,
    price: price.body.id,
    payment_method: { type: "sandbox", scenario: "approve" },
  });
  assert.equal(sub.status, 201, JSON.stringify(sub.body));
  return sub.body.id;
}

let alicePayments: string[];
let aliceSubscription: string;
let bobPayment: string;
let bobSubscription: string;

before(async () => {
  t = await createTestApp({ clock });
  a = await createMerchant(t.app, "Studio A");
  b = await createMerchant(t.app, "Studio B");
  // Alice pays merchant A as a customer with her number, merchant B as a customer with her
  // e-mail (and a checkout session's payer e-mail would match too); Bob pays merchant A.
  const aliceAtA = await customer(a.secretKey, { msisdn: ALICE_MSISDN, country: "FR" });
  const aliceAtB = await customer(b.secretKey, { email: "Alice@Example.com" });
  const bobAtA = await customer(a.secretKey, { msisdn: BOB_MSISDN, country: "FR" });
  alicePayments = [await pay(a.secretKey, aliceAtA, 199), await pay(b.secretKey, aliceAtB, 299)];
  aliceSubscription = await subscribe(a.secretKey, aliceAtA);
  bobPayment = await pay(a.secretKey, bobAtA, 499);
  bobSubscription = await subscribe(a.secretKey, bobAtA);
});
after(() => t.close());

describe("accounts and sign-in", () => {
  test("sign up with e-mail and password: no password in the answer, a second sign-up is refused", async () => {
    const r = await call<{
      id: string;
      object: string;
      email: string;
      has_password: boolean;
      password?: string;
    }>(t.app, "POST", "/v1/payers", {
      body: { email: "Carol@Example.com", password: "correct horse battery" },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.object, "payer");
    assert.equal(r.body.email, "carol@example.com");
    assert.equal(r.body.has_password, true);
    assert.ok(!JSON.stringify(r.body).includes("correct horse"));
    const again = await call<{ error: { code: string; param: string } }>(t.app, "POST", "/v1/payers", {
      body: { email: "carol@example.com", password: "another password" },
    });
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, "payer_exists");
    const short = await call<{ error: { param: string } }>(t.app, "POST", "/v1/payers", {
      body: { email: "dan@example.com", password: "short" },
    });
    assert.equal(short.status, 400);
    assert.equal(short.body.error.param, "password");
    const bad = await call<{ error: { param: string } }>(t.app, "POST", "/v1/payers", {
      body: { email: "not-an-address", password: "long enough password" },
    });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error.param, "email");
    const stored = await t.services.db.query<{ password_hash: string }>(
      "select password_hash from payers where email = 'carol@example.com'",
    );
    assert.match(stored.rows[0]!.password_hash, /^scrypt\$16384\$8\$1\$/);

    const ok = await call<Session>(t.app, "POST", "/v1/payer_sessions", {
      body: { email: "carol@example.com", password: "correct horse battery" },
    });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    assert.ok(ok.body.token && ok.body.refresh_token);
    const wrong = await call<{ error: { code: string } }>(t.app, "POST", "/v1/payer_sessions", {
      body: { email: "carol@example.com", password: "wrong horse battery" },
    });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.error.code, "signin_failed");
    // An unconfirmed address matches nothing yet.
    const none = await payerCall<List<Payment>>(t.app, ok.body.token, "GET", "/v1/payer/payments");
    assert.deepEqual(none.body.data, []);
  });

  test("codes: hashed at rest, the catcher keeps the message, a wrong code costs an attempt, five end it", async () => {
    t.services.payers.ctx.throttle = new PayerThrottle();
    const sent = await call<{ channel: string; to: string; expires_at: string }>(
      t.app,
      "POST",
      "/v1/payer_sessions/codes",
      { body: { msisdn: "+33 6 12 34 56 99", locale: "fr" } },
    );
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    assert.equal(sent.body.channel, "sms");
    assert.ok(!sent.body.to.includes("345699"), "the number is masked");
    assert.equal(sent.body.expires_at, new Date(clock.nowMs() + 10 * 60_000).toISOString());
    const code = await caughtCode(t.app, "+33612345699");
    const messages = await call<List<{ body: string; locale: string }>>(
      t.app,
      "GET",
      "/v1/test_helpers/messages?to=%2B33612345699",
      { key: ADMIN_KEY },
    );
    assert.match(messages.body.data[0]!.body, /Votre code Centime/);
    const rows = await t.services.db.query<{ code_hash: string }>(
      "select code_hash from payer_codes where value = '+33612345699'",
    );
    assert.ok(rows.rows.every((r) => !r.code_hash.includes(code)) && rows.rows[0]!.code_hash.length === 64);

    const wrongCode = code === "000000" ? "111111" : "000000";
    for (let i = 0; i < 5; i++) {
      const wrong = await call<{ error: { code: string } }>(t.app, "POST", "/v1/payer_sessions", {
        body: { msisdn: "+33612345699", code: wrongCode },
      });
      assert.equal(wrong.status, 401);
      assert.equal(wrong.body.error.code, "payer_code_invalid");
    }
    // The right code after five failures: the code is used up.
    const late = await call(t.app, "POST", "/v1/payer_sessions", { body: { msisdn: "+33612345699", code } });
    assert.equal(late.status, 401);

    // A fresh code works once, and not after it expires.
    const session = await signInWithCode(t.app, { msisdn: "+33612345699" });
    assert.ok(session.payer.id.startsWith("pyr_"));
    const reuse = await call(t.app, "POST", "/v1/payer_sessions", {
      body: { msisdn: "+33612345699", code: await caughtCode(t.app, "+33612345699") },
    });
    assert.equal(reuse.status, 401, "a code is good once");
    await call(t.app, "POST", "/v1/payer_sessions/codes", { body: { email: "late@example.com" } });
    const lateCode = await caughtCode(t.app, "late@example.com");
    clock.advance(10 * 60_000 + 1);
    const expired = await call(t.app, "POST", "/v1/payer_sessions", {
      body: { email: "late@example.com", code: lateCode },
    });
    assert.equal(expired.status, 401);
  });

  test("the catcher answers the admin key and test-mode keys only; live keys and payers get nothing", async () => {
    const live = await call(t.app, "GET", "/v1/test_helpers/messages", { key: a.liveSecretKey });
    assert.equal(live.status, 403);
    const test = await call(t.app, "GET", "/v1/test_helpers/messages", { key: a.secretKey });
    assert.equal(test.status, 200);
    const none = await call(t.app, "GET", "/v1/test_helpers/messages");
    assert.equal(none.status, 401);
  });

  test("failed sign-ins are throttled per subject (429 with Retry-After), codes per recipient", async () => {
    t.services.payers.ctx.throttle = new PayerThrottle();
    await call(t.app, "POST", "/v1/payers", {
      body: { email: "eve@example.com", password: "eve's long password" },
    });
    let last = 0;
    let retryAfter: unknown;
    for (let i = 0; i < 11; i++) {
      const r = await call(t.app, "POST", "/v1/payer_sessions", {
        body: { email: "eve@example.com", password: `guess number ${i}` },
      });
      last = r.status;
      retryAfter = r.headers["retry-after"];
    }
    assert.equal(last, 429);
    assert.ok(Number(retryAfter) > 0);
    // Even the right password waits now.
    const right = await call(t.app, "POST", "/v1/payer_sessions", {
      body: { email: "eve@example.com", password: "eve's long password" },
    });
    assert.equal(right.status, 429);

    t.services.payers.ctx.throttle = new PayerThrottle();
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++)
      statuses.push(
        (await call(t.app, "POST", "/v1/payer_sessions/codes", { body: { email: "spam@example.com" } }))
          .status,
      );
    assert.deepEqual(statuses, [202, 202, 202, 202, 202, 429]);
    t.services.payers.ctx.throttle = new PayerThrottle();
  });

  test("refresh tokens rotate; a reused one revokes the whole family", async () => {
    const s1 = await signInWithCode(t.app, { email: "frank@example.com" });
    const s2 = await call<Session>(t.app, "POST", "/v1/payer_sessions/refresh", {
      body: { refresh_token: s1.refresh_token },
    });
    assert.equal(s2.status, 201);
    assert.notEqual(s2.body.refresh_token, s1.refresh_token);
    const replay = await call<{ error: { code: string } }>(t.app, "POST", "/v1/payer_sessions/refresh", {
      body: { refresh_token: s1.refresh_token },
    });
    assert.equal(replay.status, 401);
    assert.equal(replay.body.error.code, "payer_token_invalid");
    // The thief's replay revoked the rotated one too.
    const s3 = await call(t.app, "POST", "/v1/payer_sessions/refresh", {
      body: { refresh_token: s2.body.refresh_token },
    });
    assert.equal(s3.status, 401);
  });

  test("tokens: missing, forged, expired and merchant keys are refused with 401", async () => {
    const s = await signInWithCode(t.app, { email: "gina@example.com" });
    assert.equal((await call(t.app, "GET", "/v1/payer/payments")).status, 401);
    assert.equal((await call(t.app, "GET", "/v1/payer/payments", { key: a.secretKey })).status, 401);
    const [h, p] = s.token.split(".");
    const forged = `${h}.${p}.${"A".repeat(43)}`;
    assert.equal((await payerCall(t.app, forged, "GET", "/v1/payer/payments")).status, 401);
    // And a payer token is nothing on the merchants' surface.
    assert.equal((await call(t.app, "GET", "/v1/payments", { key: s.token })).status, 401);
    clock.advance(15 * 60_000 + 1000);
    assert.equal((await payerCall(t.app, s.token, "GET", "/v1/payer/payments")).status, 401);
  });

  test("confirming an address by code takes it from whoever claimed it with a password", async () => {
    const squat = await call(t.app, "POST", "/v1/payers", {
      body: { email: ALICE_EMAIL, password: "squatter's password" },
    });
    assert.equal(squat.status, 201);
    const alice = await signInWithCode(t.app, { email: ALICE_EMAIL });
    const account = await payerCall<{ has_password: boolean; identities: Array<{ confirmed: boolean }> }>(
      t.app,
      alice.token,
      "GET",
      "/v1/payer/account",
    );
    assert.equal(account.body.has_password, false);
    assert.ok(account.body.identities.every((i) => i.confirmed));
    const squatter = await call(t.app, "POST", "/v1/payer_sessions", {
      body: { email: ALICE_EMAIL, password: "squatter's password" },
    });
    assert.equal(squatter.status, 401);
  });
});

describe("Idempotency-Key on the routes without a key", () => {
  type ErrorReply = { error: { code: string } };
  const caught = async (to: string) =>
    (
      await call<List<unknown>>(t.app, "GET", `/v1/test_helpers/messages?to=${encodeURIComponent(to)}`, {
        key: ADMIN_KEY,
      })
    ).body.data.length;

  test("a retried sign-up replays its 201; the same key with another body is 422; no password is kept", async () => {
    t.services.payers.ctx.throttle = new PayerThrottle();
    const signUp = (body: Record<string, string>, key = "signup-1") =>
      call<{ id: string; email: string } & ErrorReply>(t.app, "POST", "/v1/payers", {
        body,
        headers: { "idempotency-key": key },
      });
    const body = { email: "Hana@Example.com", password: "hana's long password" };
    const first = await signUp(body);
    assert.equal(first.status, 201, JSON.stringify(first.body));
    assert.equal(first.headers["idempotent-replayed"], undefined);
    const retry = await signUp(body);
    assert.equal(retry.status, 201, JSON.stringify(retry.body));
    assert.equal(retry.headers["idempotent-replayed"], "true");
    assert.deepEqual(retry.body, first.body);
    // The same key, the same address, another password: refused, nothing created or changed.
    const reused = await signUp({ ...body, password: "someone else's password" });
    assert.equal(reused.status, 422);
    assert.equal(reused.body.error.code, "idempotency_key_reused");
    const spelled = await signUp({ ...body, email: "hana@example.com" });
    assert.equal(spelled.status, 422, "the same address spelled otherwise is the same scope");
    // Keys are scoped to the identity: another payer's sign-up with the same key runs.
    const other = await signUp({ email: "ivan@example.com", password: "ivan's long password" });
    assert.equal(other.status, 201);
    assert.equal(other.headers["idempotent-replayed"], undefined);
    // Without a key, a second sign-up is still the 409 it was.
    const again = await call<ErrorReply>(t.app, "POST", "/v1/payers", { body });
    assert.equal(again.body.error.code, "payer_exists");
    const { rows } = await t.services.db.query<{ request_hash: string; response_body: string }>(
      "select request_hash, response_body from idempotency_keys where merchant_id = 'email:hana@example.com'",
    );
    assert.equal(rows.length, 1);
    assert.ok(!rows[0]!.response_body.includes("hana's long password"));
    const { requestHash } = await import("../../src/idempotency/store.ts");
    assert.notEqual(
      rows[0]!.request_hash,
      requestHash("POST", "/v1/payers", body),
      "no plain hash of the password",
    );
    const signedIn = await call(t.app, "POST", "/v1/payer_sessions", {
      body: { email: "hana@example.com", password: "hana's long password" },
    });
    assert.equal(signedIn.status, 201, "the first password is the account's");
  });

  test("a retried code request replays its 202 and sends no second code; another body is 422", async () => {
    t.services.payers.ctx.throttle = new PayerThrottle();
    const ask = (body: Record<string, string>, key = "code-1") =>
      call<{ to: string; expires_at: string } & ErrorReply>(t.app, "POST", "/v1/payer_sessions/codes", {
        body,
        headers: { "idempotency-key": key },
      });
    const first = await ask({ msisdn: "+33612345688" });
    assert.equal(first.status, 202, JSON.stringify(first.body));
    const code = await caughtCode(t.app, "+33612345688");
    const retry = await ask({ msisdn: "+33612345688" });
    assert.equal(retry.status, 202);
    assert.equal(retry.headers["idempotent-replayed"], "true");
    assert.deepEqual(retry.body, first.body);
    assert.ok(!JSON.stringify(retry.body).includes(code), "the answer holds no code");
    assert.equal(await caught("+33612345688"), 1, "one code sent");
    const reused = await ask({ msisdn: "+33612345688", locale: "fr" });
    assert.equal(reused.status, 422);
    assert.equal(reused.body.error.code, "idempotency_key_reused");
    assert.equal(await caught("+33612345688"), 1);
    // The code the first request sent still signs in (a replay did not replace it).
    const session = await call(t.app, "POST", "/v1/payer_sessions", {
      body: { msisdn: "+33612345688", code },
      headers: { "idempotency-key": "code-1" },
    });
    assert.equal(session.status, 201);
  });

  test("sign-ins are never replayed: a token is shown once and a code is good once", async () => {
    t.services.payers.ctx.throttle = new PayerThrottle();
    await call(t.app, "POST", "/v1/payers", {
      body: { email: "jo@example.com", password: "jo's long password" },
    });
    const signIn = () =>
      call<Session>(t.app, "POST", "/v1/payer_sessions", {
        body: { email: "jo@example.com", password: "jo's long password" },
        headers: { "idempotency-key": "signin-1" },
      });
    const first = await signIn();
    const second = await signIn();
    assert.equal(first.status, 201);
    assert.equal(second.status, 201);
    assert.equal(second.headers["idempotent-replayed"], undefined);
    assert.notEqual(second.body.refresh_token, first.body.refresh_token);
    const { rows } = await t.services.db.query("select 1 from idempotency_keys where key = 'signin-1'");
    assert.equal(rows.length, 0, "no token kept in the keys' table");
  });

  test("a signed-in payer's identity code: a retry replays and sends no second code", async () => {
    t.services.payers.ctx.throttle = new PayerThrottle();
    const kim = await signInWithCode(t.app, { email: "kim@example.com" });
    const ask = () =>
      payerCall(
        t.app,
        kim.token,
        "POST",
        "/v1/payer/identities/codes",
        { msisdn: "+33612345677" },
        {
          "idempotency-key": "link-1",
        },
      );
    const first = await ask();
    assert.equal(first.status, 202, JSON.stringify(first.body));
    const retry = await ask();
    assert.equal(retry.headers["idempotent-replayed"], "true");
    assert.deepEqual(retry.body, first.body);
    assert.equal(await caught("+33612345677"), 1);
  });
});

describe("a payer sees their own, and only their own", () => {
  test("payments from two merchants and subscriptions, newest first, with the merchant's name", async () => {
    t.services.payers.ctx.throttle = new PayerThrottle();
    const byNumber = await signInWithCode(t.app, { msisdn: ALICE_MSISDN });
    const payments = await payerCall<List<Payment>>(t.app, byNumber.token, "GET", "/v1/payer/payments");
    assert.equal(payments.status, 200);
    assert.deepEqual(
      payments.body.data.map((p) => p.id),
      [alicePayments[0]!],
      "the number matches merchant A's customer only",
    );
    const byEmail = await signInWithCode(t.app, { email: ALICE_EMAIL });
    const viaEmail = await payerCall<List<Payment>>(t.app, byEmail.token, "GET", "/v1/payer/payments");
    assert.deepEqual(
      viaEmail.body.data.map((p) => [p.id, p.merchant.name, p.amount]),
      [[alicePayments[1]!, "Studio B", 299]],
    );
    const subs = await payerCall<List<{ id: string; merchant: { name: string }; product: { name: string } }>>(
      t.app,
      byNumber.token,
      "GET",
      "/v1/payer/subscriptions",
    );
    assert.deepEqual(
      subs.body.data.map((s) => s.id),
      [aliceSubscription],
    );
    assert.equal(subs.body.data[0]!.product.name, "Daily horoscope");
    // A first renewal charge is a payment of the subscription, also hers.
    const all = await payerCall<List<Payment & { subscription: string | null }>>(
      t.app,
      byNumber.token,
      "GET",
      "/v1/payer/payments?since=2020-01-01T00:00:00Z",
    );
    assert.ok(all.body.data.every((p) => p.merchant.id === a.merchantId));
  });

  test("every payer route answers 404 for another payer's ids (and never shows them in lists)", async () => {
    t.services.payers.ctx.throttle = new PayerThrottle();
    const alice = await signInWithCode(t.app, { msisdn: ALICE_MSISDN });
    const as = (method: "GET" | "POST" | "DELETE", url: string, body?: unknown) =>
      payerCall<{ error?: { code: string; param?: string } }>(t.app, alice.token, method, url, body);
    const foreign: Array<[string, Awaited<ReturnType<typeof as>>]> = [
      ["GET payment", await as("GET", `/v1/payer/payments/${bobPayment}`)],
      ["GET subscription", await as("GET", `/v1/payer/subscriptions/${bobSubscription}`)],
      ["consent evidence", await as("GET", `/v1/payer/subscriptions/${bobSubscription}/consent_evidence`)],
      ["cancel", await as("POST", `/v1/payer/subscriptions/${bobSubscription}/cancel`)],
      ["refund request", await as("POST", "/v1/payer/refund_requests", { payment: bobPayment })],
      ["block a merchant never paid", await as("POST", `/v1/payer/merchant_blocks/${b.merchantId}x`)],
    ];
    for (const [name, reply] of foreign) {
      assert.equal(reply.status, 404, `${name}: ${JSON.stringify(reply.body)}`);
      assert.equal(reply.body.error?.code, "resource_missing", name);
    }
    const payments = await payerCall<List<Payment>>(t.app, alice.token, "GET", "/v1/payer/payments");
    assert.ok(!payments.body.data.some((p) => p.id === bobPayment));
    const subs = await payerCall<List<{ id: string }>>(t.app, alice.token, "GET", "/v1/payer/subscriptions");
    assert.ok(!subs.body.data.some((s) => s.id === bobSubscription));
    // Bob's subscription is untouched and no request was made for his payment.
    const bobSub = await call<{ status: string }>(t.app, "GET", `/v1/subscriptions/${bobSubscription}`, {
      key: a.secretKey,
    });
    assert.notEqual(bobSub.body.status, "canceled");
    const requests = await call<List<unknown>>(t.app, "GET", `/v1/refund_requests?payment=${bobPayment}`, {
      key: a.secretKey,
    });
    assert.deepEqual(requests.body.data, []);
    // Her own ids are found by the same routes.
    assert.equal((await as("GET", `/v1/payer/payments/${alicePayments[0]}`)).status, 200);
    assert.equal((await as("GET", `/v1/payer/subscriptions/${aliceSubscription}`)).status, 200);
    const evidence = await payerCall<{
      consent: { method: string; recorded_at: string };
      events: Array<{ type: string }>;
    }>(t.app, alice.token, "GET", `/v1/payer/subscriptions/${aliceSubscription}/consent_evidence`);
    assert.equal(evidence.status, 200);
    assert.equal(evidence.body.consent.method, "api");
    assert.ok(evidence.body.events.some((e) => e.type === "subscription.created"));
  });

  test("live-mode data stays hidden from a sign-in the development catcher proved", async () => {
    t.services.payers.ctx.throttle = new PayerThrottle();
    // Live payments need a live provider, which tests have not: a live copy of her test payment
    // and a live customer record with her number stand in for one.
    const liveCustomer = await customer(a.liveSecretKey, { msisdn: ALICE_MSISDN, country: "FR" });
    const liveId = `${alicePayments[0]!}live`;
    await t.services.db.query(
      `insert into payments select (jsonb_populate_record(p, jsonb_build_object('id', $2::text, 'mode', 'live',
         'customer_id', $3::text, 'attempt_id', $2::text))).* from payments p where p.id = $1`,
      [alicePayments[0], liveId, liveCustomer],
    );
    const alice = await signInWithCode(t.app, { msisdn: ALICE_MSISDN });
    const payments = await payerCall<List<{ id: string; livemode: boolean }>>(
      t.app,
      alice.token,
      "GET",
      "/v1/payer/payments",
    );
    assert.ok(payments.body.data.some((p) => p.id === alicePayments[0]));
    assert.ok(!payments.body.data.some((p) => p.id === liveId || p.livemode));
    assert.equal((await payerCall(t.app, alice.token, "GET", `/v1/payer/payments/${liveId}`)).status, 404);
    // The same person proven through a real channel sees it.
    await t.services.db.query("update payer_identities set live = true where value = $1", [ALICE_MSISDN]);
    const { signAccessToken } = await import("../../src/payers/tokens.ts");
    const real = await signAccessToken(
      t.services.payers.ctx.tokenKey,
      { payerId: alice.payer.id, live: true },
      clock.nowMs(),
    );
    const seen = await payerCall(t.app, real.token, "GET", `/v1/payer/payments/${liveId}`);
    assert.equal(seen.status, 200);
  });
});
