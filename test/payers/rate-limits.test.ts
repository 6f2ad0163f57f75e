/**
 * Goal: the payers' edges say their limits and keep to them. Every answer of the payer API and of
 * the portal carries the IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers-08) of its
 * per-address budget; sign-in answers add their throttles (failed sign-ins per identity and per
 * address, codes per recipient); past any of them: 429 with Retry-After, and the fields say r=0.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { PAYER_THROTTLE_LIMITS } from "../../src/payers/index.ts";
import { call, createTestApp, FakeClock, type TestApp } from "../support/app.ts";

const json = (t: TestApp, method: "GET" | "POST", url: string, body?: unknown, ip = "198.51.100.7") =>
  t.app.inject({
    method,
    url,
    remoteAddress: ip,
    ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
  });

describe("per client address: the payer API and the portal", () => {
  let t: TestApp;
  const clock = new FakeClock(Date.parse("2026-03-02T10:00:00Z"));
  before(async () => {
    t = await createTestApp({ clock, config: { pageRateLimitPerSecond: 1, pageRateLimitBurst: 3 } });
  });
  after(async () => t.close());

  test("every payer API answer carries the fields; the 4th request is 429 with Retry-After", async () => {
    const ip = "198.51.100.10";
    const answers = [
      await json(t, "GET", "/v1/payer/account", undefined, ip), // no token: 401
      await json(t, "POST", "/v1/payer_sessions/refresh", { refresh_token: "nope" }, ip),
      await json(t, "GET", "/v1/payer/payments", undefined, ip),
      await json(t, "GET", "/v1/payer/account", undefined, ip),
    ];
    for (const [i, answer] of answers.slice(0, 3).entries()) {
      assert.equal(answer.statusCode, 401, answer.body);
      assert.equal(answer.headers["ratelimit-policy"], '"per-ip";q=3;w=3');
      assert.equal(answer.headers.ratelimit, `"per-ip";r=${2 - i};t=${i + 1}`);
    }
    const refused = answers[3]!;
    assert.equal(refused.statusCode, 429);
    assert.equal(refused.json().error.code, "rate_limited");
    assert.equal(refused.headers["retry-after"], "1");
    assert.equal(refused.headers["ratelimit-policy"], '"per-ip";q=3;w=3');
    assert.equal(refused.headers.ratelimit, '"per-ip";r=0;t=3');
    // Sign-in is behind the same budget, before its own throttles.
    const signIn = await json(t, "POST", "/v1/payer_sessions", { email: "a@example.com", password: "x" }, ip);
    assert.equal(signIn.statusCode, 429);
    // Another address has its own; time refills.
    const other = await json(t, "GET", "/v1/payer/account", undefined, "198.51.100.11");
    assert.equal(other.statusCode, 401);
    assert.equal(other.headers.ratelimit, '"per-ip";r=2;t=1');
    clock.advance(1000);
    assert.equal((await json(t, "GET", "/v1/payer/account", undefined, ip)).statusCode, 401);
  });

  test("every portal page carries the fields; past the budget a 429 page with Retry-After", async () => {
    const ip = "198.51.100.20";
    const get = () => t.app.inject({ method: "GET", url: "/portal", remoteAddress: ip });
    const answers = [await get(), await get(), await get(), await get()];
    for (const [i, answer] of answers.slice(0, 3).entries()) {
      assert.equal(answer.statusCode, 200);
      assert.equal(answer.headers["ratelimit-policy"], '"per-ip";q=3;w=3');
      assert.equal(answer.headers.ratelimit, `"per-ip";r=${2 - i};t=${i + 1}`);
    }
    const refused = answers[3]!;
    assert.equal(refused.statusCode, 429);
    assert.equal(refused.headers["retry-after"], "1");
    assert.equal(refused.headers.ratelimit, '"per-ip";r=0;t=3');
    assert.match(refused.headers["content-type"] as string, /text\/html/);
    // The portal's budget is its own: the payer API from the same address still answers.
    assert.equal((await json(t, "GET", "/v1/payer/account", undefined, ip)).statusCode, 401);
  });
});

describe("sign-in: throttled per identity and per address", () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp();
  });
  after(async () => t.close());

  test("failed sign-ins per identity: the fields count down; then 429 even with the right password", async () => {
    const email = "throttled@example.com";
    const created = await call(t.app, "POST", "/v1/payers", {
      body: { email, password: "right horse battery" },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const max = PAYER_THROTTLE_LIMITS.signin_failures_per_subject_hour_max;
    for (let i = 0; i < max; i++) {
      // Several addresses: the identity's own counter is what stops it.
      const r = await json(
        t,
        "POST",
        "/v1/payer_sessions",
        { email, password: "wrong" },
        `203.0.113.${i % 4}`,
      );
      assert.equal(r.statusCode, 401, r.body);
      assert.match(String(r.headers["ratelimit-policy"]), new RegExp(`"signin-subject";q=${max};w=3600`));
      assert.match(String(r.headers.ratelimit), new RegExp(`"signin-subject";r=${max - 1 - i};t=\\d+`));
    }
    const refused = await json(
      t,
      "POST",
      "/v1/payer_sessions",
      { email, password: "right horse battery" },
      "203.0.113.9",
    );
    assert.equal(refused.statusCode, 429, refused.body);
    assert.ok(Number(refused.headers["retry-after"]) > 3500, String(refused.headers["retry-after"]));
    assert.match(String(refused.headers.ratelimit), /"signin-subject";r=0;t=\d+/);
    assert.match(String(refused.headers.ratelimit), /"signin-ip";r=50;t=0/);
    // Another identity from that address signs up and in.
    const other = await call(t.app, "POST", "/v1/payers", {
      body: { email: "other@example.com", password: "right horse battery" },
    });
    assert.equal(other.status, 201);
    const ok = await json(
      t,
      "POST",
      "/v1/payer_sessions",
      { email: "other@example.com", password: "right horse battery" },
      "203.0.113.9",
    );
    assert.equal(ok.statusCode, 201, ok.body);
    assert.match(
      String(ok.headers["ratelimit-policy"]),
      /"signin-subject";q=10;w=3600, "signin-ip";q=50;w=3600/,
    );
  });

  test("failed sign-ins per address, across identities: 429 past the address's budget", async () => {
    const ip = "192.0.2.77";
    const max = PAYER_THROTTLE_LIMITS.signin_failures_per_ip_hour_max;
    for (let i = 0; i < max; i++) {
      const r = await json(
        t,
        "POST",
        "/v1/payer_sessions",
        { email: `guess${i}@example.com`, password: "wrong" },
        ip,
      );
      assert.equal(r.statusCode, 401, r.body);
      assert.match(String(r.headers.ratelimit), new RegExp(`"signin-ip";r=${max - 1 - i};t=\\d+`));
    }
    const refused = await json(
      t,
      "POST",
      "/v1/payer_sessions",
      { email: "fresh@example.com", password: "wrong" },
      ip,
    );
    assert.equal(refused.statusCode, 429);
    assert.ok(Number(refused.headers["retry-after"]) > 0);
    assert.match(String(refused.headers.ratelimit), /"signin-subject";r=10;t=0, "signin-ip";r=0;t=\d+/);
  });

  test("codes per recipient: the 6th code to one number is 429 with Retry-After", async () => {
    const msisdn = "+33612009001";
    const max = PAYER_THROTTLE_LIMITS.codes_per_recipient_hour_max;
    for (let i = 0; i < max; i++) {
      const r = await json(t, "POST", "/v1/payer_sessions/codes", { msisdn }, `198.18.0.${i}`);
      assert.equal(r.statusCode, 202, r.body);
      assert.match(
        String(r.headers["ratelimit-policy"]),
        /"code-recipient";q=5;w=3600, "code-ip";q=20;w=3600/,
      );
      assert.match(String(r.headers.ratelimit), new RegExp(`"code-recipient";r=${max - 1 - i};t=\\d+`));
    }
    const refused = await json(t, "POST", "/v1/payer_sessions/codes", { msisdn }, "198.18.0.99");
    assert.equal(refused.statusCode, 429);
    assert.ok(Number(refused.headers["retry-after"]) > 0);
    assert.match(String(refused.headers.ratelimit), /"code-recipient";r=0;t=\d+/);
  });

  test("the portal's sign-in: fields on every answer, a 429 page with Retry-After past the identity's budget", async () => {
    const ip = "192.0.2.88";
    const email = "portal-guess@example.com";
    const cookies = new Map<string, string>();
    let csrf = "";
    const visit = async (method: "GET" | "POST", url: string, form?: Record<string, string>) => {
      const payload = form ? new URLSearchParams({ _csrf: csrf, ...form }).toString() : undefined;
      const r = await t.app.inject({
        method,
        url,
        remoteAddress: ip,
        headers: {
          cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join("; "),
          ...(payload ? { "content-type": "application/x-www-form-urlencoded" } : {}),
        },
        ...(payload ? { payload } : {}),
      });
      for (const c of r.cookies as Array<{ name: string; value: string }>) cookies.set(c.name, c.value);
      csrf = /name="csrf-token" content="([^"]+)"/.exec(r.body)?.[1] ?? csrf;
      return r;
    };
    await visit("GET", "/portal");
    const sent = await visit("POST", "/portal/code", { contact: email });
    assert.equal(sent.statusCode, 200, sent.body);
    assert.match(String(sent.headers.ratelimit), /"code-recipient";r=4;t=\d+, "code-ip";r=19;t=\d+/);
    const max = PAYER_THROTTLE_LIMITS.signin_failures_per_subject_hour_max;
    for (let i = 0; i < max; i++) {
      const r = await visit("POST", "/portal/signin", { contact: email, code: "000000" });
      assert.equal(r.statusCode, 401);
      assert.match(String(r.headers.ratelimit), new RegExp(`"signin-subject";r=${max - 1 - i};t=\\d+`));
    }
    const refused = await visit("POST", "/portal/signin", { contact: email, code: "000000" });
    assert.equal(refused.statusCode, 429);
    assert.ok(Number(refused.headers["retry-after"]) > 0);
    assert.match(String(refused.headers["ratelimit-policy"]), /"signin-subject";q=10;w=3600/);
    assert.match(String(refused.headers.ratelimit), /"signin-subject";r=0;t=\d+/);
  });
});
