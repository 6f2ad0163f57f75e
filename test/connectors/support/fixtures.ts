import { mkdtemp, readdir, rename, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CardPspConnector } from "../../../src/connectors/cardpsp/index.ts";
import {
  CARD_PSP_OPERATOR,
  configureCarrierNetwork,
  createConnector,
  getOperator,
} from "../../../src/connectors/operators/index.ts";
import type { ConnectorOptions } from "../../../src/connectors/sdk/base.ts";
import type { ConformanceFixture } from "../../../src/connectors/sdk/conformance.ts";
import { type ChargeInput, type Connector, MemoryLog } from "../../../src/connectors/sdk/types.ts";
import { SettlementConnector } from "../../../src/connectors/settlement/index.ts";
import { SmppConnector } from "../../../src/connectors/smpp/index.ts";
import { smpp } from "../../../src/connectors/smpp/pdu.ts";
import { type Simulator, startSimulator } from "../../../src/simulator/index.ts";

/** One simulator and one fixture per (protocol, operator) for the conformance suite. */

export const CALLBACK_DELAY_MS = 30;
export const SHORT_DEADLINE_MS = 250;

export async function startTestSimulator(seed = 7): Promise<Simulator & { dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), "centime-settle-"));
  const sim = await startSimulator({
    seed,
    instant: true,
    callback_delay_ms: CALLBACK_DELAY_MS,
    dlr_duplicate_rate: 0.5,
    dlr_out_of_order_rate: 0.5,
    settlementDir: dir,
  });
  configureCarrierNetwork({
    http_url: sim.httpUrl,
    smpp_host: "127.0.0.1",
    smpp_port: sim.smppPort,
    settlement_dir: dir,
  });
  return {
    ...sim,
    dir,
    async close() {
      await sim.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** An HTTP peer that answers every request with the given status, content type and body. */
export async function hostileHttp(
  status: number,
  body: string,
  contentType = "application/json",
  headers: Record<string, string> = {},
): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(status, { "content-type": contentType, ...headers });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    server,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

const PREFIX: Record<string, string> = {
  BD: "+88017",
  CI: "+22507",
  PH: "+63917",
  ES: "+346",
  FR: "+336",
  ET: "+2519",
  SA: "+9665",
  EG: "+2010",
  NG: "+234803",
  PK: "+92300",
};

function msisdnFor(country: string, n: number, suffix: string): string {
  return `${PREFIX[country] ?? "+1555"}${String(n).padStart(4, "0")}${suffix}`;
}

/** The payer presses "Pay" on the operator's consent page: the form posts back what it shows. */
export async function approveOnPage(url: string): Promise<void> {
  const u = new URL(url);
  u.searchParams.set("decision", "approve");
  const r = await fetch(`${u.origin}${u.pathname}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: u.searchParams.toString(),
    redirect: "manual",
  });
  await r.text();
}

/** The last one-time code (4 to 8 digits) texted to a number, from the simulator's SMS outbox. */
export function lastCode(sim: Simulator, msisdn: string): string | undefined {
  const sms = sim.network.outbox.filter((m) => m.msisdn === msisdn);
  return sms.at(-1)?.text.match(/\b(\d{4,8})\b/)?.[1];
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function operatorFixture(sim: Simulator & { dir: string }, id: string): ConformanceFixture {
  const operator = getOperator(id);
  if (!operator) throw new Error(`no operator ${id}`);
  const log = new MemoryLog();
  const connector = createConnector(operator, { log, callback_wait_ms: 0 });
  const digits = operator.currency === "XOF" ? 0n : operator.currency === "KWD" ? 3n : 2n;
  const payer = (suffix: string, n: number) => ({ msisdn: msisdnFor(operator.country, n, suffix) });
  const base = {
    operator,
    log,
    http_url: sim.httpUrl,
    smpp_host: "127.0.0.1",
    smpp_port: sim.smppPort,
    settlement_dir: sim.dir,
  } satisfies ConnectorOptions;
  return {
    name: `${operator.protocol}:${id}`,
    connector,
    log,
    currency: operator.currency,
    amount: 5n * 10n ** digits,
    payer,
    balance: (p) => sim.network.findSubscriber(p.msisdn ?? "")?.balance,
    fund: (p, balance) => void sim.network.fund(p.msisdn ?? "", operator.currency, balance),
    codeSentTo: (msisdn) => lastCode(sim, msisdn),
    denials: operator.protocol === "camara" ? "generic" : "specific",
    approve: approveOnPage,
    async advance() {
      if (connector instanceof SettlementConnector) {
        await connector.flush();
        await sim.settle();
        await connector.collect();
      } else await sleep(CALLBACK_DELAY_MS + 10);
    },
    short_deadline_ms: SHORT_DEADLINE_MS,
    secrets: ["sandbox"],
    async hostile() {
      const input: ChargeInput = {
        attempt_id: `hostile-${id}`,
        msisdn: msisdnFor(operator.country, 9999, "0010"),
        amount: 500n,
        currency: operator.currency,
        description: "x",
      };
      if (operator.protocol === "smpp") {
        // An SMSC that accepts the submit but sends no message id, then a receipt nobody can read.
        const server = smpp.createServer({}, (s) => {
          s.on("error", () => {});
          s.on("bind_transceiver", (pdu) => s.send(pdu.response()));
          s.on("enquire_link", (pdu) => s.send(pdu.response()));
          s.on("unbind", (pdu) => s.send(pdu.response()));
          s.on("submit_sm", (pdu) => {
            s.send(pdu.response({ message_id: "" }));
            s.deliver_sm({ esm_class: 4, short_message: "\u0000garbage stat:" });
          });
        });
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
        const c = new SmppConnector({
          ...base,
          log: new MemoryLog(),
          smpp_port: (server.address() as AddressInfo).port,
        });
        return {
          connector: c,
          input,
          close: () =>
            new Promise<void>((r) => {
              for (const s of [...server.sessions]) s.destroy();
              server.close(() => r());
            }),
        };
      }
      if (operator.protocol === "settlement") {
        // The operator's response file is truncated: its trailer does not match its lines.
        const dir = await mkdtemp(join(tmpdir(), "centime-hostile-"));
        const c = new SettlementConnector({ ...base, log: new MemoryLog(), settlement_dir: dir });
        return {
          connector: c,
          input,
          close: () => rm(dir, { recursive: true, force: true }),
          async drive() {
            await c.charge(input);
            const name = await c.flush();
            const inDir = join(dir, id, "in");
            await writeFile(join(inDir, "processed.keep"), "");
            const { mkdir } = await import("node:fs/promises");
            await mkdir(join(inDir, "processed"), { recursive: true });
            await mkdir(join(dir, id, "out"), { recursive: true });
            for (const f of await readdir(inDir))
              if (f === name) await rename(join(inDir, f), join(inDir, "processed", f));
            await writeFile(
              join(dir, id, "out", "RESP_1.csv"),
              `H,RESP,${id},centime,000001,20260101,000000\nD,1,${input.msisdn},5,${input.currency},${input.attempt_id},SUCCESS,\nT,5,7,7,0\n`,
            );
            return c.sync({ attempt_id: input.attempt_id });
          },
        };
      }
      const body =
        operator.protocol === "parlayx"
          ? "<soapenv:Envelope><soapenv:Body><ns1:chargeAmountResponse"
          : '{"amountTransaction":{"transactionOperationStatus":"Charged",';
      const peer = await hostileHttp(
        operator.protocol === "parlayx" ? 200 : 201,
        body,
        operator.protocol === "parlayx" ? "text/xml" : "application/json",
      );
      const opts = {
        ...base,
        log: new MemoryLog(),
        http_url: peer.url,
        operator: { ...operator, auth: { type: "basic" as const, username: "centime", password: "sandbox" } },
      };
      const c: Connector = createConnectorAt(opts);
      if (operator.consent.type === "operator_page")
        // The charge itself goes to the payer's browser: the hostile reply comes to the status query.
        return {
          connector: c,
          input,
          close: peer.close,
          drive: () => c.sync({ ...input, operation: "charge" }),
        };
      return { connector: c, input, close: peer.close };
    },
  };
}

function createConnectorAt(options: ConnectorOptions): Connector {
  configureCarrierNetwork({ http_url: options.http_url });
  const c = createConnector(options.operator, { log: options.log });
  configureCarrierNetwork({ http_url: previousUrl });
  return c;
}
let previousUrl = "";
export function rememberSimulatorUrl(url: string): void {
  previousUrl = url;
}

export function cardFixture(sim: Simulator): ConformanceFixture {
  const log = new MemoryLog();
  const connector = new CardPspConnector({
    operator: CARD_PSP_OPERATOR,
    log,
    http_url: sim.httpUrl,
    psp_secret: "whsec_sandbox",
  });
  const card = (suffix: string, n: number) => ({
    number: `40000000${String(n).padStart(4, "0")}${suffix}`,
    exp_month: 12,
    exp_year: 2030,
    cvc: "123",
  });
  return {
    name: "cardpsp",
    connector,
    log,
    currency: "EUR",
    amount: 500n,
    payer: (suffix, n) => ({ card: card(suffix, n) }),
    balance: (p) =>
      sim.network.findSubscriber(sim.network.cardAccount(p.card && "number" in p.card ? p.card.number : ""))
        ?.balance,
    fund: (p, balance) =>
      void sim.network.fund(
        sim.network.cardAccount(p.card && "number" in p.card ? p.card.number : ""),
        "EUR",
        balance,
      ),
    codeSentTo: () => undefined,
    advance: () => sleep(CALLBACK_DELAY_MS + 10),
    short_deadline_ms: SHORT_DEADLINE_MS,
    secrets: ["whsec_sandbox"],
    async hostile() {
      // A reply whose signature does not verify: it must not be believed.
      const peer = await hostileHttp(
        201,
        JSON.stringify({ id: "PAY1", reference: "x", amount: 500, currency: "EUR", status: "succeeded" }),
        "application/json",
        { "x-signature": `t=${Math.floor(Date.now() / 1000)},v1=${"0".repeat(64)}` },
      );
      const c = new CardPspConnector({
        operator: CARD_PSP_OPERATOR,
        log: new MemoryLog(),
        http_url: peer.url,
        psp_secret: "whsec_sandbox",
      });
      return {
        connector: c,
        input: {
          attempt_id: "hostile-card",
          card: card("0010", 9999),
          amount: 500n,
          currency: "EUR",
          description: "x",
        },
        close: peer.close,
      };
    },
  };
}
