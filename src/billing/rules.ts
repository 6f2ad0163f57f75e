import { getOperator } from "../connectors/operators/index.ts";
import { parseWindow, type Window } from "./time.ts";

/**
 * Country and operator rules for recurring carrier billing, as data (carrier-billing.md §5). An
 * operator's entry overrides its country's, which overrides the defaults. Amounts are in minor
 * units of `caps.currency`; caps apply to charges in that currency (a price in another currency
 * is checked against no cap, and the catalog refuses such prices for capped countries in live mode).
 */
export interface BillingRules {
  time_zone: string;
  /** Local charging window: charges run only inside it (quiet hours are outside). */
  window: { start: string; end: string };
  caps: {
    currency: string;
    transaction_max?: bigint;
    day_max?: bigint;
    month_max?: bigint;
  } | null;
  /** Two-stage sign-up: a PIN (or MO) confirmation after the first consent. */
  double_opt_in: boolean;
  pin_length_min: number;
  /** No two charges of one subscriber closer than this (operators answer POL1002 "too soon"). */
  min_interval_minutes: number;
  /** A receipt after every charge (the `subscription.receipt` event, for the messaging that sends it). */
  receipts: boolean;
  /** A yearly reminder that the subscription is running (UK PSA Code 15). */
  annual_reminder: boolean;
  /** Whether the operator accepts charges below the price (the partial ladder). */
  partial_payments: boolean;
  /** Charges per second the operator accepts from us. */
  tps_max: number;
}

type RulesPatch = Partial<Omit<BillingRules, "caps">> & { caps?: BillingRules["caps"] };

export const DEFAULT_RULES: BillingRules = {
  time_zone: "UTC",
  window: { start: "08:00", end: "21:00" },
  caps: null,
  double_opt_in: false,
  pin_length_min: 4,
  min_interval_minutes: 60,
  receipts: false,
  annual_reminder: false,
  partial_payments: true,
  tps_max: 50,
};

/** EU: PSD2 Art. 3(l) electronic-communications exclusion, 50 EUR per transaction, 300 EUR a month. */
const EU_CAPS = { currency: "EUR", transaction_max: 5_000n, month_max: 30_000n } as const;
const EU_EURO_COUNTRIES: Record<string, string> = {
  AT: "Europe/Vienna",
  BE: "Europe/Brussels",
  CY: "Asia/Nicosia",
  DE: "Europe/Berlin",
  EE: "Europe/Tallinn",
  ES: "Europe/Madrid",
  FI: "Europe/Helsinki",
  FR: "Europe/Paris",
  GR: "Europe/Athens",
  HR: "Europe/Zagreb",
  IE: "Europe/Dublin",
  IT: "Europe/Rome",
  LT: "Europe/Vilnius",
  LU: "Europe/Luxembourg",
  LV: "Europe/Riga",
  MT: "Europe/Malta",
  NL: "Europe/Amsterdam",
  PT: "Europe/Lisbon",
  SI: "Europe/Ljubljana",
  SK: "Europe/Bratislava",
};

export const COUNTRY_RULES: Record<string, RulesPatch> = {
  ...Object.fromEntries(
    Object.entries(EU_EURO_COUNTRIES).map(([country, time_zone]) => [country, { time_zone, caps: EU_CAPS }]),
  ),
  // France: Internet+ confirmation on an operator page, then a confirmation message.
  FR: { time_zone: "Europe/Paris", caps: EU_CAPS, double_opt_in: true, receipts: true },
  // Italy: AGCOM 10/21/CONS, activation by an OTP of at least 5 digits.
  IT: { time_zone: "Europe/Rome", caps: EU_CAPS, double_opt_in: true, pin_length_min: 5 },
  // UK: PSA two-stage sign-up, a receipt after every charge, an annual reminder.
  GB: {
    time_zone: "Europe/London",
    double_opt_in: true,
    annual_reminder: true,
    receipts: true,
    caps: { currency: "GBP", transaction_max: 3_000n, month_max: 24_000n },
  },
  // EU members outside the euro: the same caps, counted in euros only.
  PL: { time_zone: "Europe/Warsaw", caps: EU_CAPS },
  HU: { time_zone: "Europe/Budapest", caps: EU_CAPS, double_opt_in: true },
  US: { time_zone: "America/New_York", window: { start: "09:00", end: "21:00" } },
  CA: { time_zone: "America/Toronto", window: { start: "09:00", end: "21:00" } },
  MX: { time_zone: "America/Mexico_City" },
  BR: { time_zone: "America/Sao_Paulo", window: { start: "08:00", end: "20:00" } },
  AR: { time_zone: "America/Argentina/Buenos_Aires" },
  CL: { time_zone: "America/Santiago" },
  CO: { time_zone: "America/Bogota" },
  PE: { time_zone: "America/Lima" },
  EG: { time_zone: "Africa/Cairo", partial_payments: true },
  MA: { time_zone: "Africa/Casablanca" },
  TN: { time_zone: "Africa/Tunis" },
  DZ: { time_zone: "Africa/Algiers" },
  NG: { time_zone: "Africa/Lagos", window: { start: "07:00", end: "22:00" } },
  GH: { time_zone: "Africa/Accra" },
  KE: { time_zone: "Africa/Nairobi" },
  UG: { time_zone: "Africa/Kampala" },
  TZ: { time_zone: "Africa/Dar_es_Salaam" },
  ZA: { time_zone: "Africa/Johannesburg", double_opt_in: true },
  CI: { time_zone: "Africa/Abidjan" },
  SN: { time_zone: "Africa/Dakar" },
  CM: { time_zone: "Africa/Douala" },
  ET: { time_zone: "Africa/Addis_Ababa" },
  SA: { time_zone: "Asia/Riyadh", window: { start: "09:00", end: "22:00" } },
  AE: { time_zone: "Asia/Dubai", double_opt_in: true },
  KW: { time_zone: "Asia/Kuwait" },
  IQ: { time_zone: "Asia/Baghdad" },
  JO: { time_zone: "Asia/Amman" },
  TR: { time_zone: "Europe/Istanbul" },
  IL: { time_zone: "Asia/Jerusalem" },
  IN: { time_zone: "Asia/Kolkata", window: { start: "09:00", end: "21:00" } },
  PK: { time_zone: "Asia/Karachi" },
  BD: { time_zone: "Asia/Dhaka" },
  LK: { time_zone: "Asia/Colombo" },
  NP: { time_zone: "Asia/Kathmandu" },
  ID: { time_zone: "Asia/Jakarta" },
  MY: { time_zone: "Asia/Kuala_Lumpur" },
  TH: { time_zone: "Asia/Bangkok" },
  VN: { time_zone: "Asia/Ho_Chi_Minh" },
  PH: { time_zone: "Asia/Manila" },
  JP: { time_zone: "Asia/Tokyo" },
  KR: { time_zone: "Asia/Seoul" },
  AU: { time_zone: "Australia/Sydney" },
  NZ: { time_zone: "Pacific/Auckland" },
};

/** Operator-specific terms (their contracts), by MCC+MNC. */
export const OPERATOR_RULES: Record<string, RulesPatch> = {
  // Orange France: no price-point downgrades.
  "20801": { partial_payments: false },
  // Ethio Telecom: slow gateway, nights are maintenance.
  "63601": { window: { start: "08:00", end: "20:00" }, tps_max: 20 },
  // Mobily: charging only in the afternoon and evening.
  "42003": { window: { start: "10:00", end: "22:00" } },
};

export interface ResolvedRules extends BillingRules {
  window_minutes: Window;
}

const cache = new Map<string, ResolvedRules>();

/** The rules for a subscriber's country and operator (either may be unknown). */
export function rulesFor(country: string | null, operator: string | null): ResolvedRules {
  const key = `${country ?? ""}/${operator ?? ""}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const registry = operator ? getOperator(operator) : undefined;
  const fromRegistry: RulesPatch = {};
  if (registry) {
    fromRegistry.tps_max = registry.tps_max;
    if (registry.time_zone && registry.time_zone !== "UTC") fromRegistry.time_zone = registry.time_zone;
  }
  const merged: BillingRules = {
    ...DEFAULT_RULES,
    ...(country ? COUNTRY_RULES[country] : undefined),
    ...fromRegistry,
    ...(operator ? OPERATOR_RULES[operator] : undefined),
  };
  const resolved: ResolvedRules = {
    ...merged,
    window_minutes: parseWindow(merged.window.start, merged.window.end),
  };
  cache.set(key, resolved);
  return resolved;
}
