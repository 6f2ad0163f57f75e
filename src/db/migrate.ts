import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Db } from "./db.ts";

const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), "migrations");
const MIGRATION_LOCK_KEY = 4_242_001;

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function listMigrations(): Migration[] {
  return readdirSync(MIGRATIONS_DIR)
    .filter((file) => /^\d{4}_[a-z0-9_]+\.sql$/.test(file))
    .sort()
    .map((file) => ({
      version: Number.parseInt(file.slice(0, 4), 10),
      name: file.replace(/\.sql$/, ""),
      sql: readFileSync(join(MIGRATIONS_DIR, file), "utf8"),
    }));
}

/** A fingerprint of all migrations, used to name test templates. */
export function migrationsFingerprint(): string {
  const hash = createHash("sha256");
  for (const m of listMigrations()) hash.update(m.name).update(m.sql);
  return hash.digest("hex").slice(0, 12);
}

export interface MigrationState {
  applied: number[];
  pending: number[];
}

/**
 * Under the migration lock: two instances starting at once on a fresh database would otherwise
 * both pass `if not exists` and one would fail on the catalog's unique index.
 */
async function ensureTable(db: Db): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query("select pg_advisory_xact_lock($1)", [MIGRATION_LOCK_KEY]);
    await tx.query(
      "create table if not exists schema_migrations (version integer primary key, name text not null, applied_at timestamptz not null default now())",
    );
  });
}

export async function migrationState(db: Db): Promise<MigrationState> {
  await ensureTable(db);
  const { rows } = await db.query<{ version: number }>(
    "select version from schema_migrations order by version",
  );
  const applied = rows.map((r) => r.version);
  const pending = listMigrations()
    .map((m) => m.version)
    .filter((v) => !applied.includes(v));
  return { applied, pending };
}

/**
 * Applies pending migrations in order, each in its own transaction, under an advisory lock.
 * `upTo` stops after that version (tests and benchmarks of a migration over existing data).
 */
export async function migrate(db: Db, options: { upTo?: number } = {}): Promise<number[]> {
  await ensureTable(db);
  const appliedNow: number[] = [];
  for (const migration of listMigrations()) {
    if (options.upTo !== undefined && migration.version > options.upTo) break;
    const done = await db.transaction(async (tx) => {
      await tx.query("select pg_advisory_xact_lock($1)", [MIGRATION_LOCK_KEY]);
      const { rowCount } = await tx.query("select 1 from schema_migrations where version = $1", [
        migration.version,
      ]);
      if (rowCount > 0) return false;
      for (const statement of splitStatements(migration.sql)) await tx.query(statement);
      await tx.query("insert into schema_migrations (version, name) values ($1, $2)", [
        migration.version,
        migration.name,
      ]);
      return true;
    });
    if (done) appliedNow.push(migration.version);
  }
  return appliedNow;
}

/**
 * Extended-protocol queries take one statement each; our migrations never put ';' inside strings.
 * A ';' inside a `$$ … $$` body (a plpgsql function) does not end the statement.
 */
function splitStatements(sql: string): string[] {
  const text = sql
    .split("\n")
    .filter((line) => !line.trim().startsWith("--"))
    .join("\n");
  const statements: string[] = [];
  let current = "";
  text.split("$$").forEach((part, index) => {
    // Odd-numbered parts lie between a pair of `$$`: keep them whole.
    if (index % 2 === 1) {
      current += `$$${part}$$`;
      return;
    }
    const pieces = part.split(";");
    current += pieces[0];
    for (const piece of pieces.slice(1)) {
      statements.push(current);
      current = piece;
    }
  });
  statements.push(current);
  return statements.map((s) => s.trim()).filter((s) => s.length > 0);
}
