/**
 * `node --import tsx bench/risk-assess.ts [--n 20000]`: the CPU cost of one `Risk.assess` (and of
 * `assessNow`, the payments' path, which makes no promise when nothing must be read) in
 * process (the gate a payment calls), with the 4 defaults and the 50 rules of bench/risk-rules.ts,
 * without and with a payer address (counters and list look-ups needed), on the embedded
 * database unless DATABASE_URL is set. No HTTP, no commit: the engine's own share of a payment.
 */
import { cpuUsage } from "node:process";
import { call, createMerchant, createTestApp } from "../test/support/app.ts";
import { fiftyRules } from "./risk-rules.ts";

const i = process.argv.indexOf("--n");
const N = i >= 0 ? Number(process.argv[i + 1]) : 20_000;
const t = await createTestApp();
try {
  const m = await createMerchant(t.app, "Assess bench");
  for (const spec of fiftyRules()) {
    const r = await call(t.app, "POST", "/v1/risk_rules", { key: m.secretKey, body: spec });
    if (r.status !== 201) throw new Error(JSON.stringify(r.body));
  }
  const scope = { merchantId: m.merchantId, mode: "test" as const };
  const risk = t.services.risk;
  await risk.seeded(scope);
  for (const withAddress of [false, true]) {
    const subject = (n: number) => ({
      flow: "payment" as const,
      amount: 199,
      currency: "EUR",
      method: "sandbox",
      ...(withAddress ? { ip: `10.0.${Math.floor((n % 5000) / 250)}.${n % 250}` } : {}),
    });
    for (const path of ["assess", "assessNow"] as const) {
      const once = (n: number) =>
        path === "assess"
          ? risk.assess(scope, subject(n), Date.now())
          : (risk.assessNow(scope, subject(n), Date.now()) ?? risk.assess(scope, subject(n), Date.now()));
      for (let n = 0; n < 2000; n++) await once(n);
      const before = cpuUsage();
      const started = performance.now();
      for (let n = 0; n < N; n++) await once(n);
      const cpu = cpuUsage(before);
      console.log(
        `${path.padEnd(9)} ${withAddress ? "with address" : "no address  "}: ${((cpu.user + cpu.system) / N).toFixed(1)} µs CPU, ${(((performance.now() - started) * 1000) / N).toFixed(1)} µs wall per payment (${N})`,
      );
    }
  }
} finally {
  await t.close();
}
