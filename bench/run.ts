import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { openDatabase } from "../src/db/open.ts";
import { type CarrierBenchResult, runCarrierBench } from "./carrier.ts";
import { type CarrierPlatformResult, runCarrierPlatform } from "./carrier-platform.ts";
import {
  type BenchMerchant,
  type CpuMeter,
  createMerchants,
  drive,
  NO_RETRIES,
  type RetryOutcome,
  type StepResult,
} from "./load.ts";
import {
  backendsCpuMs,
  createDatabase,
  databaseUrl,
  dropDatabase,
  serverSettings,
  withClient,
} from "./pg.ts";
import { type PgbenchResult, runPgbench, setUpPgbench } from "./pgbench.ts";
import { cpuMs, freePort, newAdminKey, Platform, processTree, REPO_ROOT, RssSampler } from "./platform.ts";
import { formatProfile, latestProfile, type ProfileSummary, summarizeProfile } from "./profile.ts";
import { fmt, stepLine, table } from "./report.ts";
import { runWebhookLoad, type WebhookLoadResult, webhookLines } from "./webhook-load.ts";

const PARTS = ["postgres", "pgbench", "embedded", "webhooks", "carrier"] as const;
type Part = (typeof PARTS)[number];

interface Plan {
  quick: boolean;
  warmupS: number;
  stepS: number;
  connections: number[];
  embeddedConnections: number[];
  pgbenchS: number;
  restarts: number;
  spreadMerchants: number;
  parts: Set<Part>;
  profile: boolean;
  /** PostgreSQL mode with the API (`--role api`) and a worker process (`--role worker`) apart. */
  split: boolean;
  /** `--processes N`: the platform (or, with --split, the API) as N cluster processes sharing the port. */
  processes: number;
  /** Webhooks under load: seconds of payments, and the longest wait for the backlog to drain. */
  webhookS: number;
  webhookDrainS: number;
  /** Carrier: charges per protocol (connector bench); API load seconds and connections. */
  carrierCharges: number;
  carrierS: number;
  carrierConnections: number;
}

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

interface Target {
  name: string;
  goal: string;
  value: string;
  met: boolean | null;
}

interface Results {
  started: string;
  finished?: string;
  machine: { cpus: number; cpuModel: string; memoryGb: number; node: string };
  postgresSettings?: Record<string, string>;
  plan: Omit<Plan, "parts"> & { parts: string[] };
  steps: StepResult[];
  pgbench: PgbenchResult[];
  best?: { paymentsPerSec: number; connections: number; case: string };
  ratio?: number;
  embedded?: { firstStartMs: number; restartMs: number[]; stopMs: number[]; restartErrors: string[] };
  checks: Check[];
  targets: Target[];
  profile?: ProfileSummary;
  webhooks?: WebhookLoadResult;
  carrier?: { connectors?: CarrierBenchResult; platform?: CarrierPlatformResult };
}

const RESULTS_DIR = join(REPO_ROOT, "bench", "results");

/** `--processes N`: a whole number from 1 to 16, refused otherwise rather than read as 1. */
function processCount(value: string | undefined): number {
  if (value === undefined) return 1;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 16)
    throw new Error(`--processes: a whole number from 1 to 16, not '${value}'`);
  return n;
}

function planFrom(args: string[]): Plan {
  const { values } = parseArgs({
    args,
    options: {
      quick: { type: "boolean", default: false },
      profile: { type: "boolean", default: false },
      split: { type: "boolean", default: false },
      processes: { type: "string" },
      only: { type: "string" },
      connections: { type: "string" },
      duration: { type: "string" },
    },
  });
  const quick = values.quick ?? false;
  const list = (s: string) =>
    s
      .split(",")
      .map((v) => Number(v.trim()))
      .filter((v) => Number.isInteger(v) && v > 0);
  const parts = new Set<Part>();
  for (const part of (values.only ?? PARTS.join(",")).split(",")) {
    const p = PARTS.find((known) => known === part.trim());
    if (!p) throw new Error(`--only: unknown part '${part.trim()}' (parts: ${PARTS.join(", ")})`);
    parts.add(p);
  }
  return {
    quick,
    warmupS: quick ? 1 : 2,
    stepS: values.duration ? Number(values.duration) : quick ? 2 : 10,
    connections: values.connections ? list(values.connections) : quick ? [16, 64] : [16, 64, 128, 256],
    embeddedConnections: quick ? [16] : [16, 64],
    pgbenchS: quick ? 3 : 10,
    restarts: quick ? 1 : 3,
    spreadMerchants: 100,
    parts,
    profile: values.profile ?? false,
    split: values.split ?? false,
    processes: processCount(values.processes),
    webhookS: values.duration ? Number(values.duration) : quick ? 4 : 10,
    webhookDrainS: quick ? 20 : 60,
    carrierCharges: quick ? 500 : 4000,
    carrierS: values.duration ? Number(values.duration) : quick ? 3 : 10,
    carrierConnections: 32,
  };
}

/** The 1-minute load average: this machine may be shared, and the figures mean little when it is high. */
function loadAverage(): string {
  return loadavg()[0]!.toFixed(2);
}

function say(line = ""): void {
  process.stdout.write(`${line}\n`);
}

/** Things to undo at the end, newest first, whatever happened. */
class Cleanup {
  private tasks: Array<{ name: string; run: () => Promise<unknown> }> = [];

  /** Registers `run`; the returned function runs it now (once) and forgets it. */
  add<T>(name: string, run: () => Promise<T>): () => Promise<T> {
    const task = { name, run };
    this.tasks.push(task);
    return () => {
      this.tasks = this.tasks.filter((t) => t !== task);
      return run();
    };
  }

  async runAll(): Promise<void> {
    for (const task of this.tasks.splice(0).reverse()) {
      try {
        await task.run();
      } catch (error) {
        say(`cleanup: ${task.name} failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
}

/** Every merchant's trial balance: each currency's debits equal its credits (posted and pending). */
async function checkTrialBalances(platform: Platform, merchants: readonly BenchMerchant[]): Promise<Check> {
  let next = 0;
  const bad: string[] = [];
  let currencies = 0;
  let debits = 0n;
  const worker = async () => {
    while (next < merchants.length) {
      const merchant = merchants[next++]!;
      const { status, json } = await platform.request("GET", "/v1/ledger/trial_balance", merchant.secretKey);
      const body = json as {
        data?: Array<{
          currency: string;
          debits: number | string;
          credits: number | string;
          pending_debits: number | string;
          pending_credits: number | string;
          balanced: boolean;
        }>;
      };
      if (status !== 200 || !Array.isArray(body.data)) {
        bad.push(`${merchant.id}: HTTP ${status}`);
        continue;
      }
      for (const row of body.data) {
        currencies++;
        debits += BigInt(row.debits);
        if (
          String(row.debits) !== String(row.credits) ||
          String(row.pending_debits) !== String(row.pending_credits) ||
          !row.balanced
        ) {
          bad.push(`${merchant.id} ${row.currency}: debits ${row.debits} credits ${row.credits}`);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return {
    name: `trial balance of ${merchants.length} merchant(s): debits == credits`,
    ok: bad.length === 0,
    detail:
      bad.length === 0
        ? `${currencies} currency row(s) balanced, total posted debits ${debits} minor units`
        : `${bad.length} unbalanced: ${bad.slice(0, 5).join("; ")}`,
  };
}

function countCheck(label: string, inDb: number, total: { ok: number; retries: RetryOutcome }): Check {
  const r = total.retries;
  const ok = inDb === total.ok && r.failed === 0;
  return {
    name: `${label}: payments in the database == 2xx responses`,
    ok,
    detail:
      `${inDb} in the database, ${total.ok} 2xx responses` +
      (inDb === total.ok ? "" : ` (difference ${inDb - total.ok})`) +
      `; includes ${r.ok} 2xx from retrying, with the same Idempotency-Key, the ${r.retried} request(s) ` +
      `left unanswered when a run stopped (${r.replayed} replayed an already committed payment` +
      `${r.failed ? `, ${r.failed} retries failed` : ""})`,
  };
}

async function runCase(
  platform: Platform,
  sampler: RssSampler,
  plan: Plan,
  mode: StepResult["mode"],
  caseName: string,
  merchants: readonly BenchMerchant[],
  connections: readonly number[],
  steps: StepResult[],
  cpuMeter?: CpuMeter,
): Promise<{ ok: number; retries: RetryOutcome }> {
  let totalOk = 0;
  let retries = NO_RETRIES;
  for (const c of connections) {
    const {
      step,
      totalOk: ok,
      retries: r,
    } = await drive({
      platform,
      sampler,
      merchants,
      connections: c,
      durationS: plan.stepS,
      warmupS: plan.warmupS,
      mode,
      caseName,
      cpuMeter,
    });
    totalOk += ok;
    retries = {
      retried: retries.retried + r.retried,
      ok: retries.ok + r.ok,
      replayed: retries.replayed + r.replayed,
      failed: retries.failed + r.failed,
    };
    steps.push(step);
    say(`${stepLine(step)}  load ${step.loadAverage.toFixed(1)}`);
    if (!platform.running) throw new Error(`the platform died during the load:\n${platform.tail()}`);
  }
  return { ok: totalOk, retries };
}

async function postgresPart(plan: Plan, results: Results, cleanup: Cleanup): Promise<void> {
  say(`\n== PostgreSQL mode (${plan.stepS} s per step after a ${plan.warmupS} s warm-up) ==`);
  const database = await createDatabase("centime_bench");
  const drop = cleanup.add(`drop database ${database}`, () => dropDatabase(database));
  const profileDir = plan.profile ? join(RESULTS_DIR, "profiles", `${Date.now()}`) : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const adminKey = newAdminKey();
  const { platform, readyMs } = await Platform.start({
    databaseUrl: databaseUrl(database),
    adminKey,
    cpuProfileDir: profileDir,
    env: WEBHOOK_ENV,
    args: [
      "start",
      ...(plan.split ? ["--role", "api"] : []),
      ...(plan.processes > 1 ? ["--processes", String(plan.processes)] : []),
    ],
  });
  const stop = cleanup.add("stop the platform (PostgreSQL)", () => platform.stop());
  const platformPids = [platform.pid];
  say(`platform pid ${platform.pid} on ${platform.url}, database ${database}, ready in ${fmt(readyMs)} ms`);
  if (plan.split) {
    // --split: the API alone (`--role api`) and the background work in a `--role worker` process.
    const workerPort = await freePort();
    const worker = await Platform.start({
      databaseUrl: databaseUrl(database),
      adminKey,
      // The worker answers /ready on its own port, which the start waits for.
      port: workerPort,
      env: { ...WEBHOOK_ENV, CENTIME_WORKER_PORT: String(workerPort) },
      args: ["start", "--role", "worker"],
    });
    cleanup.add("stop the worker (PostgreSQL)", () => worker.platform.stop());
    platformPids.push(worker.platform.pid);
    say(`worker pid ${worker.platform.pid} (--role worker), the API with --role api`);
  }
  if (profileDir) say(`CPU profiling is on: the figures below are lower than without it`);
  const sampler = new RssSampler(platform.pid);
  // The platform's processes and the database's backends: what one payment costs on each side.
  const cpuMeter: CpuMeter = {
    read: async () => ({
      // With --processes, the cluster's processes are the primary's children.
      apiMs: platformPids.flatMap(processTree).reduce((sum, pid) => sum + (cpuMs(pid) ?? 0), 0),
      db: await backendsCpuMs(database),
    }),
  };
  try {
    const [single] = await createMerchants(platform, 1, "Bench single");
    const spread = await createMerchants(platform, plan.spreadMerchants, "Bench spread");
    say(`created 1 + ${spread.length} merchants`);

    const singleOk = await runCase(
      platform,
      sampler,
      plan,
      "postgres",
      "single",
      [single!],
      plan.connections,
      results.steps,
      cpuMeter,
    );
    const spreadOk = await runCase(
      platform,
      sampler,
      plan,
      "postgres",
      "spread",
      spread,
      plan.connections,
      results.steps,
      cpuMeter,
    );

    // Correctness: rows written vs 2xx answered, per case; every merchant's ledger balances.
    const counts = await withClient(databaseUrl(database), async (c) => {
      const { rows } = await c.query<{ merchant_id: string; status: string; n: string }>(
        "select merchant_id, status, count(*) as n from payments group by merchant_id, status",
      );
      return rows;
    });
    const spreadIds = new Set(spread.map((m) => m.id));
    const sum = (pick: (id: string) => boolean) =>
      counts.filter((r) => pick(r.merchant_id)).reduce((acc, r) => acc + Number(r.n), 0);
    const statuses = new Map<string, number>();
    for (const r of counts) statuses.set(r.status, (statuses.get(r.status) ?? 0) + Number(r.n));
    results.checks.push(
      countCheck(
        "postgres single merchant",
        sum((id) => id === single!.id),
        singleOk,
      ),
    );
    results.checks.push(
      countCheck(
        `postgres ${spread.length} merchants`,
        sum((id) => spreadIds.has(id)),
        spreadOk,
      ),
    );
    results.checks.push({
      name: "postgres: every payment succeeded (sandbox approve)",
      ok: [...statuses.keys()].every((s) => s === "succeeded"),
      detail: [...statuses.entries()].map(([s, n]) => `${s} ${n}`).join(", "),
    });
    results.checks.push(await checkTrialBalances(platform, [single!, ...spread]));
    const ledgerTotals = await withClient(databaseUrl(database), async (c) => {
      const { rows } = await c.query<{ d: string; cr: string }>(
        "select coalesce(sum(debits_posted), 0)::text as d, coalesce(sum(credits_posted), 0)::text as cr from ledger_balances",
      );
      return rows[0]!;
    });
    results.checks.push({
      name: "postgres: whole ledger (all balance slots): debits == credits",
      ok: ledgerTotals.d === ledgerTotals.cr,
      detail: `debits ${ledgerTotals.d}, credits ${ledgerTotals.cr}`,
    });
    if (plan.parts.has("webhooks"))
      await webhookStep(plan, results, platform, sampler, databaseUrl(database));
  } finally {
    sampler.stop();
    await stop();
  }
  if (profileDir) {
    const file = latestProfile(profileDir);
    if (file) {
      results.profile = summarizeProfile(file);
      say(formatProfile(results.profile));
    } else say("no CPU profile was written");
  }
  await drop();
}

/** Lets the platform deliver webhooks to the bench's receiver on loopback. */
const WEBHOOK_ENV = { CENTIME_WEBHOOK_ALLOWED_HOSTS: "127.0.0.1" };

/** Webhooks while payments run at the best PostgreSQL step's concurrency (and case). */
async function webhookStep(
  plan: Plan,
  results: Results,
  platform: Platform,
  sampler: RssSampler,
  url: string,
): Promise<void> {
  const best = results.steps
    .filter((s) => s.mode === "postgres")
    .reduce<StepResult | undefined>((a, s) => (!a || s.paymentsPerSec > a.paymentsPerSec ? s : a), undefined);
  const connections = best?.connections ?? 64;
  const merchantCount = best?.case === "spread" ? plan.spreadMerchants : 1;
  say(
    `\n-- webhooks while payments run (c=${connections}, ${merchantCount} merchant(s)` +
      `${best ? `: the best step, ${best.case}` : ""}) --`,
  );
  const w = await runWebhookLoad({
    platform,
    sampler,
    databaseUrl: url,
    merchantCount,
    connections,
    durationS: plan.webhookS,
    drainWaitMaxMs: plan.webhookDrainS * 1000,
    say,
  });
  results.webhooks = w;
  for (const line of webhookLines(w)) say(line);
  results.checks.push({
    name: "webhooks: no delivery received twice (same webhook-id)",
    ok: w.duplicates === 0,
    detail: `${w.received} deliveries received for ${w.eventsInDb} events, ${w.duplicates} duplicate(s)`,
  });
  results.checks.push({
    name: "webhooks: every payment answered 2xx wrote 2 events",
    ok: w.eventsInDb === 2 * (w.payments + w.retries.ok),
    detail: `${w.eventsInDb} events for ${w.payments} payments answered in the window + ${w.retries.ok} retried`,
  });
  if (!platform.running) throw new Error(`the platform died during the webhook load:\n${platform.tail()}`);
}

/** `--only webhooks` without `postgres`: a platform of its own on a fresh database. */
async function webhooksPart(plan: Plan, results: Results, cleanup: Cleanup): Promise<void> {
  say(`\n== Webhooks under load (PostgreSQL) ==`);
  const database = await createDatabase("centime_bench_webhooks");
  const drop = cleanup.add(`drop database ${database}`, () => dropDatabase(database));
  const { platform, readyMs } = await Platform.start({
    databaseUrl: databaseUrl(database),
    adminKey: newAdminKey(),
    env: WEBHOOK_ENV,
  });
  const stop = cleanup.add("stop the platform (webhooks)", () => platform.stop());
  say(`platform pid ${platform.pid} on ${platform.url}, database ${database}, ready in ${fmt(readyMs)} ms`);
  const sampler = new RssSampler(platform.pid);
  try {
    await webhookStep(plan, results, platform, sampler, databaseUrl(database));
  } finally {
    sampler.stop();
    await stop();
  }
  await drop();
}

async function carrierPart(plan: Plan, results: Results, cleanup: Cleanup): Promise<void> {
  say(`\n== Carrier: connectors against the simulator on loopback ==`);
  const connectors = await runCarrierBench({
    charges: plan.carrierCharges,
    concurrency: plan.carrierConnections,
  });
  results.carrier = { connectors };
  say(`\n== Carrier: the platform's cost per charge (POST /v1/payments, CAMARA, PostgreSQL) ==`);
  const platform = await runCarrierPlatform({
    connections: plan.carrierConnections,
    durationS: plan.carrierS,
    warmupS: plan.warmupS,
    say,
    onCleanup: (name, run) => cleanup.add(name, run),
  });
  results.carrier.platform = platform;
  // The operator's TPS bound may decline some charges (provider_unavailable): a valid answer.
  // A 5xx, or a payment left in a non-final state after the load, is not.
  const final = new Set(["succeeded", "failed", "canceled", "declined"]);
  for (const s of platform.steps) {
    const stuck = Object.entries(s.statuses).filter(([status]) => !final.has(status));
    const serverErrors = Object.entries(s.statusCodes)
      .filter(([code]) => code.startsWith("5"))
      .reduce((n, [, count]) => n + count, 0);
    results.checks.push({
      name: `carrier ${s.label}: no 5xx, every payment final after the load`,
      ok: stuck.length === 0 && serverErrors === 0,
      detail:
        `${Object.entries(s.statuses)
          .map(([status, n]) => `${status} ${n}`)
          .join(", ")}; ` + `non-2xx ${s.non2xx}${s.non2xx ? ` (${JSON.stringify(s.statusCodes)})` : ""}`,
    });
  }
}

async function pgbenchPart(plan: Plan, results: Results, cleanup: Cleanup): Promise<void> {
  const postgresSteps = results.steps.filter((s) => s.mode === "postgres");
  const best = postgresSteps.reduce<StepResult | undefined>(
    (a, s) => (!a || s.paymentsPerSec > a.paymentsPerSec ? s : a),
    undefined,
  );
  const maxConnections = Number(results.postgresSettings?.max_connections ?? 100);
  const wanted = best?.connections ?? plan.connections[plan.connections.length - 1] ?? 64;
  // The server is shared: leave room for the superuser reserve and whoever else is connected.
  const inUse = await withClient(databaseUrl("postgres"), async (c) => {
    const { rows } = await c.query<{ n: string }>("select count(*)::text as n from pg_stat_activity");
    return Number(rows[0]?.n ?? 0);
  });
  let clients = Math.max(1, Math.min(wanted, maxConnections - inUse - 8));
  say(`\n== pgbench: one payment per transaction (-c ${clients} -j 2 -T ${plan.pgbenchS}) ==`);
  if (clients < wanted) {
    say(
      `(the best API step used ${wanted} connections; max_connections ${maxConnections} with ${inUse} in use caps pgbench at ${clients})`,
    );
  }
  const database = await createDatabase("centime_pgbench");
  const drop = cleanup.add(`drop database ${database}`, () => dropDatabase(database));
  try {
    for (const merchants of [plan.spreadMerchants, 1]) {
      await setUpPgbench(database);
      let result: PgbenchResult | undefined;
      for (let attempt = 1; !result; attempt++) {
        try {
          result = await runPgbench(database, { clients, threads: 2, durationS: plan.pgbenchS, merchants });
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          if (!/too many clients/.test(message) || attempt >= 3) throw error;
          clients = Math.max(1, clients >> 1);
          say(`pgbench: too many clients on the server; trying again with -c ${clients}`);
        }
      }
      results.pgbench.push(result);
      say(
        `pgbench ${merchants === 1 ? "1 balance row (hot)  " : `${merchants} balance rows       `} ` +
          `${fmt(result.tps).padStart(7)} TPS  latency avg ${result.latencyAvgMs ?? "?"} ms` +
          `  failed ${result.failed ?? 0}  (load average ${loadAverage()})`,
      );
      await withClient(databaseUrl(database), (c) =>
        c.query("drop table bench_payments, bench_ledger, bench_balances, bench_events"),
      );
    }
  } finally {
    await drop();
  }
  if (best && results.pgbench[0]) {
    results.best = { paymentsPerSec: best.paymentsPerSec, connections: best.connections, case: best.case };
    results.ratio = best.paymentsPerSec / results.pgbench[0].tps;
    say(
      `ratio: best API ${fmt(best.paymentsPerSec)} payments/s (${best.case}, c=${best.connections}) ÷ ` +
        `pgbench ${fmt(results.pgbench[0].tps)} TPS = ${results.ratio.toFixed(2)}×`,
    );
  }
}

async function embeddedPart(plan: Plan, results: Results, cleanup: Cleanup): Promise<void> {
  say(`\n== Embedded database (PGlite) ==`);
  const dataDir = mkdtempSync(join(tmpdir(), "centime-bench-embedded-"));
  const removeDir = cleanup.add(`remove ${dataDir}`, async () =>
    rmSync(dataDir, { recursive: true, force: true }),
  );
  const adminKey = newAdminKey();
  const first = await Platform.start({ dataDir, adminKey });
  const platform = first.platform;
  const stop = cleanup.add("stop the platform (embedded)", () => platform.stop());
  say(
    `platform pid ${platform.pid} on ${platform.url}, data dir ${dataDir}, first start ${fmt(first.readyMs)} ms`,
  );
  const embedded: NonNullable<Results["embedded"]> = {
    firstStartMs: first.readyMs,
    restartMs: [],
    stopMs: [],
    restartErrors: [],
  };
  results.embedded = embedded;
  const sampler = new RssSampler(platform.pid);
  let total: { ok: number; retries: RetryOutcome };
  let merchants: BenchMerchant[];
  try {
    merchants = await createMerchants(platform, 1, "Bench embedded");
    total = await runCase(
      platform,
      sampler,
      plan,
      "embedded",
      "single",
      merchants,
      plan.embeddedConnections,
      results.steps,
    );
    results.checks.push(await checkTrialBalances(platform, merchants));
  } finally {
    sampler.stop();
    const stopStarted = performance.now();
    const code = await stop();
    embedded.stopMs.push(performance.now() - stopStarted);
    if (code !== 0) say(`warning: the platform exited with ${code} on SIGTERM:\n${platform.tail()}`);
  }
  // The data directory is free again: count from this process.
  const db = await openDatabase({ dataDir });
  try {
    const { rows } = await db.query<{ n: bigint | number }>("select count(*) as n from payments");
    results.checks.push(countCheck("embedded", Number(rows[0]?.n ?? 0), total));
  } finally {
    await db.close();
  }
  // Restart on the existing data directory: spawn to the first 200 from /ready.
  for (let i = 0; i < plan.restarts; i++) {
    try {
      const again = await Platform.start({ dataDir, adminKey, readyTimeoutMs: 30_000 });
      const stopAgain = cleanup.add("stop the platform (embedded restart)", () => again.platform.stop());
      embedded.restartMs.push(again.readyMs);
      const ping = await again.platform.request("GET", "/v1/ledger/trial_balance", merchants[0]!.secretKey);
      const stopStarted = performance.now();
      await stopAgain();
      embedded.stopMs.push(performance.now() - stopStarted);
      say(
        `restart ${i + 1}: spawn to /ready 200 in ${fmt(again.readyMs)} ms (data still there: trial balance HTTP ${ping.status}), ` +
          `stopped in ${fmt(embedded.stopMs[embedded.stopMs.length - 1]!)} ms`,
      );
    } catch (error) {
      const message = (error instanceof Error ? error.message : String(error))
        .split("\n")
        .slice(0, 3)
        .join(" | ");
      embedded.restartErrors.push(message);
      say(`restart ${i + 1} FAILED: ${message}`);
    }
  }
  results.checks.push({
    name: "embedded: restart on the existing data directory reaches /ready",
    ok: embedded.restartErrors.length === 0,
    detail:
      embedded.restartErrors.length === 0
        ? `${embedded.restartMs.length} restart(s)`
        : `${embedded.restartErrors.length} of ${plan.restarts} failed: ${embedded.restartErrors[0]}`,
  });
  await removeDir();
}

function evaluateTargets(results: Results): Target[] {
  const pg = results.steps.filter((s) => s.mode === "postgres");
  const emb = results.steps.filter((s) => s.mode === "embedded");
  const maxOf = (steps: StepResult[]) => steps.reduce((m, s) => Math.max(m, s.paymentsPerSec), 0);
  const targets: Target[] = [];
  if (pg.length) {
    const good = pg.filter((s) => s.p99Ms <= 100 && s.non2xx === 0 && s.errors === 0);
    const sustained = good.reduce<StepResult | undefined>(
      (a, s) => (!a || s.paymentsPerSec > a.paymentsPerSec ? s : a),
      undefined,
    );
    targets.push({
      name: "PostgreSQL sustained payments/s with p99 ≤ 100 ms",
      goal: "≥ 5,000",
      value: sustained
        ? `${fmt(sustained.paymentsPerSec)} (${sustained.case}, c=${sustained.connections}, p99 ${fmt(sustained.p99Ms)} ms)`
        : "no step had p99 ≤ 100 ms",
      met: sustained ? sustained.paymentsPerSec >= 5000 : false,
    });
    const single = maxOf(pg.filter((s) => s.case === "single"));
    const spread = maxOf(pg.filter((s) => s.case === "spread"));
    if (single && spread) {
      targets.push({
        name: "single merchant vs spread (best step of each)",
        goal: "single ≥ 90% of spread",
        value: `${fmt(single)} vs ${fmt(spread)} (${((single / spread - 1) * 100).toFixed(1)}%)`,
        met: single >= spread * 0.9,
      });
    }
  }
  if (results.ratio !== undefined) {
    targets.push({
      name: "best API payments/s ÷ pgbench TPS",
      goal: "≥ 2.5×",
      value: `${results.ratio.toFixed(2)}×`,
      met: results.ratio >= 2.5,
    });
  }
  if (emb.length) {
    targets.push({
      name: "embedded payments/s (best step)",
      goal: "≥ 500",
      value: fmt(maxOf(emb)),
      met: maxOf(emb) >= 500,
    });
  }
  if (results.embedded?.restartMs.length) {
    const worst = Math.max(...results.embedded.restartMs);
    if (results.embedded.restartErrors.length === 0)
      targets.push({
        name: "embedded restart, spawn to /ready (worst)",
        goal: "≤ 3 s",
        value: `${fmt(worst)} ms`,
        met: worst <= 3000,
      });
  }
  if (results.embedded?.restartErrors.length) {
    targets.push({
      name: "embedded restart, spawn to /ready",
      goal: "≤ 3 s",
      value: `failed: ${results.embedded.restartErrors[0]}`,
      met: false,
    });
  }
  const w = results.webhooks;
  if (w) {
    targets.push({
      name: "webhooks: deliveries/s keep up with events written/s during the load",
      goal: "≥ 100%",
      value: `${fmt(w.deliveriesPerSec)} vs ${fmt(w.eventsPerSec)} (${fmt((100 * w.deliveriesPerSec) / Math.max(1, w.eventsPerSec))}%)`,
      met: w.deliveriesPerSec >= w.eventsPerSec * 0.98,
    });
    targets.push({
      name: "webhooks: backlog drained after the load",
      goal: `within ${fmt(w.drainWaitMaxMs / 1000)} s, nothing missing`,
      value: w.drainMs === null ? `not drained, ${w.missing} missing` : `${fmt(w.drainMs)} ms`,
      met: w.drainMs !== null && w.missing === 0,
    });
  }
  for (const mode of ["postgres", "embedded"] as const) {
    const steps = results.steps.filter((s) => s.mode === mode);
    if (!steps.length) continue;
    const rss = Math.max(...steps.map((s) => s.peakRssMb));
    targets.push({
      name: `API peak RSS, ${mode} mode (all steps)`,
      goal: "≤ 300 MB",
      value: `${fmt(rss)} MB`,
      met: rss <= 300,
    });
  }
  return targets;
}

function printSummary(results: Results): void {
  say("\n== Summary ==");
  if (results.steps.length) {
    const rows = [
      [
        "mode",
        "case",
        "conns",
        "payments/s",
        "p50 ms",
        "p99 ms",
        "2xx",
        "non-2xx",
        "errors",
        "peak RSS MB",
        "load",
      ],
    ];
    for (const s of results.steps) {
      rows.push([
        s.mode,
        s.case,
        String(s.connections),
        fmt(s.paymentsPerSec),
        fmt(s.p50Ms, 1),
        fmt(s.p99Ms, 1),
        String(s.ok),
        String(s.non2xx),
        String(s.errors + s.timeouts),
        fmt(s.peakRssMb),
        s.loadAverage.toFixed(1),
      ]);
    }
    say(table(rows, new Set([2, 3, 4, 5, 6, 7, 8, 9, 10])));
  }
  for (const p of results.pgbench) {
    say(
      `pgbench (${p.merchants === 1 ? "1 hot balance row" : `${p.merchants} balance rows`}, -c ${p.clients} -j ${p.threads} -T ${p.durationS}): ` +
        `${fmt(p.tps)} TPS, latency avg ${p.latencyAvgMs ?? "?"} ms`,
    );
  }
  if (results.ratio !== undefined && results.best) {
    say(
      `ratio: ${fmt(results.best.paymentsPerSec)} payments/s (${results.best.case}, c=${results.best.connections}) ÷ ` +
        `${fmt(results.pgbench[0]?.tps ?? 0)} TPS = ${results.ratio.toFixed(2)}×`,
    );
  }
  if (results.embedded) {
    const e = results.embedded;
    say(
      `embedded: first start ${fmt(e.firstStartMs)} ms; restarts (spawn to /ready 200) ` +
        `${e.restartMs.map((ms) => `${fmt(ms)} ms`).join(", ") || "none"}` +
        `${e.restartErrors.length ? ` (${e.restartErrors.length} failed)` : ""}; SIGTERM stops ${e.stopMs.map((ms) => `${fmt(ms)} ms`).join(", ")}`,
    );
  }
  if (results.webhooks) for (const line of webhookLines(results.webhooks)) say(line);
  const carrier = results.carrier;
  if (carrier?.connectors) {
    const rows = [["carrier (simulator, loopback)", "conc", "charges/s", "p50 ms", "p99 ms"]];
    for (const r of carrier.connectors.runs) {
      rows.push([r.label, String(r.concurrency), fmt(r.chargesPerSec), fmt(r.p50Ms, 2), fmt(r.p99Ms, 2)]);
    }
    for (const r of carrier.platform?.raw ?? []) {
      rows.push([r.label, String(r.concurrency), fmt(r.chargesPerSec), fmt(r.p50Ms, 2), fmt(r.p99Ms, 2)]);
    }
    for (const s of carrier.platform?.steps ?? []) {
      rows.push([s.label, String(s.connections), fmt(s.paymentsPerSec), fmt(s.p50Ms, 2), fmt(s.p99Ms, 2)]);
    }
    say(table(rows, new Set([1, 2, 3, 4])));
    for (const s of carrier.platform?.steps ?? []) {
      const over = carrier.platform?.overheadP50Ms[s.label];
      say(
        `  ${s.label}: overhead p50 ${over === undefined ? "?" : fmt(over, 1)} ms over the bare connector, ` +
          `API CPU ${s.cpuMsPerCharge === null ? "?" : fmt(s.cpuMsPerCharge, 2)} ms per charge, load ${s.loadAverage.toFixed(1)}`,
      );
    }
  }
  const loads = results.steps.map((s) => s.loadAverage);
  if (loads.length) {
    say(
      `1-minute load average during the steps: ${Math.min(...loads).toFixed(1)} to ${Math.max(...loads).toFixed(1)} ` +
        `on ${results.machine.cpus} CPU(s) (other processes on the machine skew the figures)`,
    );
  }
  say("checks:");
  for (const c of results.checks) say(`  ${c.ok ? "ok  " : "FAIL"}  ${c.name}: ${c.detail}`);
  say("targets (informational, never pass/fail):");
  for (const t of results.targets) {
    say(`  ${t.met === null ? "    " : t.met ? "met " : "miss"}  ${t.name}: ${t.value} (goal ${t.goal})`);
  }
}

export async function runBench(args: string[]): Promise<void> {
  const plan = planFrom(args);
  const cleanup = new Cleanup();
  const cpu = cpus();
  const results: Results = {
    started: new Date().toISOString(),
    machine: {
      cpus: cpu.length,
      cpuModel: cpu[0]?.model ?? "?",
      memoryGb: Math.round(totalmem() / 2 ** 30),
      node: process.version,
    },
    plan: { ...plan, parts: [...plan.parts] },
    steps: [],
    pgbench: [],
    checks: [],
    targets: [],
  };
  const onSignal = () => {
    say("\ninterrupted: cleaning up");
    void cleanup.runAll().then(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  say(
    `Centime benchmark${plan.quick ? " (quick)" : ""}: ${cpu.length} CPU(s) ${results.machine.cpuModel}, node ${process.version}, load average ${loadAverage()}`,
  );
  try {
    if (PARTS.some((p) => p !== "embedded" && plan.parts.has(p))) {
      results.postgresSettings = await serverSettings();
      const s = results.postgresSettings;
      say(
        `PostgreSQL ${s.server_version}: max_connections ${s.max_connections}, synchronous_commit ${s.synchronous_commit}, fsync ${s.fsync}, shared_buffers ${s.shared_buffers}`,
      );
    }
    if (plan.parts.has("postgres")) await postgresPart(plan, results, cleanup);
    if (plan.parts.has("pgbench")) await pgbenchPart(plan, results, cleanup);
    if (plan.parts.has("embedded")) await embeddedPart(plan, results, cleanup);
    if (plan.parts.has("webhooks") && !plan.parts.has("postgres")) await webhooksPart(plan, results, cleanup);
    if (plan.parts.has("carrier")) await carrierPart(plan, results, cleanup);
  } finally {
    await cleanup.runAll();
    process.removeListener("SIGINT", onSignal);
    results.finished = new Date().toISOString();
    results.targets = evaluateTargets(results);
    printSummary(results);
    mkdirSync(RESULTS_DIR, { recursive: true });
    writeFileSync(join(RESULTS_DIR, "latest.json"), `${JSON.stringify(results, null, 2)}\n`);
    say(`\nwrote ${join("bench", "results", "latest.json")}`);
  }
  const failed = results.checks.filter((c) => !c.ok);
  if (failed.length > 0)
    throw new Error(`correctness checks failed: ${failed.map((c) => c.name).join("; ")}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  runBench(process.argv.slice(2)).then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(
        `bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      process.exit(1);
    },
  );
}
