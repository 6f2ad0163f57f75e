import currencyCodes from "currency-codes";

/**
 * ISO 4217 currencies with their minor-unit digits, from the maintained `currency-codes` table
 * (Intl's digits are wrong for IQD, HUF, IDR, COP and others). Codes that are not money
 * (XXX, XTS, precious metals, bond-market units) are left out.
 */
const NOT_MONEY = new Set([
  "XXX",
  "XTS",
  "XAU",
  "XAG",
  "XPT",
  "XPD",
  "XBA",
  "XBB",
  "XBC",
  "XBD",
  "XSU",
  "XUA",
]);

const DIGITS: ReadonlyMap<string, number> = new Map(
  currencyCodes.data.filter((c) => !NOT_MONEY.has(c.code)).map((c) => [c.code, c.digits] as const),
);

export type CurrencyCode = string & { readonly __currency: unique symbol };

/**
 * The largest amount the API accepts in one request: 10^10 - 1 minor units (99,999,999.99 EUR).
 * Bounded so that sums stay exact as JSON numbers: 900,000 maximal payments to one account still
 * fit in 2^53 (docs/http.md, "Money in JSON").
 */
export const AMOUNT_MAX = 9_999_999_999;

/**
 * The largest amount of one wallet grant or voucher value (`POST /v1/wallet_grants`, a top-up's
 * credit): inner currencies count in larger numbers than money (1 EUR = 1,000 GEMS).
 */
export const GRANT_AMOUNT_MAX = 999_999_999_999;

export function isCurrency(code: string): code is CurrencyCode {
  return DIGITS.has(code);
}

export function minorDigits(currency: CurrencyCode): number {
  return DIGITS.get(currency)!;
}

export function knownCurrencies(): string[] {
  return [...DIGITS.keys()];
}

/** Amounts cross the JSON boundary as numbers; inside they are bigint. */
export function toJsonAmount(amount: bigint): number {
  if (amount > BigInt(Number.MAX_SAFE_INTEGER) || amount < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new Error(`amount ${amount} exceeds the JSON-safe range`);
  }
  return Number(amount);
}

/**
 * A sum of amounts (a balance, a trial balance) for JSON: a number while it is exact as one, the
 * bigint past 2^53, which the HTTP layer writes as an exact JSON integer. Never an error: a read
 * must work however much money went through.
 */
export function toJsonSum(amount: bigint): number | bigint {
  const safe = amount <= BigInt(Number.MAX_SAFE_INTEGER) && amount >= BigInt(Number.MIN_SAFE_INTEGER);
  return safe ? Number(amount) : amount;
}

export function formatAmount(amount: bigint, currency: CurrencyCode): string {
  const digits = minorDigits(currency);
  const negative = amount < 0n;
  const abs = (negative ? -amount : amount).toString().padStart(digits + 1, "0");
  const whole = digits === 0 ? abs : abs.slice(0, -digits);
  const fraction = digits === 0 ? "" : `.${abs.slice(-digits)}`;
  return `${negative ? "-" : ""}${whole}${fraction} ${currency}`;
}
