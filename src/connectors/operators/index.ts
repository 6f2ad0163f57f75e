import { environmentValue } from "../../platform/config.ts";
import { CamaraConnector } from "../camara/index.ts";
import { CardPspConnector } from "../cardpsp/index.ts";
import { OneApiConnector } from "../oneapi/index.ts";
import { ParlayXConnector } from "../parlayx/index.ts";
import type { ConnectorOptions } from "../sdk/base.ts";
import { type Capability, type Connector, type InteractionLog, nullLog } from "../sdk/types.ts";
import { SettlementConnector } from "../settlement/index.ts";
import { SmppConnector } from "../smpp/index.ts";
import { carrierNetwork, getOperator } from "./registry.ts";
import type { Operator, ProtocolName } from "./types.ts";

export {
  carrierNetwork,
  carrierRulesFor,
  configureCarrierNetwork,
  currencyOfCountry,
  getOperator,
  listOperators,
  operatorsInCountry,
} from "./registry.ts";
export type { ResolveResult } from "./routing.ts";
export { hlrLookup, normaliseMsisdn, resolveOperator } from "./routing.ts";
export { testNumberCountry } from "./test-numbers.ts";
export type { CarrierNetwork, CarrierRules, Operator, OperatorQuirks, ProtocolName } from "./types.ts";

/** One folder per protocol; adding a protocol adds one line here. */
const FACTORIES: Record<ProtocolName, (options: ConnectorOptions) => Connector> = {
  oneapi: (o) => new OneApiConnector(o),
  camara: (o) => new CamaraConnector(o),
  parlayx: (o) => new ParlayXConnector(o),
  smpp: (o) => new SmppConnector(o),
  settlement: (o) => new SettlementConnector(o),
};

/**
 * What each protocol connector can do (kept here so listings need no connector instance). `consent`
 * (a PIN step) is the operator's: see `operatorCapabilities`.
 */
export const PROTOCOL_CAPABILITIES: Record<ProtocolName, readonly Capability[]> = {
  oneapi: ["charge", "refund", "reserve", "capture", "release", "balance", "identify", "send_sms", "consent"],
  camara: ["charge", "refund", "reserve", "capture", "release"],
  parlayx: ["charge", "refund", "reserve", "capture", "release"],
  smpp: ["charge", "send_sms"],
  settlement: ["charge"],
};

/** Whether a payer types a one-time code for this operator (Centime's own, or the operator's). */
export function hasPinStep(o: Operator): boolean {
  return o.consent.type === "centime_otp" || o.consent.type === "operator_otp";
}

/** What an operator's connector does: its protocol's capabilities, `consent` when it has a PIN step. */
export function operatorCapabilities(o: Operator): readonly Capability[] {
  const base = PROTOCOL_CAPABILITIES[o.protocol].filter((c) => c !== "consent");
  return hasPinStep(o) ? [...base, "consent"] : base;
}

/** The public view of an operator, for `GET /v1/operators`: no endpoints, credentials or codes. */
export interface OperatorSummary {
  id: string;
  mcc: string;
  mnc: string;
  country: string;
  name: string;
  brand: string | undefined;
  currency: string;
  time_zone: string;
  protocol: ProtocolName;
  capabilities: readonly Capability[];
  caps: Operator["caps"];
}

export function operatorSummary(o: Operator): OperatorSummary {
  return {
    id: o.id,
    mcc: o.mcc,
    mnc: o.mnc,
    country: o.country,
    name: o.name,
    brand: o.brand,
    currency: o.currency,
    time_zone: o.time_zone,
    protocol: o.protocol,
    capabilities: operatorCapabilities(o),
    caps: o.caps,
  };
}

export interface ConnectorSettings {
  log?: InteractionLog;
  callback_url?: string;
  callback_secret?: string;
  deadline_ms?: number;
  callback_wait_ms?: number;
  otp_fixed_code?: string;
}

/** Builds a fresh connector for an operator, pointed at the configured carrier network. */
export function createConnector(operator: Operator, settings: ConnectorSettings = {}): Connector {
  const net = carrierNetwork();
  const options: ConnectorOptions = {
    operator,
    log: settings.log ?? nullLog,
    http_url: net.http_url,
    smpp_host: net.smpp_host,
    smpp_port: net.smpp_port,
    settlement_dir: net.settlement_dir,
  };
  if (settings.callback_url)
    options.callback_url = `${settings.callback_url.replace(/\/$/, "")}/${operator.id}`;
  if (settings.callback_secret) options.callback_secret = settings.callback_secret;
  if (settings.deadline_ms !== undefined) options.deadline_ms = settings.deadline_ms;
  if (settings.callback_wait_ms !== undefined) options.callback_wait_ms = settings.callback_wait_ms;
  const code = settings.otp_fixed_code ?? testOtpCode;
  if (code) options.otp_fixed_code = code;
  return FACTORIES[operator.protocol](options);
}

let testOtpCode: string | undefined;

/**
 * On a test network (the embedded simulator) every one-time code Centime sends is this one, as
 * the docs promise (`1234`); never set it when operators are real.
 */
export function setTestOtpCode(code: string | undefined): void {
  testOtpCode = code;
  dropCached();
}

/** The test network's one-time code (the simulator's), or undefined when operators are real. */
export function testNetworkCode(): string | undefined {
  return testOtpCode;
}

/** A text a subscriber sends to an operator's shortcode. */
export interface TestMo {
  operator: string;
  msisdn: string;
  shortcode: string;
  text: string;
}

/**
 * Test network only: has the simulator deliver a subscriber's text to the shortcode, as that
 * subscriber's phone would (over the operator's SMPP session, the way a real MO arrives). The
 * checkout's test-mode pages use it in place of a phone. Answers how many sessions it reached.
 */
export async function sendTestMo(mo: TestMo): Promise<number> {
  if (testOtpCode === undefined) throw new Error("sendTestMo: operators are real, not a test network");
  const response = await fetch(`${carrierNetwork().http_url}/_sim/mo`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(mo),
    signal: AbortSignal.timeout(5_000),
  });
  if (!response.ok) throw new Error(`sendTestMo: the test network answered ${response.status}`);
  return ((await response.json()) as { sessions: number }).sessions;
}

const cache = new Map<string, Connector>();
/** SMPP sessions kept only to receive texts, for operators billed over another protocol. */
const moReceivers = new Map<string, SmppConnector>();
let defaults: ConnectorSettings = {};

/** Sets the log sink and callback URL used by `connectorFor` (the core calls this once at start). */
export function configureConnectors(settings: ConnectorSettings): void {
  defaults = settings;
  dropCached();
}

function dropCached(): void {
  for (const c of [...cache.values(), ...moReceivers.values()]) void c.close();
  cache.clear();
  moReceivers.clear();
}

/**
 * The shared connector of an operator (one breaker, rate limit and SMPP session per operator).
 * `operator` is an MCC+MNC or an Operator from the registry.
 */
export function connectorFor(operator: string | Operator): Connector | undefined {
  const op = typeof operator === "string" ? getOperator(operator) : operator;
  if (!op) return undefined;
  let c = cache.get(op.id);
  if (!c) {
    c = createConnector(op, defaults);
    cache.set(op.id, c);
  }
  return c;
}

/**
 * The SMPP session an operator's MO texts arrive on (a payer texting a keyword to its shortcode):
 * its own connector when it bills over SMPP, otherwise one kept for receiving only. An operator
 * delivers texts to a shortcode through its SMSC whatever API bills the charge, and the registry
 * gives every operator SMPP credentials and a shortcode (`smpp` in its defaults).
 */
export function moReceiverFor(operator: string | Operator): SmppConnector | undefined {
  const op = typeof operator === "string" ? getOperator(operator) : operator;
  if (!op) return undefined;
  if (op.protocol === "smpp") return connectorFor(op) as SmppConnector;
  let receiver = moReceivers.get(op.id);
  if (!receiver) {
    receiver = createConnector(
      { ...op, protocol: "smpp", protocol_version: "3.4" },
      defaults,
    ) as SmppConnector;
    moReceivers.set(op.id, receiver);
  }
  return receiver;
}

/** The circuit breaker of every operator connector in use (for the metrics), plus `others`. */
export function circuitStates(others: readonly Connector[] = []): Array<{
  operator: string;
  protocol: string;
  state: "closed" | "open" | "half_open";
}> {
  return [...cache.values(), ...others].flatMap((c) => {
    const ctx = (c as Partial<{ ctx: { breaker?: { state: "closed" | "open" | "half_open" } } }>).ctx;
    return ctx?.breaker ? [{ operator: c.operator, protocol: c.protocol, state: ctx.breaker.state }] : [];
  });
}

/** Closes every cached connector (SMPP sessions), e.g. on shutdown. */
export async function closeConnectors(): Promise<void> {
  const all = [...cache.values(), ...moReceivers.values()];
  cache.clear();
  moReceivers.clear();
  await Promise.all(all.map((c) => c.close()));
}

/** The card PSP sandbox as a pseudo-operator, so it shares the SDK's breaker, limits and log. */
export const CARD_PSP_OPERATOR: Operator = {
  id: "cardpsp",
  mcc: "",
  mnc: "",
  country: "",
  name: "Card PSP sandbox",
  brand: undefined,
  currency: "",
  time_zone: "UTC",
  protocol: "oneapi",
  protocol_version: "v1",
  merchant_identifier: "centime",
  consent: { type: "none" },
  auth: { type: "none" },
  quirks: { tel_prefix: true, namespace_version: "v2_1", encoding: "json", soap_auth: "basic" },
  decline_codes: {},
  tps_max: 200,
  deadline_ms: 10_000,
  caps: {},
  stop_keywords: [],
  smpp: { system_id: "", password: "", shortcode: "" },
};

/** Where the card PSP is reached (its API and its card form): CENTIME_CARD_PSP_URL, else the simulator. */
export function cardPspUrl(): string {
  return (environmentValue("CENTIME_CARD_PSP_URL") ?? carrierNetwork().http_url).replace(/\/$/, "");
}

export function cardPspConnector(
  settings: ConnectorSettings & { psp_secret?: string } = {},
): CardPspConnector {
  const options = {
    operator: CARD_PSP_OPERATOR,
    log: settings.log ?? defaults.log ?? nullLog,
    // A real PSP has its own address; unset, the card PSP of the carrier network (the simulator).
    http_url: cardPspUrl(),
    psp_secret: settings.psp_secret ?? environmentValue("CENTIME_CARD_PSP_SECRET") ?? "whsec_sandbox",
    ...(settings.callback_url ? { callback_url: `${settings.callback_url.replace(/\/$/, "")}/cardpsp` } : {}),
    ...(settings.deadline_ms !== undefined ? { deadline_ms: settings.deadline_ms } : {}),
  };
  return new CardPspConnector(options);
}
