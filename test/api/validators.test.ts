/**
 * Request validators are compiled by their route's first request (start-up is faster without
 * compiling them all); every one of them must still compile, and validate as before once it has.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { validatorsCompiled } from "../../src/http/host.ts";
import { call, createMerchant, createTestApp, type TestApp } from "../support/app.ts";

let t: TestApp;
before(async () => {
  t = await createTestApp();
});
after(() => t.close());

test("the first request of a route compiles its validator and is validated by it; so is the second", async () => {
  const m = await createMerchant(t.app);
  for (let i = 0; i < 2; i++) {
    const reply = await call<{ error: { code: string; param?: string } }>(t.app, "POST", "/v1/payments", {
      key: m.secretKey,
      body: { amount: "199", currency: "EUR", payment_method: { type: "sandbox", scenario: "approve" } },
    });
    assert.equal(reply.status, 400, JSON.stringify(reply.body));
    assert.equal(reply.body.error.param, "amount");
  }
  // Query strings are coerced by theirs: a number given as text is accepted.
  const list = await call<{ data: unknown[] }>(t.app, "GET", "/v1/payments?limit=3", { key: m.secretKey });
  assert.equal(list.status, 200, JSON.stringify(list.body));
});

test("every route's validators compile", () => {
  const count = validatorsCompiled(t.app);
  assert.ok(count > 100, `${count} validators`);
});
