/**
 * Goal: `GET /v1/analytics/payments` and `/funnel` answer what the payments table and the
 * recorded checkout journeys say, per merchant, as JSON and CSV; bad input names its field.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { feedLag, funnelByOperator, ingestRollups } from "../../src/analytics/index.ts";
import { insertEvents } from "../../src/events/index.ts";
import {
  ADMIN_KEY,
  call,
  createMerchant,
  createTestApp,
  type MerchantKeys,
  type TestApp,
} from "../support/app.ts";

let t: TestApp;
let a: MerchantKeys;
let b: MerchantKeys;

type Analytics = {
  object: string;
  series: Array<{ key: Record<string, string>; points: Array<{ t: string; count: number; amount: number }> }>;
};

async function drain(): Promise<void> {
  // Until nothing is behind the cursor (other databases' transactions may hold the horizon back).
  while ((await feedLag(t.services.db, "rollups")) > 0n) {
    if ((await ingestRollups(t.services)) === 0) await new Promise((r) => setTimeout(r, 20));
  }
}

before(async () => {
  t = await createTestApp();
  a = await createMerchant(t.app, "A");
  b = await createMerchant(t.app, "B");
  const scenarios = ["approve", "decline_generic", "approve", "decline_insufficient_funds", "approve"];
  for (let i = 0; i < 25; i++) {
    const reply = await call(t.app, "POST", "/v1/payments", {
      key: i % 5 === 4 ? b.secretKey : a.secretKey,
      body: {
        amount: 100 + i,
        currency: i % 3 === 0 ? "GBP" : "EUR",
        payment_method: { type: "sandbox", scenario: scenarios[i % scenarios.length] },
      },
    });
    assert.equal(reply.status, 201);
  }
  // Carrier payments as the events record them (the embedded simulator is not started here).
  await t.services.db.transaction((tx) =>
    insertEvents(
      tx,
      ["20801", "20801", "20810", "26201"].map((operator, i) => ({
        merchantId: a.merchantId,
        mode: "test" as const,
        type: "payment.succeeded",
        object: {
          id: `pay_carrier${i}`,
          object: "payment",
          amount: 199,
          amount_captured: 199,
          currency: "EUR",
          payment_method: { type: "carrier", operator, msisdn: "+33612345678", flow: "pin" },
        },
        createdMs: Date.now(),
      })),
    ),
  );
  await drain();
});
after(() => t.close());

function totals(
  result: Analytics,
  by: (key: Record<string, string>) => string,
): Record<string, [number, number]> {
  const out: Record<string, [number, number]> = {};
  for (const s of result.series) {
    const k = by(s.key);
    out[k] ??= [0, 0];
    for (const p of s.points) {
      out[k][0] += p.count;
      out[k][1] += p.amount;
    }
  }
  return out;
}

test("payments by status and currency equal the payments table, for the merchant only", async () => {
  const reply = await call<Analytics>(
    t.app,
    "GET",
    "/v1/analytics/payments?granularity=minute&group_by=status",
    {
      key: a.secretKey,
    },
  );
  assert.equal(reply.status, 200, JSON.stringify(reply.body));
  assert.equal(reply.body.object, "analytics");
  const { rows } = await t.services.db.query<{ k: string; count: bigint; amount: bigint }>(
    `select status || '/' || currency as k, count(*)::int8 as count, sum(amount)::int8 as amount
       from payments where merchant_id = $1 and status in ('succeeded', 'failed', 'canceled') group by 1`,
    [a.merchantId],
  );
  const expected: Record<string, [number, number]> = Object.fromEntries(
    rows.map((r) => [r.k, [Number(r.count), Number(r.amount)] as [number, number]]),
  );
  const eur = expected["succeeded/EUR"]!;
  eur[0] += 4; // the carrier payments
  eur[1] += 4 * 199;
  assert.deepEqual(
    totals(reply.body, (k) => `${k.status}/${k.currency}`),
    expected,
  );
  // Hourly and daily rollups say the same.
  for (const granularity of ["hour", "day"]) {
    const other = await call<Analytics>(
      t.app,
      "GET",
      `/v1/analytics/payments?granularity=${granularity}&group_by=status`,
      {
        key: a.secretKey,
      },
    );
    assert.deepEqual(
      totals(other.body, (k) => `${k.status}/${k.currency}`),
      expected,
      granularity,
    );
  }
  // Merchant B sees only its own.
  const other = await call<Analytics>(t.app, "GET", "/v1/analytics/payments", { key: b.secretKey });
  const bTotal = Object.values(totals(other.body, () => "all"))[0]![0];
  assert.equal(bTotal, 5);
});

test("group by operator and country, filter by operator", async () => {
  const reply = await call<Analytics>(
    t.app,
    "GET",
    "/v1/analytics/payments?granularity=hour&group_by=operator,country,method&method=carrier",
    { key: a.secretKey },
  );
  assert.equal(reply.status, 200);
  assert.deepEqual(
    totals(reply.body, (k) => `${k.operator}/${k.country}/${k.method}`),
    { "20801/FR/carrier": [2, 398], "20810/FR/carrier": [1, 199], "26201/DE/carrier": [1, 199] },
  );
  const one = await call<Analytics>(t.app, "GET", "/v1/analytics/payments?operator=20810", {
    key: a.secretKey,
  });
  assert.deepEqual(
    totals(one.body, () => "x"),
    { x: [1, 199] },
  );
});

test("the admin key reads any merchant or all of them; a merchant key cannot choose", async () => {
  const all = await call<Analytics>(t.app, "GET", "/v1/analytics/payments?granularity=day", {
    key: ADMIN_KEY,
  });
  assert.equal(Object.values(totals(all.body, () => "x"))[0]![0], 29);
  const onlyB = await call<Analytics>(t.app, "GET", `/v1/analytics/payments?merchant=${b.merchantId}`, {
    key: ADMIN_KEY,
  });
  assert.equal(Object.values(totals(onlyB.body, () => "x"))[0]![0], 5);
  const refused = await call<{ error: { param: string } }>(
    t.app,
    "GET",
    `/v1/analytics/payments?merchant=${b.merchantId}`,
    { key: a.secretKey },
  );
  assert.equal(refused.status, 400);
  assert.equal(refused.body.error.param, "merchant");
  const publishable = await call(t.app, "GET", "/v1/analytics/payments", { key: a.publishableKey });
  assert.equal(publishable.status, 403);
});

test("CSV with Accept: text/csv has one line per point", async () => {
  const json = await call<Analytics>(
    t.app,
    "GET",
    "/v1/analytics/payments?granularity=minute&group_by=status",
    {
      key: a.secretKey,
    },
  );
  const csv = await call(t.app, "GET", "/v1/analytics/payments?granularity=minute&group_by=status", {
    key: a.secretKey,
    headers: { accept: "text/csv" },
  });
  assert.equal(csv.status, 200);
  assert.match(String(csv.headers["content-type"]), /^text\/csv/);
  const lines = String(csv.body).trimEnd().split("\r\n");
  assert.equal(lines[0], "t,currency,status,count,amount");
  const points = json.body.series.reduce((n, s) => n + s.points.length, 0);
  assert.equal(lines.length - 1, points);
  const sum = lines.slice(1).reduce((n, l) => n + Number(l.split(",")[3]), 0);
  assert.equal(sum, Object.values(totals(json.body, () => "x"))[0]![0]);
});

test("bad input answers 400 naming the field", async () => {
  for (const [query, param] of [
    ["granularity=week", "granularity"],
    ["group_by=status,planet", "group_by"],
    ["from=yesterday", "from"],
    ["from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "to"],
    ["granularity=minute&from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "from"],
    ["status=pending", "status"],
    ["colour=red", "colour"],
  ] as const) {
    const reply = await call<{ error: { param: string } }>(t.app, "GET", `/v1/analytics/payments?${query}`, {
      key: a.secretKey,
    });
    assert.equal(reply.status, 400, query);
    assert.equal(reply.body.error.param, param, query);
  }
});

test("the funnel counts the journeys checkout recorded, per step, with filters", async () => {
  // Seeded journeys: each a session with the steps it reached (operator known from msisdn_entered).
  const journeys: Array<{ app: string; operator: string; steps: string[] }> = [];
  const paths = [
    ["page_opened"],
    ["page_opened", "method_chosen"],
    ["page_opened", "method_chosen", "msisdn_entered", "pin_sent", "pin_accepted", "charged"],
    [
      "page_opened",
      "method_chosen",
      "msisdn_entered",
      "pin_sent",
      "pin_rejected",
      "pin_sent",
      "pin_accepted",
      "charged",
    ],
    ["page_opened", "method_chosen", "msisdn_entered", "pin_sent", "abandoned"],
  ];
  for (let i = 0; i < 40; i++) {
    journeys.push({
      app: i % 2 ? "app_one" : "app_two",
      operator: i % 3 ? "20801" : "20810",
      steps: paths[i % paths.length]!,
    });
  }
  const now = Date.now();
  await t.services.db.transaction(async (tx) => {
    let n = 0;
    for (const [j, journey] of journeys.entries()) {
      for (const step of journey.steps) {
        const known = journey.steps.indexOf("msisdn_entered");
        const hasOperator = known >= 0 && journey.steps.indexOf(step) >= known;
        await tx.query(
          `insert into checkout_steps (id, session_id, merchant_id, mode, app_id, country, operator, method, step, created)
           values ($1, $2, $3, 'test', $4, $5, $6, $7, $8, $9)`,
          [
            `cstep_${n++}`,
            `cs_${j}`,
            a.merchantId,
            journey.app,
            hasOperator ? "FR" : null,
            hasOperator ? journey.operator : null,
            step === "page_opened" ? null : "carrier",
            step,
            new Date(now - 1000),
          ],
        );
      }
    }
  });
  const expect = (filter: (j: (typeof journeys)[number]) => boolean) => {
    const counts: Record<string, number> = {};
    for (const j of journeys.filter(filter))
      for (const s of new Set(j.steps)) counts[s] = (counts[s] ?? 0) + 1;
    return counts;
  };
  type Funnel = { object: string; steps: Array<{ step: string; count: number }>; journeys: number };
  const nonZero = (f: Funnel) =>
    Object.fromEntries(f.steps.filter((s) => s.count > 0).map((s) => [s.step, s.count]));
  const all = await call<Funnel>(t.app, "GET", "/v1/analytics/funnel", { key: a.secretKey });
  assert.equal(all.status, 200, JSON.stringify(all.body));
  assert.equal(all.body.object, "analytics_funnel");
  assert.deepEqual(
    nonZero(all.body),
    expect(() => true),
  );
  assert.equal(all.body.journeys, 40);
  assert.deepEqual(
    all.body.steps.slice(0, 3).map((s) => s.step),
    ["page_opened", "method_chosen", "msisdn_entered"],
  );
  const app = await call<Funnel>(t.app, "GET", "/v1/analytics/funnel?app=app_one", { key: a.secretKey });
  assert.deepEqual(
    nonZero(app.body),
    expect((j) => j.app === "app_one"),
  );
  const op = await call<Funnel>(t.app, "GET", "/v1/analytics/funnel?operator=20810&app=app_two", {
    key: a.secretKey,
  });
  assert.deepEqual(
    nonZero(op.body),
    expect((j) => j.app === "app_two" && j.operator === "20810" && j.steps.includes("msisdn_entered")),
  );
  const csv = await call(t.app, "GET", "/v1/analytics/funnel", {
    key: a.secretKey,
    headers: { accept: "text/csv" },
  });
  assert.match(String(csv.body), /^step,count\r\npage_opened,40\r\n/);
  const other = await call<Funnel>(t.app, "GET", "/v1/analytics/funnel", { key: b.secretKey });
  assert.equal(other.body.journeys, 0);

  // The dashboard's funnel per operator (one query) equals the funnel cut by each operator, with
  // and without another filter; journeys that never named an operator are in none.
  const period = { fromMs: now - 3_600_000, toMs: now + 1000 };
  const from = new Date(period.fromMs).toISOString();
  const to = new Date(period.toMs).toISOString();
  for (const app of [undefined, "app_two"]) {
    const byOperator = await funnelByOperator(
      t.services.db,
      { merchantId: a.merchantId, mode: "test" },
      { ...period, ...(app ? { app } : {}) },
    );
    const named = (op: string) => (j: (typeof journeys)[number]) =>
      j.operator === op && j.steps.includes("msisdn_entered") && (app === undefined || j.app === app);
    // Most journeys first.
    assert.deepEqual(
      byOperator.map((o) => [o.operator, o.journeys]),
      [
        ["20801", journeys.filter(named("20801")).length],
        ["20810", journeys.filter(named("20810")).length],
      ],
    );
    for (const o of byOperator) {
      const cut = await call<Funnel>(
        t.app,
        "GET",
        `/v1/analytics/funnel?operator=${o.operator}&from=${from}&to=${to}${app ? `&app=${app}` : ""}`,
        { key: a.secretKey },
      );
      assert.equal(o.journeys, cut.body.journeys);
      assert.deepEqual(
        o.steps.map((s) => s.step),
        ["page_opened", "method_chosen", "msisdn_entered", "pin_sent", "pin_accepted", "charged"],
      );
      for (const s of o.steps) {
        assert.equal(
          s.count,
          cut.body.steps.find((x) => x.step === s.step)!.count,
          `${o.operator} ${s.step}`,
        );
        assert.equal(s.count, expect(named(o.operator))[s.step] ?? 0);
      }
    }
  }
  const none = await funnelByOperator(t.services.db, { merchantId: b.merchantId, mode: "test" }, period);
  assert.deepEqual(none, []);
});

test("the OpenAPI document describes the analytics routes", async () => {
  const doc = await call<{
    paths: Record<string, Record<string, { operationId: string; responses: Record<string, unknown> }>>;
  }>(t.app, "GET", "/openapi.json");
  const payments = doc.body.paths["/v1/analytics/payments"]!.get!;
  assert.equal(payments.operationId, "getPaymentAnalytics");
  assert.ok(payments.responses["200"] && payments.responses["400"]);
  assert.equal(doc.body.paths["/v1/analytics/funnel"]!.get!.operationId, "getCheckoutFunnel");
});
