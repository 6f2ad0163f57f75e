import { HE_MSISDN_HEADERS, HE_OPERATOR_HEADERS, normaliseMsisdn } from "../operators/routing.ts";
import type { IdentifyOutput } from "./types.ts";

/** Header enrichment: the operator's proxy adds the MSISDN (and sometimes MCC/MNC) on mobile data. */
export function identifyFromHeaders(headers: Record<string, string | undefined> | undefined): IdentifyOutput {
  if (!headers) return { status: "unidentified" };
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const raw = HE_MSISDN_HEADERS.map((h) => lower[h]).find((v) => typeof v === "string" && v.length > 0);
  const n = raw ? normaliseMsisdn(raw.trim()) : undefined;
  if (!n) return { status: "unidentified" };
  const mccmnc = HE_OPERATOR_HEADERS.map((h) => lower[h]).find(
    (v) => typeof v === "string" && /^\d{5,6}$/.test(v),
  );
  return mccmnc
    ? { status: "identified", msisdn: n.msisdn, mccmnc }
    : { status: "identified", msisdn: n.msisdn };
}
