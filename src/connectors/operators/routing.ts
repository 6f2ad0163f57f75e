import { parsePhoneNumberFromString } from "libphonenumber-js";
import { sendHttp } from "../sdk/http.ts";
import { carrierNetwork, getOperator, operatorsInCountry } from "./registry.ts";
import { testNumberCountry } from "./test-numbers.ts";
import type { Operator } from "./types.ts";

/**
 * MSISDN → country (libphonenumber-js) → operator. libphonenumber has no carrier data, and
 * number portability makes prefixes unreliable anyway, so the operator comes from, in order:
 * the payer's explicit choice, header enrichment, a lookup through the operator network (HLR).
 */

/** Header-enrichment names seen in the wild; the MCC/MNC one is what operators' proxies add. */
export const HE_MSISDN_HEADERS = ["x-msisdn", "msisdn", "x-up-calling-line-id", "x-nokia-msisdn"];
export const HE_OPERATOR_HEADERS = ["x-mccmnc", "x-mcc-mnc", "x-operator", "x-network-operator"];
export const LOOKUP_TIMEOUT_MS = 2_000;

export type ResolveResult =
  | {
      status: "resolved";
      operator: Operator;
      msisdn: string;
      via: "choice" | "header_enrichment" | "lookup" | "single_operator";
    }
  | {
      status: "failed";
      reason:
        | "invalid_msisdn"
        | "unknown_operator"
        | "operator_country_mismatch"
        | "no_operator_in_country"
        | "lookup_failed";
    };

/**
 * A possible number and its country. With `test_numbers` (test mode), the ranges regulators
 * reserve for fiction and documentation are accepted too, even where libphonenumber gives them
 * no country (Ofcom's 07700 900xxx).
 */
export function normaliseMsisdn(
  raw: string,
  options: { test_numbers?: boolean } = {},
): { msisdn: string; country: string } | undefined {
  const parsed = parsePhoneNumberFromString(raw.startsWith("+") ? raw : `+${raw}`);
  if (!parsed?.isPossible()) return undefined;
  const country = parsed.country ?? (options.test_numbers ? testNumberCountry(parsed.number) : undefined);
  return country ? { msisdn: parsed.number, country } : undefined;
}

function header(
  headers: Record<string, string | undefined> | undefined,
  names: string[],
): string | undefined {
  if (!headers) return undefined;
  for (const [name, value] of Object.entries(headers)) {
    if (value && names.includes(name.toLowerCase())) return value.trim();
  }
  return undefined;
}

export async function resolveOperator(input: {
  msisdn?: string;
  operator?: string;
  headers?: Record<string, string | undefined>;
  lookup?: boolean;
  /** Test mode: documented test and fiction numbers are accepted (see `test-numbers.ts`). */
  test_numbers?: boolean;
}): Promise<ResolveResult> {
  const raw = input.msisdn ?? header(input.headers, HE_MSISDN_HEADERS);
  const n = raw ? normaliseMsisdn(raw, { test_numbers: input.test_numbers === true }) : undefined;
  if (!n) return { status: "failed", reason: "invalid_msisdn" };
  const pick = (id: string, via: "choice" | "header_enrichment" | "lookup"): ResolveResult => {
    const operator = getOperator(id);
    if (!operator) return { status: "failed", reason: "unknown_operator" };
    if (operator.country !== n.country) return { status: "failed", reason: "operator_country_mismatch" };
    return { status: "resolved", operator, msisdn: n.msisdn, via };
  };
  if (input.operator) return pick(input.operator, "choice");
  const enriched = header(input.headers, HE_OPERATOR_HEADERS);
  if (enriched) return pick(enriched.replace(/\D/g, ""), "header_enrichment");
  const candidates = operatorsInCountry(n.country);
  if (candidates.length === 0) return { status: "failed", reason: "no_operator_in_country" };
  if (candidates.length === 1)
    return { status: "resolved", operator: candidates[0]!, msisdn: n.msisdn, via: "single_operator" };
  if (input.lookup === false) return { status: "failed", reason: "lookup_failed" };
  const found = await hlrLookup(n.msisdn);
  return found ? pick(found, "lookup") : { status: "failed", reason: "lookup_failed" };
}

/** Asks the operator network which network serves a number (the simulator's HLR/MNP endpoint). */
export async function hlrLookup(msisdn: string): Promise<string | undefined> {
  try {
    const url = `${carrierNetwork().http_url}/hlr/lookup?msisdn=${encodeURIComponent(msisdn)}`;
    const response = await sendHttp(
      { method: "GET", url, headers: { accept: "application/json" } },
      { timeout_ms: LOOKUP_TIMEOUT_MS, body_bytes_max: 4096 },
    );
    if (response.status !== 200) return undefined;
    const body: unknown = JSON.parse(response.body);
    if (body && typeof body === "object" && "mccmnc" in body && typeof body.mccmnc === "string")
      return body.mccmnc;
    return undefined;
  } catch {
    return undefined;
  }
}
