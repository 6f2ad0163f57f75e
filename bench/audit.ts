/**
 * `node --import tsx bench/audit.ts [--duration 10] [--connections 64] [--rounds 2]`: the audit
 * record's cost per payment (issue 12, docs/backoffice.md "Figures"). The payments benchmark of
 * `npm run bench -- --only postgres` (POST /v1/payments, sandbox approve, a new Idempotency-Key per
 * request, one merchant, then 100 merchants) with the audit log off (CENTIME_AUDIT_LOG=off) and
 * on, rounds alternating off/on and on/off. Besides payments/s it reports the CPU each payment
 * costs the API process and the PostgreSQL backends serving it: on a machine shared with other
 * work, throughput follows the neighbours, CPU per payment much less; with `--rate N` both
 * settings serve the same N payments/s, so their CPU per payment compares like for like.
 *
 * Timings never fail the run.
 */
import { randomBytes } from "node:crypto";
import { loadavg } from "node:os";
import autocannon from "autocannon";
import { createMerchants } from "./load.ts";
import { backendsCpuMs, cpuDelta, createDatabase, databaseUrl, dropDatabase } from "./pg.ts";
import { cpuMs, newAdminKey, Platform } from "./platform.ts";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const DURATION_S = Number(arg("duration", "10"));
const CONNECTIONS = Number(arg("connections", "64"));
const ROUNDS = Number(arg("rounds", "2"));
/** --rate N: N payments/s in all (both settings serve the same load; compare CPU per payment). */
const RATE = Number(arg("rate", "0"));
const BODY = JSON.stringify({
  amount: 199,
  currency: "EUR",
  payment_method: { type: "sandbox", scenario: "approve" },
});

interface Step {
  audit: "on" | "off";
  shape: "1 merchant" | "100 merchants";
  perSec: number;
  apiCpuMs: number;
  dbCpuMs: number;
  load: number;
}

async function drive(platform: Platform, keys: readonly string[], seconds: number) {
  const run = randomBytes(4).toString("hex");
  let n = 0;
  return autocannon({
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
          return {
            ...request,
            body: BODY,
            headers: {
              "content-type": "application/json",
              authorization: `Bearer ${keys[i % keys.length]}`,
              "idempotency-key": `audit-${run}-${i}`,
            },
          };
        },
      },
    ],
  });
}

async function round(audit: "on" | "off"): Promise<Step[]> {
  const database = await createDatabase("centime_bench_audit");
  const { platform } = await Platform.start({
    adminKey: newAdminKey(),
    databaseUrl: databaseUrl(database),
    env: { CENTIME_AUDIT_LOG: audit },
  });
  try {
    const single = await createMerchants(platform, 1, "Audit single");
    const spread = await createMerchants(platform, 100, "Audit spread");
    const steps: Step[] = [];
    for (const [shape, merchants] of [
      ["1 merchant", single],
      ["100 merchants", spread],
    ] as const) {
      const keys = merchants.map((m) => m.secretKey);
      await drive(platform, keys, 2);
      const api0 = cpuMs(platform.pid) ?? 0;
      const db0 = await backendsCpuMs(database);
      const result = await drive(platform, keys, DURATION_S);
      const api = (cpuMs(platform.pid) ?? 0) - api0;
      const db = cpuDelta(db0, await backendsCpuMs(database));
      const ok = Math.max(1, result["2xx"]);
      steps.push({
        audit,
        shape,
        perSec: result["2xx"] / (result.duration || DURATION_S),
        apiCpuMs: api / ok,
        dbCpuMs: db / ok,
        load: loadavg()[0]!,
      });
    }
    return steps;
  } finally {
    await platform.stop();
    await dropDatabase(database);
  }
}

console.log(
  `audit: ${CONNECTIONS} connections${RATE > 0 ? ` at ${RATE} payments/s` : ""}, ${DURATION_S} s per step, ${ROUNDS} round(s); load ${loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")}`,
);
const all: Step[] = [];
for (let r = 0; r < ROUNDS; r++)
  for (const audit of r % 2 === 0 ? (["off", "on"] as const) : (["on", "off"] as const)) {
    for (const s of await round(audit)) {
      all.push(s);
      console.log(
        `  round ${r + 1} audit ${s.audit.padEnd(3)} ${s.shape.padEnd(13)} ${s.perSec.toFixed(0).padStart(6)} payments/s  CPU per payment: API ${s.apiCpuMs.toFixed(3)} ms, PostgreSQL ${s.dbCpuMs.toFixed(3)} ms  load ${s.load.toFixed(1)}`,
      );
    }
  }
for (const shape of ["1 merchant", "100 merchants"] as const) {
  const mean = (audit: "on" | "off", pick: (s: Step) => number) => {
    const of = all.filter((s) => s.audit === audit && s.shape === shape);
    return of.reduce((sum, s) => sum + pick(s), 0) / of.length;
  };
  const pct = (on: number, off: number) => `${(((on - off) / off) * 100).toFixed(1)} %`;
  const cpu = (s: Step) => s.apiCpuMs + s.dbCpuMs;
  console.log(
    `${shape}: off ${mean("off", (s) => s.perSec).toFixed(0)}/s, on ${mean("on", (s) => s.perSec).toFixed(0)}/s (${pct(
      mean("on", (s) => s.perSec),
      mean("off", (s) => s.perSec),
    )}); CPU per payment (API + PostgreSQL) ${mean("off", cpu).toFixed(3)} → ${mean("on", cpu).toFixed(3)} ms (${pct(mean("on", cpu), mean("off", cpu))})`,
  );
}
