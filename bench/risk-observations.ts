/**
 * `node --import tsx bench/risk-observations.ts [--n 5000]`: a micro-benchmark (performance.now,
 * no HTTP, no commit) of what a payment with an address spends in process on its risk
 * observations: one `Risk.assess` (4 defaults + 50 rules + a payments-per-address rule), and the
 * JSON of its observation rows as the payment's commit sends them (one statement per payment),
 * against the same rows sent for 100 payments in one statement (what a per-process buffer
 * flushed off the commit would cost each payment). docs/risk.md, "Storage and cost".
 */
import { rowsToJson } from "../src/db/rows.ts";
import { call, createMerchant, createTestApp } from "../test/support/app.ts";
import { fiftyRules } from "./risk-rules.ts";

const i = process.argv.indexOf("--n");
const N = i >= 0 ? Number(process.argv[i + 1]) : 5_000;
const t = await createTestApp();
try {
  const m = await createMerchant(t.app, "Observation bench");
  for (const spec of [
    ...fiftyRules(),
    { name: "per address", rule: "review if payments_per_ip_1h > 1000", mode: "enforce" },
  ]) {
    const r = await call(t.app, "POST", "/v1/risk_rules", { key: m.secretKey, body: spec });
    if (r.status !== 201) throw new Error(JSON.stringify(r.body));
  }
  const scope = { merchantId: m.merchantId, mode: "test" as const };
  const risk = t.services.risk;
  await risk.seeded(scope);
  const subject = (n: number) => ({
    flow: "payment" as const,
    amount: 199,
    currency: "EUR",
    method: "sandbox",
    ip: `10.0.${Math.floor((n % 5000) / 250)}.${n % 250}`,
  });
  for (let n = 0; n < 1000; n++) await risk.assess(scope, subject(n), Date.now());
  const observations: object[][] = [];
  let started = performance.now();
  for (let n = 0; n < N; n++) {
    const verdict = await risk.assess(scope, subject(n), Date.now());
    observations.push(verdict.rows.filter((r) => r.table === "risk_observations").map((r) => r.row));
  }
  const assessUs = ((performance.now() - started) * 1000) / N;
  const rowsPer = observations.reduce((s, o) => s + o.length, 0) / N;
  // Each way three times, the last counted (the first runs warm the JIT).
  let perPaymentUs = 0;
  let batchedUs = 0;
  for (let round = 0; round < 3; round++) {
    started = performance.now();
    for (const rows of observations) rowsToJson(rows);
    perPaymentUs = ((performance.now() - started) * 1000) / N;
    started = performance.now();
    for (let n = 0; n < N; n += 100) rowsToJson(observations.slice(n, n + 100).flat());
    batchedUs = ((performance.now() - started) * 1000) / N;
  }
  console.log(
    `assess with an address: ${assessUs.toFixed(1)} µs per evaluation (${N}), ${rowsPer} observation rows each`,
  );
  console.log(`observation JSON, one statement per payment: ${perPaymentUs.toFixed(2)} µs per payment`);
  console.log(`observation JSON, one statement per 100 payments: ${batchedUs.toFixed(2)} µs per payment`);
} finally {
  await t.close();
}
