import type { Queryable } from "../db/db.ts";
import { rowsToJson } from "../db/rows.ts";

/** Billing's own tables the bulk writer may append to; anything else is a bug. */
export type BillingTable = "subscriptions" | "products" | "prices" | "test_clocks" | "billing_jobs";

/** One statement for any number of rows (encoded as the payments' rows are, `rowsToJson`). */
export async function insertInto(tx: Queryable, table: BillingTable, rows: readonly object[]): Promise<void> {
  if (rows.length === 0) return;
  await tx.query(`insert into ${table} select * from json_populate_recordset(null::${table}, $1::json)`, [
    rowsToJson(rows),
  ]);
}
