import { fromDecimal, rawNumber, stringifyWithRawNumbers, toDecimal } from "../sdk/money.ts";
import { checkedSuccess, type DeclineMap, type DeclineRule, declineFor } from "../sdk/outcome.ts";
import type { Outcome } from "../sdk/types.ts";

/** CAMARA Carrier Billing Checkout (v0) messages ↔ our outcomes. Pure functions. */

/** Default codes of the CAMARA front end; operators override them in the registry [U]. */
export const CAMARA_DECLINES: DeclineMap = {
  "CARRIER_BILLING.INSUFFICIENT_FUNDS": {
    category: "insufficient_funds",
    retryable: true,
    retry_after_ms: 3_600_000,
  },
  "CARRIER_BILLING.USER_BARRED": { category: "barred" },
  "CARRIER_BILLING.AMOUNT_LIMIT_EXCEEDED": { category: "limit_reached" },
  "CARRIER_BILLING.PERIOD_LIMIT_EXCEEDED": {
    category: "limit_reached",
    retryable: true,
    retry_after_ms: 86_400_000,
  },
  INVALID_ARGUMENT: { category: "invalid" },
  PERMISSION_DENIED: { category: "consent_required" },
  UNAVAILABLE: { category: "limit_reached", retryable: true, retry_after_ms: 5_000 } satisfies DeclineRule,
};

export function paymentBody(f: {
  msisdn: string;
  amount: bigint;
  currency: string;
  description: string;
  client_correlator: string;
  notification_url?: string;
}): string {
  const out: Record<string, unknown> = {
    endUserId: f.msisdn.startsWith("+") ? f.msisdn : `+${f.msisdn}`,
    clientCorrelator: f.client_correlator,
    referenceCode: f.client_correlator,
    chargingInformation: {
      amount: rawNumber(toDecimal(f.amount, f.currency)),
      currency: f.currency,
      description: f.description,
    },
  };
  if (f.notification_url) out.notificationUrl = f.notification_url;
  return stringifyWithRawNumbers(out);
}

function rec(v: unknown): Record<string, unknown> {
  return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}
function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

export function paymentOutcome(
  body: unknown,
  asked: {
    amount?: bigint;
    currency?: string;
    callback: boolean;
    expect: "Succeeded" | "Reserved" | "Cancelled";
  },
  decline_codes: DeclineMap,
): Outcome {
  const p = rec(body);
  const id = str(p.paymentId);
  const status = str(p.paymentStatus);
  const ci = rec(p.chargingInformation);
  const currency = str(ci.currency);
  const amount = fromDecimal(ci.amount, currency ?? "");
  if (status === asked.expect) {
    if (status === "Cancelled")
      return id
        ? { status: "succeeded", provider_reference: id, amount: 0n, currency: currency ?? "" }
        : { status: "unknown", reason: "success_without_reference" };
    return checkedSuccess({
      provider_reference: id,
      reported_amount: amount,
      reported_currency: currency,
      asked_amount: asked.amount ?? amount ?? -1n,
      asked_currency: asked.currency ?? currency ?? "",
    });
  }
  if (status === "Processing") {
    const out: Outcome = { status: "pending", via: asked.callback ? "callback" : "poll" };
    if (id) out.provider_reference = id;
    return out;
  }
  if (status === "Denied") {
    const code = str(p.statusInfo) ?? "Denied";
    return (
      declineFor(code, { ...CAMARA_DECLINES, ...decline_codes }) ?? {
        status: "declined",
        category: "invalid",
        code,
        retryable: false,
      }
    );
  }
  return { status: "unknown", reason: `unexpected_status:${String(status).slice(0, 40)}` };
}

export function errorOutcome(status: number, body: unknown, decline_codes: DeclineMap): Outcome {
  const code = str(rec(body).code);
  if (!code) return { status: "unknown", reason: `http_${status}_unreadable` };
  if (status === 409 && code === "CONFLICT") return { status: "unknown", reason: "duplicate_correlator" };
  if (status === 401)
    return {
      status: "declined",
      category: "invalid",
      code: `${code}/401`,
      retryable: true,
      retry_after_ms: 1_000,
    };
  return (
    declineFor(code, { ...CAMARA_DECLINES, ...decline_codes }, str(rec(body).message)) ?? {
      status: "unknown",
      reason: `unmapped_code:${code.slice(0, 40)}`,
    }
  );
}
