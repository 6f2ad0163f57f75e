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

/** The largest amount the API accepts in one request: 10^12 - 1 minor units, well inside 2^53. */
export const AMOUNT_MAX = 999_999_999_999;

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

export function formatAmount(amount: bigint, currency: CurrencyCode): string {
  const digits = minorDigits(currency);
  const negative = amount < 0n;
  const abs = (negative ? -amount : amount).toString().padStart(digits + 1, "0");
  const whole = digits === 0 ? abs : abs.slice(0, -digits);
  const fraction = digits === 0 ? "" : `.${abs.slice(-digits)}`;
  return `${negative ? "-" : ""}${whole}${fraction} ${currency}`;
}
