import { isCurrency, minorDigits } from "../../platform/money.ts";

/**
 * Decimal strings on the wire, bigint minor units inside. No float arithmetic: a JSON number from
 * a provider is turned back into its shortest decimal string before it is parsed.
 */
export function digitsOf(currency: string): number {
  return isCurrency(currency) ? minorDigits(currency) : 2;
}

export function toDecimal(amount: bigint, currency: string): string {
  const digits = digitsOf(currency);
  const negative = amount < 0n;
  const abs = (negative ? -amount : amount).toString().padStart(digits + 1, "0");
  const whole = digits === 0 ? abs : abs.slice(0, -digits);
  const fraction = digits === 0 ? "" : abs.slice(-digits).replace(/0+$/, "");
  return `${negative ? "-" : ""}${whole}${fraction ? `.${fraction}` : ""}`;
}

const DECIMAL = /^(-?)(\d{1,15})(?:\.(\d{1,8}))?$/;

/** Parses a provider's decimal ("12.5", 12.5) into minor units; undefined when unreadable or too precise. */
export function fromDecimal(value: unknown, currency: string): bigint | undefined {
  const text = typeof value === "number" ? (Number.isFinite(value) ? String(value) : "") : value;
  if (typeof text !== "string") return undefined;
  const match = DECIMAL.exec(text.trim());
  if (!match) return undefined;
  const digits = digitsOf(currency);
  const fraction = (match[3] ?? "").replace(/0+$/, "");
  if (fraction.length > digits) return undefined;
  const minor = BigInt((match[2] ?? "0") + fraction.padEnd(digits, "0"));
  return match[1] === "-" ? -minor : minor;
}

/** Marks a value that must be written to JSON as a raw number (a decimal string, never a float). */
const RAW_PREFIX = "\u0000dec:";
export function rawNumber(decimal: string): string {
  return RAW_PREFIX + decimal;
}
export function stringifyWithRawNumbers(value: unknown): string {
  return JSON.stringify(value).replace(/"\\u0000dec:(-?[0-9.]+)"/g, "$1");
}
