import { fromDecimal, rawNumber, stringifyWithRawNumbers, toDecimal } from "../sdk/money.ts";
import { checkedSuccess, type DeclineMap, declineFor } from "../sdk/outcome.ts";
import type { Outcome } from "../sdk/types.ts";

/**
 * CAMARA Carrier Billing v0.5.0 and Carrier Billing Refund v0.3.0 messages ↔ our outcomes. Pure
 * functions: no I/O. Field names, statuses and error codes are the specifications' own.
 */

/** `paymentStatus` of a Payment (v0.5.0). */
export type PaymentStatus =
  | "processing"
  | "pending_validation"
  | "denied"
  | "reserved"
  | "succeeded"
  | "cancelled";

/**
 * The spec's error codes. `CARRIER_BILLING.PAYMENT_DENIED` ("denied by business") does not say
 * why: insufficient credit and a barred line answer the same. It is read as a retryable denial
 * (`insufficient_funds`), the category that lets a renewal try again later rather than give up.
 */
export const CAMARA_DECLINES: DeclineMap = {
  "CARRIER_BILLING.PAYMENT_DENIED": {
    category: "insufficient_funds",
    retryable: true,
    retry_after_ms: 3_600_000,
  },
  "CARRIER_BILLING.UNAUTHORIZED_AMOUNT": { category: "limit_reached" },
  "CARRIER_BILLING.USER_AMOUNT_THRESHOLD_OVERPASSED": {
    category: "limit_reached",
    retryable: true,
    retry_after_ms: 86_400_000,
  },
  "CARRIER_BILLING_REFUND.REFUND_DENIED": { category: "invalid" },
  "CARRIER_BILLING_REFUND.PAYMENT_NOT_ELIGIBLE_FOR_REFUND": { category: "invalid" },
  "CARRIER_BILLING_REFUND.UNAUTHORIZED_AMOUNT": { category: "invalid" },
  "CARRIER_BILLING_REFUND.USER_AMOUNT_THRESHOLD_OVERPASSED": { category: "limit_reached" },
  "CARRIER_BILLING_REFUND.INVALID_PAYMENT_STATUS": { category: "invalid" },
  "CARRIER_BILLING.PAYMENT_CANCELLED": { category: "invalid" },
  PERMISSION_DENIED: { category: "invalid" },
  SERVICE_NOT_APPLICABLE: { category: "invalid" },
  MISSING_IDENTIFIER: { category: "invalid" },
  UNNECESSARY_IDENTIFIER: { category: "invalid" },
  IDENTIFIER_NOT_FOUND: { category: "invalid" },
  NOT_FOUND: { category: "invalid" },
  INVALID_ARGUMENT: { category: "invalid" },
  UNAVAILABLE: { category: "limit_reached", retryable: true, retry_after_ms: 5_000 },
};

export interface PaymentFields {
  msisdn: string;
  amount: bigint;
  currency: string;
  description: string;
  /** Our attempt id: the spec's `clientCorrelator` and, as our own reference, `referenceCode`. */
  attempt_id: string;
  merchant_identifier: string;
  /** Only an `https` URL is a valid `sink`; results then also arrive as CloudEvents. */
  sink?: string;
  sink_token?: string;
  sink_token_expires?: string;
}

export function phoneNumber(msisdn: string): string {
  return msisdn.startsWith("+") ? msisdn : `+${msisdn}`;
}

function chargingInformation(amount: bigint, currency: string, description: string) {
  return {
    amount: rawNumber(toDecimal(amount, currency)),
    currency,
    description: description.slice(0, 255),
  };
}

/** `CreatePayment` (one step) and `BodyAmountReservationTransactionForReserveInput` (prepare). */
export function paymentBody(f: PaymentFields): string {
  const out: Record<string, unknown> = {
    amountTransaction: {
      phoneNumber: phoneNumber(f.msisdn),
      clientCorrelator: f.attempt_id,
      referenceCode: f.attempt_id,
      paymentAmount: {
        chargingInformation: chargingInformation(f.amount, f.currency, f.description),
        chargingMetaData: { merchantIdentifier: f.merchant_identifier },
      },
    },
  };
  return stringifyWithRawNumbers({ ...out, ...sinkMembers(f) });
}

/** `sink` and its `sinkCredential` (a bearer token of ours): only an `https` sink is valid. */
function sinkMembers(f: { sink?: string; sink_token?: string; sink_token_expires?: string }) {
  if (!f.sink?.startsWith("https://") || !f.sink_token || !f.sink_token_expires) return {};
  return {
    sink: f.sink,
    sinkCredential: {
      credentialType: "ACCESSTOKEN",
      accessToken: f.sink_token,
      accessTokenExpiresUtc: f.sink_token_expires,
      accessTokenType: "bearer",
    },
  };
}

/** `CreateRefund` (v0.3.0): `total` refunds the whole payment, `partial` names its amount. */
export function refundBody(f: {
  attempt_id: string;
  total: boolean;
  amount: bigint;
  currency: string;
  description: string;
  merchant_identifier: string;
  sink?: string;
  sink_token?: string;
  sink_token_expires?: string;
}): string {
  const meta = { merchantIdentifier: f.merchant_identifier };
  const refundAmount = f.total
    ? { chargingMetaData: meta }
    : {
        chargingInformation: chargingInformation(f.amount, f.currency, f.description),
        chargingMetaData: meta,
      };
  return stringifyWithRawNumbers({
    type: f.total ? "total" : "partial",
    amountTransaction: { clientCorrelator: f.attempt_id, referenceCode: f.attempt_id, refundAmount },
    ...sinkMembers(f),
  });
}

export function rec(v: unknown): Record<string, unknown> {
  return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}
export function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

/** The parts of a Payment (or PaymentCreated) we read. */
export interface PaymentView {
  id: string | undefined;
  status: string | undefined;
  client_correlator: string | undefined;
  reference_code: string | undefined;
  phone_number: string | undefined;
  amount: bigint | undefined;
  currency: string | undefined;
  validation: { action: "validate"; authorization_id: string } | { action: "open"; url: string } | undefined;
}

export function paymentView(body: unknown): PaymentView {
  const p = rec(body);
  const tx = rec(p.amountTransaction);
  const ci = rec(rec(tx.paymentAmount).chargingInformation);
  const currency = str(ci.currency);
  const v = rec(p.validationInfo);
  const authorization_id = str(v.authorizationId);
  const url = str(v.validationURL);
  return {
    id: str(p.paymentId),
    status: str(p.paymentStatus),
    client_correlator: str(tx.clientCorrelator),
    reference_code: str(tx.referenceCode),
    phone_number: str(tx.phoneNumber),
    amount: fromDecimal(ci.amount, currency ?? ""),
    currency,
    validation:
      v.action === "validate" && authorization_id
        ? { action: "validate", authorization_id }
        : v.action === "open" && url
          ? { action: "open", url }
          : undefined,
  };
}

export interface Asked {
  amount?: bigint;
  currency?: string;
  /** Whether a CloudEvent can still tell us the result (we sent a sink). */
  callback: boolean;
  /** The status that means done for this call: `succeeded` (charge, confirm), `reserved` (prepare), `cancelled`. */
  expect: "succeeded" | "reserved" | "cancelled";
}

export function paymentOutcome(p: PaymentView, asked: Asked): Outcome {
  if (p.status === asked.expect) {
    if (p.status === "cancelled")
      return p.id
        ? { status: "succeeded", provider_reference: p.id, amount: 0n, currency: p.currency ?? "" }
        : { status: "unknown", reason: "success_without_reference" };
    return checkedSuccess({
      provider_reference: p.id,
      reported_amount: p.amount,
      reported_currency: p.currency,
      asked_amount: asked.amount ?? p.amount ?? -1n,
      asked_currency: asked.currency ?? p.currency ?? "",
    });
  }
  switch (p.status) {
    case "processing":
    case "pending_validation":
    case "reserved": {
      // Still on its way (a reservation waiting for its confirmation, a code for its validation).
      const out: Outcome = { status: "pending", via: asked.callback ? "callback" : "poll" };
      if (p.id) out.provider_reference = p.id;
      return out;
    }
    case "denied":
      return {
        status: "declined",
        category: "insufficient_funds",
        code: "denied",
        retryable: true,
        retry_after_ms: 3_600_000,
      };
    case "cancelled":
      return { status: "declined", category: "invalid", code: "cancelled", retryable: false };
    default:
      return { status: "unknown", reason: `unexpected_status:${String(p.status).slice(0, 40)}` };
  }
}

/** A Refund (v0.3.0) → outcome. A `total` refund carries no amount: the asked one is the whole rest. */
export function refundOutcome(body: unknown, asked: { amount: bigint; currency: string }): Outcome {
  const r = rec(body);
  const id = str(r.refundId);
  const status = str(r.refundStatus);
  const ci = rec(rec(rec(r.amountTransaction).refundAmount).chargingInformation);
  const currency = str(ci.currency);
  if (status === "succeeded") {
    if (r.type === "total")
      return id
        ? { status: "succeeded", provider_reference: id, amount: asked.amount, currency: asked.currency }
        : { status: "unknown", reason: "success_without_reference" };
    return checkedSuccess({
      provider_reference: id,
      reported_amount: fromDecimal(ci.amount, currency ?? ""),
      reported_currency: currency,
      asked_amount: asked.amount,
      asked_currency: asked.currency,
    });
  }
  if (status === "processing")
    return id
      ? { status: "pending", via: "poll", provider_reference: id }
      : { status: "pending", via: "poll" };
  if (status === "denied")
    return { status: "declined", category: "invalid", code: "denied", retryable: false };
  return { status: "unknown", reason: `unexpected_status:${String(status).slice(0, 40)}` };
}

/** The error `code` of an `ErrorInfo` body. */
export function errorCode(body: unknown): { code: string; message: string | undefined } | undefined {
  const code = str(rec(body).code);
  return code ? { code, message: str(rec(body).message) } : undefined;
}

/**
 * An error reply → outcome. A repeated `clientCorrelator` is answered 400 `INVALID_ARGUMENT` (or
 * 409 `ALREADY_EXISTS`): the caller then looks the payment up instead of guessing. 429 was
 * refused before anything happened. Codes in neither map stay `unknown`.
 */
export function errorOutcome(status: number, body: unknown, decline_codes: DeclineMap): Outcome {
  const err = errorCode(body);
  if (!err) return { status: "unknown", reason: `http_${status}_unreadable` };
  if (
    (status === 400 && err.code === "INVALID_ARGUMENT") ||
    (status === 409 && err.code === "ALREADY_EXISTS")
  )
    return { status: "unknown", reason: "maybe_duplicate_correlator" };
  if (status === 429) return { status: "not_sent", reason: "rate_limited", retry_after_ms: 1_000 };
  if (status === 401)
    return {
      status: "declined",
      category: "invalid",
      code: `${err.code}/401`,
      retryable: true,
      retry_after_ms: 1_000,
    };
  return (
    declineFor(err.code, { ...CAMARA_DECLINES, ...decline_codes }, err.message) ?? {
      status: "unknown",
      reason: `unmapped_code:${err.code.slice(0, 60)}`,
    }
  );
}

/** CloudEvent types this connector understands (payments v0.5.0, refunds v0.3.0). */
export const CLOUDEVENT_TYPES = new Set([
  "org.camaraproject.carrier-billing.v0.payment-pending-validation",
  "org.camaraproject.carrier-billing.v0.payment-reserved",
  "org.camaraproject.carrier-billing.v0.payment-completed",
  "org.camaraproject.carrier-billing.v0.payment-cancelled",
  "org.camaraproject.carrier-billing.v0.payment-denied",
  "org.camaraproject.carrier-billing-refund.v0.refund-completed",
  "org.camaraproject.carrier-billing-refund.v0.refund-denied",
  "org.camaraproject.carrier-billing-refund.v0.refund-in-bill",
]);

/** Reads a CloudEvent notification; undefined when it is not one of ours. */
export function readCloudEvent(body: string): { type: string; payment_id: string } | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    return undefined;
  }
  const e = rec(doc);
  const type = str(e.type);
  const paymentId = str(rec(e.data).paymentId);
  if (e.specversion !== "1.0" || !type || !CLOUDEVENT_TYPES.has(type) || !paymentId) return undefined;
  if (!str(e.id) || !str(e.source) || !str(e.time)) return undefined;
  return { type, payment_id: paymentId };
}
