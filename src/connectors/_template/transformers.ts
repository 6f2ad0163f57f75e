import { fromDecimal, rawNumber, stringifyWithRawNumbers, toDecimal } from "../sdk/money.ts";
import { checkedSuccess, type DeclineMap, declineFor } from "../sdk/outcome.ts";
import type { Outcome } from "../sdk/types.ts";

/**
 * TEMPLATE: pure mapping between our types and the provider's messages. No I/O, no clock, no
 * randomness: everything here is unit-testable with literals. Copy this folder, rename
 * `Acme` to your protocol, and replace the field names with the provider's.
 */

/** The provider's own decline codes → our categories. Operators can override per registry entry. */
export const ACME_DECLINES: DeclineMap = {
  NO_CREDIT: { category: "insufficient_funds", retryable: true, retry_after_ms: 3_600_000 },
  BLOCKED: { category: "barred" },
  LIMIT: { category: "limit_reached", retryable: true, retry_after_ms: 86_400_000 },
  BAD_REQUEST: { category: "invalid" },
};

export function chargeBody(f: {
  msisdn: string;
  amount: bigint;
  currency: string;
  description: string;
  idempotency_key: string;
}): string {
  // Amounts are written from decimal strings, never through a float.
  return stringifyWithRawNumbers({
    msisdn: f.msisdn,
    amount: rawNumber(toDecimal(f.amount, f.currency)),
    currency: f.currency,
    text: f.description,
    idempotencyKey: f.idempotency_key,
  });
}

function rec(v: unknown): Record<string, unknown> {
  return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/** Only an explicit success with the asked amount and currency is `succeeded`; unknown states stay unknown. */
export function chargeOutcome(
  status: number,
  body: unknown,
  asked: { amount: bigint; currency: string },
  decline_codes: DeclineMap,
): Outcome {
  const b = rec(body);
  const state = typeof b.state === "string" ? b.state : undefined;
  if (status === 200 && state === "DONE") {
    const currency = typeof b.currency === "string" ? b.currency : undefined;
    return checkedSuccess({
      provider_reference: typeof b.id === "string" ? b.id : undefined,
      reported_amount: fromDecimal(b.amount, currency ?? ""),
      reported_currency: currency,
      asked_amount: asked.amount,
      asked_currency: asked.currency,
    });
  }
  if (state === "PENDING") return { status: "pending", via: "poll" };
  const code = typeof b.error === "string" ? b.error : undefined;
  if (code)
    return (
      declineFor(code, { ...ACME_DECLINES, ...decline_codes }) ?? {
        status: "unknown",
        reason: `unmapped_code:${code.slice(0, 40)}`,
      }
    );
  return { status: "unknown", reason: `http_${status}_unreadable` };
}
