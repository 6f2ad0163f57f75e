/**
 * Carrier connector benchmark: charges per second and latency percentiles through OneAPI,
 * Parlay X and SMPP against the simulator on loopback (instant mode: no simulated latency), and
 * the connector layer's own cost per charge. Prints figures; never passes or fails on time.
 *
 *   node --import tsx bench/carrier.ts [--charges 4000] [--concurrency 32]
 */

import { OneApiConnector } from "../src/connectors/oneapi/index.ts";
import { jsonBody, transactionOutcome } from "../src/connectors/oneapi/transformers.ts";
import { getOperator } from "../src/connectors/operators/registry.ts";
import { ParlayXConnector } from "../src/connectors/parlayx/index.ts";
import {
  chargingInformation,
  envelope,
  operation,
  replyOutcome,
} from "../src/connectors/parlayx/transformers.ts";
import { sendHttp } from "../src/connectors/sdk/http.ts";
import { parseSoap } from "../src/connectors/sdk/soap.ts";
import { type Connector, nullLog } from "../src/connectors/sdk/types.ts";
import { SmppConnector } from "../src/connectors/smpp/index.ts";
import { startSimulator } from "../src/simulator/index.ts";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : Number.NaN;
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/** A number whose last four digits never select a special behaviour. */
function msisdn(prefix: string, i: number): string {
  return `${prefix}${String(i).padStart(6, "0")}99`;
}

async function drive(
  label: string,
  total: number,
  concurrency: number,
  one: (i: number) => Promise<string>,
): Promise<number> {
  const latencies: number[] = [];
  const statuses = new Map<string, number>();
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < total; i = next++) {
        const t = performance.now();
        const status = await one(i);
        latencies.push(performance.now() - t);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  console.log(
    `${label.padEnd(32)} ${String(Math.round(total / seconds)).padStart(7)} charges/s   p50 ${percentile(latencies, 50).toFixed(2).padStart(6)} ms   p99 ${percentile(latencies, 99).toFixed(2).padStart(6)} ms   ${[...statuses].map(([s, n]) => `${s}=${n}`).join(" ")}`,
  );
  return total / seconds;
}

function microseconds(label: string, iterations: number, fn: (i: number) => void): void {
  for (let i = 0; i < 1000; i++) fn(i);
  const t = performance.now();
  for (let i = 0; i < iterations; i++) fn(i);
  console.log(
    `${label.padEnd(44)} ${(((performance.now() - t) * 1000) / iterations).toFixed(1).padStart(6)} µs/charge`,
  );
}

export async function runCarrierBench(
  options: { charges?: number; concurrency?: number } = {},
): Promise<void> {
  const total = options.charges ?? arg("charges", 4000);
  const concurrency = options.concurrency ?? arg("concurrency", 32);
  const sim = await startSimulator({
    seed: 1,
    instant: true,
    dlr_duplicate_rate: 0,
    dlr_out_of_order_rate: 0,
  });
  console.log(
    `carrier bench: ${total} charges per protocol, concurrency ${concurrency}, simulator on loopback (instant mode), node ${process.version}`,
  );
  const bd = getOperator("47001")!;
  const eg = getOperator("60202")!;
  const ng = getOperator("62130")!;
  const connectors: Connector[] = [];
  try {
    // High TPS limits: the bench measures the code path, not the configured operator limits.
    const oneapi = new OneApiConnector({
      operator: { ...bd, tps_max: 1e9 },
      log: nullLog,
      http_url: sim.httpUrl,
    });
    const parlayx = new ParlayXConnector({
      operator: { ...eg, tps_max: 1e9 },
      log: nullLog,
      http_url: sim.httpUrl,
    });
    const smpp = new SmppConnector({
      operator: { ...ng, tps_max: 1e9 },
      log: nullLog,
      http_url: sim.httpUrl,
      smpp_port: sim.smppPort,
    });
    connectors.push(oneapi, parlayx, smpp);
    const run = Date.now().toString(36);
    const auth = `Basic ${Buffer.from("centime:sandbox").toString("base64")}`;
    // The same OneAPI charge without the connector layer: raw HTTP with a prebuilt body.
    const raw = async (prefix: string, i: number) => {
      const m = msisdn(prefix, i);
      const body = `{"amountTransaction":{"endUserId":"tel:${m}","paymentAmount":{"chargingInformation":{"amount":1,"currency":"BDT","description":["bench"]}},"clientCorrelator":"r${prefix}${run}${i}","transactionOperationStatus":"Charged"}}`;
      const url = `${sim.httpUrl}/47001/oneapi/payment/v1/${encodeURIComponent(`tel:${m}`)}/transactions/amount`;
      const r = await sendHttp(
        { method: "POST", url, headers: { authorization: auth, "content-type": "application/json" }, body },
        { timeout_ms: 10_000 },
      );
      return String(r.status);
    };
    const viaOneapi = (prefix: string, i: number) =>
      oneapi
        .charge({
          attempt_id: `o${prefix}${run}${i}`,
          msisdn: msisdn(prefix, i),
          amount: 100n,
          currency: "BDT",
          description: "bench",
        })
        .then((o) => o.status);

    // Warm up the JIT and the keep-alive connections of both paths before measuring.
    const warm = Math.min(total, 2000);
    await drive("(warm-up) OneAPI raw wire", warm, concurrency, (i) => raw("+88015", i));
    await drive("(warm-up) OneAPI connector", warm, concurrency, (i) => viaOneapi("+88016", i));

    const rawRate = await drive("OneAPI raw wire (no connector)", total, concurrency, (i) =>
      raw("+88018", i),
    );
    const oneapiRate = await drive("OneAPI (HTTP/JSON)", total, concurrency, (i) => viaOneapi("+88017", i));
    await drive(
      "Parlay X (SOAP 1.1)",
      total,
      concurrency,
      async (i) =>
        (
          await parlayx.charge({
            attempt_id: `p${run}${i}`,
            msisdn: msisdn("+20100", i),
            amount: 100n,
            currency: "EGP",
            description: "bench",
          })
        ).status,
    );
    await drive(
      "SMPP 3.4 (submit_sm + DLR)",
      total,
      concurrency,
      async (i) =>
        (
          await smpp.charge({
            attempt_id: `s${run}${i}`,
            msisdn: msisdn("+234803", i),
            amount: 100n,
            currency: "NGN",
            description: "bench",
          })
        ).status,
    );
    // Simulator and client share this process, so the difference in time per charge is the
    // connector layer's own cost (gate, breaker, auth, build, parse, checks).
    console.log(
      `connector overhead per OneAPI charge vs raw wire: ${((1 / oneapiRate - 1 / rawRate) * 1e6).toFixed(1)} µs of process time`,
    );

    console.log("connector layer cost per charge, no I/O (build request + read reply + checks):");
    const reply = JSON.parse(
      `{"amountTransaction":{"endUserId":"tel:+8801700000099","paymentAmount":{"chargingInformation":{"amount":1,"currency":"BDT","description":["x"]},"totalAmountCharged":1},"clientCorrelator":"c","serverReferenceCode":"S1","transactionOperationStatus":"Charged"}}`,
    ) as unknown;
    microseconds("  OneAPI transformers", 20_000, (i) => {
      jsonBody("amountTransaction", {
        msisdn: "+8801700000099",
        tel_prefix: true,
        amount: 100n,
        currency: "BDT",
        description: "x",
        client_correlator: `c${i}`,
        status: "Charged",
      });
      transactionOutcome(reply, { amount: 100n, currency: "BDT", decline_codes: {}, callback: false });
    });
    const ok = `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><ns1:chargeAmountResponse xmlns:ns1="x"/></soapenv:Body></soapenv:Envelope>`;
    microseconds("  Parlay X transformers (envelope + parse)", 20_000, (i) => {
      envelope(
        "ns",
        "",
        operation({
          name: "chargeAmount",
          order: ["endUserIdentifier", "charge", "referenceCode"],
          parts: {
            endUserIdentifier: "tel:+20100",
            charge: chargingInformation({
              description: "x",
              currency: "EGP",
              amount: 100n,
              iso_currency: "EGP",
            }),
            referenceCode: `r${i}`,
          },
        }),
      );
      replyOutcome(parseSoap(ok), "chargeAmountResponse", {});
    });
  } finally {
    for (const c of connectors) await c.close();
    await sim.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await runCarrierBench();
