/**
 * `node --import tsx bench/risk-observations.ts [--n 5000]`: a micro-benchmark (performance.now,
 * no HTTP, no commit) of what a payment with an address spends in process on its risk
 * observations: one `Risk.assess` (4 defaults + 50 rules + a payments-per-address rule), whose
 * observation rows go to the process's buffer, and the buffer's writes (one statement per up to
 * 1,000 rows, off the payments' commits) per payment. docs/risk.md, "Storage and cost".
 */
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
  await risk.flushObservations();
  const count = async () =>
    Number(
      (
        await t.database.db.query<{ n: number }>(
          "select count(*)::int as n from risk_observations where merchant_id = $1",
          [m.merchantId],
        )
      ).rows[0]!.n,
    );
  const before = await count();
  let started = performance.now();
  for (let n = 0; n < N; n++) await risk.assess(scope, subject(n), Date.now());
  const assessUs = ((performance.now() - started) * 1000) / N;
  started = performance.now();
  await risk.flushObservations();
  const flushUs = ((performance.now() - started) * 1000) / N;
  const rowsPer = ((await count()) - before) / N;
  console.log(
    `assess with an address: ${assessUs.toFixed(1)} µs per evaluation (${N}), ${rowsPer} observation rows each`,
  );
  console.log(
    `the buffer's writes (statements of up to 1,000 rows, embedded engine): ${flushUs.toFixed(2)} µs per payment`,
  );
} finally {
  await t.close();
}
