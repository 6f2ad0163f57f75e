import type { Queryable } from "../db/db.ts";

/** Billing's own tables the bulk writer may append to; anything else is a bug. */
export type BillingTable = "subscriptions" | "products" | "prices" | "test_clocks" | "billing_jobs";

/** Rows as one JSON array: bigint and Date values become text PostgreSQL reads back exactly. */
export function jsonRows(rows: readonly object[]): string {
  return JSON.stringify(rows, (_key, value) =>
    typeof value === "bigint" ? value.toString() : value instanceof Date ? value.toISOString() : value,
  );
}

/** One statement for any number of rows. */
export async function insertInto(tx: Queryable, table: BillingTable, rows: readonly object[]): Promise<void> {
  if (rows.length === 0) return;
  await tx.query(`insert into ${table} select * from json_populate_recordset(null::${table}, $1::json)`, [
    jsonRows(rows),
  ]);
}
