import type { Db } from "./db.ts";
import { openEmbedded } from "./embedded.ts";
import { openPostgres } from "./postgres.ts";

export interface DatabaseConfig {
  databaseUrl?: string;
  dataDir: string;
  poolSizeMax?: number;
  writeConcurrencyMax?: number;
}

/** PostgreSQL when DATABASE_URL is set, the embedded database in the data directory otherwise. */
export async function openDatabase(config: DatabaseConfig): Promise<Db> {
  if (config.databaseUrl) {
    return openPostgres({
      url: config.databaseUrl,
      poolSizeMax: config.poolSizeMax,
      writeConcurrencyMax: config.writeConcurrencyMax,
    });
  }
  return openEmbedded({ dataDir: config.dataDir });
}
