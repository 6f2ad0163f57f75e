import { isCurrency, minorDigits } from "../platform/money.ts";
import type { Locale } from "./i18n.ts";

/** A decimal string of an integer amount in minor units: 199, 2 digits → "1.99". */
export function decimalString(amount: bigint, digits: number): `${number}` {
  const negative = amount < 0n;
  const abs = (negative ? -amount : amount).toString().padStart(digits + 1, "0");
  const whole = digits === 0 ? abs : abs.slice(0, -digits);
  return `${negative ? "-" : ""}${whole}${digits === 0 ? "" : `.${abs.slice(-digits)}`}` as `${number}`;
}

/**
 * What a person types, "20", "20.5", "20,50", in the currency's own digits (ISO 4217's, or an
 * inner currency's given digits) → minor units, without a float. null: not an amount, or more
 * decimals than the currency has.
 */
export function parseMajorAmount(text: string, currency: string, innerDigits?: number): bigint | null {
  const digits = isCurrency(currency) ? minorDigits(currency) : innerDigits;
  if (digits === undefined) return null;
  const match = /^(\d{1,10})(?:[.,](\d+))?$/.exec(text.replace(/\s/g, ""));
  if (!match) return null;
  const fraction = match[2] ?? "";
  if (fraction.length > digits) return null;
  return BigInt(match[1]!) * 10n ** BigInt(digits) + BigInt(fraction.padEnd(digits, "0") || "0");
}

const formats = new Map<string, Intl.NumberFormat>();

function numberFormat(locale: Locale, options: Intl.NumberFormatOptions): Intl.NumberFormat {
  const key = `${locale}|${JSON.stringify(options)}`;
  let format = formats.get(key);
  if (!format) {
    format = new Intl.NumberFormat(locale, options);
    formats.set(key, format);
  }
  return format;
}

/**
 * An amount for people: "1,99 €" in French, "€1.99" in English, "500 ¥" with JPY's zero digits,
 * "1.500 KWD" with three. Formatting goes through a decimal string, never a float, so large
 * amounts keep every digit. Inner currencies (codes of 4 to 8 letters) are not ISO 4217: their
 * digits are given, and their code follows the number.
 */
export function formatMoney(
  amount: bigint | number,
  currency: string,
  locale: Locale,
  innerDigits?: number,
): string {
  const minor = typeof amount === "bigint" ? amount : BigInt(amount);
  if (isCurrency(currency)) {
    const digits = minorDigits(currency);
    const format = numberFormat(locale, {
      style: "currency",
      currency,
      minimumFractionDigits: digits,
      maximumFractionDigits: digits,
    });
    return format.format(decimalString(minor, digits));
  }
  const digits = innerDigits ?? 0;
  const format = numberFormat(locale, { minimumFractionDigits: digits, maximumFractionDigits: digits });
  return `${format.format(decimalString(minor, digits))} ${currency}`;
}

/** A date and time for people, in the viewer's time zone (UTC when unknown). */
export function formatDateTime(value: Date | string, locale: Locale, timeZone = "UTC"): string {
  const date = typeof value === "string" ? new Date(value) : value;
  return new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short", timeZone }).format(date);
}
