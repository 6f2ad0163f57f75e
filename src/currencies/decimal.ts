/**
 * Exact decimal arithmetic for rates and percentages: a decimal string becomes a fraction of two
 * bigints, and every conversion is done on integers. No floats anywhere money is decided.
 */
export interface Fraction {
  numerator: bigint;
  denominator: bigint;
}

/** Up to 12 integer and 12 fractional digits: plenty for rates, and no exponent forms. */
const DECIMAL_PATTERN = /^(0|[1-9][0-9]{0,11})(\.[0-9]{1,12})?$/;

export function isDecimal(text: string): boolean {
  return DECIMAL_PATTERN.test(text);
}

export function parseDecimal(text: string): Fraction {
  if (!DECIMAL_PATTERN.test(text)) throw new RangeError(`not a decimal: ${text}`);
  const [whole, fraction = ""] = text.split(".");
  return { numerator: BigInt(whole! + fraction), denominator: 10n ** BigInt(fraction.length) };
}

export function isPositive(f: Fraction): boolean {
  return f.numerator > 0n;
}

/** The shortest decimal string of a fraction whose denominator is a power of ten. */
export function formatDecimal(f: Fraction): string {
  const digits = f.denominator.toString().length - 1;
  const text = f.numerator.toString().padStart(digits + 1, "0");
  if (digits === 0) return text;
  const whole = text.slice(0, -digits);
  const fraction = text.slice(-digits).replace(/0+$/, "");
  return fraction ? `${whole}.${fraction}` : whole;
}

export function floorDiv(a: bigint, b: bigint): bigint {
  return a / b; // both non-negative wherever money is converted
}

export function ceilDiv(a: bigint, b: bigint): bigint {
  return (a + b - 1n) / b;
}

export function minBigint(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}
