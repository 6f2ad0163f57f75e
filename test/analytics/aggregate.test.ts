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
const instant = fc.integer({ min: Date.UTC(2026, 0, 1), max: Date.UTC(2026, 0, 1) + 3 * DAY });
const word = fc.constantFrom("", "a", "b", "mer_1", "mer_2", "208-01");

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
  valueMs: fc.integer({ min: 0, max: 200_000 }),
  error: fc.boolean(),
});

test("aggregate: one row per grain, bucket and key, with every fact's count and amount in it once", () => {
  fc.assert(
    fc.property(fc.array(fact, { maxLength: 200 }), (facts) => {
      const expected = new Map<string, { count: bigint; amount: bigint }>();
      for (const f of facts) {
        for (const grain of GRAINS) {
          const key = JSON.stringify([
            grain,
            bucketStart(f.createdMs, grain),
            f.merchant_id,
            f.mode,
            f.metric,
            ...DIMENSIONS.map((d) => f[d]),
          ]);
          const seen = expected.get(key) ?? { count: 0n, amount: 0n };
          expected.set(key, { count: seen.count + 1n, amount: seen.amount + f.amount });
        }
      }
      const rows = aggregate(facts);
      const actual = new Map(
        rows.map((r) => [
          JSON.stringify([
            r.grain,
            r.bucketMs,
            r.merchant_id,
            r.mode,
            r.metric,
            ...DIMENSIONS.map((d) => r[d]),
          ]),
          { count: r.count, amount: r.amount },
        ]),
      );
      assert.equal(actual.size, rows.length, "no key twice");
      assert.deepEqual(actual, expected);
    }),
    { numRuns: 300 },
  );
});

test("aggregateSamples: one row per grain, bucket, key and bound, with every sample counted once", () => {
  fc.assert(
    fc.property(fc.array(sample, { maxLength: 200 }), (samples) => {
      const expected = new Map<string, { count: bigint; errors: bigint }>();
      for (const s of samples) {
        for (const grain of GRAINS) {
          const key = JSON.stringify([
            grain,
            bucketStart(s.createdMs, grain),
            s.merchant_id,
            s.mode,
            s.metric,
            s.provider,
            s.operator,
            bound(s.valueMs),
          ]);
          const seen = expected.get(key) ?? { count: 0n, errors: 0n };
          expected.set(key, { count: seen.count + 1n, errors: seen.errors + (s.error ? 1n : 0n) });
        }
      }
      const rows = aggregateSamples(samples);
      const actual = new Map(
        rows.map((r) => [
          JSON.stringify([
            r.grain,
            r.bucketMs,
            r.merchant_id,
            r.mode,
            r.metric,
            r.provider,
            r.operator,
            r.le_ms,
          ]),
          { count: r.count, errors: r.errors },
        ]),
      );
      assert.equal(actual.size, rows.length, "no key twice");
      assert.deepEqual(actual, expected);
    }),
    { numRuns: 300 },
  );
});
