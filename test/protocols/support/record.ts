/**
 * A run of payments, code steps, refunds, reservations and declines per protocol through the real
 * connectors against the simulator, recording every exchange on the wire (both directions, and
 * the notifications the operator sends). The protocol-validation test checks them against the
 * project's schemas; `.ci/run` checks the same run against the published specifications.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  closeConnectors,
  configureCarrierNetwork,
  createConnector,
  getOperator,
} from "../../../src/connectors/operators/index.ts";
import type { Connector, Outcome } from "../../../src/connectors/sdk/types.ts";
import { startSimulator, type WireExchange } from "../../../src/simulator/index.ts";

export type { WireExchange };

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function recordExchanges(): Promise<WireExchange[]> {
  const exchanges: WireExchange[] = [];
  const sim = await startSimulator({
    seed: 5,
    instant: true,
    callback_delay_ms: 20,
    wiretap: (e) => exchanges.push(e),
  });
  // Our notification endpoint: CAMARA accepts only an https sink, so the address is https; the
  // simulator's attempt to deliver is recorded whether or not anything answers there.
  const sink = createServer((_req, res) => res.end());
  await new Promise<void>((r) => sink.listen(0, "127.0.0.1", () => r()));
  const port = (sink.address() as AddressInfo).port;
  configureCarrierNetwork({
    http_url: sim.httpUrl,
    smpp_port: sim.smppPort,
    settlement_dir: sim.settlementDir,
  });
  const connector = (id: string, https = false) =>
    createConnector(getOperator(id)!, {
      callback_url: https
        ? `https://127.0.0.1:${port}/provider_callbacks`
        : `http://127.0.0.1:${port}/provider_callbacks`,
      callback_secret: "protocol-test",
      callback_wait_ms: 0,
    });
  let n = 0;
  const attempt = (label: string) => `${label}-${++n}`;
  const settle = async (c: Connector, id: string, o: Outcome, amount: bigint, currency: string) => {
    for (let i = 0; i < 10 && (o.status === "pending" || o.status === "unknown"); i++) {
      await sleep(30);
      o = await c.sync({ attempt_id: id, amount, currency });
    }
    return o;
  };
  const run = async (c: Connector, msisdn: string, amount: bigint, currency: string) => {
    const id = attempt("chg");
    const o = await settle(
      c,
      id,
      await c.charge({ attempt_id: id, msisdn, amount, currency, description: "Coins" }),
      amount,
      currency,
    );
    if (o.status === "succeeded" && c.refund) {
      const half = amount / 2n;
      await c.refund({
        attempt_id: attempt("rfd"),
        original_reference: o.provider_reference,
        msisdn,
        amount: half,
        currency,
        description: "Refund",
      });
      await c.refund({
        attempt_id: attempt("rfd"),
        original_reference: o.provider_reference,
        original_amount: amount,
        msisdn,
        amount: amount - half,
        currency,
        description: "Refund",
      });
      // A retry of the same charge settles on the first result without charging again.
      await c.charge({ attempt_id: id, msisdn, amount, currency, description: "Coins" });
      // Another charge, refunded whole (CAMARA's `total` refund).
      const whole = attempt("chg");
      const again = await settle(
        c,
        whole,
        await c.charge({ attempt_id: whole, msisdn, amount, currency, description: "Coins" }),
        amount,
        currency,
      );
      if (again.status === "succeeded")
        await c.refund({
          attempt_id: attempt("rfd"),
          original_reference: again.provider_reference,
          original_amount: amount,
          msisdn,
          amount,
          currency,
          description: "Refund",
        });
    }
    return o;
  };
  const reserve = async (c: Connector, msisdn: string, amount: bigint, currency: string) => {
    if (!c.reserve || !c.capture || !c.release) return;
    const r = await c.reserve({
      attempt_id: attempt("rsv"),
      msisdn,
      amount,
      currency,
      description: "Reserve",
    });
    if (r.reservation_id)
      await c.capture({
        attempt_id: attempt("cap"),
        reservation_id: r.reservation_id,
        msisdn,
        amount,
        currency,
        description: "Capture",
      });
    const other = await c.reserve({
      attempt_id: attempt("rsv"),
      msisdn,
      amount,
      currency,
      description: "Reserve",
    });
    if (other.reservation_id)
      await c.release({ attempt_id: attempt("rel"), reservation_id: other.reservation_id, msisdn });
  };
  const code = async (c: Connector, msisdn: string, amount: bigint, currency: string) => {
    if (!c.startConsent || !c.verifyConsent) return;
    const id = attempt("otp");
    const start = await c.startConsent({ attempt_id: id, msisdn, amount, currency, description: "Coins" });
    if (start.status !== "pin_sent") return;
    await c.verifyConsent({ consent_id: start.consent_id, pin: "0000" });
    const typed =
      sim.network.outbox
        .filter((m) => m.msisdn === msisdn)
        .at(-1)
        ?.text.match(/\b(\d{4,8})\b/)?.[1] ?? "";
    await c.verifyConsent({ consent_id: start.consent_id, pin: typed });
    await c.charge({
      attempt_id: id,
      msisdn,
      amount,
      currency,
      description: "Coins",
      consent_id: start.consent_id,
    });
  };

  try {
    for (const [id, prefix, amount, currency] of [
      ["20801", "+3361234", 250n, "EUR"], // CAMARA v0.5, OAuth2
      ["21407", "+3460012", 250n, "EUR"], // CAMARA v0.5 with the operator's code step
      ["47001", "+8801711", 500n, "BDT"], // OneAPI JSON, Centime's code by SMS
      ["51502", "+6391712", 500n, "PHP"], // OneAPI v1 form parameters
      ["60202", "+2010012", 500n, "EGP"], // Parlay X 2.1, spec namespaces
      ["63601", "+2519112", 500n, "ETB"], // Parlay X on a Huawei SDP (v3_1, RequestSOAPHeader)
    ] as const) {
      const camara = id === "20801" || id === "21407";
      const c = connector(id, camara);
      await run(c, `${prefix}0010`, amount, currency);
      await run(c, `${prefix}0001`, amount, currency); // declined: insufficient funds
      await run(c, `${prefix}0004`, amount, currency); // result later (notification, status query)
      await run(c, `${prefix}1006`, amount * 1_000_000n, currency); // above the operator's limits
      await reserve(c, `${prefix}2010`, amount, currency);
      await code(c, `${prefix}3010`, amount, currency);
      // Asking about an attempt the operator never saw.
      await c.sync({ attempt_id: attempt("none"), msisdn: `${prefix}4010`, amount, currency });
      await c.close();
    }
    await sleep(100);
  } finally {
    await closeConnectors();
    await sim.close();
    await new Promise<void>((r) => sink.close(() => r()));
  }
  return exchanges;
}
