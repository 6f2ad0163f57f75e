import { type Fraction, parseDecimal } from "../currencies/index.ts";

/**
 * How one payment's amount splits between affiliates, pure. Level l earns `percent_l` of the
 * amount, rounded down. The pool owed to affiliates is the exact total rounded down; what the
 * per-level rounding leaves of it (less than one minor unit per level) is the residue, booked on
 * its own account; the merchant keeps the rest. So: sum(levels) + residue + merchant = amount.
 */
export interface LevelPercent {
  level: number;
  percent: string;
}

export interface Split {
  /** Per level present in the chain, in level order. */
  levels: { level: number; amount: bigint }[];
  residue: bigint;
  merchant: bigint;
}

function share(amount: bigint, percent: Fraction): bigint {
  return (amount * percent.numerator) / (percent.denominator * 100n);
}

export function splitCommission(amount: bigint, plan: readonly LevelPercent[], depth: number): Split {
  const used = plan.filter((l) => l.level <= depth).sort((a, b) => a.level - b.level);
  const fractions = used.map((l) => parseDecimal(l.percent));
  const levels = used.map((l, i) => ({ level: l.level, amount: share(amount, fractions[i]!) }));
  // The exact total as one fraction over the common denominator 10^12 * 100 (decimals have <= 12 digits).
  const unit = 10n ** 12n;
  const totalNumerator = fractions.reduce((sum, f) => sum + (f.numerator * unit) / f.denominator, 0n);
  const pool = (amount * totalNumerator) / (unit * 100n);
  const paid = levels.reduce((sum, l) => sum + l.amount, 0n);
  const residue = pool - paid;
  return { levels, residue, merchant: amount - pool };
}

/** Percent strings of a plan must add up to at most 100. */
export function totalPercentWithin100(plan: readonly LevelPercent[]): boolean {
  const unit = 10n ** 12n;
  const total = plan.reduce((sum, l) => {
    const f = parseDecimal(l.percent);
    return sum + (f.numerator * unit) / f.denominator;
  }, 0n);
  return total <= 100n * unit;
}
