/**
 * Billing run benchmark: N due subscriptions across 50 countries and 200 operators, charged by
 * the scheduler against the instant simulated network, with 1, 2 and 4 worker processes sharing
 * one database. Prints charges per second, duplicates and misses; never passes or fails.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres node --import tsx bench/billing.ts --count 1000000
 *   node --import tsx bench/billing.ts --count 20000          (embedded: one worker only)
 *
 * Options: --count N (default 1,000,000; 20,000 with --via http), --workers 1,2,4, --batch 500,
 * --via network|http. The benchmark creates and drops its own database on the server.
 *
 * --via http charges through the real carrier connectors over loopback instead of the in-process
 * network: the bench process starts the carrier network simulator in instant mode, and every
 * worker process points the operator registry at it (its URLs passed as arguments) and charges
 * with the CarrierCharger. The 200 operators are OneAPI and CAMARA ones (synchronous HTTP charges,
 * one operator per country where possible); each subscriber has its own prepaid
 * MSISDN (100.00 of the operator's currency) and is charged 1.00 a period. The operators' TPS
 * limit (registry default 50) is raised to 100,000 for the bench, as the scheduler's rules are.
 *
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres node --import tsx bench/billing.ts --via http
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { type CountryCode, getExampleNumber, isValidPhoneNumber } from "libphonenumber-js";
import examples from "libphonenumber-js/mobile/examples";
import { billingContext } from "../src/billing/context.ts";
import { debtAccounts } from "../src/billing/engine.ts";
import { type ResolvedRules, rulesFor } from "../src/billing/rules.ts";
import { type BillingContext, runBillingBatch } from "../src/billing/scheduler.ts";
import {
  closeConnectors,
  configureCarrierNetwork,
  getOperator,
  listOperators,
  normaliseMsisdn,
} from "../src/connectors/operators/index.ts";
import { digitsOf } from "../src/connectors/sdk/money.ts";
import type { Db } from "../src/db/db.ts";
import { openEmbedded } from "../src/db/embedded.ts";
import { migrate } from "../src/db/migrate.ts";
import { openPostgres } from "../src/db/postgres.ts";
import { Ledger } from "../src/ledger/ledger.ts";
import { InteractionRecorder } from "../src/payments/interaction-log.ts";
import { CarrierProvider } from "../src/payments/providers/carrier.ts";
import { ProviderRegistry } from "../src/payments/registry.ts";
import { paymentAccounts } from "../src/payments/transitions.ts";
import { systemClock } from "../src/platform/clock.ts";
import { type Simulator, startSimulator } from "../src/simulator/index.ts";
import { printProfile, profiled } from "../test/billing/sim/profile.ts";
import { InstantNetwork } from "../test/billing/sim/world.ts";

const MONTH_MS = 31 * 86_400_000;
const BASE_MS = Date.parse("2026-06-01T12:00:00Z");
const MERCHANT = "mer_bench0000000000000000000000";
const COUNTRIES_COUNT = 50;
const OPERATORS_COUNT = 200;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}

const VIA_HTTP = arg("via", "network") === "http";

interface HttpOperator {
  id: string;
  country: string;
  currency: string;
  tz: string;
  /** E.164 prefix: the country's example mobile number without its last six digits. */
  prefix: string;
  /** 1.00 of the operator's currency, in minor units. */
  amount: number;
}

/** The subscriber number of subscription `i`: unique, never ending in 0001–0006 (special behaviours). */
function msisdnSuffix(i: number): string {
  return String(Math.floor(i / 9000) % 100).padStart(2, "0") + String(1000 + (i % 9000));
}

/**
 * 200 operators that charge synchronously over HTTP (CAMARA first, then OneAPI), spread over as
 * many countries as possible, whose country has an example mobile number to build MSISDNs from.
 */
function httpOperators(): HttpOperator[] {
  const pool = [...listOperators({ protocol: "camara" }), ...listOperators({ protocol: "oneapi" })];
  const byCountry = new Map<string, typeof pool>();
  for (const op of pool) byCountry.set(op.country, [...(byCountry.get(op.country) ?? []), op]);
  const out: HttpOperator[] = [];
  for (let round = 0; out.length < OPERATORS_COUNT; round++) {
    let added = false;
    for (const [country, ops] of byCountry) {
      const op = ops[round];
      if (!op || out.length >= OPERATORS_COUNT) continue;
      added = true;
      let example: string | undefined;
      try {
        example = getExampleNumber(country as CountryCode, examples)?.number;
      } catch {
        example = undefined;
      }
      if (!example || example.length < 10) continue;
      const prefix = example.slice(0, -6);
      // Valid (not just possible) numbers of the country across the suffix range.
      const samples = [0, 8999, 9000, 899_999].map((i) => `${prefix}${msisdnSuffix(i)}`);
      if (
        !samples.every(
          (n) => isValidPhoneNumber(n, country as CountryCode) && normaliseMsisdn(n)?.country === country,
        )
      )
        continue;
      out.push({
        id: op.id,
        country,
        currency: op.currency,
        tz: rulesFor(country, op.id).time_zone,
        prefix,
        amount: 10 ** digitsOf(op.currency),
      });
    }
    if (!added) break;
  }
  return out;
}

/** Raises the registry's TPS limit of the bench's operators (before any connector is built). */
function raiseOperatorTps(operators: HttpOperator[]): void {
  for (const o of operators) {
    const op = getOperator(o.id);
    if (op) op.tps_max = 100_000;
  }
}

/** The one provider registry, with the instant network as `sandbox` unless charging over HTTP. */
function providers(db: Db): ProviderRegistry {
  const recorder = new InteractionRecorder(db, systemClock);
  return new ProviderRegistry([VIA_HTTP ? new CarrierProvider(recorder, () => {}) : new InstantNetwork()]);
}

/** 50 countries with operators in the registry, four operators each (synthetic ids where short). */
function network(): {
  countries: { code: string; currency: string; tz: string }[];
  operators: { id: string; country: number }[];
} {
  const byCountry = new Map<string, string[]>();
  for (const op of listOperators()) {
    const list = byCountry.get(op.country) ?? [];
    list.push(op.id);
    byCountry.set(op.country, list);
  }
  const countries = [...byCountry.entries()]
    .filter(([code]) => rulesFor(code, null).time_zone !== "UTC")
    .slice(0, COUNTRIES_COUNT);
  for (const [code, ops] of [...byCountry.entries()]) {
    if (countries.length >= COUNTRIES_COUNT) break;
    if (!countries.some(([c]) => c === code)) countries.push([code, ops]);
  }
  const operators: { id: string; country: number }[] = [];
  for (let i = 0; i < OPERATORS_COUNT; i++) {
    const ci = i % countries.length;
    const ops = countries[ci]![1];
    operators.push({ id: ops[Math.floor(i / countries.length)] ?? `${countries[ci]![0]}${i}`, country: ci });
  }
  const currencyOf = (code: string) => listOperators({ country: code })[0]?.currency ?? "USD";
  return {
    countries: countries.map(([code]) => ({
      code,
      currency: rulesFor(code, null).caps?.currency ?? currencyOf(code),
      tz: rulesFor(code, null).time_zone,
    })),
    operators,
  };
}

/** The bench measures throughput: windows always open, TPS high enough not to throttle. */
function benchRules(country: string | null, operator: string | null): ResolvedRules {
  const base = rulesFor(country, operator);
  return {
    ...base,
    window_minutes: { start_minute: 0, end_minute: 1440 },
    tps_max: 100_000,
    min_interval_minutes: 0,
  };
}

async function open(url: string | undefined, dataDir?: string): Promise<Db> {
  if (url) return openPostgres({ url });
  return openEmbedded(dataDir ? { dataDir } : {});
}

async function seed(db: Db, count: number): Promise<void> {
  const { countries, operators } = network();
  const ledger = new Ledger(db);
  const currencies = [...new Set(countries.map((c) => c.currency))];
  for (const currency of currencies) {
    const p = paymentAccounts({ merchant_id: MERCHANT, mode: "test", provider: "sandbox", currency });
    const d = debtAccounts({ merchant_id: MERCHANT, mode: "test", currency });
    await ledger.ensureAccounts([p.clearing, p.available, d.debt, d.unbilled], BASE_MS);
  }
  const chunk = 100_000;
  for (let from = 0; from < count; from += chunk) {
    const to = Math.min(count, from + chunk) - 1;
    await db.query(
      `with ops as (select * from unnest($1::text[], $2::text[], $3::text[], $4::text[]) with ordinality as o (op, country, currency, tz, n))
       insert into subscriptions (id, merchant_id, mode, customer_id, price_id, product_id, status, amount, currency, period,
         country, operator, time_zone, payment_method, consent, anchor, created, updated)
       select 'sub_bench' || lpad(i::text, 17, '0'), $5, 'test', 'cus_bench' || lpad(i::text, 17, '0'), 'price_bench', 'prod_bench',
         'active', 50 + (i % 400), ops.currency, 'P1M', ops.country, ops.op, ops.tz,
         jsonb_build_object('type', 'sandbox', 'scenario', 'approve', 'operator', ops.op),
         jsonb_build_object('method', 'web', 'recorded_at', '2026-05-01T00:00:00Z'),
         $6::timestamptz, $6::timestamptz, $6::timestamptz
       from generate_series($7::int, $8::int) as i join ops on ops.n = (i % ${OPERATORS_COUNT}) + 1`,
      [
        operators.map((o) => o.id),
        operators.map((o) => countries[o.country]!.code),
        operators.map((o) => countries[o.country]!.currency),
        operators.map((o) => countries[o.country]!.tz),
        MERCHANT,
        new Date(BASE_MS - 3_600_000),
        from,
        to,
      ],
    );
    await db.query(
      `insert into billing_jobs (subscription_id, merchant_id, mode, clock_key, run_at, created)
       select 'sub_bench' || lpad(i::text, 17, '0'), $1, 'test', '', $2::timestamptz, $2::timestamptz
       from generate_series($3::int, $4::int) as i`,
      [MERCHANT, new Date(BASE_MS - 3_600_000), from, to],
    );
  }
}

/** Subscriptions paid by carrier billing on the HTTP operators: 1.00 a period from a prepaid MSISDN. */
async function seedHttp(db: Db, count: number): Promise<void> {
  const operators = httpOperators();
  const ledger = new Ledger(db);
  for (const currency of new Set(operators.map((o) => o.currency))) {
    const p = paymentAccounts({ merchant_id: MERCHANT, mode: "test", provider: "carrier", currency });
    const d = debtAccounts({ merchant_id: MERCHANT, mode: "test", currency });
    await ledger.ensureAccounts([p.clearing, p.available, d.debt, d.unbilled], BASE_MS);
  }
  const chunk = 100_000;
  for (let from = 0; from < count; from += chunk) {
    const to = Math.min(count, from + chunk) - 1;
    await db.query(
      `with ops as (select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[])
         with ordinality as o (op, country, currency, tz, prefix, amount, n))
       insert into subscriptions (id, merchant_id, mode, customer_id, price_id, product_id, status, amount, currency, period,
         country, operator, time_zone, payment_method, consent, anchor, created, updated)
       select 'sub_bench' || lpad(i::text, 17, '0'), $7, 'test', 'cus_bench' || lpad(i::text, 17, '0'), 'price_bench', 'prod_bench',
         'active', ops.amount, ops.currency, 'P1M', ops.country, ops.op, ops.tz,
         jsonb_build_object('type', 'carrier', 'operator', ops.op, 'msisdn',
           ops.prefix || lpad(((i / 9000) % 100)::text, 2, '0') || (1000 + i % 9000)::text),
         jsonb_build_object('method', 'web', 'recorded_at', '2026-05-01T00:00:00Z'),
         $8::timestamptz, $8::timestamptz, $8::timestamptz
       from generate_series($9::int, $10::int) as i join ops on ops.n = (i % ${operators.length}) + 1`,
      [
        operators.map((o) => o.id),
        operators.map((o) => o.country),
        operators.map((o) => o.currency),
        operators.map((o) => o.tz),
        operators.map((o) => o.prefix),
        operators.map((o) => o.amount),
        MERCHANT,
        new Date(BASE_MS - 3_600_000),
        from,
        to,
      ],
    );
    await db.query(
      `insert into billing_jobs (subscription_id, merchant_id, mode, clock_key, run_at, created)
       select 'sub_bench' || lpad(i::text, 17, '0'), $1, 'test', '', $2::timestamptz, $2::timestamptz
       from generate_series($3::int, $4::int) as i`,
      [MERCHANT, new Date(BASE_MS - 3_600_000), from, to],
    );
  }
}

/** Points this process's operator registry at the simulator the bench process started. */
function useCarrierNetwork(http_url: string, smpp_port: number, settlement_dir: string): void {
  configureCarrierNetwork({ http_url, smpp_host: "127.0.0.1", smpp_port, settlement_dir });
  raiseOperatorTps(httpOperators());
}

/** One worker process: runs batches at the bench clock until nothing is due; prints its counts. */
async function worker(): Promise<void> {
  const url = arg("url", "");
  const runBase = Number(arg("now", String(BASE_MS)));
  const batch = Number(arg("batch", "500"));
  if (VIA_HTTP)
    useCarrierNetwork(
      arg("carrier-http", ""),
      Number(arg("carrier-smpp", "0")),
      arg("carrier-settlement", ""),
    );
  const raw = await openPostgres({ url, poolSizeMax: 2 });
  const db = process.env.BENCH_PROFILE ? profiled(raw) : raw;
  const startedMs = Date.now();
  const ctx: BillingContext = billingContext({
    db,
    ledger: new Ledger(db),
    clock: { nowMs: () => runBase + (Date.now() - startedMs) },
    providers: providers(db),
    rules: benchRules,
  });
  let charged = 0;
  // Done when nothing is due within the hour: deferred charges (a busy operator second) come back
  // within seconds, the next periods a month later.
  for (;;) {
    const r = await runBillingBatch(ctx, { nowMs: ctx.clock.nowMs(), batchSize: batch });
    charged += r.succeeded;
    if (r.claimed > 0) continue;
    const { rows } = await db.query(
      "select 1 from billing_jobs where clock_key = '' and run_at <= $1 limit 1",
      [new Date(runBase + 3_600_000)],
    );
    if (rows.length === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await db.close();
  if (VIA_HTTP) await closeConnectors();
  if (process.env.BENCH_PROFILE) {
    printProfile((line) => process.stderr.write(`${line}\n`));
  }
  process.stdout.write(`${JSON.stringify({ charged })}\n`);
}

function runWorker(url: string, nowMs: number, batch: number, sim: Simulator | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        fileURLToPath(import.meta.url),
        "--worker",
        "--url",
        url,
        "--now",
        String(nowMs),
        "--batch",
        String(batch),
        ...(sim
          ? [
              "--via",
              "http",
              "--carrier-http",
              sim.httpUrl,
              "--carrier-smpp",
              String(sim.smppPort),
              "--carrier-settlement",
              sim.settlementDir,
            ]
          : []),
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`worker exited with ${code}`));
      resolve((JSON.parse(out.trim().split("\n").pop() ?? "{}") as { charged: number }).charged);
    });
  });
}

async function audit(db: Db, period: number, count: number): Promise<{ duplicates: number; misses: number }> {
  const { rows } = await db.query<{ duplicates: bigint; misses: bigint }>(
    `select
       (select count(*) from (select subscription_id from payments where billing_period = $1 and status = 'succeeded'
          group by subscription_id having count(*) > 1) d)::bigint as duplicates,
       ($2::bigint - (select count(distinct subscription_id) from payments where billing_period = $1 and status = 'succeeded'))::bigint as misses`,
    [period, count],
  );
  return { duplicates: Number(rows[0]!.duplicates), misses: Number(rows[0]!.misses) };
}

async function main(): Promise<void> {
  if (process.argv.includes("--worker")) return worker();
  const count = Number(arg("count", VIA_HTTP ? "20000" : "1000000"));
  const batch = Number(arg("batch", "500"));
  const serverUrl = process.env.DATABASE_URL;
  const workerCounts = serverUrl ? arg("workers", "1,2,4").split(",").map(Number) : [1];
  let url: string | undefined;
  let dbName = "";
  let admin: Db | undefined;
  if (serverUrl) {
    admin = await openPostgres({ url: serverUrl, poolSizeMax: 1, queryTimeoutMs: 300_000 });
    dbName = `centime_bench_${randomBytes(4).toString("hex")}`;
    await admin.query(`create database ${dbName}`);
    const u = new URL(serverUrl);
    u.pathname = `/${dbName}`;
    url = u.toString();
  }
  const db = await open(url);
  await migrate(db);
  const seedStart = performance.now();
  let sim: Simulator | undefined;
  if (VIA_HTTP) {
    sim = await startSimulator({ seed: 1, instant: true, httpPort: 0, smppPort: 0 });
    useCarrierNetwork(sim.httpUrl, sim.smppPort, sim.settlementDir);
    await seedHttp(db, count);
  } else {
    await seed(db, count);
  }
  const ops = VIA_HTTP ? httpOperators() : [];
  const shape = sim
    ? `${new Set(ops.map((o) => o.country)).size} countries, ${ops.length} OneAPI/CAMARA operators over HTTP (${sim.httpUrl})`
    : `${COUNTRIES_COUNT} countries, ${OPERATORS_COUNT} operators`;
  console.log(
    `billing bench on ${serverUrl ? "PostgreSQL" : "the embedded database"}: ${count} due subscriptions, ` +
      `${shape}; seeded in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`,
  );
  // Each run charges the next period: the clock moves a month per run.
  for (const [run, workers] of workerCounts.entries()) {
    const nowMs = BASE_MS + run * MONTH_MS;
    const start = performance.now();
    let charged = 0;
    if (url) {
      const counts = await Promise.all(
        Array.from({ length: workers }, () => runWorker(url!, nowMs, batch, sim)),
      );
      charged = counts.reduce((a, b) => a + b, 0);
    } else {
      const ctx: BillingContext = billingContext({
        db,
        ledger: new Ledger(db),
        clock: { nowMs: () => nowMs },
        providers: providers(db),
        rules: benchRules,
      });
      for (;;) {
        const r = await runBillingBatch(ctx, { nowMs, batchSize: batch });
        charged += r.succeeded;
        if (r.claimed === 0) break;
      }
    }
    const seconds = (performance.now() - start) / 1000;
    const { duplicates, misses } = await audit(db, run, count);
    console.log(
      `  ${workers} worker${workers === 1 ? " " : "s"}: ${charged} charges in ${seconds.toFixed(1)} s = ` +
        `${Math.round(charged / seconds)} charges/s; duplicates ${duplicates}, misses ${misses}`,
    );
  }
  await db.close();
  if (sim) {
    await closeConnectors();
    await sim.close();
  }
  if (admin) {
    await admin.query(`drop database if exists ${dbName} with (force)`);
    await admin.close();
  }
}

await main();
