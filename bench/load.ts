import { randomBytes } from "node:crypto";
import autocannon from "autocannon";
import type { Platform, RssSampler } from "./platform.ts";

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
}

const PAYMENT_BODY = JSON.stringify({
  amount: 199,
  currency: "EUR",
  payment_method: { type: "sandbox", scenario: "approve" },
});

/** Runs autocannon once; each request has a fresh Idempotency-Key and the next merchant's key. */
async function cannon(
  platform: Platform,
  merchants: readonly BenchMerchant[],
  connections: number,
  s: number,
) {
  const run = randomBytes(6).toString("hex");
  const authorizations = merchants.map((m) => `Bearer ${m.secretKey}`);
  let n = 0;
  return autocannon({
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
        setupRequest: (request) => {
          const i = n++;
          return {
            ...request,
            headers: {
              "content-type": "application/json",
              authorization: authorizations[i % authorizations.length]!,
              "idempotency-key": `bench-${run}-${i}`,
            },
          };
        },
      },
    ],
  });
}

/**
 * One load step: a short warm-up (not measured, but its 2xx are counted for the correctness
 * check), then the measured run. Returns the step's figures and the 2xx of both runs.
 */
export async function drive(options: DriveOptions): Promise<{ step: StepResult; totalOk: number }> {
  const { platform, sampler, merchants, connections } = options;
  let warmOk = 0;
  if (options.warmupS > 0) {
    const warm = await cannon(platform, merchants, connections, options.warmupS);
    warmOk = warm["2xx"];
  }
  sampler.takePeakMb();
  const result = await cannon(platform, merchants, connections, options.durationS);
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
    peakRssMb: sampler.takePeakMb(),
    statusCodes,
  };
  return { step, totalOk: warmOk + result["2xx"] };
}
