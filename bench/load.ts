import { randomBytes } from "node:crypto";
import { loadavg } from "node:os";
import autocannon from "autocannon";
import { cpuDelta } from "./pg.ts";
import { machineBusyMs, type Platform, type RssSampler } from "./platform.ts";

export interface BenchMerchant {
  id: string;
  secretKey: string;
}

/** Creates merchants through the admin API, a few at a time. */
export async function createMerchants(
  platform: Platform,
  count: number,
  label: string,
): Promise<BenchMerchant[]> {
  const merchants: BenchMerchant[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const { status, json } = await platform.request(
        "POST",
        "/v1/merchants",
        platform.adminKey,
        { name: `${label} ${i + 1}` },
        { "idempotency-key": `bench-merchant-${label}-${i}-${randomBytes(4).toString("hex")}` },
      );
      const body = json as { merchant?: { id?: string }; secret_key?: string };
      if (status !== 201 || !body.merchant?.id || !body.secret_key) {
        throw new Error(`creating a merchant failed: ${status} ${JSON.stringify(json)}`);
      }
      merchants[i] = { id: body.merchant.id, secretKey: body.secret_key };
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, count) }, worker));
  return merchants;
}

export interface StepResult {
  mode: "postgres" | "embedded";
  case: string;
  connections: number;
  /** Measured seconds (the warm-up is not counted). */
  durationS: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  paymentsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  peakRssMb: number;
  statusCodes: Record<string, number>;
  /** The machine's 1-minute load average at the end of the step. */
  loadAverage: number;
  /** CPU per 2xx payment during the measured seconds, when the step had a meter. */
  cpuMsPerPayment?: {
    api: number;
    db: number;
    /** The load generator (autocannon, in this process): it shares the machine's cores. */
    client: number;
    /** Every CPU of the machine that was busy (`/proc/stat`: user, system, interrupts). */
    machine: number;
  };
}

/** Reads the CPU that serving the load costs (the platform's processes, the database's). */
export interface CpuMeter {
  read(): Promise<{ apiMs: number; db: Map<number, number> }>;
}

export interface DriveOptions {
  platform: Platform;
  sampler: RssSampler;
  merchants: readonly BenchMerchant[];
  connections: number;
  durationS: number;
  warmupS: number;
  mode: StepResult["mode"];
  caseName: string;
  cpuMeter?: CpuMeter;
}

const PAYMENT_BODY = JSON.stringify({
  amount: 199,
  currency: "EUR",
  payment_method: { type: "sandbox", scenario: "approve" },
});

interface Sent {
  key: string;
  authorization: string;
}

/**
 * Runs autocannon once; each request has a fresh Idempotency-Key and the next merchant's key.
 * Returns the requests that got no response (in flight when the run stopped, or lost with a
 * connection): their outcome is unknown to the client, as after a network failure.
 */
async function cannon(
  platform: Platform,
  merchants: readonly BenchMerchant[],
  connections: number,
  s: number,
) {
  const run = randomBytes(6).toString("hex");
  const authorizations = merchants.map((m) => `Bearer ${m.secretKey}`);
  const unanswered = new Map<string, Sent>();
  let n = 0;
  // Per connection, autocannon calls onResponse for a request before setupRequest for the next,
  // and hands both the connection's context: the context remembers the key in flight.
  const result = await autocannon({
    url: platform.url,
    connections,
    duration: s,
    pipelining: 1,
    timeout: 30,
    requests: [
      {
        method: "POST",
        path: "/v1/payments",
        body: PAYMENT_BODY,
        setupRequest: (request, context) => {
          const i = n++;
          const sent = {
            key: `bench-${run}-${i}`,
            authorization: authorizations[i % authorizations.length]!,
          };
          unanswered.set(sent.key, sent);
          context.key = sent.key;
          return {
            ...request,
            headers: {
              "content-type": "application/json",
              authorization: sent.authorization,
              "idempotency-key": sent.key,
            },
          };
        },
        onResponse: (_status, _body, context) => {
          if (typeof context.key === "string") unanswered.delete(context.key);
        },
      },
    ],
  });
  return { result, unanswered: [...unanswered.values()] };
}

export interface RetryOutcome {
  retried: number;
  ok: number;
  /** 2xx answered from the idempotency record: the first attempt had committed. */
  replayed: number;
  failed: number;
}

/**
 * Retries requests whose outcome the client never learned, with the same Idempotency-Key, the way
 * a real client would: each either replays the committed payment or creates it now, never both.
 */
export async function retryUnanswered(platform: Platform, sent: readonly Sent[]): Promise<RetryOutcome> {
  const outcome: RetryOutcome = { retried: sent.length, ok: 0, replayed: 0, failed: 0 };
  let next = 0;
  const worker = async () => {
    while (next < sent.length) {
      const { key, authorization } = sent[next++]!;
      for (let attempt = 1; ; attempt++) {
        let response: Response;
        try {
          response = await fetch(`${platform.url}/v1/payments`, {
            method: "POST",
            headers: { "content-type": "application/json", authorization, "idempotency-key": key },
            body: PAYMENT_BODY,
            signal: AbortSignal.timeout(30_000),
          });
          await response.arrayBuffer();
        } catch (error) {
          // A connection reset or a timeout: the outcome is still unknown, so ask again.
          if (attempt < 50) {
            await new Promise((r) => setTimeout(r, 100));
            continue;
          }
          throw error;
        }
        if (response.status >= 200 && response.status < 300) {
          outcome.ok++;
          if (response.headers.get("idempotent-replayed") === "true") outcome.replayed++;
          break;
        }
        // 409: the first attempt is still being processed; 429/503: try again shortly.
        if ([409, 429, 503].includes(response.status) && attempt < 50) {
          await new Promise((r) => setTimeout(r, 100));
          continue;
        }
        outcome.failed++;
        break;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(16, sent.length) }, worker));
  return outcome;
}

function addRetries(a: RetryOutcome, b: RetryOutcome): RetryOutcome {
  return {
    retried: a.retried + b.retried,
    ok: a.ok + b.ok,
    replayed: a.replayed + b.replayed,
    failed: a.failed + b.failed,
  };
}

export const NO_RETRIES: RetryOutcome = { retried: 0, ok: 0, replayed: 0, failed: 0 };

/**
 * One load step: a short warm-up (not measured, but its 2xx count for the correctness check),
 * then the measured run. Requests left unanswered when a run stops are retried afterwards with
 * their Idempotency-Key (outside the measured window).
 */
export async function drive(
  options: DriveOptions,
): Promise<{ step: StepResult; totalOk: number; retries: RetryOutcome }> {
  const { platform, sampler, merchants, connections } = options;
  let warmOk = 0;
  let retries = NO_RETRIES;
  if (options.warmupS > 0) {
    const warm = await cannon(platform, merchants, connections, options.warmupS);
    warmOk = warm.result["2xx"];
    retries = addRetries(retries, await retryUnanswered(platform, warm.unanswered));
  }
  sampler.takePeakMb();
  const cpuBefore = await options.cpuMeter?.read();
  const clientBefore = process.cpuUsage();
  const machineBefore = machineBusyMs();
  const { result, unanswered } = await cannon(platform, merchants, connections, options.durationS);
  const clientUsed = process.cpuUsage(clientBefore);
  const machineBusy = machineBusyMs() - machineBefore;
  const cpuAfter = await options.cpuMeter?.read();
  const peakRssMb = sampler.takePeakMb();
  retries = addRetries(retries, await retryUnanswered(platform, unanswered));
  const statusCodes: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats)) statusCodes[code] = count;
  const durationS = result.duration > 0 ? result.duration : options.durationS;
  const step: StepResult = {
    mode: options.mode,
    case: options.caseName,
    connections,
    durationS,
    ok: result["2xx"],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    paymentsPerSec: result["2xx"] / durationS,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    peakRssMb,
    statusCodes,
    loadAverage: loadavg()[0]!,
  };
  if (cpuBefore && cpuAfter && result["2xx"] > 0)
    step.cpuMsPerPayment = {
      api: (cpuAfter.apiMs - cpuBefore.apiMs) / result["2xx"],
      db: cpuDelta(cpuBefore.db, cpuAfter.db) / result["2xx"],
      client: (clientUsed.user + clientUsed.system) / 1000 / result["2xx"],
      machine: machineBusy / result["2xx"],
    };
  return { step, totalOk: warmOk + result["2xx"] + retries.ok, retries };
}
