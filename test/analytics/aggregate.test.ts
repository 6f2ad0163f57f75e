/**
 * The ingest's sums, against a plain count: every fact (or sample) adds one to exactly one row per
 * grain, the row of its bucket and key, and nothing else.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { aggregateSamples, bound, type Sample } from "../../src/analytics/distributions.ts";
import { aggregate, bucketStart, DIMENSIONS, type Fact, GRAINS } from "../../src/analytics/facts.ts";

const DAY = 86_400_000;
// Narrow ranges, so that many items share a row (the adding path) and some days and hours differ.
const instant = fc.integer({ min: Date.UTC(2026, 0, 1) - DAY / 24, max: Date.UTC(2026, 0, 1) + DAY / 24 });
const word = fc.constantFrom("", "208-01");

const fact: fc.Arbitrary<Fact> = fc.record({
  merchant_id: fc.constantFrom("mer_1", "mer_2", "mer_3"),
  mode: fc.constantFrom("test", "live"),
  metric: fc.constantFrom("attempted", "succeeded", "failed"),
  app: word,
  method: word,
  operator: word,
  country: word,
  currency: fc.constantFrom("EUR", "XOF"),
  product: word,
  reason: word,
  createdMs: instant,
  amount: fc.bigInt({ min: 0n, max: 10n ** 12n }),
});

const sample: fc.Arbitrary<Sample> = fc.record({
  merchant_id: fc.constantFrom("mer_1", "mer_2"),
  mode: fc.constantFrom("test", "live"),
  metric: fc.constantFrom("provider_latency", "webhook_lag"),
  provider: fc.constantFrom("sandbox", "camara"),
  operator: word,
  createdMs: instant,
  valueMs: fc.constantFrom(3, 120, 124, 90_000),
  error: fc.boolean(),
});

/**
 * The plain count: for every item and grain, its key (with the grain and bucket) adds the item's
 * values. Rows are compared by the same key, so order does not matter and a key twice shows.
 */
function checkSums<T, Row extends { grain: string; bucketMs: number }>(
  items: readonly T[],
  rows: readonly Row[],
  keyOf: (x: T | Row) => unknown[],
  timeMsOf: (item: T) => number,
  valuesOf: (item: T) => bigint[],
  totalsOf: (row: Row) => bigint[],
): void {
  const expected = new Map<string, bigint[]>();
  for (const item of items) {
    for (const grain of GRAINS) {
      const key = JSON.stringify([grain, bucketStart(timeMsOf(item), grain), ...keyOf(item)]);
      const seen = expected.get(key);
      const values = valuesOf(item);
      expected.set(key, seen ? seen.map((v, i) => v + values[i]!) : values);
    }
  }
  const actual = new Map(rows.map((r) => [JSON.stringify([r.grain, r.bucketMs, ...keyOf(r)]), totalsOf(r)]));
  assert.equal(actual.size, rows.length, "no key twice");
  assert.deepEqual(actual, expected);
}

test("aggregate: one row per grain, bucket and key, with every fact's count and amount in it once", () => {
  fc.assert(
    fc.property(fc.array(fact, { maxLength: 300 }), (facts) =>
      checkSums(
        facts,
        aggregate(facts),
        (x) => [x.merchant_id, x.mode, x.metric, ...DIMENSIONS.map((d) => x[d])],
        (f) => f.createdMs,
        (f) => [1n, f.amount],
        (r) => [r.count, r.amount],
      ),
    ),
    { numRuns: 300 },
  );
});

test("aggregateSamples: one row per grain, bucket, key and bound, with every sample counted once", () => {
  fc.assert(
    fc.property(fc.array(sample, { maxLength: 300 }), (samples) =>
      checkSums(
        samples,
        aggregateSamples(samples),
        (x) => [
          x.merchant_id,
          x.mode,
          x.metric,
          x.provider,
          x.operator,
          "le_ms" in x ? x.le_ms : bound(x.valueMs),
        ],
        (s) => s.createdMs,
        (s) => [1n, s.error ? 1n : 0n],
        (r) => [r.count, r.errors],
      ),
    ),
    { numRuns: 300 },
  );
});
