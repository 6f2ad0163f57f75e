/**
 * The platform's cost per carrier charge: `POST /v1/payments` with a CAMARA carrier method
 * (charged directly, no PIN) against the started platform on PostgreSQL, pointed at a simulator
 * this process runs (`CENTIME_CARRIER_NETWORK_URL`), compared with the same charge made by the
 * CAMARA connector directly against that simulator.
 */
import { randomBytes } from "node:crypto";
import { loadavg } from "node:os";
import autocannon from "autocannon";
import { CamaraConnector } from "../src/connectors/camara/index.ts";
import { getOperator, listOperators } from "../src/connectors/operators/registry.ts";
import { nullLog } from "../src/connectors/sdk/types.ts";
import { type Simulator, startSimulator } from "../src/simulator/index.ts";
import { type CarrierRun, driveCharges } from "./carrier.ts";
import { type BenchMerchant, createMerchants } from "./load.ts";
import { createDatabase, databaseUrl, dropDatabase, withClient } from "./pg.ts";
import { cpuMs, newAdminKey, Platform, RssSampler } from "./platform.ts";

export interface ApiCarrierStep {
  label: string;
  operators: string[];
  connections: number;
  durationS: number;
  ok: number;
  non2xx: number;
  errors: number;
  statusCodes: Record<string, number>;
  paymentsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** User + system CPU of the API process during the run, per 2xx answer. */
  cpuMsPerCharge: number | null;
  peakRssMb: number;
  /** Payment statuses in the database for this step's merchant. */
  statuses: Record<string, number>;
  loadAverage: number;
}

export interface CarrierPlatformResult {
  simulatorUrl: string;
  /** tps_max of operator 20801 in the registry: the connector's token bucket in the platform. */
  operatorTpsMax: number;
  steps: ApiCarrierStep[];
  raw: CarrierRun[];
  /** API p50 − raw connector p50 (unthrottled connector, same concurrency), per step label. */
  overheadP50Ms: Record<string, number>;
}

/**
 * A French mobile number, `+3361` and 7 digits (E.164: 9 national digits) ending in 99: never one
 * of the simulator's special numbers (…0001–…0005). 100,000 of them, then they repeat (a number's
 * monthly cap allows far more than the repeats of a bench run).
 */
function frenchMsisdn(n: number): string {
  return `+3361${String(n % 100_000).padStart(5, "0")}99`;
}

let nextNumber = 1;

async function apiStep(options: {
  platform: Platform;
  sampler: RssSampler;
  merchant: BenchMerchant;
  operators: readonly string[];
  connections: number;
  durationS: number;
  label: string;
}): Promise<Omit<ApiCarrierStep, "statuses"> & { unanswered: number }> {
  const { platform, merchant, operators } = options;
  const run = randomBytes(6).toString("hex");
  const inFlight = new Set<string>();
  let n = 0;
  const cpuBefore = cpuMs(platform.pid);
  options.sampler.takePeakMb();
  const result = await autocannon({
    url: platform.url,
    connections: options.connections,
    duration: options.durationS,
    pipelining: 1,
    timeout: 30,
    requests: [
      {
        method: "POST",
        path: "/v1/payments",
        setupRequest: (request, context) => {
          const i = n++;
          const key = `bench-carrier-${run}-${i}`;
          inFlight.add(key);
          context.key = key;
          return {
            ...request,
            headers: {
              "content-type": "application/json",
              authorization: `Bearer ${merchant.secretKey}`,
              "idempotency-key": key,
            },
            body: JSON.stringify({
              amount: 199,
              currency: "EUR",
              payment_method: {
                type: "carrier",
                msisdn: frenchMsisdn(nextNumber++),
                operator: operators[i % operators.length],
              },
            }),
          };
        },
        onResponse: (_status, _body, context) => {
          if (typeof context.key === "string") inFlight.delete(context.key);
        },
      },
    ],
  });
  const cpuAfter = cpuMs(platform.pid);
  const peakRssMb = options.sampler.takePeakMb();
  const statusCodes: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats)) statusCodes[code] = count;
  const durationS = result.duration > 0 ? result.duration : options.durationS;
  const ok = result["2xx"];
  return {
    label: options.label,
    operators: [...operators],
    connections: options.connections,
    durationS,
    ok,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    statusCodes,
    paymentsPerSec: ok / durationS,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    cpuMsPerCharge: cpuBefore !== null && cpuAfter !== null && ok > 0 ? (cpuAfter - cpuBefore) / ok : null,
    peakRssMb,
    loadAverage: loadavg()[0]!,
    unanswered: inFlight.size,
  };
}

export function apiCarrierLine(s: ApiCarrierStep): string {
  const codes = Object.entries(s.statusCodes)
    .filter(([code]) => !code.startsWith("2"))
    .map(([code, count]) => `${code}×${count}`)
    .join(" ");
  return (
    `${s.label.padEnd(34)} c=${String(s.connections).padEnd(4)} ${Math.round(s.paymentsPerSec).toLocaleString("en-US").padStart(6)} payments/s` +
    `  p50 ${s.p50Ms.toFixed(1).padStart(6)} ms  p99 ${s.p99Ms.toFixed(1).padStart(7)} ms` +
    `  CPU ${s.cpuMsPerCharge === null ? "?" : s.cpuMsPerCharge.toFixed(2)} ms/charge  2xx ${s.ok}` +
    `  non-2xx ${s.non2xx}${codes ? ` (${codes})` : ""}  errors ${s.errors}  load ${s.loadAverage.toFixed(1)}`
  );
}

/**
 * Runs the platform on a fresh PostgreSQL database against a simulator in this process, drives
 * carrier payments through the API, then the same charges through the connector alone.
 * Steps: operator 20801 alone (as a merchant would: bounded by the operator's configured TPS),
 * and, to see the platform's own cost above that bound, the load spread over every CAMARA
 * operator of France (one token bucket each).
 */
export async function runCarrierPlatform(options: {
  connections: number;
  durationS: number;
  warmupS: number;
  say: (line: string) => void;
  onCleanup: (name: string, run: () => Promise<unknown>) => () => Promise<unknown>;
}): Promise<CarrierPlatformResult> {
  const { say } = options;
  const sim: Simulator = await startSimulator({
    seed: 2,
    instant: true,
    httpPort: 0,
    smppPort: 0,
    dlr_duplicate_rate: 0,
    dlr_out_of_order_rate: 0,
  });
  const closeSim = options.onCleanup("close the carrier simulator", () => sim.close());
  const database = await createDatabase("centime_bench_carrier");
  const drop = options.onCleanup(`drop database ${database}`, () => dropDatabase(database));
  const operator = getOperator("20801")!;
  const result: CarrierPlatformResult = {
    simulatorUrl: sim.httpUrl,
    operatorTpsMax: operator.tps_max,
    steps: [],
    raw: [],
    overheadP50Ms: {},
  };
  try {
    const { platform, readyMs } = await Platform.start({
      databaseUrl: databaseUrl(database),
      adminKey: newAdminKey(),
      env: {
        CENTIME_CARRIER_NETWORK_URL: sim.httpUrl,
        CENTIME_CARRIER_SMPP: `127.0.0.1:${sim.smppPort}`,
      },
    });
    const stop = options.onCleanup("stop the platform (carrier)", () => platform.stop());
    const sampler = new RssSampler(platform.pid);
    say(
      `platform pid ${platform.pid} on ${platform.url}, database ${database}, simulator ${sim.httpUrl} ` +
        `(instant, in the bench process), ready in ${Math.round(readyMs)} ms`,
    );
    try {
      const camaraFr = listOperators({ country: "FR", protocol: "camara" }).map((o) => o.id);
      const cases: Array<{ label: string; operators: string[] }> = [
        { label: "API CAMARA 20801", operators: ["20801"] },
        { label: `API CAMARA ${camaraFr.length} FR operators`, operators: camaraFr },
      ];
      for (const c of cases) {
        const [merchant] = await createMerchants(platform, 1, `Bench ${c.label}`);
        // One payment first: a clear error if the method is refused.
        const probe = await platform.request(
          "POST",
          "/v1/payments",
          merchant!.secretKey,
          {
            amount: 199,
            currency: "EUR",
            payment_method: { type: "carrier", msisdn: frenchMsisdn(nextNumber++), operator: c.operators[0] },
          },
          { "idempotency-key": `bench-carrier-probe-${randomBytes(6).toString("hex")}` },
        );
        const probeStatus = (probe.json as { status?: string }).status;
        if (probe.status >= 300 || probeStatus !== "succeeded") {
          say(`${c.label}: the first payment answered HTTP ${probe.status}: ${JSON.stringify(probe.json)}`);
        }
        if (options.warmupS > 0) {
          await apiStep({
            platform,
            sampler,
            merchant: merchant!,
            operators: c.operators,
            connections: options.connections,
            durationS: options.warmupS,
            label: c.label,
          });
          // Let the operator's token bucket refill after the warm-up.
          await new Promise((r) => setTimeout(r, 1100));
        }
        const step = await apiStep({
          platform,
          sampler,
          merchant: merchant!,
          operators: c.operators,
          connections: options.connections,
          durationS: options.durationS,
          label: c.label,
        });
        // Requests still in flight when autocannon stopped finish on the server: let them.
        await new Promise((r) => setTimeout(r, 1500));
        const statuses = await withClient(databaseUrl(database), async (client) => {
          const { rows } = await client.query<{ status: string; n: string }>(
            "select status, count(*)::text as n from payments where merchant_id = $1 group by status",
            [merchant!.id],
          );
          return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
        });
        const { unanswered: _unanswered, ...rest } = step;
        const full: ApiCarrierStep = { ...rest, statuses };
        result.steps.push(full);
        say(apiCarrierLine(full));
        say(
          `  payments in the database for this merchant (warm-up and probe included): ${Object.entries(
            statuses,
          )
            .map(([s, n]) => `${s} ${n}`)
            .join(", ")}`,
        );
        if (!platform.running) throw new Error(`the platform died during the load:\n${platform.tail()}`);
      }
    } finally {
      sampler.stop();
      await stop();
    }

    // The same charge without the platform: the CAMARA connector in this process, no TPS limit.
    const connector = new CamaraConnector({
      operator: { ...operator, tps_max: 1e9 },
      log: nullLog,
      http_url: sim.httpUrl,
    });
    try {
      const run = randomBytes(4).toString("hex");
      const one = (i: number) =>
        connector
          .charge({
            attempt_id: `raw${run}${i}`,
            msisdn: frenchMsisdn(nextNumber++),
            amount: 199n,
            currency: "EUR",
            description: "bench",
          })
          .then((o) => o.status);
      const total = Math.max(2000, Math.round(result.steps.at(-1)?.ok ?? 0));
      await driveCharges("(warm-up) CAMARA connector", Math.min(total, 2000), options.connections, one, say);
      const raw = await driveCharges(
        "CAMARA connector, raw (no TPS cap)",
        total,
        options.connections,
        one,
        say,
      );
      result.raw.push(raw);
      for (const s of result.steps) {
        result.overheadP50Ms[s.label] = s.p50Ms - raw.p50Ms;
        say(
          `overhead, ${s.label}: API p50 ${s.p50Ms.toFixed(1)} ms − connector p50 ${raw.p50Ms.toFixed(2)} ms = ` +
            `${(s.p50Ms - raw.p50Ms).toFixed(1)} ms; ${Math.round(s.paymentsPerSec)} vs ${Math.round(raw.chargesPerSec)} charges/s; ` +
            `API CPU ${s.cpuMsPerCharge === null ? "?" : s.cpuMsPerCharge.toFixed(2)} ms per charge`,
        );
      }
      say(
        `(operator 20801 has tps_max ${operator.tps_max} in the registry: the platform's connector waits for a token, ` +
          `so at ${options.connections} connections its latency is mostly that queue, not work)`,
      );
    } finally {
      await connector.close();
    }
  } finally {
    await drop();
    await closeSim();
  }
  return result;
}
