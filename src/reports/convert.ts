import { type Fraction, parseDecimal } from "../currencies/index.ts";

/**
 * Conversions for reports: integer minor units times an exact rate (a fraction of bigints), rounded
 * half to even to the target currency's minor unit. No floats anywhere.
 */

/** `numerator / denominator` rounded half to even; the denominator is positive. */
export function divideHalfEven(numerator: bigint, denominator: bigint): bigint {
  if (denominator <= 0n) throw new RangeError("the denominator is positive");
  const negative = numerator < 0n;
  const magnitude = negative ? -numerator : numerator;
  let quotient = magnitude / denominator;
  const twice = (magnitude % denominator) * 2n;
  if (twice > denominator || (twice === denominator && quotient % 2n === 1n)) quotient += 1n;
  return negative ? -quotient : quotient;
}

/**
 * Target minor units per source minor unit: `rate` is target major units per source major unit
 * (as `POST /v1/exchange_rates` records it); `inverted` uses a rate recorded the other way round,
 * exactly (1 / rate), never a rounded inverse.
 */
export function minorFactor(
  rate: string,
  sourceDigits: number,
  targetDigits: number,
  inverted = false,
): Fraction {
  const r = parseDecimal(rate);
  const [numerator, denominator] = inverted ? [r.denominator, r.numerator] : [r.numerator, r.denominator];
  const shift = targetDigits - sourceDigits;
  return shift >= 0
    ? { numerator: numerator * 10n ** BigInt(shift), denominator }
    : { numerator, denominator: denominator * 10n ** BigInt(-shift) };
}

/** `amount` minor units converted with a factor from `minorFactor`, rounded half to even. */
export function convertMinor(amount: bigint, factor: Fraction): bigint {
  return divideHalfEven(amount * factor.numerator, factor.denominator);
}
