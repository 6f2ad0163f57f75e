/** Properties (fast-check, 10,000+ cases each): conversions and commission splits add up to the whole. */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { splitCommission } from "../../src/commissions/split.ts";
import { convert, minorRate } from "../../src/currencies/convert.ts";
import { parseDecimal } from "../../src/currencies/decimal.ts";
import { drawDown } from "../../src/wallets/drawdown.ts";

const decimal = fc
  .tuple(
    fc.integer({ min: 0, max: 99_999 }),
    fc.integer({ min: 0, max: 999_999 }),
    fc.integer({ min: 0, max: 6 }),
  )
  .map(([whole, fraction, digits]) =>
    digits === 0 ? `${whole}` : `${whole}.${String(fraction).padStart(6, "0").slice(0, digits)}`,
  )
  .filter((text) => parseDecimal(text).numerator > 0n);

test("a conversion rounds down by less than one target unit, and converted + residue = the source amount", () => {
  fc.assert(
    fc.property(
      fc.bigInt({ min: 0n, max: 999_999_999_999n }),
      decimal,
      fc.integer({ min: 0, max: 4 }),
      fc.integer({ min: 0, max: 6 }),
      (amount, rate, sourceDigits, targetDigits) => {
        const c = convert(amount, rate, sourceDigits, targetDigits);
        const r = minorRate(parseDecimal(rate), sourceDigits, targetDigits);
        // exact target = amount * r; credited <= exact < credited + 1
        assert.ok(c.targetAmount * r.denominator <= amount * r.numerator);
        assert.ok(amount * r.numerator < (c.targetAmount + 1n) * r.denominator);
        // the two source parts add up to the whole
        assert.equal(c.sourceConverted + c.sourceResidue, amount);
        assert.ok(c.sourceResidue >= 0n);
        // the converted part is worth at least the credit, and the residue less than one target unit
        assert.ok(c.sourceConverted * r.numerator >= c.targetAmount * r.denominator);
        assert.ok(c.sourceResidue * r.numerator < r.denominator);
      },
    ),
    { numRuns: 10_000 },
  );
});

test("a commission split: levels + residue + merchant = amount, each level within one unit of its exact share", () => {
  const plan = fc
    .uniqueArray(fc.integer({ min: 1, max: 10 }), { minLength: 1, maxLength: 10 })
    .chain((levels) =>
      fc.tuple(
        fc.constant(levels),
        fc.array(fc.integer({ min: 0, max: 10_000 }), { minLength: levels.length, maxLength: levels.length }),
        fc.integer({ min: 0, max: 3 }),
      ),
    )
    .map(([levels, hundredths, digits]) =>
      levels.map((level, i) => ({
        level,
        percent: (hundredths[i]! / levels.length / 100).toFixed(digits).replace(/^(\d+)\.?$/, "$1"),
      })),
    );
  fc.assert(
    fc.property(
      fc.bigInt({ min: 1n, max: 999_999_999_999n }),
      plan,
      fc.integer({ min: 1, max: 10 }),
      (amount, levels, depth) => {
        const split = splitCommission(amount, levels, depth);
        const paid = split.levels.reduce((sum, l) => sum + l.amount, 0n);
        assert.equal(paid + split.residue + split.merchant, amount);
        assert.ok(split.residue >= 0n && split.residue < BigInt(Math.max(1, split.levels.length)));
        assert.ok(split.merchant >= 0n);
        for (const l of split.levels) {
          const p = parseDecimal(levels.find((x) => x.level === l.level)!.percent);
          assert.ok(l.amount * p.denominator * 100n <= amount * p.numerator);
          assert.ok(amount * p.numerator < (l.amount + 1n) * p.denominator * 100n);
          assert.ok(l.level <= depth);
        }
      },
    ),
    { numRuns: 10_000 },
  );
});

test("a draw-down takes exactly the amount, never more than a grant holds, never from an expired grant", () => {
  const grant = fc.record({
    id: fc.string({ minLength: 1, maxLength: 4 }),
    category: fc.constantFrom("paid" as const, "promotional" as const),
    remaining: fc.bigInt({ min: 0n, max: 1000n }),
    priority: fc.integer({ min: -2, max: 2 }),
    expiresAtMs: fc.option(fc.integer({ min: 0, max: 100 }), { nil: null }),
  });
  fc.assert(
    fc.property(
      fc.uniqueArray(grant, { selector: (g) => g.id, maxLength: 8 }),
      fc.bigInt({ min: 1n, max: 5000n }),
      (grants, amount) => {
        const now = 50;
        const usable = grants.filter((g) => g.expiresAtMs === null || g.expiresAtMs > now);
        const available = usable.reduce((sum, g) => sum + g.remaining, 0n);
        const draws = drawDown(grants, amount, now);
        if (available < amount) {
          assert.equal(draws, null);
          return;
        }
        assert.ok(draws);
        assert.equal(
          draws.reduce((sum, d) => sum + d.amount, 0n),
          amount,
        );
        for (const d of draws) {
          const g = grants.find((x) => x.id === d.grantId)!;
          assert.ok(d.amount > 0n && d.amount <= g.remaining);
          assert.ok(g.expiresAtMs === null || g.expiresAtMs > now);
        }
        // Only the last grant drawn on may be left with something.
        for (const d of draws.slice(0, -1))
          assert.equal(d.amount, grants.find((x) => x.id === d.grantId)!.remaining);
      },
    ),
    { numRuns: 10_000 },
  );
});
