/**
 * Rows go to the database as one JSON array per table (`json_populate_recordset`), so a batch of
 * any size is one statement. bigint and Date values are turned into text PostgreSQL can read.
 */
export type DbRow = Record<string, unknown>;

function jsonValue(value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Date) return value.toISOString();
  return value;
}

export function rowsToJson(rows: readonly DbRow[]): string {
  return JSON.stringify(rows, (_key, value) => jsonValue(value));
}

/** Tables the write path may append to; anything else is a bug. */
export const APPEND_TABLES = ["payments", "refunds", "events", "provider_interactions", "customers"] as const;
export type AppendTable = (typeof APPEND_TABLES)[number];

export function insertRowsSql(table: AppendTable): string {
  return `insert into ${table} select * from json_populate_recordset(null::${table}, $1::json)`;
}
