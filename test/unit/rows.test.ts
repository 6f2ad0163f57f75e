/**
 * Rows go to PostgreSQL as JSON (json_populate_recordset): bigint and Date columns become text
 * PostgreSQL reads back exactly; nested documents stay as they are. rowJson (one row, kept by the
 * risk engine's buffers) writes each row as rowsToJson writes it in a batch.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { rowJson, rowsToJson } from "../../src/db/rows.ts";

test("bigint and Date columns become text; nested documents and nulls are kept; one row as in a batch", () => {
  const rows = [
    {
      id: "pay_1",
      amount: 9_007_199_254_740_993n,
      created: new Date(Date.UTC(2026, 10, 30, 12, 0, 0, 5)),
      attribute_values: { amount: 199, ip: null },
      note: null,
    },
    { id: "pay_2", amount: 0n, created: new Date(0), attribute_values: {}, note: "x" },
  ];
  const batch = JSON.parse(rowsToJson(rows)) as unknown[];
  assert.deepEqual(batch[0], {
    id: "pay_1",
    amount: "9007199254740993",
    created: "2026-11-30T12:00:00.005Z",
    attribute_values: { amount: 199, ip: null },
    note: null,
  });
  assert.deepEqual(
    rows.map((row) => JSON.parse(rowJson(row))),
    batch,
  );
  assert.equal(`[${rows.map(rowJson).join(",")}]`, rowsToJson(rows));
});

test("a bigint nested in a document is refused, not silently written", () => {
  assert.throws(() => rowJson({ data: { amount: 1n } }), TypeError);
  assert.throws(() => rowsToJson([{ data: { amount: 1n } }]), TypeError);
});
