import type { Db } from "./db.ts";
import { openEmbedded } from "./embedded.ts";
import { openPostgres } from "./postgres.ts";

export interface DatabaseConfig {
  databaseUrl?: string;
  dataDir: string;
  poolSizeMax?: number;
  writeConcurrencyMax?: number;
  /** PostgreSQL: name the statements run again and again (see StatementNames); default true. */
  preparedStatements?: boolean;
  connectTimeoutMs?: number;
  queryTimeoutMs?: number;
  onConnectionError?: (error: Error) => void;
  onPreparedStatementsOff?: (error: Error) => void;
}

/** PostgreSQL when DATABASE_URL is set, the embedded database in the data directory otherwise. */
export async function openDatabase(config: DatabaseConfig): Promise<Db> {
  if (config.databaseUrl) {
    return openPostgres({
      url: config.databaseUrl,
      poolSizeMax: config.poolSizeMax,
      writeConcurrencyMax: config.writeConcurrencyMax,
      ...(config.preparedStatements === undefined ? {} : { preparedStatements: config.preparedStatements }),
      ...(config.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: config.connectTimeoutMs }),
      ...(config.queryTimeoutMs === undefined ? {} : { queryTimeoutMs: config.queryTimeoutMs }),
      ...(config.onConnectionError ? { onConnectionError: config.onConnectionError } : {}),
      ...(config.onPreparedStatementsOff ? { onPreparedStatementsOff: config.onPreparedStatementsOff } : {}),
    });
  }
  return openEmbedded({ dataDir: config.dataDir });
}
