import { fromDecimal, rawNumber, stringifyWithRawNumbers, toDecimal } from "../sdk/money.ts";
import { checkedSuccess, type DeclineMap, declineFor } from "../sdk/outcome.ts";
import type { Outcome } from "../sdk/types.ts";

/**
 * Pure mapping between our inputs/outcomes and GSMA OneAPI Payment messages. No I/O here.
 */

export type OperationStatus = "Charged" | "Refunded" | "Reserved" | "Released";

export function endUserId(msisdn: string, telPrefix: boolean): string {
  const e164 = msisdn.startsWith("+") ? msisdn : `+${msisdn}`;
  return telPrefix ? `tel:${e164}` : e164;
}

export interface TransactionFields {
  msisdn: string;
  tel_prefix: boolean;
  amount: bigint;
  currency: string;
  description: string;
  client_correlator: string;
  status: OperationStatus;
  original_reference?: string;
  /** `callbackURL`: where the operator posts the result when it is not immediate. */
  callback_url?: string;
  reference_sequence?: number;
}

/** `{amountTransaction:{…}}` with the amount written as an exact JSON number. */
export function jsonBody(
  wrapper: "amountTransaction" | "amountReservationTransaction",
  f: TransactionFields,
): string {
  const tx: Record<string, unknown> = {
    endUserId: endUserId(f.msisdn, f.tel_prefix),
    paymentAmount: {
      chargingInformation: {
        amount: rawNumber(toDecimal(f.amount, f.currency)),
        currency: f.currency,
        description: f.description,
      },
    },
    clientCorrelator: f.client_correlator,
    referenceCode: f.client_correlator,
    transactionOperationStatus: f.status,
  };
  if (f.original_reference) tx.originalServerReferenceCode = f.original_reference;
  if (f.callback_url) tx.callbackURL = f.callback_url;
  if (f.reference_sequence !== undefined) tx.referenceSequence = f.reference_sequence;
  return stringifyWithRawNumbers({ [wrapper]: tx });
}

/** OneAPI v1 form parameters (Globe Labs, Ericsson gateways). */
export function formBody(f: TransactionFields): string {
  const p = new URLSearchParams({
    endUserId: endUserId(f.msisdn, f.tel_prefix),
    amount: toDecimal(f.amount, f.currency),
    currency: f.currency,
    description: f.description,
    clientCorrelator: f.client_correlator,
    referenceCode: f.client_correlator,
    // The v1 parameters name the desired state in lower case ("charged", "refunded").
    transactionOperationStatus: f.status.toLowerCase(),
  });
  if (f.original_reference) p.set("originalServerReferenceCode", f.original_reference);
  if (f.callback_url) p.set("callbackURL", f.callback_url);
  return p.toString();
}

function rec(v: unknown): Record<string, unknown> {
  return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}
function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

export interface Asked {
  amount?: bigint;
  currency?: string;
  decline_codes: DeclineMap;
  /** Whether a result can still arrive by callback (we sent a notifyURL). */
  callback: boolean;
}

/** The transaction body of a 200/201 (or of a status query) → outcome. */
export function transactionOutcome(body: unknown, asked: Asked): Outcome {
  const doc = rec(body);
  const tx = rec(doc.amountTransaction ?? doc.amountReservationTransaction);
  const status = str(tx.transactionOperationStatus);
  const ref = str(tx.serverReferenceCode);
  const pa = rec(tx.paymentAmount);
  const ci = rec(pa.chargingInformation);
  const currency = str(ci.currency);
  const reported = fromDecimal(pa.totalAmountCharged ?? ci.amount, currency ?? "");
  switch (status) {
    case "Charged":
    case "Refunded":
    case "Reserved":
      return checkedSuccess({
        provider_reference: ref,
        reported_amount: reported,
        reported_currency: currency,
        asked_amount: asked.amount ?? reported ?? -1n,
        asked_currency: asked.currency ?? currency ?? "",
      });
    case "Released":
      return ref
        ? {
            status: "succeeded",
            provider_reference: ref,
            amount: 0n,
            currency: currency ?? asked.currency ?? "",
          }
        : { status: "unknown", reason: "success_without_reference" };
    case "Processing": {
      const out: Outcome = { status: "pending", via: asked.callback ? "callback" : "poll" };
      if (ref) out.provider_reference = ref;
      return out;
    }
    case "Denied":
    case "Refused": {
      const code = str(tx.reasonCode) ?? status;
      return (
        declineFor(code, asked.decline_codes) ?? {
          status: "declined",
          category: "invalid",
          code,
          retryable: false,
        }
      );
    }
    default:
      return { status: "unknown", reason: `unexpected_status:${String(status).slice(0, 40)}` };
  }
}

/** `{requestError:{policyException|serviceException:{messageId,text}}}` → its code and text. */
export function requestError(body: unknown): { code: string; text: string } | undefined {
  const e = rec(rec(body).requestError);
  const ex = rec(e.policyException ?? e.serviceException);
  const code = str(ex.messageId);
  return code ? { code, text: str(ex.text) ?? "" } : undefined;
}

export const DUPLICATE_CORRELATOR = "SVC0005";

/** An error reply → outcome. Codes the operator map does not know stay `unknown`. */
export function errorOutcome(status: number, body: unknown, decline_codes: DeclineMap): Outcome {
  const err = requestError(body);
  if (!err) return { status: "unknown", reason: `http_${status}_unreadable` };
  if (err.code === DUPLICATE_CORRELATOR) return { status: "unknown", reason: "duplicate_correlator" };
  if (status === 401)
    return {
      status: "declined",
      category: "invalid",
      code: `${err.code}/401`,
      retryable: true,
      retry_after_ms: 1_000,
    };
  return (
    declineFor(err.code, decline_codes, err.text) ?? {
      status: "unknown",
      reason: `unmapped_code:${err.code.slice(0, 20)}`,
    }
  );
}
