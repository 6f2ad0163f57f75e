/**
 * The audit chain's pure parts: canonical JSON sorts keys at every depth whatever the input (the
 * same text as a plain sorted-keys serialization), and chained rows carry hashes that `rowHash`
 * (what verification recomputes from stored rows) finds again, with the changes stored as given.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { type AuditDraft, chainDrafts, GENESIS_HASH, rowHash } from "../../src/audit/chain.ts";
import { canonicalJson } from "../../src/platform/canonical-json.ts";

/** The obvious definition, as a reference: sort entries, drop undefined members, recurse. */
function referenceCanonical(value: unknown): string {
  if (value === undefined) return "null";
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(referenceCanonical).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${referenceCanonical(v)}`).join(",")}}`;
}

const jsonish = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constant(null),
    fc.constant(undefined),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string({ unit: "grapheme" }),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(fc.string({ unit: "binary" }), tie("value"), { maxKeys: 5 }),
  ),
})).value;

test("canonical JSON equals the sorted-keys reference for any value, and parses back to it", () => {
  fc.assert(
    fc.property(jsonish, (value) => {
      const text = canonicalJson(value);
      assert.equal(text, referenceCanonical(value));
      assert.deepEqual(canonicalJson(JSON.parse(text)), text);
    }),
    { numRuns: 2000 },
  );
  assert.equal(
    canonicalJson({ b: 1, a: { d: [2, { z: 1, y: undefined }], c: null } }),
    '{"a":{"c":null,"d":[2,{"z":1}]},"b":1}',
  );
});

test("values JSON has no form for are written as they read back: Dates, bigints, functions", () => {
  const changes = {
    at: new Date("2026-12-01T10:00:00.000Z"),
    amount: 9_007_199_254_740_993n,
    nested: [1n, new Date(0), () => 1, Symbol("s")],
    callback: () => 1,
  };
  const text = canonicalJson(changes);
  assert.equal(
    text,
    '{"amount":"9007199254740993","at":"2026-12-01T10:00:00.000Z","nested":["1","1970-01-01T00:00:00.000Z",null,null]}',
  );
  // What verification recomputes from the stored jsonb is the same text, so the hash matches.
  assert.equal(canonicalJson(JSON.parse(text)), text);
});

function draft(i: number, changes: unknown): AuditDraft {
  return {
    id: `aud_${i}`,
    createdMs: 1_790_000_000_000 + i,
    actor: "key_1",
    actorKind: "api_key",
    credential: "key_1",
    merchantId: "mer_1",
    mode: "test",
    action: "payments.create",
    object: `pay_${i}`,
    ip: i % 2 ? "203.0.113.7" : null,
    userAgent: 'curl/8 "quoted"',
    requestId: `req_${i}`,
    outcome: "success",
    statusCode: 201,
    changes,
  };
}

test("chained rows: each hash is rowHash of the stored row after the previous one; changes stored as given", () => {
  fc.assert(
    fc.property(fc.array(jsonish, { minLength: 1, maxLength: 5 }), (changesList) => {
      const drafts = changesList.map((c, i) => draft(i, c));
      const { rowsJson, head } = chainDrafts(3, { seq: 41n, hash: GENESIS_HASH }, drafts);
      const rows = JSON.parse(rowsJson) as Record<string, unknown>[];
      assert.equal(rows.length, drafts.length);
      let prev = GENESIS_HASH;
      rows.forEach((row, i) => {
        assert.equal(row.prev_hash, prev);
        assert.equal(row.seq, String(42 + i));
        assert.equal(canonicalJson(row.changes), canonicalJson(changesList[i] ?? null));
        const recomputed = rowHash(prev, {
          ...(row as never as Parameters<typeof rowHash>[1]),
          created: new Date(row.created as string),
        });
        assert.equal(row.hash, recomputed);
        prev = row.hash as string;
      });
      assert.deepEqual(head, { seq: 41n + BigInt(drafts.length), hash: prev });
    }),
    { numRuns: 300 },
  );
});
