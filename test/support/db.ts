import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Db } from "../../src/db/db.ts";
import { openEmbedded } from "../../src/db/embedded.ts";
import { openPostgres } from "../../src/db/postgres.ts";
import { buildEmbeddedTemplate, buildPostgresTemplate, serverUrl } from "./templates.ts";

export interface TestDatabase {
  db: Db;
  /** The URL of the fresh database on a server, or undefined on the embedded engine. */
  url?: string;
  close(): Promise<void>;
}

/**
 * A fresh, migrated database for one test file: a copy of the template on the PostgreSQL server
 * named by DATABASE_URL, or an in-memory embedded database loaded from the template dump.
 */
export async function openTestDatabase(): Promise<TestDatabase> {
  const serverBase = process.env.DATABASE_URL;
  if (!serverBase) {
    const template = readFileSync(await buildEmbeddedTemplate());
    const db = await openEmbedded({ template: new Blob([template]) });
    return { db, close: () => db.close() };
  }
  const templateName = await buildPostgresTemplate(serverBase);
  const name = `centime_test_${randomBytes(6).toString("hex")}`;
  const admin = await openPostgres({ url: serverBase, poolSizeMax: 1 });
  await admin.query(`create database ${name} template ${templateName}`);
  const url = serverUrl(serverBase, name);
  const db = await openPostgres({ url });
  return {
    db,
    url,
    async close() {
      await db.close();
      try {
        await admin.query(`drop database if exists ${name} with (force)`);
      } finally {
        await admin.close();
      }
    },
  };
}
