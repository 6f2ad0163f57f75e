import { randomBytes } from "node:crypto";
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

/**
 * Statements the platform runs again and again (group commit's batch, the key look-up, the feed
 * read) are prepared once per connection: PostgreSQL then skips parsing, analysing and, once it
 * has settled on a generic plan, planning them; about a fifth of its CPU per payment went there
 * (perf, docs/scaling.md). A text gets a name on its second run, so one-off SQL (migrations,
 * tests' ad hoc queries) is never kept, and only up to `max` texts are named: SQL built with a
 * varying number of placeholders could otherwise fill each connection's memory.
 *
 * Names carry a prefix drawn per pool: behind a pooler that hands one server connection to several
 * processes, a name can then never stand for another process's text (a Bind would run the wrong
 * statement); the worst is an error, after which naming stops (`stop`).
 */
export class StatementNames {
  private readonly seen = new Map<string, string | null>();
  private named = 0;
  private renewed = 0;
  private stopped = false;
  private readonly prefix = `centime_${randomBytes(4).toString("hex")}`;

  constructor(private readonly max = 400) {}

  nameFor(sql: string): string | undefined {
    if (this.stopped) return undefined;
    const known = this.seen.get(sql);
    if (known) return known;
    if (known === null && this.named < this.max) {
      const name = `${this.prefix}_${++this.named}`;
      this.seen.set(sql, name);
      return name;
    }
    if (known === undefined) {
      // Texts seen once are forgotten in bulk when there are too many of them.
      if (this.seen.size >= this.max * 4)
        for (const [text, n] of this.seen) if (n === null) this.seen.delete(text);
      this.seen.set(sql, null);
    }
    return undefined;
  }

  /**
   * A prepared statement whose result columns changed under it (a migration run by a newer
   * instance added one to a `select *`) fails with 0A000 on every connection that prepared it:
   * the text gets a new name, so each connection prepares it afresh.
   */
  renew(sql: string): void {
    if (this.seen.get(sql)) this.seen.set(sql, `${this.prefix}_${++this.renewed}r`);
  }

  /** No more names: every statement is sent unnamed from now on (see isPoolerRefusal). */
  stop(): void {
    this.stopped = true;
    this.seen.clear();
  }

  get naming(): boolean {
    return !this.stopped;
  }

  /** How many texts are remembered, named or not (bounded: see nameFor). */
  trackedCount(): number {
    return this.seen.size;
  }
}

/**
 * A named statement that the server connection does not have (26000), or already has (42P05):
 * the client's connection is not one server connection, as behind PgBouncer in transaction mode
 * before 1.21 (or with `max_prepared_statements = 0`).
 */
function isPoolerRefusal(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code;
  return code === "26000" || code === "42P05";
}

/** PostgreSQL's refusal to run a prepared statement whose result columns have changed. */
function isStalePlan(error: unknown): boolean {
  const e = error as { code?: string; message?: string } | null;
  return e?.code === "0A000" && /cached plan must not change result type/.test(e.message ?? "");
}

export interface PostgresOptions {
  url: string;
  poolSizeMax?: number;
  /** Group-commit transactions in flight at once. */
  writeConcurrencyMax?: number;
  /**
   * Named prepared statements (default true). False sends every statement unnamed: for a pooler in
   * transaction mode that cannot carry a statement prepared on one server connection to another.
   */
  preparedStatements?: boolean;
  /** Told once when a pooler refuses named statements and they are turned off (logged). */
  onPreparedStatementsOff?: (error: Error) => void;
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
  pool.on("connect", (client) => {
    client.on("error", lost);
    // No JIT compilation: this is a database of short statements, where compiling costs more than
    // it saves, and a row estimate far off (the analytics feed's read, 3,306 rows estimated at 2
    // million) made PostgreSQL spend 900 ms compiling a 50 ms query. A SET, not a startup option,
    // so that a pooler in transaction mode accepts the connection (it may drop the SET: then only
    // the old plans' speed is lost). Queued before any query of this connection.
    client.query("set jit = off").catch(lost);
  });
  await pool.query("select 1");

  const names = options.preparedStatements === false ? null : new StatementNames();
  let closing: Promise<void> | undefined;
  const queryOn = async <Row>(
    client: pg.Pool | pg.PoolClient,
    sql: string,
    params: readonly unknown[] | undefined,
    inTransaction: boolean,
  ) => {
    // Only statements with parameters: they go through the extended protocol anyway, and one text
    // can then hold a single statement (text without parameters may be a script of several).
    const name = names && params && params.length > 0 ? names.nameFor(sql) : undefined;
    let result: pg.QueryResult;
    try {
      result = await (name
        ? client.query({ name, text: sql, values: prepare(params) })
        : client.query(sql, prepare(params)));
    } catch (error) {
      if (!name || !names) throw error;
      if (isPoolerRefusal(error)) {
        if (names.naming) options.onPreparedStatementsOff?.(error as Error);
        names.stop();
      } else if (isStalePlan(error)) names.renew(sql);
      else throw error;
      // Refused before it ran; outside a transaction it can run again at once, unprepared.
      if (inTransaction) throw error;
      result = await client.query(sql, prepare(params));
    }
    return { rows: result.rows as Row[], rowCount: result.rowCount ?? 0 } satisfies QueryResult<Row>;
  };

  return {
    kind: "postgres",
    writeConcurrencyMax: options.writeConcurrencyMax ?? 4,
    query: (sql, params) => queryOn(pool, sql, params, false),
    async transaction(work) {
      const client = await pool.connect();
      let broken = false;
      try {
        await client.query("begin");
        const tx: Queryable = { query: (sql, params) => queryOn(client, sql, params, true) };
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
    // Idempotent: whoever was handed the database (a server's stop) and whoever opened it may both close it.
    close: () => (closing ??= pool.end()),
  };
}
