/**
 * Velocity counters in memory (src/risk/counters.ts): they answer like the count over the
 * observations table would (window, saturation, distinct values leaving the current one out) and
 * forget what left the longest window without anyone asking.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { COUNTER_SATURATION } from "../../src/risk/attributes.ts";
import { MemoryCounters } from "../../src/risk/counters.ts";
import type { CounterQuery } from "../../src/risk/velocity.ts";

const HOUR = 3_600_000;
const T0 = Date.parse("2026-03-02T10:00:00Z");

function query(over: Partial<CounterQuery>): CounterQuery {
  return {
    name: "payments_per_ip_1h",
    kind: "payment",
    subject: "ip:192.0.2.1",
    sinceMs: T0 - HOUR,
    distinct: false,
    plus: 0,
    limit: COUNTER_SATURATION,
    ...over,
  };
}

test("a count covers its window only, per merchant, kind and subject", () => {
  const m = new MemoryCounters();
  m.add("m1", [{ kind: "payment", subject: "ip:192.0.2.1" }], T0 - HOUR - 1);
  m.add("m1", [{ kind: "payment", subject: "ip:192.0.2.1" }], T0 - HOUR);
  for (let i = 0; i < 3; i++) m.add("m1", [{ kind: "payment", subject: "ip:192.0.2.1" }], T0 - i);
  m.add("m1", [{ kind: "decline", subject: "ip:192.0.2.1" }], T0);
  m.add("m2", [{ kind: "payment", subject: "ip:192.0.2.1" }], T0);
  m.add("m1", [{ kind: "payment", subject: "ip:192.0.2.2" }], T0);
  // `created > since`, like the database's count: the observation at the window's edge is out.
  assert.equal(m.count("m1", query({})), 3);
  assert.equal(m.count("m1", query({ sinceMs: T0 - 24 * HOUR })), 5);
  assert.equal(m.count("m1", query({ kind: "decline" })), 1);
  assert.equal(m.count("m2", query({})), 1);
  assert.equal(m.count("m3", query({})), 0);
  // Out of order arrivals (a seed read back after the first payments) still count by their time.
  m.add("m1", [{ kind: "payment", subject: "ip:192.0.2.1" }], T0 - 10);
  assert.equal(m.count("m1", query({})), 4);
});

test("a count stops at the saturation, and keeps only what it can still read", () => {
  const m = new MemoryCounters();
  for (let i = 0; i < COUNTER_SATURATION + 500; i++)
    m.add("m", [{ kind: "payment", subject: "msisdn:+33612345678" }], T0 - 1000 + i);
  const q = query({ subject: "msisdn:+33612345678" });
  assert.equal(m.count("m", q), COUNTER_SATURATION);
  assert.equal(m.count("m", { ...q, limit: 10 }), 10);
  // The newest ones are kept: a short window reads exactly.
  assert.equal(m.count("m", { ...q, sinceMs: T0 + 498 }), 1);
  assert.equal(m.count("m", { ...q, sinceMs: T0 + 489 }), 10);
});

test("a distinct count counts values, leaving out the current one", () => {
  const m = new MemoryCounters();
  const ip = "ip:198.51.100.7";
  for (const [card, at] of [
    ["fp_a", T0 - 25 * HOUR],
    ["fp_b", T0 - 2 * HOUR],
    ["fp_b", T0 - 3 * HOUR],
    ["fp_c", T0 - 1],
    ["fp_c", T0],
  ] as const)
    m.add("m", [{ kind: "card_payment", subject: ip, value: card }], at);
  const q = query({ kind: "card_payment", subject: ip, distinct: true, sinceMs: T0 - 24 * HOUR });
  assert.equal(m.count("m", q), 2); // fp_b, fp_c (fp_a left the window)
  assert.equal(m.count("m", { ...q, exclude: "fp_c" }), 1);
  assert.equal(m.count("m", { ...q, sinceMs: T0 - HOUR }), 1);
});

test("counters expire by themselves, and a flood of one-off keys stays bounded", () => {
  const m = new MemoryCounters(1000);
  for (let i = 0; i < 900; i++)
    m.add("m", [{ kind: "payment", subject: `ip:10.0.${i >> 8}.${i & 255}` }], T0);
  assert.equal(m.size, 900);
  // A day and a minute on, the next observation sweeps everything older than the longest window.
  m.add("m", [{ kind: "payment", subject: "ip:203.0.113.1" }], T0 + 24 * HOUR + 60_000);
  assert.equal(m.size, 1);
  for (let i = 0; i < 5000; i++)
    m.add("m", [{ kind: "payment", subject: `ip:10.1.${i >> 8}.${i & 255}` }], T0 + 25 * HOUR);
  assert.ok(m.size <= 1000, `${m.size} keys`);
  // The most recently touched are the ones kept.
  assert.equal(m.count("m", query({ subject: "ip:10.1.19.135", sinceMs: T0 + 24 * HOUR })), 1);
});
