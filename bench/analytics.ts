/**
 * Analytics figures: dashboard queries over rollups of 10 million payments (generated directly as
 * rollup rows, 24 keys: hours and days for 30 days; minutes for the last 7 days, to keep the set-up
 * short on a busy machine), and the ingest's rate over synthetic outbox events.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres node --import tsx bench/analytics.ts
 */
import { randomBytes } from "node:crypto";
import { catchUp, querySeries, querySummary } from "../src/analytics/index.ts";
import { migrate } from "../src/db/migrate.ts";
import { openPostgres } from "../src/db/postgres.ts";

const base = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
const name = `centime_bench_analytics_${randomBytes(4).toString("hex")}`;
const admin = await openPostgres({ url: base, poolSizeMax: 1 });
await admin.query(`create database ${name}`);
const db = await openPostgres({ url: base.replace(/\/[^/]*$/, `/${name}`) });
try {
  await migrate(db);
  const DAY = 86_400_000;
  const to = Date.parse("2026-06-01T00:00:00Z");
  const from = to - 30 * DAY;
  const scope = { merchantId: "mer_bench", mode: "test" };
  // 43,200 minutes x 24 keys; counts average 9.65 so that the month holds 10 million payments.
  let started = Date.now();
  for (const [table, step] of [
    ["analytics_minute", "1 minute"],
    ["analytics_hour", "1 hour"],
    ["analytics_day", "1 day"],
  ] as const) {
    const perBucket = table === "analytics_minute" ? 1 : table === "analytics_hour" ? 60 : 1440;
    await db.query(
      `insert into ${table}
       select 'mer_bench', 'test', 'payments', b, app, 'carrier', op, 'FR', 'EUR', '', st, case when st = 'failed' then 'insufficient_funds' else '' end, '',
              (${perBucket} * (case when st = 'succeeded' then 15 when st = 'failed' then 3 else 1 end) * 10000000::bigint / (43200 * 38)) as count,
              (${perBucket} * (case when st = 'succeeded' then 15 when st = 'failed' then 3 else 1 end) * 10000000::bigint / (43200 * 38)) * 199 as amount
         from generate_series(${table === "analytics_minute" ? "greatest($1::timestamptz, $2::timestamptz - interval '7 days')" : "$1::timestamptz"}, $2::timestamptz - interval '${step}', interval '${step}') as b,
              unnest(array['op1', 'op2', 'op3', 'op4']) as op, unnest(array['game', 'shop']) as app,
              unnest(array['succeeded', 'failed', 'requires_action']) as st`,
      [new Date(from), new Date(to)],
    );
  }
  await db.query("analyze");
  const { rows } = await db.query<{ n: bigint; rows: bigint }>(
    "select sum(count)::bigint as n, count(*)::bigint as rows from analytics_hour",
  );
  console.log(
    `rollups: ${rows[0]!.rows} hour rows for ${rows[0]!.n} payments, generated in ${Date.now() - started} ms`,
  );

  const time = async (label: string, work: () => Promise<unknown>) => {
    await work();
    const samples: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      await work();
      samples.push(performance.now() - t0);
    }
    samples.sort((a, b) => a - b);
    console.log(`${label}: median ${samples[2]!.toFixed(1)} ms, max ${samples[4]!.toFixed(1)} ms`);
  };
  const series = (granularity: "minute" | "hour" | "day", days: number, groupBy: ("status" | "operator")[]) =>
    querySeries(db, scope, {
      metric: "payments",
      fromMs: to - days * DAY,
      toMs: to,
      granularity,
      groupBy,
      filters: {},
      timeZone: "UTC",
      reportingCurrency: "EUR",
    });
  await time("series 24 h by minute, by status", () => series("minute", 1, ["status"]));
  await time("series 7 d by hour, by operator and status", () => series("hour", 7, ["operator", "status"]));
  await time("series 30 d by day, by status", () => series("day", 30, ["status"]));
  await time("series 30 d by day in Europe/Paris, by status", () =>
    querySeries(db, scope, {
      metric: "payments",
      fromMs: from,
      toMs: to,
      granularity: "day",
      groupBy: ["status"],
      filters: {},
      timeZone: "Europe/Paris",
      reportingCurrency: "EUR",
    }),
  );
  await time("summary tiles, 24 h", () =>
    querySummary(db, scope, { fromMs: to - DAY, toMs: to, nowMs: to }, {}, "EUR"),
  );
  await time("summary tiles, 30 d", () =>
    querySummary(db, scope, { fromMs: from, toMs: to, nowMs: to }, {}, "EUR"),
  );

  // The ingest: synthetic payment events (created + succeeded in one transaction, as the API writes
  // them), then the time to fold them all.
  const payments = Number(process.env.INGEST_PAYMENTS ?? 50_000);
  await db.query(
    `insert into events (id, merchant_id, mode, type, object_id, payment_id, data, created)
     select 'evt_' || lpad(i::text, 26, '0') || t.n, 'mer_ingest', 'test', t.type, 'pay_' || i, 'pay_' || i,
            json_build_object('object', json_build_object('id', 'pay_' || i, 'object', 'payment', 'status', 'succeeded',
              'amount', 199, 'amount_captured', 199, 'currency', 'EUR', 'created', to_char($1::timestamptz + (i || ' ms')::interval, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
              'payment_method', json_build_object('type', 'carrier', 'operator', 'op' || (i % 4)), 'metadata', json_build_object('app', 'game'))),
            $1::timestamptz + (i || ' ms')::interval
       from generate_series(1, $2::int) as i, (values (1, 'payment.created'), (2, 'payment.succeeded')) as t(n, type)`,
    [new Date(to), payments],
  );
  started = Date.now();
  const events = await catchUp(db, to, { timeoutMs: 600_000 });
  const ms = Date.now() - started;
  console.log(
    `ingest: ${events} events (${payments} payments) in ${ms} ms = ${Math.round((events / ms) * 1000)} events/s, ${Math.round((payments / ms) * 1000)} payments/s`,
  );
} finally {
  await db.close();
  await admin.query(`drop database if exists ${name} with (force)`);
  await admin.close();
}
