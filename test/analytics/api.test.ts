/**
 * GET /v1/analytics/...: the contract's payments series and funnel, CSV, the summary tiles,
 * bad input, and one merchant never seeing another's numbers.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { catchUp, FUNNEL_STEPS, JOURNEY_TABLE } from "../../src/analytics/index.ts";
import type { Summary } from "../../src/analytics/summary.ts";
import {
  ADMIN_KEY,
  call,
  createMerchant,
  createTestApp,
  FakeClock,
  type MerchantKeys,
  type TestApp,
} from "../support/app.ts";

const START = Date.parse("2026-04-02T09:00:00Z");
const clock = new FakeClock(START);
let t: TestApp;
let m: MerchantKeys;
let other: MerchantKeys;

type Series = {
  object: string;
  currency: string | null;
  series: { key: Record<string, string>; points: { t: string; count: number; amount: number }[] }[];
};

async function pay(key: string, scenario: string, amount: number, metadata: Record<string, string>) {
  const r = await call<{ id: string; status: string }>(t.app, "POST", "/v1/payments", {
    key,
    body: { amount, currency: "EUR", payment_method: { type: "sandbox", scenario }, metadata },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

before(async () => {
  t = await createTestApp({ clock });
  m = await createMerchant(t.app, "Analytics studio");
  other = await createMerchant(t.app, "Other studio");
  // 09:00: 3 approved (FR, op1), 1 declined (FR, op1); 09:01: 2 approved (RO, op2); one PIN left open.
  for (const amount of [100, 200, 300])
    await pay(m.secretKey, "approve", amount, { country: "FR", operator: "op1", app: "game" });
  await pay(m.secretKey, "decline_insufficient_funds", 400, { country: "FR", operator: "op1", app: "game" });
  clock.advance(60_000);
  for (const amount of [500, 600])
    await pay(m.secretKey, "approve", amount, { country: "RO", operator: "op2", app: "shop" });
  await pay(m.secretKey, "require_pin", 700, { country: "RO", operator: "op2", app: "shop" });
  await pay(other.secretKey, "approve", 9999, { country: "FR", operator: "op1" });
  clock.advance(60_000);
  await catchUp(t.services.db, clock.nowMs());
});
after(() => t.close());

const range = `from=${new Date(START).toISOString()}&to=${new Date(START + 3_600_000).toISOString()}`;

describe("payments series", () => {
  test("group_by=status: counts and amounts per minute, zero-filled, the contract's shape", async () => {
    const r = await call<Series>(
      t.app,
      "GET",
      `/v1/analytics/payments?${range}&granularity=minute&group_by=status`,
      {
        key: m.secretKey,
      },
    );
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.object, "analytics");
    const byStatus = Object.fromEntries(r.body.series.map((s) => [s.key.status, s.points]));
    assert.deepEqual(Object.keys(byStatus).sort(), ["failed", "requires_action", "succeeded"]);
    assert.equal(byStatus.succeeded!.length, 60, "one point per minute of the hour");
    assert.deepEqual(byStatus.succeeded!.slice(0, 3), [
      { t: "2026-04-02T09:00:00.000Z", count: 3, amount: 600 },
      { t: "2026-04-02T09:01:00.000Z", count: 2, amount: 1100 },
      { t: "2026-04-02T09:02:00.000Z", count: 0, amount: 0 },
    ]);
    assert.deepEqual(byStatus.failed![0], { t: "2026-04-02T09:00:00.000Z", count: 1, amount: 400 });
    assert.deepEqual(byStatus.requires_action![1], { t: "2026-04-02T09:01:00.000Z", count: 1, amount: 700 });
  });

  test("group_by=operator,status at hour granularity, with a country filter", async () => {
    const r = await call<Series>(
      t.app,
      "GET",
      `/v1/analytics/payments?${range}&granularity=hour&group_by=operator,status&country=fr`,
      { key: m.secretKey },
    );
    assert.equal(r.status, 200);
    assert.deepEqual(
      r.body.series.map((s) => [s.key, s.points]),
      [
        [{ operator: "op1", status: "failed" }, [{ t: "2026-04-02T09:00:00.000Z", count: 1, amount: 400 }]],
        [
          { operator: "op1", status: "succeeded" },
          [{ t: "2026-04-02T09:00:00.000Z", count: 3, amount: 600 }],
        ],
      ],
    );
  });

  test("CSV with Accept: text/csv", async () => {
    const r = await call(t.app, "GET", `/v1/analytics/payments?${range}&granularity=hour&group_by=status`, {
      key: m.secretKey,
      headers: { accept: "text/csv" },
    });
    assert.equal(r.status, 200);
    assert.match(String(r.headers["content-type"]), /^text\/csv/);
    assert.deepEqual(String(r.body).trim().split("\r\n"), [
      "t,status,count,amount,currency",
      "2026-04-02T09:00:00.000Z,failed,1,400,EUR",
      "2026-04-02T09:00:00.000Z,requires_action,1,700,EUR",
      "2026-04-02T09:00:00.000Z,succeeded,5,1700,EUR",
    ]);
  });

  test("another merchant's key sees only its own payments; the admin names the merchant", async () => {
    const mine = await call<Series>(t.app, "GET", `/v1/analytics/payments?${range}&group_by=status`, {
      key: other.secretKey,
    });
    assert.deepEqual(
      mine.body.series.map((s) => [s.key.status, s.points.reduce((a, p) => a + p.count, 0)]),
      [["succeeded", 1]],
    );
    const admin = await call<Series>(
      t.app,
      "GET",
      `/v1/analytics/payments?${range}&group_by=status&merchant=${m.merchantId}`,
      { key: ADMIN_KEY },
    );
    assert.equal(admin.body.series.length, 3);
    const noMerchant = await call(t.app, "GET", `/v1/analytics/payments?${range}`, { key: ADMIN_KEY });
    assert.equal(noMerchant.status, 400);
  });

  test("bad input: a clear 400 naming the parameter", async () => {
    for (const [query, param] of [
      ["group_by=password", "group_by"],
      ["granularity=week", "granularity"],
      ["from=yesterday", "from"],
      [`from=${new Date(START + 1000).toISOString()}&to=${new Date(START).toISOString()}`, "from"],
      ["granularity=minute&from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z", "granularity"],
      ["time_zone=Mars/Olympus", "time_zone"],
      ["unknown=1", "unknown"],
    ] as const) {
      const r = await call<{ error: { type: string; param: string } }>(
        t.app,
        "GET",
        `/v1/analytics/payments?${query}`,
        {
          key: m.secretKey,
        },
      );
      assert.equal(r.status, 400, query);
      assert.equal(r.body.error.type, "invalid_request_error");
      assert.equal(r.body.error.param, param, query);
    }
    const unauthenticated = await call(t.app, "GET", "/v1/analytics/payments");
    assert.equal(unauthenticated.status, 401);
    const publishable = await call(t.app, "GET", "/v1/analytics/payments", { key: m.publishableKey });
    assert.equal(publishable.status, 403);
  });
});

describe("summary", () => {
  test("tiles: totals, acceptance with the open PIN apart, revenue", async () => {
    const r = await call<Summary>(t.app, "GET", `/v1/analytics/summary?${range}`, {
      key: m.secretKey,
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.payments, {
      total: 7,
      by_status: { succeeded: 5, failed: 1, requires_action: 1 },
    });
    assert.deepEqual(r.body.acceptance, { rate: 0.8333, accepted: 5, declined: 1, abandoned: 1, open: 0 });
    assert.deepEqual(r.body.revenue, {
      by_currency: [{ currency: "EUR", amount: 1700 }],
      total: 1700,
      currency: "EUR",
      unconverted_currencies: [],
    });
    assert.deepEqual(r.body.declines, [{ reason: "insufficient_funds", count: 1 }]);
    assert.equal(r.body.ingest.lag_ms, 0);
  });
});

describe("funnel", () => {
  before(async () => {
    const exists = await t.services.db.query<{ t: string | null }>("select to_regclass($1)::text as t", [
      JOURNEY_TABLE,
    ]);
    if (!exists.rows[0]?.t) {
      // Checkout's journey table, as it records it (partitioned by day, a default partition).
      await t.services.db.query(`create table ${JOURNEY_TABLE} (
        session_id text not null, merchant_id text not null, mode text not null, app text, country text,
        operator text, method text, step text not null, created timestamptz not null
      ) partition by range (created)`);
      await t.services.db.query(
        `create table ${JOURNEY_TABLE}_default partition of ${JOURNEY_TABLE} default`,
      );
    }
  });

  test("funnel counts equal the journeys recorded, per operator, whatever the journeys", async () => {
    const journey = fc.record({
      operator: fc.constantFrom("op1", "op2", "op3"),
      app: fc.constantFrom("game", "shop"),
      reached: fc.integer({ min: 1, max: FUNNEL_STEPS.length }),
      // A payer may go back and reach a step twice: still one session at that step.
      repeats: fc.integer({ min: 1, max: 2 }),
      minute: fc.integer({ min: 0, max: 59 }),
    });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(journey, { minLength: 1, maxLength: 25 }),
        fc.string({ minLength: 6, maxLength: 6 }),
        async (journeys, salt) => {
          // Each run in an hour of its own.
          const day = START + 2 * 86_400_000 + run++ * 3_600_000;
          const rows: unknown[][] = [];
          journeys.forEach((j, i) => {
            for (let s = 0; s < j.reached; s++) {
              for (let r = 0; r < j.repeats; r++) {
                rows.push([
                  `cs_${salt}_${i}`,
                  m.merchantId,
                  "test",
                  j.app,
                  "FR",
                  j.operator,
                  "carrier",
                  FUNNEL_STEPS[s],
                  new Date(day + j.minute * 60_000 + r),
                ]);
              }
            }
          });
          for (const row of rows) {
            await t.services.db.query(
              `insert into ${JOURNEY_TABLE} values ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
              row,
            );
          }
          const window = `from=${new Date(day).toISOString()}&to=${new Date(day + 3_600_000).toISOString()}`;
          const r = await call<{
            steps: { step: string; count: number }[];
            series: { key: { operator: string }; steps: { step: string; count: number }[] }[];
          }>(t.app, "GET", `/v1/analytics/funnel?${window}&app=game&group_by=operator`, { key: m.secretKey });
          assert.equal(r.status, 200, JSON.stringify(r.body));
          const expected = (filter: (j: (typeof journeys)[number]) => boolean) =>
            FUNNEL_STEPS.map((step, s) => ({
              step,
              count: journeys.filter((j) => j.app === "game" && filter(j) && j.reached > s).length,
            }));
          assert.deepEqual(
            r.body.steps.map(({ step, count }) => ({ step, count })),
            expected(() => true),
          );
          for (const series of r.body.series) {
            assert.deepEqual(
              series.steps.map(({ step, count }) => ({ step, count })),
              expected((j) => j.operator === series.key.operator),
            );
          }
          await t.services.db.query(`delete from ${JOURNEY_TABLE} where session_id like $1`, [
            `cs_${salt}_%`,
          ]);
        },
      ),
      { numRuns: 15 },
    );
  });

  test("funnel as CSV", async () => {
    const r = await call(t.app, "GET", `/v1/analytics/funnel?${range}`, {
      key: m.secretKey,
      headers: { accept: "text/csv" },
    });
    assert.equal(r.status, 200);
    assert.equal(String(r.body).split("\r\n")[0], "group,step,count,conversion");
  });
});
