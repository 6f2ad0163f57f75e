import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { openEmbedded } from "../../src/db/embedded.ts";
import { migrate, migrationsFingerprint } from "../../src/db/migrate.ts";
import { openPostgres } from "../../src/db/postgres.ts";

/**
 * Tests start from a migrated template instead of running initdb and every migration per file:
 * a PGlite data-directory dump for the embedded engine, a template database on a server.
 */
export const CACHE_DIR = join(process.cwd(), ".cache");

/** Kept as a plain tar: every test file loads it, and gunzipping 40 MB each time cost more than reading it. */
export function embeddedTemplatePath(): string {
  return join(CACHE_DIR, `pglite-template-${migrationsFingerprint()}.tar`);
}

export function postgresTemplateName(): string {
  return `centime_template_${migrationsFingerprint()}`;
}

export async function buildEmbeddedTemplate(): Promise<string> {
  const path = embeddedTemplatePath();
  if (existsSync(path)) return path;
  mkdirSync(CACHE_DIR, { recursive: true });
  const db = await openEmbedded({});
  await migrate(db);
  const dump = await db.dump();
  await db.close();
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, gunzipSync(Buffer.from(await dump.arrayBuffer())));
  const { renameSync } = await import("node:fs");
  renameSync(tmp, path);
  return path;
}

export function serverUrl(databaseUrl: string, database: string): string {
  const url = new URL(databaseUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

export async function buildPostgresTemplate(databaseUrl: string): Promise<string> {
  const name = postgresTemplateName();
  const admin = await openPostgres({ url: databaseUrl, poolSizeMax: 1 });
  try {
    const { rowCount } = await admin.query("select 1 from pg_database where datname = $1", [name]);
    if (rowCount === 0) {
      await admin.query(`create database ${name}`);
      const template = await openPostgres({ url: serverUrl(databaseUrl, name), poolSizeMax: 1 });
      await migrate(template);
      await template.close();
    }
  } finally {
    await admin.close();
  }
  return name;
}
