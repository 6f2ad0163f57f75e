import type { DeclineCategory, Declined, Outcome } from "./types.ts";

/** A per-operator table from provider codes to our categories. Unknown codes are not guessed. */
export interface DeclineRule {
  category: DeclineCategory;
  retryable?: boolean;
  retry_after_ms?: number;
}
export type DeclineMap = Readonly<Record<string, DeclineRule>>;

/** Codes every OneAPI / Parlay X gateway shares (carrier-billing.md §1, §2). */
export const STANDARD_DECLINES: DeclineMap = {
  POL1000: { category: "insufficient_funds", retryable: true, retry_after_ms: 3_600_000 },
  POL0501: { category: "insufficient_funds", retryable: true, retry_after_ms: 3_600_000 },
  POL1001: { category: "limit_reached", retryable: true, retry_after_ms: 86_400_000 },
  POL0520: { category: "limit_reached", retryable: true, retry_after_ms: 86_400_000 },
  POL0521: { category: "limit_reached" },
  POL0254: { category: "limit_reached" },
  POL1002: { category: "limit_reached", retryable: true, retry_after_ms: 60_000 },
  POL2003: { category: "barred" },
  POL0002: { category: "barred" },
  POL0008: { category: "barred" },
  POL0253: { category: "consent_required" },
  POL0522: { category: "duplicate" },
  POL0523: { category: "invalid" },
  POL1004: { category: "invalid" },
  POL1005: { category: "invalid" },
  POL1006: { category: "invalid" },
  POL2010: { category: "invalid" },
  POL2011: { category: "invalid" },
  SVC0001: { category: "invalid", retryable: true, retry_after_ms: 60_000 },
  SVC0002: { category: "invalid" },
  SVC0003: { category: "invalid" },
  SVC0004: { category: "invalid" },
  SVC0007: { category: "invalid" },
  SVC0270: { category: "invalid", retryable: true, retry_after_ms: 60_000 },
  SVC1000: { category: "limit_reached", retryable: true, retry_after_ms: 1_000 },
};

/**
 * A provider code becomes a decline only when the map knows it. An unknown code means we cannot
 * say whether money moved, so it is `unknown` and settled later by `sync`.
 */
export function declineFor(code: string, map: DeclineMap, message?: string): Declined | undefined {
  const rule = map[code] ?? STANDARD_DECLINES[code];
  if (!rule) return undefined;
  const out: Declined = {
    status: "declined",
    category: rule.category,
    code,
    retryable: rule.retryable ?? false,
  };
  if (rule.retry_after_ms !== undefined) out.retry_after_ms = rule.retry_after_ms;
  if (message !== undefined) out.message = message.slice(0, 200);
  return out;
}

export function unknown(reason: string): Outcome {
  return { status: "unknown", reason };
}

/**
 * The provider says it charged: believe it only when the amount and currency it reports are the
 * ones we asked for. A mismatch means something we do not understand happened: `unknown`.
 * `currencyAliases` accepts an operator's non-ISO spelling (Huawei's "Birr" for ETB).
 */
export function checkedSuccess(args: {
  provider_reference: string | undefined;
  reported_amount: bigint | undefined;
  reported_currency: string | undefined;
  asked_amount: bigint;
  asked_currency: string;
  currencyAliases?: Readonly<Record<string, string>>;
}): Outcome {
  const currency =
    args.reported_currency === undefined
      ? undefined
      : (args.currencyAliases?.[args.reported_currency] ?? args.reported_currency);
  if (!args.provider_reference) return unknown("success_without_reference");
  if (args.reported_amount === undefined || currency === undefined) return unknown("success_without_amount");
  if (args.reported_amount !== args.asked_amount) return unknown("amount_mismatch");
  if (currency !== args.asked_currency) return unknown("currency_mismatch");
  return {
    status: "succeeded",
    provider_reference: args.provider_reference,
    amount: args.reported_amount,
    currency,
  };
}
