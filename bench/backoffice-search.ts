/**
 * Back-office payment search over a million payments (PostgreSQL): the latency of each kind of
 * search box query (payment id, customer, MSISDN, card last four, status, none) for one merchant.
 *
 *   node --import tsx bench/backoffice-search.ts [--payments 1000000] [--merchants 20] [--queries 200]
 *
 * Loads the payments with generate_series in a fresh database (not timed), ANALYZEs, then runs
 * each query kind `--queries` times through searchPayments (src/backoffice/search.ts), as the
 * /admin/payments page does, and prints p50/p99/max in ms and the load average.
 */
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { searchPayments } from "../src/backoffice/search.ts";
import { migrate } from "../src/db/migrate.ts";
import { openDatabase } from "../src/db/open.ts";
import { createDatabase, databaseUrl, dropDatabase } from "./pg.ts";

const { values } = parseArgs({
  options: {
    payments: { type: "string", default: "1000000" },
    merchants: { type: "string", default: "20" },
    queries: { type: "string", default: "200" },
  },
});
const PAYMENTS = Number(values.payments);
const MERCHANTS = Number(values.merchants);
const QUERIES = Number(values.queries);
const CHUNK = 100_000;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const name = await createDatabase("centime_search");
const db = await openDatabase({ databaseUrl: databaseUrl(name), dataDir: "", poolSizeMax: 4 });
try {
  await migrate(db);
  const loadStarted = performance.now();
  for (let from = 1; from <= PAYMENTS; from += CHUNK) {
    const to = Math.min(PAYMENTS, from + CHUNK - 1);
    // Ids sort by time like the real ones; every other payment is by phone, the rest by card.
    await db.query(
      `insert into payments (id, merchant_id, mode, status, amount, currency, amount_captured, capture_method,
         customer_id, payment_method, provider, attempt_id, created, updated)
       select 'pay_' || lpad(to_hex(g), 16, '0'), 'mer_' || (g % $3), 'test',
         (array['succeeded','succeeded','succeeded','failed','processing','canceled'])[1 + g % 6],
         100 + g % 5000, 'EUR', case when g % 6 < 3 then 100 + g % 5000 else 0 end, 'automatic',
         case when g % 4 = 0 then 'cus_' || lpad(to_hex(g % 50000), 10, '0') end,
         case when g % 2 = 0
           then jsonb_build_object('type', 'carrier', 'msisdn', '+3556' || lpad((g % 400000)::text, 8, '0'))
           else jsonb_build_object('type', 'card', 'brand', 'visa', 'last4', lpad((g % 10000)::text, 4, '0')) end,
         'sandbox', 'att_' || g, now() - make_interval(secs => $2 - g), now() - make_interval(secs => $2 - g)
       from generate_series($1::int, $4::int) g`,
      [from, PAYMENTS, MERCHANTS, to],
    );
  }
  await db.query("analyze payments");
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  const merchant = "mer_0";
  const { rows } = await db.query<{ n: number }>(
    "select count(*)::int as n from payments where merchant_id = $1",
    [merchant],
  );
  // Real values of that merchant to look for (found, like a support agent's searches).
  const sample = await db.query<{ id: string; customer_id: string | null; pm: Record<string, string> }>(
    "select id, customer_id, payment_method as pm from payments where merchant_id = $1 order by random() limit $2",
    [merchant, QUERIES],
  );
  const pick = (i: number) => sample.rows[i % sample.rows.length]!;
  const kinds: Record<string, (i: number) => { q?: string; status?: string }> = {
    id: (i) => ({ q: pick(i).id }),
    customer: (i) => ({ q: pick(i).customer_id ?? pick(i + 1).customer_id ?? "cus_0000000000" }),
    msisdn: (i) => ({ q: (pick(i).pm.msisdn ?? pick(i + 1).pm.msisdn)!.replace("+", "") }),
    last4: (i) => ({ q: pick(i).pm.last4 ?? pick(i + 1).pm.last4! }),
    status: () => ({ status: "failed" }),
    newest: () => ({}),
  };
  console.log(
    `payments: ${PAYMENTS} over ${MERCHANTS} merchants (${rows[0]!.n} for ${merchant}); loaded in ${loadSeconds.toFixed(0)} s`,
  );
  for (const [kind, query] of Object.entries(kinds)) {
    const times: number[] = [];
    let found = 0;
    for (let i = 0; i < QUERIES; i++) {
      const started = performance.now();
      const result = await searchPayments(db, { merchantId: merchant, mode: "test", ...query(i) });
      times.push(performance.now() - started);
      if (result.length > 0) found++;
    }
    times.sort((a, b) => a - b);
    console.log(
      `${kind.padEnd(9)} p50 ${percentile(times, 50).toFixed(2)} ms  p99 ${percentile(times, 99).toFixed(2)} ms  max ${times[times.length - 1]!.toFixed(2)} ms  (found ${found}/${QUERIES})`,
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
