/**
 * The project's own schema of Parlay X 2.1 Payment (3GPP TS 29.199-6), written from the WSDL and
 * XSD facts: each operation's request element, its children in order, and its response element.
 * Huawei SDPs run the same messages under `v3_1` namespaces.
 */

export const SOAP_ENVELOPE_NS = "http://schemas.xmlsoap.org/soap/envelope/";
export const PARLAYX_COMMON_NS = "http://www.csapi.org/schema/parlayx/common/v2_1";

export const PARLAYX_LOCAL_NS = {
  amount_charging: (version: string) =>
    `http://www.csapi.org/schema/parlayx/payment/amount_charging/${version}/local`,
  reserve_amount_charging: (version: string) =>
    `http://www.csapi.org/schema/parlayx/payment/reserve_amount_charging/${version}/local`,
};

export interface ParlayXOperation {
  service: keyof typeof PARLAYX_LOCAL_NS;
  /** Child elements of the request, in the WSDL's sequence order. */
  children: string[];
  /** Child elements of the response (an empty sequence for most). */
  response: string[];
}

export const PARLAYX_OPERATIONS: Record<string, ParlayXOperation> = {
  chargeAmount: {
    service: "amount_charging",
    children: ["endUserIdentifier", "charge", "referenceCode"],
    response: [],
  },
  refundAmount: {
    service: "amount_charging",
    children: ["endUserIdentifier", "charge", "referenceCode"],
    response: [],
  },
  reserveAmount: {
    service: "reserve_amount_charging",
    children: ["endUserIdentifier", "charge"],
    response: ["result"],
  },
  reserveAdditionalAmount: {
    service: "reserve_amount_charging",
    children: ["reservationIdentifier", "charge"],
    response: [],
  },
  chargeReservation: {
    service: "reserve_amount_charging",
    children: ["reservationIdentifier", "charge", "referenceCode"],
    response: [],
  },
  releaseReservation: {
    service: "reserve_amount_charging",
    children: ["reservationIdentifier"],
    response: [],
  },
};

/** `ChargingInformation` (common v2_1): description, then optional currency, amount, code. */
export const CHARGING_INFORMATION = ["description", "currency", "amount", "code"];

/** Fault detail elements (common v2_1) and the members each carries. */
export const PARLAYX_FAULTS = ["ServiceException", "PolicyException"];
export const FAULT_MEMBERS = ["messageId", "text", "variables"];
