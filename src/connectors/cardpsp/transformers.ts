import { checkedSuccess, type DeclineMap, declineFor } from "../sdk/outcome.ts";
import type { CardDetails, Outcome } from "../sdk/types.ts";

/** Card PSP sandbox messages ↔ our outcomes. Amounts are integers in minor units. Pure. */

export const CARD_DECLINES: DeclineMap = {
  insufficient_funds: { category: "insufficient_funds", retryable: true, retry_after_ms: 86_400_000 },
  card_blocked: { category: "barred" },
  amount_too_large: { category: "limit_reached" },
  card_velocity_exceeded: { category: "limit_reached", retryable: true, retry_after_ms: 86_400_000 },
  currency_not_supported: { category: "invalid" },
  card_number_invalid: { category: "invalid" },
  parameter_invalid: { category: "invalid" },
  authentication_failed: { category: "consent_required" },
  refund_invalid: { category: "invalid" },
  // Voided at our request: nothing was charged.
  canceled: { category: "invalid" },
  processor_unavailable: { category: "limit_reached", retryable: true, retry_after_ms: 5_000 },
};

/** JSON has no bigint: amounts beyond 2^53 cannot be sent exactly, so they are refused. */
export function jsonMinor(amount: bigint): number {
  if (amount <= 0n || amount > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error("amount out of range");
  return Number(amount);
}

export function paymentBody(f: {
  reference: string;
  amount: bigint;
  currency: string;
  description: string;
  card: CardDetails;
  return_url?: string;
  notify_url?: string;
}): string {
  return JSON.stringify({
    reference: f.reference,
    amount: jsonMinor(f.amount),
    currency: f.currency,
    description: f.description,
    card: f.card,
    return_url: f.return_url,
    notify_url: f.notify_url,
  });
}

function rec(v: unknown): Record<string, unknown> {
  return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}
function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

export function paymentOutcome(
  body: unknown,
  asked: { amount?: bigint; currency?: string; expect: "succeeded" | "refunded" },
  decline_codes: DeclineMap,
): Outcome {
  const p = rec(body);
  const id = str(p.id);
  const amount =
    typeof p.amount === "number" && Number.isSafeInteger(p.amount) ? BigInt(p.amount) : undefined;
  const currency = str(p.currency);
  switch (str(p.status)) {
    case asked.expect:
      return checkedSuccess({
        provider_reference: id,
        reported_amount: amount,
        reported_currency: currency,
        asked_amount: asked.amount ?? amount ?? -1n,
        asked_currency: asked.currency ?? currency ?? "",
      });
    case "requires_action": {
      const next = rec(p.next_action);
      const url = str(next.url);
      if (!url || !/^https?:\/\//.test(url)) return { status: "unknown", reason: "redirect_without_url" };
      const out: Outcome = { status: "pending", via: "redirect", next_action: { type: "redirect", url } };
      if (id) out.provider_reference = id;
      return out;
    }
    case "processing": {
      const out: Outcome = { status: "pending", via: "callback" };
      if (id) out.provider_reference = id;
      return out;
    }
    case "canceled":
    case "failed": {
      const code = str(p.failure_code) ?? str(p.status) ?? "failed";
      return (
        declineFor(code, { ...CARD_DECLINES, ...decline_codes }) ?? {
          status: "unknown",
          reason: `unmapped_code:${code.slice(0, 40)}`,
        }
      );
    }
    default:
      return { status: "unknown", reason: `unexpected_status:${String(p.status).slice(0, 40)}` };
  }
}

export function errorOutcome(status: number, body: unknown, decline_codes: DeclineMap): Outcome {
  const p = rec(body);
  if (str(p.status) === "failed") return paymentOutcome(body, { expect: "succeeded" }, decline_codes);
  const code = str(rec(p.error).code);
  if (!code) return { status: "unknown", reason: `http_${status}_unreadable` };
  if (status === 401) return { status: "declined", category: "invalid", code, retryable: false };
  return (
    declineFor(code, { ...CARD_DECLINES, ...decline_codes }) ?? {
      status: "unknown",
      reason: `unmapped_code:${code.slice(0, 40)}`,
    }
  );
}
