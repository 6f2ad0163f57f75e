/**
 * Rows go to the database as one JSON array per table (`json_populate_recordset`), so a batch of
 * any size is one statement. bigint and Date values are turned into text PostgreSQL can read.
 */
export type DbRow = Record<string, unknown>;

/**
 * Column values are converted at the top level only (a replacer function would be called for
 * every nested key, and this runs for every row the write path sends). Nested values are JSON
 * documents already; a bigint nested in one is a bug, and JSON.stringify says so.
 */
export function rowsToJson(rows: readonly object[]): string {
  const out = new Array<Record<string, unknown>>(rows.length);
  for (let i = 0; i < rows.length; i++) out[i] = columnsOf(rows[i]!);
  return JSON.stringify(out);
}

/**
 * One row as rowsToJson writes it. Buffers that hold rows for a while keep this text rather than
 * the row: one flat string per row survives the young generation instead of a tree of objects.
 */
export function rowJson(row: object): string {
  return JSON.stringify(columnsOf(row));
}

/** Any row type: only its own enumerable columns are read; bigint and Date become text. */
function columnsOf(row: object): Record<string, unknown> {
  const converted: Record<string, unknown> = {};
  for (const key in row) {
    const value = (row as DbRow)[key];
    converted[key] =
      typeof value === "bigint" ? value.toString() : value instanceof Date ? value.toISOString() : value;
  }
  return converted;
}

/** Tables the write path may append to; anything else is a bug. */
export const APPEND_TABLES = [
  "payments",
  "refunds",
  "events",
  "provider_interactions",
  "customers",
  "risk_decisions",
  "provider_interaction_bodies",
] as const;
export type AppendTable = (typeof APPEND_TABLES)[number];

/**
 * A provider interaction's request and response are kept apart from it, in
 * provider_interaction_bodies (migration 0160), until the archive moves them to files. A row
 * trigger does that for any writer; the write paths (group commit, insertRows, a payment's
 * transition) split them here and insert both tables in one statement, so the trigger (a PL/pgSQL
 * call and an insert per row) is skipped (migration 0352).
 */
export function stageInteractionBodies(rows: readonly DbRow[]): { interactions: DbRow[]; bodies: DbRow[] } {
  const interactions: DbRow[] = [];
  const bodies: DbRow[] = [];
  for (const row of rows) {
    const request = row.request ?? null;
    const response = row.response ?? null;
    if (request === null && response === null) {
      interactions.push(row);
      continue;
    }
    interactions.push({ ...row, request: null, response: null, has_body: true });
    bodies.push({ id: row.id, created: row.created, request, response });
  }
  return { interactions, bodies };
}

/** `param` is the number of the statement parameter that carries the rows as JSON. */
export function insertRowsSql(table: AppendTable, param = 1): string {
  return `insert into ${table} select * from json_populate_recordset(null::${table}, $${param}::json)`;
}
