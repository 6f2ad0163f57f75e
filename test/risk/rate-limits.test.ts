/**
 * Rate limits at the edges, with the IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers-08):
 * the public pages are limited per client address (every answer says so; past it 429 with
 * Retry-After, other addresses unaffected, refilled with time), numbers entered on the checkout
 * page (each may text a one-time code) per MSISDN across sessions, and the API per key.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  call,
  createMerchant,
  createTestApp,
  FakeClock,
  type MerchantKeys,
  type TestApp,
} from "../support/app.ts";

describe("public pages: per client address", () => {
  let t: TestApp;
  const clock = new FakeClock(Date.parse("2026-03-02T10:00:00Z"));
  before(async () => {
    t = await createTestApp({ clock, config: { pageRateLimitPerSecond: 1, pageRateLimitBurst: 3 } });
  });
  after(async () => t.close());

  const get = (url: string, ip = "198.51.100.20") => t.app.inject({ method: "GET", url, remoteAddress: ip });

  test("every answer carries the policy and what is left; past it 429 with Retry-After", async () => {
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await get("/pay/plink_missing"));
    for (const [i, answer] of answers.slice(0, 3).entries()) {
      assert.notEqual(answer.statusCode, 429);
      assert.equal(answer.headers["ratelimit-policy"], '"per-ip";q=3;w=3');
      assert.equal(answer.headers.ratelimit, `"per-ip";r=${2 - i};t=${i + 1}`);
    }
    const refused = answers[3]!;
    assert.equal(refused.statusCode, 429);
    assert.equal(refused.headers["retry-after"], "1");
    assert.equal(refused.headers["ratelimit-policy"], '"per-ip";q=3;w=3');
    assert.equal(refused.headers.ratelimit, '"per-ip";r=0;t=3');
    assert.match(refused.headers["content-type"] as string, /text\/html/);
    assert.match(refused.body, /Too many requests/);
    // Checkout pages share the budget; another address has its own.
    assert.equal((await get("/checkout/cs_missing")).statusCode, 429);
    const other = await get("/checkout/cs_missing", "198.51.100.21");
    assert.notEqual(other.statusCode, 429);
    assert.equal(other.headers.ratelimit, '"per-ip";r=2;t=1');
    // Refilled with time.
    clock.advance(1000);
    assert.notEqual((await get("/pay/plink_missing")).statusCode, 429);
  });

  test("the API and static assets do not spend the pages' budget", async () => {
    const ip = "198.51.100.30";
    for (let i = 0; i < 5; i++) {
      const health = await t.app.inject({ method: "GET", url: "/health", remoteAddress: ip });
      assert.equal(health.headers["ratelimit-policy"], undefined);
    }
    assert.notEqual((await get("/pay/plink_missing", ip)).statusCode, 429);
  });
});

describe("one-time codes: per MSISDN on the checkout page", () => {
  let t: TestApp;
  let m: MerchantKeys;
  before(async () => {
    t = await createTestApp();
    m = await createMerchant(t.app, "Coded studio");
  });
  after(async () => t.close());

  async function session() {
    const s = await call<{ id: string }>(t.app, "POST", "/v1/checkout_sessions", {
      key: m.secretKey,
      body: { amount: 100, currency: "EUR" },
    });
    assert.equal(s.status, 201, JSON.stringify(s.body));
    const page = await t.app.inject({ method: "GET", url: `/checkout/${s.body.id}/carrier` });
    assert.equal(page.statusCode, 200);
    const token = /name="_token" value="([^"]+)"/.exec(page.body)![1]!;
    const cookies = page.cookies.map((c) => `${c.name}=${c.value}`).join("; ");
    return (msisdn: string, ip: string) =>
      t.app.inject({
        method: "POST",
        url: `/checkout/${s.body.id}/carrier/start`,
        remoteAddress: ip,
        headers: { "content-type": "application/x-www-form-urlencoded", cookie: cookies },
        payload: `_token=${encodeURIComponent(token)}&msisdn=${encodeURIComponent(msisdn)}`,
      });
  }

  test("a number gets at most its hourly quota of codes, whatever the session or address", async () => {
    const msisdn = "+33612000999";
    const quota = 6;
    const answers = [];
    // Two sessions and three addresses: the number's quota is what stops it.
    const first = await session();
    const second = await session();
    for (let i = 0; i < quota + 1; i++) {
      const enter = i < 4 ? first : second;
      answers.push(await enter(msisdn, `203.0.113.${i % 3}`));
    }
    for (const [i, answer] of answers.slice(0, quota).entries()) {
      assert.notEqual(answer.statusCode, 429, `entry ${i + 1}: ${answer.statusCode}`);
      assert.notEqual(answer.statusCode, 403, `entry ${i + 1}: ${answer.body.slice(0, 200)}`);
      assert.match(String(answer.headers["ratelimit-policy"]), /"per-msisdn";q=6;w=3600/);
      assert.match(String(answer.headers.ratelimit), new RegExp(`"per-msisdn";r=${quota - 1 - i};t=\\d+`));
    }
    const refused = answers[quota]!;
    assert.equal(refused.statusCode, 429);
    assert.ok(Number(refused.headers["retry-after"]) > 0);
    assert.match(String(refused.headers.ratelimit), /"per-msisdn";r=0;t=\d+/);
    // Another number is not affected.
    assert.notEqual((await second("+33612000998", "203.0.113.9")).statusCode, 429);
  });
});

describe("the API: per key", () => {
  let t: TestApp;
  let m: MerchantKeys;
  before(async () => {
    t = await createTestApp({ clock: new FakeClock(), config: { rateLimitPerSecond: 1, rateLimitBurst: 2 } });
    m = await createMerchant(t.app, "Busy studio");
  });
  after(async () => t.close());

  test("risk routes answer with the per-key fields; past the burst 429 with Retry-After", async () => {
    const replies = [];
    for (let i = 0; i < 3; i++)
      replies.push(await call(t.app, "GET", "/v1/risk_rules", { key: m.secretKey }));
    assert.equal(replies[0]!.status, 200);
    for (const reply of replies) assert.equal(reply.headers["ratelimit-policy"], '"per-key";q=2;w=2');
    assert.equal(replies[2]!.status, 429);
    assert.equal(replies[2]!.headers["retry-after"], "1");
  });
});
