import type { Queryable } from "../db/db.ts";
import { type CurrencyCode, isCurrency, minorDigits } from "../platform/money.ts";

/**
 * Converting amounts into the reporting currency, in integer minor units: a decimal rate is read as
 * numerator / 10^scale and the product is rounded half away from zero once, at the end. Totals
 * across currencies are only ever made of converted amounts.
 */
export interface Rate {
  numerator: bigint;
  scale: number;
}

export function parseRate(text: string): Rate | null {
  const match = /^(\d{1,18})(?:\.(\d{1,18}))?$/.exec(text.trim());
  if (!match) return null;
  const fraction = match[2] ?? "";
  const numerator = BigInt(match[1]! + fraction);
  return numerator > 0n ? { numerator, scale: fraction.length } : null;
}

export function convertMinor(amount: bigint, from: string, to: string, rate: Rate): bigint {
  if (!isCurrency(from) || !isCurrency(to)) throw new Error(`cannot convert ${from} to ${to}`);
  const shift = minorDigits(to as CurrencyCode) - minorDigits(from as CurrencyCode);
  let numerator = amount * rate.numerator;
  let denominator = 10n ** BigInt(rate.scale);
  if (shift >= 0) numerator *= 10n ** BigInt(shift);
  else denominator *= 10n ** BigInt(-shift);
  const negative = numerator < 0n;
  const abs = negative ? -numerator : numerator;
  const rounded = (abs * 2n + denominator) / (denominator * 2n);
  return negative ? -rounded : rounded;
}

/** The rates a merchant's totals are converted with: `from → to` as a decimal string. */
export type RateBook = Map<string, Rate>;

/**
 * The latest rates into `to` from the platform's `exchange_rates` table when it exists (wallets
 * keep it), else none: amounts in other currencies are then reported apart, never added up.
 */
export async function loadRates(
  db: Queryable,
  scope: { merchantId: string; mode: string },
  to: string,
): Promise<RateBook> {
  const book: RateBook = new Map();
  const exists = await db.query<{ t: string | null }>("select to_regclass('exchange_rates')::text as t");
  if (!exists.rows[0]?.t) return book;
  try {
    const { rows } = await db.query<{ from_currency: string; rate: string }>(
      `select distinct on (from_currency) from_currency, rate::text as rate
         from exchange_rates
        where to_currency = $1 and (merchant_id is null or merchant_id = $2) and mode = $3
        order by from_currency, created desc`,
      [to, scope.merchantId, scope.mode],
    );
    for (const row of rows) {
      const rate = parseRate(row.rate);
      if (rate) book.set(row.from_currency, rate);
    }
  } catch {
    // A table of another shape: no rates rather than wrong ones.
  }
  return book;
}

/** Adds amounts per currency into one total in `to`; currencies without a rate are listed apart. */
export function totalIn(
  to: string,
  amounts: Map<string, bigint>,
  rates: RateBook,
): { amount: bigint; unconverted: string[] } {
  let amount = 0n;
  const unconverted: string[] = [];
  for (const [currency, value] of amounts) {
    if (currency === to) amount += value;
    else if (value === 0n) continue;
    else {
      const rate = rates.get(currency);
      if (rate && isCurrency(currency) && isCurrency(to)) amount += convertMinor(value, currency, to, rate);
      else unconverted.push(currency);
    }
  }
  return { amount, unconverted: unconverted.sort() };
}
