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
}

export async function openPostgres(options: PostgresOptions): Promise<Db> {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSizeMax ?? 12,
    types: { getTypeParser: typeParser as never },
    application_name: "centime",
  });
  pool.on("error", () => {
    // An idle client lost its connection; the pool replaces it on the next checkout.
  });
  await pool.query("select 1");

  const queryOn = async <Row>(client: pg.Pool | pg.PoolClient, sql: string, params?: readonly unknown[]) => {
    const result = await client.query(sql, prepare(params));
    return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 } satisfies QueryResult<Row>;
  };

  return {
    kind: "postgres",
    writeConcurrencyMax: Math.max(2, Math.min(6, (options.poolSizeMax ?? 12) >> 1)),
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
