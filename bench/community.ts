/**
 * Community bench (issue 11) on PostgreSQL, in process (Fastify inject, no sockets): wallet
 * payments per second (many customers, each spending from a wallet of grants), voucher
 * redemptions per second, and the cost of an entitlement check (EXPLAIN ANALYZE of the read the
 * route makes, and the route's own latency).
 *
 *   node --import tsx bench/community.ts [--seconds 10] [--concurrency 32] [--customers 200]
 */
import { loadavg } from "node:os";
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
    seconds: { type: "string", default: "10" },
    concurrency: { type: "string", default: "32" },
    customers: { type: "string", default: "200" },
    cards: { type: "string", default: "5000" },
  },
});
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const customerCount = Number(values.customers);
const cardCount = Number(values.cards);
const ADMIN = "bench-admin-key-0123456789";

const name = await createDatabase("centime_community_bench");
const db = await openPostgres({ url: databaseUrl(name), poolSizeMax: 20 });
try {
  await migrate(db);
  const services = createServices({
    config: { ...configFromEnv({}), adminKey: ADMIN, logLevel: "silent", rateLimitPerSecond: 0 },
    db,
    logger: createLogger("silent"),
  });
  const app = await buildApp(services);
  const call = async (method: "GET" | "POST", url: string, key: string, body?: unknown, ip?: string) => {
    const r = await app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${key}`, ...(body ? { "content-type": "application/json" } : {}) },
      ...(body ? { payload: JSON.stringify(body) } : {}),
      ...(ip ? { remoteAddress: ip } : {}),
    });
    return { status: r.statusCode, body: r.body ? JSON.parse(r.body) : null };
  };
  const merchant = await call("POST", "/v1/merchants", ADMIN, { name: "bench" });
  const sk: string = merchant.body.secret_key;
  await call("POST", "/v1/currencies", sk, { code: "GEMS", name: "gems", minor_digits: 0 });
  const customers: string[] = [];
  for (let i = 0; i < customerCount; i++) {
    const c = (await call("POST", "/v1/customers", sk, {})).body.id as string;
    customers.push(c);
    await call("POST", "/v1/wallet_grants", sk, {
      customer: c,
      currency: "GEMS",
      amount: 1_000_000,
      category: "paid",
    });
    await call("POST", "/v1/wallet_grants", sk, {
      customer: c,
      currency: "GEMS",
      amount: 1_000,
      category: "promotional",
    });
  }

  async function run(label: string, work: (worker: number, i: number) => Promise<boolean>) {
    const deadline = Date.now() + seconds * 1000;
    let ok = 0;
    let failed = 0;
    const latencies: number[] = [];
    await Promise.all(
      Array.from({ length: concurrency }, async (_, worker) => {
        for (let i = 0; Date.now() < deadline; i++) {
          const start = performance.now();
          if (await work(worker, i)) ok++;
          else failed++;
          latencies.push(performance.now() - start);
        }
      }),
    );
    latencies.sort((a, b) => a - b);
    const p = (q: number) => latencies[Math.floor(latencies.length * q)]?.toFixed(1);
    console.log(
      `${label}: ${(ok / seconds).toFixed(0)}/s ok, ${failed} failed, p50 ${p(0.5)} ms, p99 ${p(0.99)} ms (concurrency ${concurrency}, load ${loadavg()[0]!.toFixed(1)})`,
    );
  }

  await run("wallet payments", async (worker, i) => {
    const c = customers[(worker * 7919 + i) % customers.length]!;
    const r = await call("POST", "/v1/payments", sk, {
      amount: 3,
      currency: "GEMS",
      customer: c,
      payment_method: { type: "wallet" },
    });
    return r.status === 201;
  });

  // Vouchers: one approved batch, all activated, codes redeemed once each.
  const batch = await call("POST", "/v1/voucher_batches", sk, {
    count: cardCount,
    value: { amount: 100, currency: "GEMS" },
  });
  await call("POST", `/v1/voucher_batches/${batch.body.id}/approve`, ADMIN);
  const csv = await app.inject({
    method: "GET",
    url: `/v1/voucher_batches/${batch.body.id}/codes`,
    headers: { authorization: `Bearer ${sk}` },
  });
  const codes = csv.body
    .trim()
    .split("\n")
    .slice(1)
    .map((l) => l.split(",")[1]!);
  await call("POST", `/v1/voucher_batches/${batch.body.id}/activate`, sk, {
    serial_from: 1,
    serial_to: cardCount,
  });
  let next = 0;
  await run("voucher redemptions", async (worker) => {
    const code = codes[next++];
    if (!code) return false;
    const r = await call(
      "POST",
      "/v1/voucher_redemptions",
      sk,
      { code, customer: customers[worker % customers.length] },
      `10.1.${worker}.1`,
    );
    return r.status === 201;
  });

  // Entitlements: one row per customer; the read the route makes, and the route itself.
  for (const c of customers.slice(0, 50))
    await db.query(
      "insert into entitlements (customer_id, entitlement, merchant_id, mode, active_until, updated) values ($1, 'pro', $2, 'test', now() + interval '30 days', now())",
      [c, merchant.body.merchant.id],
    );
  const plans: number[] = [];
  for (const c of customers.slice(0, 50)) {
    const { rows } = await db.query<{ "QUERY PLAN": string }>(
      `explain (analyze, format text) select entitlement, active_until from entitlements where customer_id = '${c}' and merchant_id = '${merchant.body.merchant.id}' and mode = 'test'`,
    );
    const execution = rows.map((r) => r["QUERY PLAN"]).find((l) => l.startsWith("Execution Time"));
    plans.push(Number(/([0-9.]+) ms/.exec(execution ?? "")?.[1] ?? Number.NaN));
  }
  plans.sort((a, b) => a - b);
  console.log(`entitlement check, database execution time: median ${plans[25]} ms, max ${plans.at(-1)} ms`);
  await run("entitlement checks (route)", async (worker, i) => {
    const c = customers[(worker + i) % 50]!;
    return (await call("GET", `/v1/customers/${c}/entitlements`, sk)).status === 200;
  });
  await app.close();
  await services.committer.close();
} finally {
  await db.close();
  await dropDatabase(name);
}
