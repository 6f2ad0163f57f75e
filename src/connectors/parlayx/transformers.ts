import { xmlEscape } from "../sdk/auth.ts";
import { toDecimal } from "../sdk/money.ts";
import { type DeclineMap, declineFor } from "../sdk/outcome.ts";
import { asRecord, asText, el, type SoapMessage, soapEnvelope } from "../sdk/soap.ts";
import type { Outcome } from "../sdk/types.ts";

/**
 * Parlay X 2.1 Payment messages (3GPP TS 29.199-6): envelopes with exact namespaces (`loc:`
 * qualified operation elements, unqualified ChargingInformation children) and element order,
 * and fault → outcome mapping from `detail/*\/messageId`. Pure functions.
 */

export const COMMON_NS = "http://www.csapi.org/schema/parlayx/common/v2_1";
export const amountChargingNs = (version: string) =>
  `http://www.csapi.org/schema/parlayx/payment/amount_charging/${version}/local`;
export const reserveChargingNs = (version: string) =>
  `http://www.csapi.org/schema/parlayx/payment/reserve_amount_charging/${version}/local`;

export const DEFAULT_ORDER = ["endUserIdentifier", "charge", "referenceCode"];
export const REFERENCE_CODE_LENGTH_MAX = 30;
export const DESCRIPTION_LENGTH_MAX = 255;

export interface ChargingInformation {
  description: string;
  /** ISO 4217, or the operator's own spelling. */
  currency: string;
  amount: bigint;
  /** Our ISO currency, for the decimal digits. */
  iso_currency: string;
  code?: string;
}

/** `ChargingInformation` in schema order: description, currency, amount, code (unqualified). */
export function chargingInformation(c: ChargingInformation): string {
  return (
    el("description", c.description.slice(0, DESCRIPTION_LENGTH_MAX)) +
    el("currency", c.currency) +
    el("amount", toDecimal(c.amount, c.iso_currency)) +
    el("code", c.code)
  );
}

export function endUser(msisdn: string, telPrefix: boolean): string {
  const e164 = msisdn.startsWith("+") ? msisdn : `+${msisdn}`;
  return telPrefix ? `tel:${e164}` : e164.slice(1);
}

/** An operation element whose parts are written in the order the operator's gateway accepts. */
export function operation(args: {
  name: string;
  parts: Record<string, string | undefined>;
  order: readonly string[];
}): string {
  const names = [
    ...args.order.filter((n) => n in args.parts),
    ...Object.keys(args.parts).filter((n) => !args.order.includes(n)),
  ];
  const inner = names
    .map((n) => {
      const v = args.parts[n];
      if (v === undefined) return "";
      // `charge` holds already-built XML; every other part is text.
      return n === "charge" ? `<loc:${n}>${v}</loc:${n}>` : `<loc:${n}>${xmlEscape(v)}</loc:${n}>`;
    })
    .join("");
  return `<loc:${args.name}>${inner}</loc:${args.name}>`;
}

export function envelope(ns: string, header: string, body: string): string {
  return soapEnvelope({ namespaces: { loc: ns }, header, body });
}

/**
 * A parsed reply → outcome. Success is an empty `…Response` (the protocol reports no amount,
 * so the asked amount is what was charged). A fault's class (`faultcode`) is never the answer:
 * only `detail/*\/messageId` is, through the operator's map.
 */
export function replyOutcome(
  msg: SoapMessage,
  expect: string,
  decline_codes: DeclineMap,
): Outcome | { status: "ok"; result: string | undefined } {
  if (msg.fault) {
    const id = msg.fault.messageId;
    if (!id) {
      // A client fault without detail: the gateway refused to parse our request; nothing was charged.
      if (/Client$/.test(msg.fault.faultcode))
        return { status: "declined", category: "invalid", code: msg.fault.faultcode, retryable: false };
      return { status: "unknown", reason: "fault_without_message_id" };
    }
    return (
      declineFor(id, decline_codes, msg.fault.text) ?? {
        status: "unknown",
        reason: `unmapped_code:${id.slice(0, 20)}`,
      }
    );
  }
  if (!(expect in msg.body)) return { status: "unknown", reason: "unexpected_body" };
  const response = asRecord(msg.body[expect]);
  return {
    status: "ok",
    result:
      asText(response.result) ??
      (typeof msg.body[expect] === "string" && msg.body[expect] !== ""
        ? String(msg.body[expect])
        : undefined),
  };
}
