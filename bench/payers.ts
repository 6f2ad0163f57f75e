/**
 * Payers: what a payer's reads and sign-ins cost with many merchants' payments around them.
 *
 *   node --import tsx bench/payers.ts [--background 200000] [--requests 300]
 *
 * On PostgreSQL (a fresh database, BENCH_PG_URL): 20 merchants, `--background` carrier payments
 * to other numbers and customers' payments (bulk SQL), then one payer with 60 payments and 6
 * subscriptions at 3 merchants (through the API). Measures, in process through inject():
 * GET /v1/payer/payments (p50/p95/p99), GET /v1/payer/subscriptions, a refund request, a code
 * sign-in (request + verify), a password sign-in (scrypt). Timing never fails the run.
 */
import { parseArgs } from "node:util";
import { migrate } from "../src/db/migrate.ts";
import { openPostgres } from "../src/db/postgres.ts";
import { buildApp } from "../src/http/app.ts";
import { configFromEnv } from "../src/platform/config.ts";
import { createLogger } from "../src/platform/log.ts";
import { createServices } from "../src/services.ts";
import { createDatabase, databaseUrl, dropDatabase } from "./pg.ts";

const { values } = parseArgs({
  options: {
    background: { type: "string", default: "200000" },
    requests: { type: "string", default: "300" },
  },
});
const background = Number(values.background);
const requests = Number(values.requests);
const ADMIN = "bench-admin-key-0123456789";
const MSISDN = "+33612399999";

function percentiles(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!.toFixed(2);
  return `p50 ${at(0.5)} ms, p95 ${at(0.95)} ms, p99 ${at(0.99)} ms (n=${s.length})`;
}

const name = await createDatabase("centime_payers_bench");
const db = await openPostgres({ url: databaseUrl(name), poolSizeMax: 20 });
try {
  await migrate(db);
  const services = createServices({
    config: { ...configFromEnv({}), adminKey: ADMIN, logLevel: "silent", rateLimitPerSecond: 0 },
    db,
    logger: createLogger("silent"),
  });
  const app = await buildApp(services);
  const call = async (method: "GET" | "POST", url: string, key: string | null, body?: unknown) => {
    const r = await app.inject({
      method,
      url,
      headers: {
        ...(key ? { authorization: `Bearer ${key}` } : {}),
        ...(body ? { "content-type": "application/json" } : {}),
      },
      ...(body ? { payload: JSON.stringify(body) } : {}),
    });
    return { status: r.statusCode, body: r.body ? JSON.parse(r.body) : null };
  };
  const keys: string[] = [];
  for (let i = 0; i < 20; i++)
    keys.push((await call("POST", "/v1/merchants", ADMIN, { name: `m${i}` })).body.secret_key);
  const { rows: merchants } = await db.query<{ id: string }>("select id from merchants order by id");

  // Background: other people's carrier payments and customers' payments, by bulk SQL.
  const started = performance.now();
  await db.query(
    `insert into customers (id, merchant_id, mode, msisdn, email, created)
     select 'cus_bg' || g, ($1::text[])[1 + g % 20], 'test', '+3361' || lpad(g::text, 7, '0'),
            'p' || g || '@bench.test', now() - (g % 150) * interval '1 day'
       from generate_series(1, $2::int / 10) g`,
    [merchants.map((m) => m.id), background],
  );
  await db.query(
    `insert into payments (id, merchant_id, mode, status, amount, currency, amount_captured, capture_method,
        customer_id, payment_method, provider, attempt_id, created, updated)
     select 'pay_bg' || lpad(g::text, 9, '0'), ($1::text[])[1 + g % 20], 'test', 'succeeded', 199, 'EUR', 199, 'automatic',
            case when g % 2 = 0 then 'cus_bg' || (1 + g % ($2::int / 10)) end,
            case when g % 2 = 1 then jsonb_build_object('type', 'carrier', 'msisdn', '+3362' || lpad(g::text, 7, '0'), 'operator', '20801')
                 else '{"type":"sandbox","scenario":"approve"}'::jsonb end,
            'sandbox', 'att_bg' || g, now() - (g % 200) * interval '1 day', now()
       from generate_series(1, $2::int) g`,
    [merchants.map((m) => m.id), background],
  );
  await db.query("analyze");
  console.log(
    `seeded ${background} background payments in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );

  // The payer: 60 payments and 6 subscriptions at three merchants, as their customer.
  for (const key of keys.slice(0, 3)) {
    const customer = (await call("POST", "/v1/customers", key, { msisdn: MSISDN, country: "DE" })).body.id;
    for (let i = 0; i < 20; i++)
      await call("POST", "/v1/payments", key, {
        amount: 150 + i,
        currency: "EUR",
        customer,
        payment_method: { type: "sandbox", scenario: "approve" },
      });
    const product = (await call("POST", "/v1/products", key, { name: "Stars" })).body.id;
    const price = (
      await call("POST", "/v1/prices", key, {
        product,
        amount: 99,
        currency: "EUR",
        recurring: { period: "P1W" },
      })
    ).body.id;
    for (let i = 0; i < 2; i++)
      await call("POST", "/v1/subscriptions", key, {
        customer,
        price,
        payment_method: { type: "sandbox", scenario: "approve" },
      });
  }

  const codeSignIn: number[] = [];
  let token = "";
  for (let i = 0; i < 20; i++) {
    services.payers.ctx.throttle = new (await import("../src/payers/index.ts")).PayerThrottle();
    const t0 = performance.now();
    await call("POST", "/v1/payer_sessions/codes", null, { msisdn: MSISDN });
    const { rows } = await db.query<{ body: string }>(
      "select body from payer_messages where recipient = $1 order by id desc limit 1",
      [MSISDN],
    );
    const code = /(\d{6})/.exec(rows[0]!.body)![1];
    const session = await call("POST", "/v1/payer_sessions", null, { msisdn: MSISDN, code });
    codeSignIn.push(performance.now() - t0);
    token = session.body.token;
  }
  await call("POST", "/v1/payers", null, { email: "bench@example.com", password: "a long bench password" });
  const passwordSignIn: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    await call("POST", "/v1/payer_sessions", null, {
      email: "bench@example.com",
      password: "a long bench password",
    });
    passwordSignIn.push(performance.now() - t0);
  }

  const measure = async (url: string) => {
    const samples: number[] = [];
    let count = 0;
    for (let i = 0; i < requests; i++) {
      const t0 = performance.now();
      const r = await call("GET", url, token);
      samples.push(performance.now() - t0);
      count = r.body.data.length;
    }
    return `${percentiles(samples)}, ${count} items`;
  };
  console.log(`GET /v1/payer/payments?limit=100: ${await measure("/v1/payer/payments?limit=100")}`);
  console.log(`GET /v1/payer/subscriptions: ${await measure("/v1/payer/subscriptions")}`);
  const { rows: plan } = await db.query<{ "QUERY PLAN": string }>(
    `explain analyze select id from payments where payment_method->>'msisdn' = any($1::text[])`,
    [[MSISDN]],
  );
  console.log(
    `msisdn lookup plan: ${plan
      .map((r) => r["QUERY PLAN"])
      .join(" | ")
      .slice(0, 300)}`,
  );
  console.log(`code sign-in (request + verify): ${percentiles(codeSignIn)}`);
  console.log(`password sign-in (scrypt N=16384): ${percentiles(passwordSignIn)}`);
  await app.close();
  await services.committer.close();
} finally {
  await db.close();
  await dropDatabase(name);
}
