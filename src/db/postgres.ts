import pg from "pg";
import type { Db, Queryable, QueryResult } from "./db.ts";

const INT8_OID = 20;

function typeParser(oid: number, format?: string): (value: string) => unknown {
  if (oid === INT8_OID) return (value: string) => BigInt(value);
  return pg.types.getTypeParser(oid, format as "text");
}

/** Parameters of type bigint are sent as text; PostgreSQL casts them to the column type. */
function prepare(params?: readonly unknown[]): unknown[] | undefined {
  return params?.map((p) => (typeof p === "bigint" ? p.toString() : p));
}

export interface PostgresOptions {
  url: string;
  poolSizeMax?: number;
  /** Group-commit transactions in flight at once. */
  writeConcurrencyMax?: number;
  /** Waiting for a connection (a free one from the pool, or a new one opened). */
  connectTimeoutMs?: number;
  /** One query, measured by the client: a frozen server cannot hold a request for ever. */
  queryTimeoutMs?: number;
  /** Told about connections lost while checked out (logged; the pool replaces them). */
  onConnectionError?: (error: Error) => void;
}

export async function openPostgres(options: PostgresOptions): Promise<Db> {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSizeMax ?? 12,
    types: { getTypeParser: typeParser as never },
    application_name: "centime",
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
    query_timeout: options.queryTimeoutMs ?? 10_000,
    // The server abandons a statement a little after the client has, so nothing runs on unseen.
    statement_timeout: (options.queryTimeoutMs ?? 10_000) + 1_000,
    idle_in_transaction_session_timeout: (options.queryTimeoutMs ?? 10_000) * 3,
    keepAlive: true,
  });
  const lost = (error: Error) => options.onConnectionError?.(error);
  // An idle client that loses its connection: the pool drops it and opens another when needed.
  pool.on("error", lost);
  // A checked-out client (in a transaction) that loses its connection emits 'error' too; without a
  // listener that is an uncaught exception. Its query rejects and the client is released broken.
  pool.on("connect", (client) => client.on("error", lost));
  await pool.query("select 1");

  const queryOn = async <Row>(client: pg.Pool | pg.PoolClient, sql: string, params?: readonly unknown[]) => {
    const result = await client.query(sql, prepare(params));
    return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 } satisfies QueryResult<Row>;
  };

  return {
    kind: "postgres",
    writeConcurrencyMax: options.writeConcurrencyMax ?? 4,
    query: (sql, params) => queryOn(pool, sql, params),
    async transaction(work) {
      const client = await pool.connect();
      let broken = false;
      try {
        await client.query("begin");
        const tx: Queryable = { query: (sql, params) => queryOn(client, sql, params) };
        const result = await work(tx);
        await client.query("commit");
        return result;
      } catch (error) {
        try {
          await client.query("rollback");
        } catch {
          broken = true;
        }
        throw error;
      } finally {
        client.release(broken);
      }
    },
    close: () => pool.end(),
  };
}
