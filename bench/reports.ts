/**
 * The revenue report over a million payments (PostgreSQL): the latency of
 * `GET /v1/reports/revenue` for one merchant over 30 days, per grouping, through revenueReport
 * (src/reports/), as the route and the /admin/reports page call it.
 *
 *   node --import tsx bench/reports.ts [--payments 1000000] [--days 30] [--runs 5]
 *
 * Loads the payments (one merchant; EUR and GBP; carrier payments on three operators and card
 * payments; four prices) and 2 % of them refunded, with generate_series and time-ordered ids like
 * the real ones (centime_id_floor), in a fresh database (not timed); ANALYZEs; then runs each
 * grouping `--runs` times and prints p50 and max in ms, and the load average (the machine is shared).
 * The query timeout is raised to 5 minutes for the load; the API's default is 10 s (src/db/postgres.ts).
 */
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { Currencies } from "../src/currencies/index.ts";
import { migrate } from "../src/db/migrate.ts";
import { openDatabase } from "../src/db/open.ts";
import { REVENUE_GROUPS, revenueReport } from "../src/reports/index.ts";
import { createDatabase, databaseUrl, dropDatabase } from "./pg.ts";

const { values } = parseArgs({
  options: {
    payments: { type: "string", default: "1000000" },
    days: { type: "string", default: "30" },
    runs: { type: "string", default: "5" },
  },
});
const PAYMENTS = Number(values.payments);
const DAYS = Number(values.days);
const RUNS = Number(values.runs);
const CHUNK = 50_000;
const DAY_MS = 86_400_000;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const name = await createDatabase("centime_reports");
const db = await openDatabase({
  databaseUrl: databaseUrl(name),
  dataDir: "",
  poolSizeMax: 4,
  queryTimeoutMs: 300_000,
});
const merchant = "mer_bench";
const toMs = Date.UTC(2026, 2, 1);
const fromMs = toMs - DAYS * DAY_MS;
const stepMs = Math.floor((DAYS * DAY_MS) / PAYMENTS);
try {
  await migrate(db);
  const loadStarted = performance.now();
  for (let from = 1; from <= PAYMENTS; from += CHUNK) {
    const to = Math.min(PAYMENTS, from + CHUNK - 1);
    await db.query(
      `insert into payments (id, merchant_id, mode, status, amount, currency, amount_captured, amount_refunded,
         amount_refund_reserved, capture_method, payment_method, provider, attempt_id, effects, created, updated)
       select left(centime_id_floor('pay', c), 14) || lpad(to_hex(g), 16, '0'), $3, 'test',
         case when g % 10 = 0 then 'failed' else 'succeeded' end,
         100 + g % 5000, case when g % 3 = 0 then 'GBP' else 'EUR' end,
         case when g % 10 = 0 then 0 else 100 + g % 5000 end,
         case when g % 50 = 1 then 100 + g % 5000 else 0 end, case when g % 50 = 1 then 100 + g % 5000 else 0 end,
         'automatic',
         case when g % 2 = 0
           then jsonb_build_object('type', 'carrier', 'flow', 'pin', 'operator', (array['20801','20810','22601'])[1 + g % 3],
             'msisdn', '+3361' || lpad((g % 400000)::text, 8, '0'))
           else jsonb_build_object('type', 'card', 'brand', 'visa', 'last4', lpad((g % 10000)::text, 4, '0')) end,
         'sandbox', 'att_' || g, jsonb_build_object('price', 'price_' || (g % 4)), c, c
       from (select g, to_timestamp(($4::bigint + g::bigint * $5::bigint) / 1000.0) as c
             from generate_series($1::int, $2::int) g) s`,
      [from, to, merchant, fromMs, stepMs],
    );
  }
  await db.query(
    `insert into refunds (id, merchant_id, mode, payment_id, amount, currency, status, created, updated)
     select left(centime_id_floor('re', p.created + interval '1 hour'), 13) || right(p.id, 16), p.merchant_id, 'test',
       p.id, p.amount_refunded, p.currency, 'succeeded', p.created + interval '1 hour', p.created + interval '1 hour'
     from payments p where p.amount_refunded > 0`,
  );
  await db.query(
    `insert into exchange_rates (id, merchant_id, mode, from_currency, to_currency, rate, source, valid_from, created)
     values ('xr_bench', $1, 'test', 'GBP', 'EUR', '1.1725', 'bench', $2, $2)`,
    [merchant, new Date(fromMs - DAY_MS)],
  );
  await db.query("analyze payments");
  await db.query("analyze refunds");
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  const counts = await db.query<{ p: number; r: number }>(
    "select (select count(*) from payments)::int as p, (select count(*) from refunds)::int as r",
  );
  console.log(
    `payments: ${counts.rows[0]!.p} of one merchant over ${DAYS} days, refunds: ${counts.rows[0]!.r}; loaded in ${loadSeconds.toFixed(0)} s`,
  );
  const currencies = new Currencies(db, { nowMs: () => toMs + DAY_MS });
  for (const groupBy of REVENUE_GROUPS) {
    const times: number[] = [];
    let rows = 0;
    let count = 0;
    for (let i = 0; i < RUNS; i++) {
      const started = performance.now();
      const report = await revenueReport(
        db,
        currencies,
        { merchantId: merchant, mode: "test" },
        {
          fromMs,
          toMs,
          groupBy,
          reportingCurrency: "EUR",
          reportingDigits: 2,
          timeZone: "Europe/Paris",
          nowMs: toMs + DAY_MS,
        },
      );
      times.push(performance.now() - started);
      rows = report.rows.length;
      count = report.total.count;
    }
    times.sort((a, b) => a - b);
    console.log(
      `${groupBy.padEnd(9)} p50 ${percentile(times, 50).toFixed(0)} ms  max ${times[times.length - 1]!.toFixed(0)} ms  (${rows} rows, ${count} payments counted)`,
    );
  }
  console.log(
    `load average: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(", ")}`,
  );
} finally {
  await db.close();
  await dropDatabase(name);
}
