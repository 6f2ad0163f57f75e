/**
 * `node --import tsx bench/risk.ts [--duration 10] [--connections 64] [--rounds 2] [--rate N] [--only micro|platform]
 *   [--cpu-prof DIR] [--shape address|none] [--rules 50] [--all-matching 0] [--warmup 6]` (DIR/on, DIR/off:
 *   `node --cpu-prof` output of the API process of each round; --rules 0: the 4 defaults only)
 *
 * 1. micro: the CPU cost of evaluating 50 compiled rules against one payment's facts (µs per
 *    payment), and of compiling a rule.
 * 2. platform: the payments benchmark of bench/README.md (POST /v1/payments, sandbox approve, a
 *    new Idempotency-Key per request, PostgreSQL) with the risk engine off (CENTIME_RISK_ENGINE=off)
 *    and on, the merchant holding the 4 defaults plus 50 rules of its own (two of them shadow
 *    rules that match every payment, so every payment writes two decisions), in two traffic
 *    shapes: without a payer address (the defaults need no counter) and with `ip_address` drawn
 *    from 5,000 addresses (every payment runs one counters query and writes its observations).
 *    Both platforms run side by side and their steps alternate off, on, on, off, … (--rounds of each), so a
 *    loaded machine's drift hits both.
 *
 * Besides payments/s each step reports the CPU a payment costs the API process and the PostgreSQL
 * backends serving it: throughput on a shared or latency-bound machine moves with its neighbours,
 * CPU per payment much less. With `--rate N` both settings serve the same N payments/s.
 *
 * Timings never fail the run.
 */
import { randomBytes } from "node:crypto";
import { cpus, loadavg } from "node:os";
import autocannon from "autocannon";
import { type ActiveRule, compileRule, evaluate } from "../src/risk/index.ts";
import { backendsCpuMs, cpuDelta, createDatabase, databaseUrl, dropDatabase } from "./pg.ts";
import { cpuMs, newAdminKey, Platform } from "./platform.ts";
import { fiftyRules } from "./risk-rules.ts";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const DURATION_S = Number(arg("duration", "10"));
const CONNECTIONS = Number(arg("connections", "64"));
const ROUNDS = Number(arg("rounds", "2"));
const ONLY = arg("only", "micro,platform").split(",");
/** --all-matching 0: leave out the two shadow rules that match every payment (no decision rows). */
const ALL_MATCHING = arg("all-matching", "2") !== "0";
/** --rules N: how many of the fifty rules the merchant adds to the 4 defaults (0: defaults only). */
const RULES = Number(arg("rules", "50"));
/** Seconds of load a fresh platform gets before any step (compilation, first partitions, pools). */
const JIT_WARMUP_S = Number(arg("warmup", "6"));
const CPU_PROFILE_DIR = arg("cpu-prof", "");
/** --rate N: both settings serve the same N payments/s; compare their CPU per payment. */
const RATE = Number(arg("rate", "0"));
/** --shape address|none: one traffic shape only (to profile it alone); both by default. */
const SHAPES = { both: [false, true], address: [true], none: [false] }[arg("shape", "both")] ?? [false, true];

function micro(): void {
  const specs = fiftyRules();
  const t0 = performance.now();
  const rules: ActiveRule[] = specs.map((spec, i) => {
    const compiled = compileRule(spec.rule);
    if (!compiled.ok) throw new Error(`${spec.rule}: ${compiled.error.message}`);
    return { id: `rr_${i}`, name: spec.name, mode: spec.mode, compiled: compiled.rule };
  });
  const compileUs = ((performance.now() - t0) * 1000) / specs.length;
  const facts = {
    flow: "payment",
    amount: 199,
    currency: "EUR",
    method: "sandbox",
    ip: "10.0.0.1",
    payments_per_ip_1h: 3,
    cards_per_ip_24h: 0,
    declines_per_ip_1h: 0,
    pin_failures_per_ip_1h: 0,
    page_open_ms: 5000,
  } as const;
  const lists = () => false;
  let matched = 0;
  for (let i = 0; i < 20_000; i++) matched += evaluate(rules, facts, lists).matches.length;
  const iterations = 200_000;
  const start = performance.now();
  for (let i = 0; i < iterations; i++) matched += evaluate(rules, facts, lists).matches.length;
  const perPaymentUs = ((performance.now() - start) * 1000) / iterations;
  console.log(
    `micro: 50 rules evaluated in ${perPaymentUs.toFixed(2)} µs per payment (${(perPaymentUs / 50).toFixed(3)} µs per rule; ${matched > 0 ? "2 shadow matches each" : ""}); compile ${compileUs.toFixed(1)} µs per rule`,
  );
}

interface Step {
  risk: "on" | "off";
  shape: "no address" | "with address";
  perSec: number;
  p50: number;
  p99: number;
  non2xx: number;
  load: number;
  /** CPU time of the API process per answered payment. */
  cpuMsPerPayment: number;
  /** CPU time of the PostgreSQL backends serving it, per answered payment. */
  dbCpuMsPerPayment: number;
}

async function drive(platform: Platform, key: string, withAddress: boolean, seconds: number) {
  const run = randomBytes(4).toString("hex");
  let n = 0;
  const result = await autocannon({
    url: platform.url,
    connections: CONNECTIONS,
    duration: seconds,
    ...(RATE > 0 ? { overallRate: RATE } : {}),
    pipelining: 1,
    timeout: 30,
    requests: [
      {
        method: "POST",
        path: "/v1/payments",
        setupRequest: (request) => {
          const i = n++;
          const body: Record<string, unknown> = {
            amount: 199,
            currency: "EUR",
            payment_method: { type: "sandbox", scenario: "approve" },
          };
          if (withAddress) body.ip_address = `10.0.${Math.floor((i % 5000) / 250)}.${(i % 5000) % 250}`;
          return {
            ...request,
            body: JSON.stringify(body),
            headers: {
              "content-type": "application/json",
              authorization: `Bearer ${key}`,
              "idempotency-key": `risk-${run}-${i}`,
            },
          };
        },
      },
    ],
  });
  return result;
}

interface Setting {
  risk: "on" | "off";
  platform: Platform;
  database: string;
  key: string;
}

/** A platform on a fresh database with the risk engine on or off, its merchant holding the rules. */
async function startSetting(risk: "on" | "off"): Promise<Setting> {
  const database = await createDatabase("centime_bench_risk");
  const adminKey = newAdminKey();
  const { platform } = await Platform.start({
    adminKey,
    databaseUrl: databaseUrl(database),
    env: { CENTIME_RISK_ENGINE: risk },
    ...(CPU_PROFILE_DIR ? { cpuProfileDir: `${CPU_PROFILE_DIR}/${risk}` } : {}),
  });
  const created = await platform.request("POST", "/v1/merchants", adminKey, { name: "Risk bench" });
  const key = (created.json as { secret_key: string }).secret_key;
  const rules = fiftyRules()
    .filter((r) => ALL_MATCHING || !r.name.startsWith("shadow "))
    .slice(0, RULES);
  for (const spec of rules) {
    const r = await platform.request("POST", "/v1/risk_rules", key, spec);
    if (r.status !== 201) throw new Error(`rule ${spec.rule}: ${r.status} ${JSON.stringify(r.json)}`);
  }
  // A fresh process runs its first seconds slower (compilation, pools, the day's partitions).
  await drive(platform, key, SHAPES[0]!, JIT_WARMUP_S);
  return { risk, platform, database, key };
}

async function measure(setting: Setting, withAddress: boolean): Promise<Step> {
  const { platform, database, key, risk } = setting;
  // The idle platform's pool closed its connections while the other one ran: reopen them first.
  await drive(platform, key, withAddress, 1);
  const cpuBefore = cpuMs(platform.pid) ?? 0;
  const dbBefore = await backendsCpuMs(database);
  const result = await drive(platform, key, withAddress, DURATION_S);
  const cpu = (cpuMs(platform.pid) ?? 0) - cpuBefore;
  const dbCpu = cpuDelta(dbBefore, await backendsCpuMs(database));
  return {
    cpuMsPerPayment: cpu / Math.max(1, result["2xx"]),
    dbCpuMsPerPayment: dbCpu / Math.max(1, result["2xx"]),
    risk,
    shape: withAddress ? "with address" : "no address",
    perSec: result["2xx"] / (result.duration || DURATION_S),
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    load: loadavg()[0]!,
  };
}

/**
 * Both platforms run side by side (an idle one costs nothing) and their steps alternate
 * off, on, on, off, …: on this shared machine the same step drifts by 20–30 % within minutes, and
 * one platform per round measured that drift as much as the engine.
 */
async function platformSteps(report: (step: Step, round: number) => void): Promise<Step[]> {
  const settings: Setting[] = [];
  const steps: Step[] = [];
  try {
    settings.push(await startSetting("off"), await startSetting("on"));
    for (const withAddress of SHAPES) {
      // Each shape warms up on its own, so neither is measured colder than the other.
      for (const setting of settings) await drive(setting.platform, setting.key, withAddress, 3);
      for (let round = 0; round < ROUNDS; round++)
        for (const setting of round % 2 === 0 ? settings : [...settings].reverse()) {
          const step = await measure(setting, withAddress);
          report(step, round);
          steps.push(step);
        }
    }
    return steps;
  } finally {
    for (const { platform, database } of settings) {
      await platform.stop();
      await dropDatabase(database);
    }
  }
}

if (ONLY.includes("micro")) micro();
if (ONLY.includes("platform")) {
  console.log(
    `platform: ${CONNECTIONS} connections, ${DURATION_S} s per step, ${ROUNDS} round(s); 4 defaults + ${RULES} rules` +
      `${ALL_MATCHING && RULES >= 2 ? " (2 shadow rules match every payment)" : ""}; ${cpus().length} CPUs, load ${loadavg()
        .map((l) => l.toFixed(1))
        .join(" ")}`,
  );
  const all = await platformSteps((s, round) =>
    console.log(
      `  round ${round + 1} risk ${s.risk.padEnd(3)} ${s.shape.padEnd(12)} ${s.perSec.toFixed(0).padStart(6)} payments/s  p50 ${s.p50} ms  p99 ${s.p99} ms  non-2xx ${s.non2xx}  CPU per payment: API ${s.cpuMsPerPayment.toFixed(3)} ms, PostgreSQL ${s.dbCpuMsPerPayment.toFixed(3)} ms  load ${s.load.toFixed(1)}`,
    ),
  );
  for (const shape of SHAPES.map((a) => (a ? "with address" : "no address"))) {
    const mean = (risk: "on" | "off") => {
      const of = all.filter((s) => s.risk === risk && s.shape === shape);
      return of.reduce((sum, s) => sum + s.perSec, 0) / of.length;
    };
    const median = (risk: "on" | "off", of: (s: Step) => number) => {
      const values = all
        .filter((s) => s.risk === risk && s.shape === shape)
        .map(of)
        .sort((a, b) => a - b);
      const mid = values.length >> 1;
      return values.length % 2 ? values[mid]! : (values[mid - 1]! + values[mid]!) / 2;
    };
    const cpu = (risk: "on" | "off", of: (s: Step) => number) => {
      const steps = all.filter((s) => s.risk === risk && s.shape === shape);
      return steps.reduce((sum, s) => sum + of(s), 0) / steps.length;
    };
    const off = mean("off");
    const on = mean("on");
    const total = (s: Step) => s.cpuMsPerPayment + s.dbCpuMsPerPayment;
    // What the machine can serve when CPU is what runs out: inversely proportional to CPU per payment.
    const capacity = (cpu("off", total) / cpu("on", total) - 1) * 100;
    console.log(
      `${shape}: off ${off.toFixed(0)}/s, on ${on.toFixed(0)}/s: ${(((on - off) / off) * 100).toFixed(1)} % with the risk engine; ` +
        `CPU per payment: API ${cpu("off", (s) => s.cpuMsPerPayment).toFixed(3)} → ${cpu("on", (s) => s.cpuMsPerPayment).toFixed(3)} ms, ` +
        `PostgreSQL ${cpu("off", (s) => s.dbCpuMsPerPayment).toFixed(3)} → ${cpu("on", (s) => s.dbCpuMsPerPayment).toFixed(3)} ms ` +
        `(capacity when CPU-bound ${capacity.toFixed(1)} %)`,
    );
    const offMedian = median("off", (s) => s.perSec);
    const onMedian = median("on", (s) => s.perSec);
    const capacityMedian = (median("off", total) / median("on", total) - 1) * 100;
    console.log(
      `${shape}, medians: off ${offMedian.toFixed(0)}/s, on ${onMedian.toFixed(0)}/s: ${(((onMedian - offMedian) / offMedian) * 100).toFixed(1)} %; ` +
        `CPU per payment (API + PostgreSQL) ${median("off", total).toFixed(3)} → ${median("on", total).toFixed(3)} ms ` +
        `(capacity when CPU-bound ${capacityMedian.toFixed(1)} %)`,
    );
  }
}
