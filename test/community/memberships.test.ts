/** Memberships: prices that grant access, stacking from the later of now and the current end, refunds that shorten. */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { prolong, shorten, shortening } from "../../src/memberships/periods.ts";
import {
  call,
  createMerchant,
  createTestApp,
  FakeClock,
  type MerchantKeys,
  type TestApp,
} from "../support/app.ts";
import { assertLedgerSound, customer, innerCurrency, rate } from "./support.ts";

const utc = (text: string) => Date.parse(text);

test("month ends: Jan 31 + P1M + P1M stacks to Mar 31, not Mar 28 (the run is computed from its start)", () => {
  const now = utc("2026-01-31T10:00:00Z");
  const first = prolong(null, "P1M", "UTC", now);
  assert.equal(new Date(first.state.activeUntilMs).toISOString(), "2026-02-28T10:00:00.000Z");
  const second = prolong(first.state, "P1M", "UTC", now + 1000);
  assert.equal(new Date(second.state.activeUntilMs).toISOString(), "2026-03-31T10:00:00.000Z");
  const third = prolong(second.state, "P1M", "UTC", now + 2000);
  assert.equal(new Date(third.state.activeUntilMs).toISOString(), "2026-04-30T10:00:00.000Z");
  assert.equal(third.addedMs, third.state.activeUntilMs - second.state.activeUntilMs);
});

test("time zones: a month is a local month, across a DST change", () => {
  // 23:30 on Jan 31 in New York is 04:30 UTC on Feb 1: the member's month ends on Feb 28 local.
  const now = utc("2026-02-01T04:30:00Z");
  const ny = prolong(null, "P1M", "America/New_York", now);
  assert.equal(new Date(ny.state.activeUntilMs).toISOString(), "2026-03-01T04:30:00.000Z"); // Feb 28 23:30 EST
  const inUtc = prolong(null, "P1M", "UTC", now);
  assert.equal(new Date(inUtc.state.activeUntilMs).toISOString(), "2026-03-01T04:30:00.000Z");
  // Across the spring change in Paris (Mar 29 2026), P1D stays at the same local hour: 23 hours.
  const paris = prolong(null, "P1D", "Europe/Paris", utc("2026-03-28T12:00:00Z"));
  assert.equal(paris.addedMs, 23 * 3_600_000);
  // From Mar 31 local in Tokyo, one month is Apr 30 local.
  const tokyo = prolong(null, "P1M", "Asia/Tokyo", utc("2026-03-30T15:00:00Z")); // Mar 31 00:00 JST
  assert.equal(new Date(tokyo.state.activeUntilMs).toISOString(), "2026-04-29T15:00:00.000Z");
});

test("access is prolonged from the later of now and the current end; a lapsed membership starts again", () => {
  const now = utc("2026-05-10T00:00:00Z");
  const first = prolong(null, "P30D", "UTC", now);
  const later = prolong(first.state, "P30D", "UTC", utc("2026-05-20T00:00:00Z"));
  assert.equal(new Date(later.state.activeUntilMs).toISOString(), "2026-07-09T00:00:00.000Z");
  const lapsed = prolong(later.state, "P30D", "UTC", utc("2026-08-01T00:00:00Z"));
  assert.equal(new Date(lapsed.state.activeUntilMs).toISOString(), "2026-08-31T00:00:00.000Z");
});

test("refunds shorten by their share, cumulatively exact, and end the run", () => {
  const added = 30 * 86_400_000;
  assert.equal(shortening(added, 0, 1000n, 1000n), added);
  const half = shortening(added, 0, 500n, 1000n);
  assert.equal(half, added / 2);
  assert.equal(shortening(added, half, 1000n, 1000n), added - half);
  const state = prolong(null, "P1M", "UTC", utc("2026-01-31T00:00:00Z")).state;
  const cut = shorten(state, 86_400_000);
  assert.equal(cut.activeUntilMs, state.activeUntilMs - 86_400_000);
  assert.equal(cut.runPeriod, null);
});

let t: TestApp;
let m: MerchantKeys;
const clock = new FakeClock(utc("2026-01-31T10:00:00Z"));

before(async () => {
  t = await createTestApp({ clock });
  m = await createMerchant(t.app);
});
after(() => t.close());

async function price(amount: number, currency: string, grants: Record<string, string>) {
  const product = await call<{ id: string }>(t.app, "POST", "/v1/products", {
    key: m.secretKey,
    body: { name: "Pro" },
  });
  const r = await call<{ id: string; grants: unknown }>(t.app, "POST", "/v1/prices", {
    key: m.secretKey,
    body: { product: product.body.id, amount, currency, grants },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.deepEqual(r.body.grants, grants);
  return r.body.id;
}

type Entitlements = { data: { entitlement: string; active_until: string; active: boolean }[] };

test("buying a price grants access; a second purchase stacks; a refund shortens; events entitlement.*", async () => {
  const priceId = await price(499, "EUR", { entitlement: "pro", period: "P1M" });
  const c = await customer(t.app, m, { time_zone: "UTC" });
  const buy = () =>
    call<{ id: string; amount: number; currency: string; price: string; status: string }>(
      t.app,
      "POST",
      "/v1/payments",
      {
        key: m.secretKey,
        body: { price: priceId, customer: c, payment_method: { type: "sandbox", scenario: "approve" } },
      },
    );
  const first = await buy();
  assert.equal(first.status, 201, JSON.stringify(first.body));
  assert.equal(first.body.amount, 499);
  assert.equal(first.body.currency, "EUR");
  assert.equal(first.body.price, priceId);
  const e1 = await call<Entitlements>(t.app, "GET", `/v1/customers/${c}/entitlements`, { key: m.secretKey });
  assert.deepEqual(
    e1.body.data.map((e) => [e.entitlement, e.active_until, e.active]),
    [["pro", "2026-02-28T10:00:00.000Z", true]],
  );
  clock.advance(86_400_000); // Feb 1
  const second = await buy();
  const e2 = await call<Entitlements>(t.app, "GET", `/v1/customers/${c}/entitlements`, { key: m.secretKey });
  assert.equal(e2.body.data[0]!.active_until, "2026-03-31T10:00:00.000Z");
  const refund = await call(t.app, "POST", "/v1/refunds", {
    key: m.secretKey,
    body: { payment: second.body.id },
  });
  assert.equal(refund.status, 201, JSON.stringify(refund.body));
  const e3 = await call<Entitlements>(t.app, "GET", `/v1/customers/${c}/entitlements`, { key: m.secretKey });
  assert.equal(e3.body.data[0]!.active_until, "2026-02-28T10:00:00.000Z");
  const events = await call<{ data: { type: string }[] }>(t.app, "GET", "/v1/events?limit=100", {
    key: m.secretKey,
  });
  const types = events.body.data.map((e) => e.type);
  assert.equal(types.filter((x) => x === "entitlement.granted").length, 2);
  assert.equal(types.filter((x) => x === "entitlement.shortened").length, 1);
});

test("a price in an inner currency is bought from the wallet; an amount that differs from the price is refused", async () => {
  await innerCurrency(t.app, m, "COIN");
  await rate(t.app, m, "EUR", "COIN", "100");
  const priceId = await price(300, "COIN", { entitlement: "vip", period: "P7D" });
  const c = await customer(t.app, m);
  const short = await call<{ error: { code: string } }>(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: { price: priceId, customer: c, payment_method: { type: "wallet" } },
  });
  assert.equal(short.status, 402);
  assert.equal(short.body.error.code, "insufficient_funds");
  await call(t.app, "POST", "/v1/wallet_grants", {
    key: m.secretKey,
    body: { customer: c, currency: "COIN", amount: 500, category: "paid" },
  });
  const wrong = await call<{ error: { param: string } }>(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: { price: priceId, amount: 1, customer: c, payment_method: { type: "wallet" } },
  });
  assert.equal(wrong.status, 400);
  assert.equal(wrong.body.error.param, "amount");
  const ok = await call<{ status: string }>(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: { price: priceId, customer: c, payment_method: { type: "wallet" } },
  });
  assert.equal(ok.body.status, "succeeded");
  const e = await call<Entitlements>(t.app, "GET", `/v1/customers/${c}/entitlements`, { key: m.secretKey });
  assert.equal(e.body.data[0]!.entitlement, "vip");
  assert.equal(Date.parse(e.body.data[0]!.active_until), clock.nowMs() + 7 * 86_400_000);
  await assertLedgerSound(t.services.db);
});

test("the entitlement check is one primary-key read (the plan says so)", async () => {
  const c = await customer(t.app, m);
  const { rows } = await t.services.db.query<{ "QUERY PLAN": string }>(
    `explain select entitlement, active_until from entitlements where customer_id = '${c}' and merchant_id = 'x' and mode = 'test'`,
  );
  const plan = rows.map((r) => r["QUERY PLAN"]).join("\n");
  // An index scan (plain or bitmap, by table size) on the primary key; never a sequential scan.
  assert.match(plan, /Index Scan (using|on) entitlements_pkey/);
  assert.doesNotMatch(plan, /Seq Scan/);
});
