/**
 * One small database interface over two engines: a PostgreSQL server (through `pg`) and the
 * embedded PGlite. Both run the same SQL. Integers of type int8 come back as `bigint`, so money
 * never passes through a float.
 */
export interface QueryResult<Row> {
  rows: Row[];
  rowCount: number;
}

export interface Queryable {
  query<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<Row>>;
}

export type DbKind = "postgres" | "embedded";

export interface Db extends Queryable {
  readonly kind: DbKind;
  /** How many write transactions may run at once; the embedded engine has one connection. */
  readonly writeConcurrencyMax: number;
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Idempotent: a second call waits for the first. */
  close(): Promise<void>;
}

/** PostgreSQL's codes for errors that a retry of the whole transaction can cure. */
export function isRetryableTransactionError(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code;
  return code === "40001" || code === "40P01";
}

export function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: string } | null)?.code === "23505";
}
