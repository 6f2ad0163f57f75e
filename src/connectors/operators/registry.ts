import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mccmnc from "mcc-mnc-list";
import { environmentValue } from "../../platform/config.ts";
import type { AuthConfig } from "../sdk/auth.ts";
import type { DeclineMap } from "../sdk/outcome.ts";
import { resolveRules } from "./rules.ts";
import type {
  CarrierNetwork,
  CarrierRules,
  CarrierRulesConfig,
  ConsentMethod,
  CountryRulesConfig,
  Operator,
  OperatorCaps,
  OperatorQuirks,
  ProtocolName,
} from "./types.ts";

const require = createRequire(import.meta.url);
const config = require("./operators.config.json") as RegistryConfig;
const countryCurrency = require("./country-currency.json") as Record<string, string>;

interface OperatorOverride {
  name?: string;
  protocol?: ProtocolName;
  protocol_version?: string;
  merchant_identifier?: string;
  consent?: ConsentMethod;
  auth?: AuthConfig;
  quirks?: Partial<OperatorQuirks>;
  decline_codes?: DeclineMap;
  tps_max?: number;
  deadline_ms?: number;
  caps?: OperatorCaps;
  stop_keywords?: string[];
  time_zone?: string;
  currency?: string;
  smpp?: Partial<Operator["smpp"]>;
  /** The operator's own terms for carrier billing, over its country's rules. */
  rules?: Partial<CarrierRulesConfig>;
}

interface RegistryConfig {
  defaults: {
    protocol: ProtocolName;
    tps_max: number;
    deadline_ms: number;
    auth: AuthConfig;
    quirks: OperatorQuirks;
    caps: OperatorCaps;
    stop_keywords: string[];
    smpp: Operator["smpp"];
    merchant_identifier: string;
    rules: Omit<CarrierRulesConfig, "tps_max">;
  };
  /** Per protocol: the version operators run unless they say otherwise, consent and auth defaults. */
  protocols: Record<ProtocolName, { version: string; consent: ConsentMethod; auth?: AuthConfig }>;
  protocol_by_country: Record<string, ProtocolName>;
  /** Each country's rules for carrier billing (and its time zone), over `defaults.rules`. */
  countries: Record<string, CountryRulesConfig>;
  operators: Record<string, OperatorOverride>;
}

function build(): Map<string, Operator> {
  const out = new Map<string, Operator>();
  const d = config.defaults;
  for (const row of mccmnc.all()) {
    if (row.status !== "Operational" || row.type !== "National") continue;
    const country = row.countryCode;
    if (country?.length !== 2) continue;
    const currency = countryCurrency[country];
    if (!currency) continue;
    const id = row.mcc + row.mnc;
    // The scraped data has a few placeholder MNCs ("?", "xx"): only real MCC+MNC are operators.
    if (!/^\d{5,6}$/.test(id) || out.has(id)) continue;
    const o = config.operators[id] ?? {};
    const protocol = o.protocol ?? config.protocol_by_country[country] ?? d.protocol;
    const byProtocol = config.protocols[protocol];
    out.set(id, {
      id,
      mcc: row.mcc,
      mnc: row.mnc,
      country,
      name: o.name ?? row.brand ?? row.operator ?? id,
      brand: row.brand ?? undefined,
      currency: o.currency ?? currency,
      time_zone: o.time_zone ?? config.countries[country]?.time_zone ?? "UTC",
      protocol,
      protocol_version: o.protocol_version ?? byProtocol.version,
      merchant_identifier: o.merchant_identifier ?? d.merchant_identifier,
      consent: o.consent ?? byProtocol.consent,
      auth: o.auth ?? byProtocol.auth ?? d.auth,
      quirks: { ...d.quirks, ...o.quirks },
      decline_codes: o.decline_codes ?? {},
      tps_max: o.tps_max ?? d.tps_max,
      deadline_ms: o.deadline_ms ?? d.deadline_ms,
      caps: { ...d.caps, ...o.caps },
      stop_keywords: o.stop_keywords ?? d.stop_keywords,
      smpp: { ...d.smpp, ...o.smpp },
    });
  }
  return out;
}

let operators: Map<string, Operator> | undefined;

function registry(): Map<string, Operator> {
  operators ??= build();
  return operators;
}

export function listOperators(filter: { country?: string; protocol?: ProtocolName } = {}): Operator[] {
  return [...registry().values()].filter(
    (o) =>
      (!filter.country || o.country === filter.country) &&
      (!filter.protocol || o.protocol === filter.protocol),
  );
}

export function getOperator(id: string): Operator | undefined {
  return registry().get(id);
}

export function operatorsInCountry(country: string): Operator[] {
  return listOperators({ country }).sort((a, b) => a.id.localeCompare(b.id));
}

const rulesCache = new Map<string, CarrierRules>();

/** The carrier-billing rules for a payer's country and operator (either may be unknown). */
export function carrierRulesFor(country: string | null, operatorId: string | null): CarrierRules {
  const key = `${country ?? ""}/${operatorId ?? ""}`;
  let rules = rulesCache.get(key);
  if (!rules) {
    const operator = operatorId ? getOperator(operatorId) : undefined;
    rules = resolveRules(
      { ...config.defaults.rules, tps_max: config.defaults.tps_max },
      country ? config.countries[country] : undefined,
      operator && {
        time_zone: operator.time_zone,
        tps_max: operator.tps_max,
        rules: config.operators[operator.id]?.rules,
      },
    );
    rulesCache.set(key, rules);
  }
  return rules;
}

export function currencyOfCountry(country: string): string | undefined {
  return countryCurrency[country];
}

let network: CarrierNetwork = {
  http_url: environmentValue("CENTIME_CARRIER_HTTP_URL") ?? "http://127.0.0.1:8790",
  smpp_host: environmentValue("CENTIME_CARRIER_SMPP_HOST") ?? "127.0.0.1",
  smpp_port: Number(environmentValue("CENTIME_CARRIER_SMPP_PORT") ?? 2775),
  settlement_dir: environmentValue("CENTIME_CARRIER_SETTLEMENT_DIR") ?? join(tmpdir(), "centime-settlement"),
};

/** Points every operator at a carrier network (the simulator the core started, by default). */
export function configureCarrierNetwork(next: Partial<CarrierNetwork>): CarrierNetwork {
  network = { ...network, ...next };
  return network;
}

export function carrierNetwork(): CarrierNetwork {
  return network;
}
