import type { AuthConfig } from "../sdk/auth.ts";
import type { DeclineMap } from "../sdk/outcome.ts";

export type ProtocolName = "oneapi" | "camara" | "parlayx" | "smpp" | "settlement";

export interface OperatorQuirks {
  /** Send `tel:+E164` (true) or the bare number (false). */
  tel_prefix: boolean;
  /** Parlay X schema version in namespaces: `v2_1` (spec) or `v3_1` (Huawei SDPs). */
  namespace_version: "v2_1" | "v3_1";
  /** OneAPI body encoding: JSON or the v1 form-urlencoded parameters. */
  encoding: "json" | "form";
  /** Parlay X SOAP authentication. */
  soap_auth: "basic" | "wsse" | "huawei";
  /** A non-ISO spelling the operator uses for its currency ("Birr" for ETB). */
  currency_spelling?: string;
  /** Element order inside Parlay X `chargeAmount` when the gateway rejects the documented one. */
  element_order?: string[];
  sp_id?: string;
  service_id?: string;
}

/**
 * How the payer's consent to a charge is obtained, declared per operator:
 * - `none`: the merchant holds it, the charge goes straight to the operator;
 * - `centime_otp`: Centime generates a one-time code, sends it with the operator's SMS API
 *   (OneAPI SMS outbound, or SMPP `submit_sm`), verifies what the payer types, then charges;
 * - `operator_page`: the payer is sent to the operator's own consent page (`url`), which charges;
 * - `operator_otp`: the operator's protocol has the step (CAMARA `pending_validation` →
 *   `validatePayment`), the operator texts the code and checks it.
 */
export type ConsentMethod =
  | { type: "none" }
  | { type: "centime_otp"; sms: "oneapi" | "smpp" }
  | { type: "operator_page"; url: string }
  | { type: "operator_otp" };

export interface OperatorCaps {
  /** Decimal amounts in the operator's currency ("50.00"), parsed without floats. */
  transaction_max?: string;
  month_max?: string;
}

export interface Operator {
  /** MCC+MNC, e.g. "61203": the id the API and routing use. */
  id: string;
  mcc: string;
  mnc: string;
  country: string;
  name: string;
  brand: string | undefined;
  currency: string;
  time_zone: string;
  protocol: ProtocolName;
  /** The protocol's version the operator runs (CAMARA "v0.5", OneAPI "v1", Parlay X "2.1", …). */
  protocol_version: string;
  /** A merchant identifier sent where the protocol has one (CAMARA `merchantIdentifier`). */
  merchant_identifier: string;
  consent: ConsentMethod;
  auth: AuthConfig;
  quirks: OperatorQuirks;
  decline_codes: DeclineMap;
  tps_max: number;
  deadline_ms: number;
  caps: OperatorCaps;
  stop_keywords: string[];
  smpp: { system_id: string; password: string; shortcode: string };
}

/** Where the operators' endpoints live. By default every operator points at the simulator. */
export interface CarrierNetwork {
  http_url: string;
  smpp_host: string;
  smpp_port: number;
  settlement_dir: string;
}

/**
 * A country's (or an operator's) rules for carrier billing as configured: amounts are decimal
 * strings in `caps.currency`, read without floats.
 */
export interface CarrierRulesConfig {
  /** Local charging window for renewals: charges run only inside it (quiet hours are outside). */
  window: { start: string; end: string };
  caps?: { currency: string; transaction_max?: string; day_max?: string; month_max?: string };
  /** Two-stage sign-up: a second explicit confirmation showing the price after the first consent. */
  double_opt_in: boolean;
  /** The shortest acceptable one-time code. */
  pin_length_min: number;
  /** No two charges of one subscriber closer than this (operators answer POL1002 "too soon"). */
  min_interval_minutes: number;
  /** A receipt after every charge (the `subscription.receipt` event). */
  receipts: boolean;
  /** A yearly reminder that the subscription is running (UK PSA Code 15). */
  annual_reminder: boolean;
  /** Whether the operator accepts charges below the price (the partial ladder). */
  partial_payments: boolean;
  tps_max: number;
}

export type CountryRulesConfig = Partial<Omit<CarrierRulesConfig, "tps_max">> & { time_zone: string };

/** The rules that apply to one subscriber's country and operator; caps in minor units. */
export interface CarrierRules extends Omit<CarrierRulesConfig, "caps"> {
  time_zone: string;
  caps: { currency: string; transaction_max?: bigint; day_max?: bigint; month_max?: bigint } | null;
}
