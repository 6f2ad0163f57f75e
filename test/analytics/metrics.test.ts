/**
 * Goal: every metric beyond payments' outcomes (refunds, declines by reason per operator,
 * subscriptions and MRR, retries, wallet top-ups and spend, voucher redemptions, provider latency
 * and errors, webhook delivery lag) as served by `GET /v1/analytics/...` equals a direct count
 * over its source tables after a seeded mixed run, and again after a rebuild; totals in a
 * reporting currency use the recorded rate of each day and say which; day buckets follow a zone.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { bound, percentile } from "../../src/analytics/distributions.ts";
import { factsOfEvent, monthlyAmount } from "../../src/analytics/facts.ts";
import { feedLag, ingestRollups, rebuildRollups } from "../../src/analytics/index.ts";
import { runDueBilling } from "../../src/billing/scheduler.ts";
import {
  ADMIN_KEY,
  call,
  createMerchant,
  createTestApp,
  FakeClock,
  type MerchantKeys,
  type TestApp,
} from "../support/app.ts";

const T0 = Date.parse("2026-03-10T20:30:00Z");
const HOUR = 3_600_000;
const DAY = 86_400_000;
const clock = new FakeClock(T0);
let t: TestApp;
let m: MerchantKeys;
let adminKey: string;

type Series = { key: Record<string, string>; points: Array<{ t: string; count: number; amount: number }> };

const post = <T = Record<string, unknown>>(url: string, body: unknown = {}) =>
  call<T>(t.app, "POST", url, { key: m.secretKey, body });
const get = <T = Record<string, unknown>>(url: string, key = m.secretKey, headers?: Record<string, string>) =>
  call<T>(t.app, "GET", url, { key, ...(headers ? { headers } : {}) });

async function ingestAll(): Promise<void> {
  while ((await feedLag(t.services.db, "rollups")) > 0n) {
    if ((await ingestRollups(t.services)) === 0) await new Promise((r) => setTimeout(r, 10));
  }
}

async function created<T = { id: string; status: string }>(url: string, body: unknown): Promise<T> {
  const r = await post<T>(url, body);
  assert.equal(r.status, 201, `${url}: ${JSON.stringify(r.body)}`);
  return r.body;
}

const PERIOD = `from=${new Date(T0 - 2 * DAY).toISOString()}&to=${new Date(T0 + 10 * DAY).toISOString()}`;

/** Sums of an endpoint's series by metric (and any other key), over the whole period. */
async function totals(path: string, extra = ""): Promise<Record<string, { count: number; amount: number }>> {
  const r = await get<{ series: Series[] }>(`/v1/analytics/${path}?${PERIOD}&granularity=day${extra}`);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const out: Record<string, { count: number; amount: number }> = {};
  for (const s of r.body.series) {
    const id = Object.entries(s.key)
      .filter(([k]) => k !== "currency" || extra.includes("currency"))
      .map(([k, v]) => `${k}=${v}`)
      .sort()
      .join(",");
    const sum = out[id] ?? { count: 0, amount: 0 };
    out[id] = sum;
    for (const p of s.points) {
      sum.count += p.count;
      sum.amount += p.amount;
    }
  }
  return out;
}

async function scalar(sql: string, params: unknown[] = []): Promise<Record<string, number>> {
  const { rows } = await t.services.db.query<Record<string, bigint | number | null>>(sql, params);
  return Object.fromEntries(Object.entries(rows[0] ?? {}).map(([k, v]) => [k, Number(v ?? 0)]));
}

before(async () => {
  process.env.CENTIME_WEBHOOK_ALLOWED_HOSTS = "127.0.0.1";
  t = await createTestApp({ clock });
  m = await createMerchant(t.app);
  adminKey = ADMIN_KEY;

  // Payments: approvals, two decline reasons, a PIN left waiting, partial refunds, in two currencies.
  const scenarios = ["approve", "decline_generic", "decline_insufficient_funds", "approve", "require_pin"];
  for (let i = 0; i < 10; i++) {
    const p = await created<{ id: string; status: string }>("/v1/payments", {
      amount: 200 + i * 13,
      currency: i % 5 === 0 || i === 8 ? "GBP" : "EUR",
      payment_method: { type: "sandbox", scenario: scenarios[i % scenarios.length] },
    });
    if (p.status === "succeeded" && i % 2 === 0) await created("/v1/refunds", { payment: p.id, amount: 50 });
    if (i === 5) clock.advance(DAY); // a second day, so that rates of two days are used
  }

  // Wallets: a top-up (EUR into GEMS) and spend from it.
  assert.equal((await post("/v1/currencies", { code: "GEMS", name: "gems", minor_digits: 0 })).status, 201);
  assert.equal((await post("/v1/exchange_rates", { from: "EUR", to: "GEMS", rate: "1.25" })).status, 201);
  const buyer = (await created<{ id: string }>("/v1/customers", {})).id;
  for (const amount of [999, 400]) {
    await created("/v1/payments", {
      amount,
      currency: "EUR",
      customer: buyer,
      payment_method: { type: "sandbox", scenario: "approve" },
      wallet_top_up: { currency: "GEMS" },
    });
  }
  await created("/v1/payments", {
    amount: 7,
    currency: "GEMS",
    customer: buyer,
    payment_method: { type: "wallet" },
  });

  // Subscriptions: weekly and monthly ones charged by the scheduler, one canceled, one declined
  // (retried by the dunning).
  const product = (await created<{ id: string }>("/v1/products", { name: "Alerts" })).id;
  const weekly = (
    await created<{ id: string }>("/v1/prices", {
      product,
      amount: 199,
      currency: "EUR",
      recurring: { period: "P1W" },
    })
  ).id;
  const monthly = (
    await created<{ id: string }>("/v1/prices", {
      product,
      amount: 999,
      currency: "EUR",
      recurring: { period: "P1M" },
    })
  ).id;
  const subs: string[] = [];
  for (const [price, scenario] of [
    [weekly, "approve"],
    [monthly, "approve"],
    [weekly, "approve"],
    [monthly, "decline_generic"],
  ] as const) {
    const c = (await created<{ id: string }>("/v1/customers", { country: "NG" })).id;
    subs.push(
      (
        await created<{ id: string }>("/v1/subscriptions", {
          customer: c,
          price,
          payment_method: { type: "sandbox", scenario },
        })
      ).id,
    );
  }
  await runDueBilling(t.services.billing.context, { nowMs: clock.nowMs() });
  clock.advance(2 * HOUR);
  assert.equal((await post(`/v1/subscriptions/${subs[2]}/cancel`)).status, 200);
  for (let h = 0; h < 3; h++) {
    clock.advance(5 * HOUR);
    await runDueBilling(t.services.billing.context, { nowMs: clock.nowMs() });
  }

  // Voucher redemptions and webhook attempts, as the vouchers and the webhook worker write them
  // (both reach the feed by their own trigger, migration 0210).
  const endpoint = await created<{ id: string }>("/v1/webhook_endpoints", {
    url: "http://127.0.0.1:9/hooks",
    events: ["payment.succeeded"],
  });
  const { rows: events } = await t.services.db.query<{ id: string; created: Date }>(
    "select id, created from events where merchant_id = $1 and type = 'payment.succeeded' order by id limit 12",
    [m.merchantId],
  );
  await t.services.db.query(
    `insert into webhook_attempts (id, merchant_id, mode, endpoint_id, delivery_id, event_id, event_type, attempt_number,
       manual, status, response_status, latency_ms, url, created)
     select 'wha_t' || lpad(n::text, 4, '0'), $1, 'test', $2, n, e.id, 'payment.succeeded', 1, n = 3,
            case when n % 4 = 1 then 'failed' else 'succeeded' end, 200, 5, 'http://127.0.0.1:9/hooks',
            e.created + make_interval(secs => n * n * 0.137)
       from unnest($3::text[]) with ordinality as x(id, n) join events e on e.id = x.id`,
    [m.merchantId, endpoint.id, events.map((e) => e.id)],
  );
  await t.services.db.query(
    `insert into voucher_redemptions (id, merchant_id, mode, batch_id, serial_number, customer_id, status, granted, created, updated)
     select 'vr_t' || n, $1, 'test', 'vb_t', n, $2, 'posted',
            case when n < 3 then json_build_object('amount', 100 * n, 'currency', 'EUR')::jsonb
                 else '{"entitlement": "vip", "period": "P1M"}'::jsonb end, $3, $3
       from generate_series(1, 4) n`,
    [m.merchantId, buyer, new Date(clock.nowMs())],
  );
  await ingestAll();
});
after(() => t.close());

async function assertMatchesSources(): Promise<void> {
  const mid = [m.merchantId];
  // Refunds.
  const refunds = await totals("refunds");
  const refundRows = await scalar(
    "select count(*) as n, coalesce(sum(amount), 0) as a from refunds where merchant_id = $1 and status = 'succeeded'",
    mid,
  );
  assert.ok(refundRows.n! > 0);
  assert.deepEqual(refunds["metric=refunded"], { count: refundRows.n, amount: refundRows.a });

  // Declines by reason per operator.
  const declines = await totals("declines");
  const { rows: failed } = await t.services.db.query<{
    reason: string;
    operator: string;
    n: bigint;
    a: bigint;
  }>(
    `select coalesce(failure_code, '') as reason, coalesce(payment_method->>'operator', '') as operator,
            count(*)::int8 as n, sum(amount)::int8 as a
       from payments where merchant_id = $1 and status = 'failed' group by 1, 2`,
    mid,
  );
  assert.ok(failed.length >= 2, "two decline reasons at least");
  assert.deepEqual(
    declines,
    Object.fromEntries(
      failed.map((f) => [
        `metric=failed,operator=${f.operator},reason=${f.reason}`,
        { count: Number(f.n), amount: Number(f.a) },
      ]),
    ),
  );

  // Retries (billing's dunning marks them) and what they recovered.
  const retries = await totals("retries");
  const retried = await scalar(
    `select count(*) as n, coalesce(sum(amount), 0) as a,
            count(*) filter (where status = 'succeeded') as ok,
            coalesce(sum(amount_captured) filter (where status = 'succeeded'), 0) as ok_a
       from payments where merchant_id = $1 and metadata->>'retry_attempt' is not null`,
    mid,
  );
  assert.ok(retried.n! > 0, "the declined subscription was retried");
  assert.deepEqual(retries["metric=retry_attempted"], { count: retried.n, amount: retried.a });
  assert.deepEqual(retries["metric=retry_recovered"] ?? { count: 0, amount: 0 }, {
    count: retried.ok,
    amount: retried.ok_a,
  });

  // Wallets.
  const wallets = await totals("wallets");
  const topUps = await scalar(
    `select count(*) as n, sum(amount_captured) as a from payments
      where merchant_id = $1 and status = 'succeeded' and effects ? 'wallet_top_up'`,
    mid,
  );
  const spend = await scalar(
    `select count(*) as n, sum(amount_captured) as a from payments
      where merchant_id = $1 and status = 'succeeded' and payment_method->>'type' = 'wallet'`,
    mid,
  );
  assert.deepEqual(wallets["metric=wallet_top_up"], { count: topUps.n, amount: topUps.a });
  assert.deepEqual(wallets["metric=wallet_spend"], { count: spend.n, amount: spend.a });

  // Vouchers.
  const vouchers = await totals("vouchers");
  const redeemed = await scalar(
    "select count(*) as n, coalesce(sum((granted->>'amount')::int8), 0) as a from voucher_redemptions where merchant_id = $1",
    mid,
  );
  assert.deepEqual(vouchers["metric=voucher_redeemed"], { count: redeemed.n, amount: redeemed.a });

  // Subscriptions: levels at the end and moves over the period.
  const s = await get<{
    series: Array<{
      key: { currency: string };
      points: Array<{ active: number; new: number; canceled: number; mrr: number }>;
    }>;
  }>(`/v1/analytics/subscriptions?${PERIOD}&granularity=day`);
  assert.equal(s.status, 200, JSON.stringify(s.body));
  const eur = s.body.series.find((x) => x.key.currency === "EUR")!;
  const last = eur.points.at(-1)!;
  const { rows: subRows } = await t.services.db.query<{ status: string; amount: bigint; period: string }>(
    "select status, amount, period from subscriptions where merchant_id = $1",
    mid,
  );
  const live = subRows.filter((r) => r.status !== "canceled");
  assert.ok(
    subRows.some((r) => r.status === "canceled"),
    "one is canceled",
  );
  assert.equal(last.active, live.length);
  assert.equal(
    eur.points.reduce((n, p) => n + p.new, 0),
    subRows.length,
  );
  assert.equal(
    eur.points.reduce((n, p) => n + p.canceled, 0),
    subRows.length - live.length,
  );
  assert.equal(
    last.mrr,
    Number(live.reduce((sum, r) => sum + monthlyAmount(BigInt(r.amount), r.period)!, 0n)),
  );

  // Provider latency and errors: calls of every decided payment and refund.
  const providers = await get<{
    data: Array<{
      provider: string;
      operator: string;
      count: number;
      errors: number;
      p50_ms: number;
      p99_ms: number;
    }>;
  }>(`/v1/analytics/providers?${PERIOD}&granularity=day`);
  assert.equal(providers.status, 200, JSON.stringify(providers.body));
  const { rows: calls } = await t.services.db.query<{
    provider: string;
    latency_ms: number;
    outcome: string;
  }>(
    `select i.provider, i.latency_ms, i.outcome from provider_interactions i
      where i.merchant_id = $1 and (
        (i.refund_id is null and exists (select 1 from payments p where p.id = i.payment_id and p.status in ('succeeded', 'failed', 'canceled')))
        or exists (select 1 from refunds r where r.id = i.refund_id and r.status in ('succeeded', 'failed')))`,
    mid,
  );
  assert.ok(calls.length > 0);
  const byProvider = new Map<string, typeof calls>();
  for (const c of calls) byProvider.set(c.provider, [...(byProvider.get(c.provider) ?? []), c]);
  assert.equal(providers.body.data.length, byProvider.size);
  for (const row of providers.body.data) {
    const own = byProvider.get(row.provider)!;
    const histogram = own.map((c) => ({ le_ms: bound(c.latency_ms), count: 1 }));
    assert.equal(row.count, own.length);
    assert.equal(row.errors, own.filter((c) => /^(unknown|not_sent)\b/.test(c.outcome)).length);
    assert.equal(row.p50_ms, percentile(histogram, 0.5));
    assert.equal(row.p99_ms, percentile(histogram, 0.99));
  }

  // Webhook lag, against percentile_disc over the attempts themselves (rounded the same way).
  const lag = await get<{ data: Array<{ count: number; p50_ms: number; p99_ms: number }> }>(
    `/v1/analytics/webhooks?${PERIOD}&granularity=hour`,
  );
  const direct = await scalar(
    `select count(*) as n,
            percentile_disc(0.5) within group (order by (extract(epoch from (a.created - e.created)) * 1000)::int8) as p50,
            percentile_disc(0.99) within group (order by (extract(epoch from (a.created - e.created)) * 1000)::int8) as p99
       from webhook_attempts a join events e on e.id = a.event_id
      where a.merchant_id = $1 and a.status = 'succeeded' and not a.manual`,
    mid,
  );
  assert.ok(direct.n! >= 5);
  assert.equal(lag.body.data.length, 1);
  assert.equal(lag.body.data[0]!.count, direct.n);
  assert.equal(lag.body.data[0]!.p50_ms, bound(direct.p50!));
  assert.equal(lag.body.data[0]!.p99_ms, bound(direct.p99!));
}

test("every metric equals a direct count over its source tables", async () => {
  await assertMatchesSources();
});

test("a rebuild of the days gives the same numbers", async () => {
  const from = Math.floor(T0 / DAY) * DAY - DAY;
  const r = await rebuildRollups(t.services, from, from + 5 * DAY);
  assert.ok(r.events > 0);
  await assertMatchesSources();
});

test("CSV of a metric carries the same figures", async () => {
  const r = await get<string>(`/v1/analytics/declines?${PERIOD}&granularity=day`, m.secretKey, {
    accept: "text/csv",
  });
  assert.equal(r.status, 200);
  const text = String(r.body);
  const lines = text.trim().split("\r\n");
  assert.equal(lines[0], "t,metric,currency,operator,reason,count,amount");
  const sum = lines.slice(1).reduce((n, l) => n + Number(l.split(",")[5]), 0);
  const failed = await scalar(
    "select count(*) as n from payments where merchant_id = $1 and status = 'failed'",
    [m.merchantId],
  );
  assert.equal(sum, failed.n);
  const providers = await get<string>(`/v1/analytics/providers?${PERIOD}&granularity=day`, m.secretKey, {
    accept: "text/csv",
  });
  assert.match(String(providers.body), /^provider,operator,count,errors,error_rate_bp,p50_ms,p99_ms\r\n/);
});

test("totals in a reporting currency use the recorded rate of each day and show it", async () => {
  const day0 = new Date(T0).toISOString().slice(0, 10);
  const day1 = new Date(T0 + DAY).toISOString().slice(0, 10);
  // The sandbox's payments (the wallet's, in an inner currency, have no ISO rate).
  const url = `/v1/analytics/payments?${PERIOD}&granularity=day&group_by=status&status=succeeded&method=sandbox&reporting_currency=EUR`;
  // No GBP rate yet: refused, naming the parameter, never guessed.
  const missing = await get<{ error: { param: string; message: string } }>(url);
  assert.equal(missing.status, 400);
  assert.equal(missing.body.error.param, "reporting_currency");
  assert.match(missing.body.error.message, /GBP/);

  const set = (body: Record<string, string>, key = adminKey) =>
    call<{ error?: { param: string } }>(t.app, "POST", "/v1/analytics/exchange_rates", { key, body });
  assert.equal(
    (await set({ from_currency: "GBP", to_currency: "EUR", day: day0, rate: "1.15" }, m.secretKey)).status,
    403,
  );
  const bad = await set({ from_currency: "GBP", to_currency: "EUR", day: day0, rate: "1.1e2" });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error?.param, "rate");
  assert.equal(
    (await set({ from_currency: "GBP", to_currency: "EUR", day: day0, rate: "1.15" })).status,
    200,
  );
  assert.equal((await set({ from_currency: "GBP", to_currency: "EUR", day: day1, rate: "1.2" })).status, 200);

  const r = await get<{
    reporting: {
      currency: string;
      totals: Array<{ key: Record<string, string>; count: number; amount: number }>;
      rates: Array<{ from_currency: string; day: string; rate: string; rate_day: string }>;
    };
  }>(url);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const { rows } = await t.services.db.query<{ currency: string; day: string; a: bigint; n: bigint }>(
    `select currency, to_char(e.created at time zone 'UTC', 'YYYY-MM-DD') as day, sum(p.amount_captured)::int8 as a, count(*)::int8 as n
       from payments p join events e on e.object_id = p.id and e.type = 'payment.succeeded'
      where p.merchant_id = $1 and p.status = 'succeeded' and p.payment_method->>'type' = 'sandbox' group by 1, 2`,
    [m.merchantId],
  );
  const rateOf: Record<string, [bigint, bigint]> = { [day0]: [115n, 100n], [day1]: [12n, 10n] };
  let expected = 0n;
  for (const row of rows) {
    if (row.currency === "EUR") expected += BigInt(row.a);
    else {
      const [num, den] = rateOf[row.day] ?? rateOf[day1]!;
      expected += (BigInt(row.a) * num * 2n + den) / (2n * den);
    }
  }
  assert.equal(r.body.reporting.currency, "EUR");
  const succeeded = r.body.reporting.totals.find((x) => x.key.status === "succeeded")!;
  assert.equal(succeeded.amount, Number(expected));
  assert.equal(
    succeeded.count,
    rows.reduce((n, x) => n + Number(x.n), 0),
  );
  assert.deepEqual(
    r.body.reporting.rates.map((x) => [x.from_currency, x.day, x.rate]),
    [
      ["GBP", day0, "1.15"],
      ["GBP", day1, "1.2"],
    ],
  );
  const list = await get<{ data: unknown[] }>("/v1/analytics/exchange_rates?to_currency=EUR");
  assert.equal(list.body.data.length, 2);
});

test("day buckets start at midnight in the time zone asked for", async () => {
  // T0 is 20:30 UTC: already the next day in Tokyo (+09:00), still the same day in UTC.
  const utc = await get<{ series: Series[] }>(`/v1/analytics/payments?${PERIOD}&granularity=day`);
  const tokyo = await get<{ series: Series[]; from: string }>(
    `/v1/analytics/payments?${PERIOD}&granularity=day&time_zone=Asia/Tokyo`,
  );
  assert.equal(tokyo.status, 200, JSON.stringify(tokyo.body));
  assert.ok(tokyo.body.from.endsWith("T15:00:00.000Z"), tokyo.body.from);
  const days = (series: Series[]) => [...new Set(series.flatMap((s) => s.points.map((p) => p.t)))].sort();
  assert.ok(days(tokyo.body.series).every((d) => d.endsWith("T15:00:00.000Z")));
  const sum = (series: Series[]) => series.reduce((n, s) => n + s.points.reduce((k, p) => k + p.count, 0), 0);
  assert.equal(sum(tokyo.body.series), sum(utc.body.series));
  // The first payments: 10 March in UTC, 11 March in Tokyo (its midnight is 15:00 UTC the day before).
  assert.equal(days(utc.body.series)[0], "2026-03-10T00:00:00.000Z");
  assert.equal(days(tokyo.body.series)[0], "2026-03-10T15:00:00.000Z");
  const bad = await get<{ error: { param: string } }>(
    `/v1/analytics/payments?granularity=day&time_zone=Mars/Base`,
  );
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.param, "time_zone");
});

test("a retried charge that succeeds counts as recovered revenue; MRR normalizes periods to a month", () => {
  const facts = factsOfEvent(
    {
      merchant_id: "mer_1",
      mode: "test",
      type: "payment.succeeded",
      created: new Date(T0),
      data: {
        object: {
          amount: 999,
          amount_captured: 499,
          currency: "EUR",
          metadata: { subscription: "sub_1", purpose: "period", retry_attempt: "2" },
          payment_method: { type: "sandbox" },
        },
      },
    },
    { appOfSession: new Map(), paymentOfRefund: new Map() },
    () => undefined,
  );
  assert.deepEqual(
    facts.map((f) => [f.metric, f.amount]),
    [
      ["succeeded", 499n],
      ["retry_recovered", 499n],
    ],
  );
  assert.equal(monthlyAmount(999n, "P1M"), 999n);
  assert.equal(monthlyAmount(1200n, "P1Y"), 100n);
  assert.equal(monthlyAmount(700n, "P1W"), 3043n);
  assert.equal(monthlyAmount(100n, "P1D"), 3043n);
  assert.equal(monthlyAmount(100n, "P2M"), 50n);
  assert.equal(monthlyAmount(100n, "PT1H"), null);
});
