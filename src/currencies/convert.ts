import { assert } from "../platform/errors.ts";
import { ceilDiv, type Fraction, parseDecimal } from "./decimal.ts";

/**
 * A conversion of `sourceAmount` minor units of one currency into another at `rate` (major units
 * of the target per major unit of the source, as in "1 EUR = 120 GEMS").
 *
 * The target amount is rounded down, so the payer loses at most one target minor unit. The source
 * amount is split in two whole numbers: `sourceConverted`, the least source amount worth the
 * credited target amount, and `sourceResidue`, the rest, worth less than one target minor unit,
 * which is booked on its own ledger account.
 */
export interface Conversion {
  rate: string;
  sourceAmount: bigint;
  targetAmount: bigint;
  sourceConverted: bigint;
  sourceResidue: bigint;
}

/** Target minor units per source minor unit, as a fraction. */
export function minorRate(rate: Fraction, sourceDigits: number, targetDigits: number): Fraction {
  const shift = targetDigits - sourceDigits;
  return shift >= 0
    ? { numerator: rate.numerator * 10n ** BigInt(shift), denominator: rate.denominator }
    : { numerator: rate.numerator, denominator: rate.denominator * 10n ** BigInt(-shift) };
}

export function convert(
  sourceAmount: bigint,
  rate: string,
  sourceDigits: number,
  targetDigits: number,
): Conversion {
  assert(sourceAmount >= 0n, "a conversion's source amount is not negative");
  const r = minorRate(parseDecimal(rate), sourceDigits, targetDigits);
  assert(r.numerator > 0n, "a conversion's rate is positive");
  const targetAmount = (sourceAmount * r.numerator) / r.denominator;
  const sourceConverted = ceilDiv(targetAmount * r.denominator, r.numerator);
  const sourceResidue = sourceAmount - sourceConverted;
  assert(sourceResidue >= 0n, "the converted part fits in the source amount");
  return { rate, sourceAmount, targetAmount, sourceConverted, sourceResidue };
}

/** The inverse of a rate, to `scale` fractional digits, rounded down (for reports only). */
export function invertRate(rate: string, scale = 12): string {
  const r = parseDecimal(rate);
  const unit = 10n ** BigInt(scale);
  const inverted = (r.denominator * unit) / r.numerator;
  const text = inverted.toString().padStart(scale + 1, "0");
  const whole = text.slice(0, -scale);
  const fraction = text.slice(-scale).replace(/0+$/, "");
  return fraction ? `${whole}.${fraction}` : whole;
}
