/**
 * Velocity counters: they count every attempt in their window (the current one included), forget
 * what left the window, lose nothing when many attempts on one number arrive at once (no hot row
 * to serialize on), and expire by themselves when their day's partition is dropped.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ensureRiskPartitions, Risk } from "../../src/risk/index.ts";
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
const clock = new FakeClock(Date.parse("2026-03-02T10:00:00Z"));

before(async () => {
  t = await createTestApp({ clock });
  m = await createMerchant(t.app, "Counting studio");
});
after(async () => t.close());

async function pay(ip: string) {
  const r = await call<{ status: string; failure_code: string | null }>(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: {
      amount: 100,
      currency: "EUR",
      ip_address: ip,
      payment_method: { type: "sandbox", scenario: "approve" },
    },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.failure_code ?? r.body.status;
}

/** The rows written so far: the engine writes them off the payments' commits, within 100 ms. */
async function observations(): Promise<number> {
  assert.equal(await t.services.risk.flushObservations(), true);
  const { rows } = await t.database.db.query<{ n: number }>(
    "select count(*)::int as n from risk_observations where merchant_id = $1",
    [m.merchantId],
  );
  return Number(rows[0]!.n);
}

test("a counter counts the current attempt and forgets what left its window", async () => {
  const rule = await call<{ id: string }>(t.app, "POST", "/v1/risk_rules", {
    key: m.secretKey,
    body: { name: "three an hour", rule: "block if payments_per_ip_1h > 3", mode: "enforce" },
  });
  assert.equal(rule.status, 201);
  const ip = "192.0.2.1";
  assert.deepEqual([await pay(ip), await pay(ip), await pay(ip)], ["succeeded", "succeeded", "succeeded"]);
  assert.equal(await pay(ip), "blocked_by_risk_rule");
  const decisions = await call<{ data: { attribute_values: Record<string, unknown> }[] }>(
    t.app,
    "GET",
    "/v1/risk_decisions",
    { key: m.secretKey },
  );
  assert.deepEqual(decisions.body.data[0]?.attribute_values, { payments_per_ip_1h: 4 });
  // Another number is counted apart.
  assert.equal(await pay("192.0.2.2"), "succeeded");
  clock.advance(61 * 60_000);
  assert.equal(await pay(ip), "succeeded");
  await call(t.app, "DELETE", `/v1/risk_rules/${rule.body.id}`, { key: m.secretKey });
});

test("many attempts from one address at once are all counted", async () => {
  const rule = await call<{ id: string }>(t.app, "POST", "/v1/risk_rules", {
    key: m.secretKey,
    body: { name: "count only", rule: "review if payments_per_ip_1h > 1000", mode: "shadow" },
  });
  const before = await observations();
  const results = await Promise.all(Array.from({ length: 30 }, () => pay("192.0.2.9")));
  assert.ok(results.every((r) => r === "succeeded"));
  assert.equal((await observations()) - before, 30);
  const { rows } = await t.database.db.query<{ n: number }>(
    "select count(*)::int as n from risk_observations where subject = 'ip:192.0.2.9'",
  );
  assert.equal(Number(rows[0]!.n), 30);
  await call(t.app, "DELETE", `/v1/risk_rules/${rule.body.id}`, { key: m.secretKey });
});

test("attempts at once are each counted before the next is decided: a limit holds exactly", async () => {
  const rule = await call<{ id: string }>(t.app, "POST", "/v1/risk_rules", {
    key: m.secretKey,
    body: { name: "twenty an hour", rule: "block if payments_per_ip_1h > 20", mode: "enforce" },
  });
  const results = await Promise.all(Array.from({ length: 30 }, () => pay("192.0.2.77")));
  assert.equal(results.filter((r) => r === "succeeded").length, 20);
  assert.equal(results.filter((r) => r === "blocked_by_risk_rule").length, 10);
  await call(t.app, "DELETE", `/v1/risk_rules/${rule.body.id}`, { key: m.secretKey });
});

test("a process that starts reads back the last day's observations (a restart resets nothing)", async () => {
  const rule = await call<{ id: string }>(t.app, "POST", "/v1/risk_rules", {
    key: m.secretKey,
    body: { name: "five an hour", rule: "block if payments_per_ip_1h > 5", mode: "enforce" },
  });
  const ip = "192.0.2.88";
  for (let i = 0; i < 4; i++) assert.equal(await pay(ip), "succeeded");
  // Written within the flush period (the read-back below waits two of them); here at once.
  assert.equal(await t.services.risk.flushObservations(), true);
  clock.advance(1000);
  // Another process on the same database: it counted nothing itself.
  const fresh = new Risk(t.database.db, clock);
  const scope = { merchantId: m.merchantId, mode: "test" as const };
  await fresh.seeded(scope);
  const subject = { flow: "payment" as const, amount: 100, currency: "EUR", method: "sandbox", ip };
  const fifth = await fresh.assess(scope, subject, clock.nowMs());
  assert.equal(fifth.action, "allow");
  const sixth = await fresh.assess(scope, subject, clock.nowMs());
  assert.equal(sixth.action, "block");
  assert.deepEqual(sixth.rows.find((r) => r.table === "risk_decisions")?.row.attribute_values, {
    payments_per_ip_1h: 6,
  });
  await call(t.app, "DELETE", `/v1/risk_rules/${rule.body.id}`, { key: m.secretKey });
});

test("a warm process asks the database nothing to decide a payment with an address", async () => {
  const rules = await Promise.all(
    [
      { name: "velocity", rule: "block if payments_per_ip_1h > 100", mode: "enforce" },
      { name: "listed", rule: 'block if ip in blocklist("ips")', mode: "enforce" },
    ].map((body) => call<{ id: string }>(t.app, "POST", "/v1/risk_rules", { key: m.secretKey, body })),
  );
  const listed = await call<{ id: string }>(t.app, "POST", "/v1/risk_list_entries", {
    key: m.secretKey,
    body: { list_type: "blocklist", list: "ips", value: "203.0.113.66" },
  });
  assert.equal(listed.status, 201, JSON.stringify(listed.body));
  let queries = 0;
  const db = t.database.db;
  const counting = Object.create(db, {
    query: {
      value: (sql: string, params?: unknown[]) => {
        // The buffered observation rows are written off the payment's path, on a timer.
        if (!sql.startsWith("insert into risk_observations")) queries++;
        return db.query(sql, params);
      },
    },
  });
  const risk = new Risk(counting, clock);
  const scope = { merchantId: m.merchantId, mode: "test" as const };
  await risk.seeded(scope);
  queries = 0;
  const at = (ip: string) =>
    risk.assess(
      scope,
      { flow: "payment", amount: 100, currency: "EUR", method: "sandbox", ip },
      clock.nowMs(),
    );
  for (let i = 0; i < 20; i++) assert.equal((await at(`198.51.100.${i}`)).action, "allow");
  assert.equal((await at("203.0.113.66")).action, "block");
  assert.equal(queries, 0);
  for (const r of rules) await call(t.app, "DELETE", `/v1/risk_rules/${r.body.id}`, { key: m.secretKey });
});

test("observations leave with their day's partition", async () => {
  await ensureRiskPartitions(t.database.db, clock.nowMs());
  assert.ok((await observations()) > 0);
  // Three days on, the days that held them are past the longest window: dropped.
  const { dropped } = await ensureRiskPartitions(t.database.db, clock.nowMs() + 3 * 86_400_000);
  assert.ok(dropped.length > 0);
  assert.equal(await observations(), 0);
  // Decisions are kept.
  const { rows } = await t.database.db.query<{ n: number }>(
    "select count(*)::int as n from risk_decisions where merchant_id = $1",
    [m.merchantId],
  );
  assert.ok(Number(rows[0]!.n) > 0);
});
