/**
 * Instances starting at once on a fresh PostgreSQL database all migrate it: exactly one applies
 * each migration and none fails (CI once saw `pg_type_typname_nsp_index` when two created the
 * bookkeeping table together). PostgreSQL only: the embedded engine has one opener per directory,
 * so without DATABASE_URL this file defines no test.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { listMigrations, migrate } from "../../src/db/migrate.ts";
import { openPostgres } from "../../src/db/postgres.ts";
import { serverUrl } from "../support/templates.ts";

const databaseUrl = process.env.DATABASE_URL;

if (databaseUrl !== undefined) {
  test("four instances migrating one fresh database at once: each migration applied once, none fails", async () => {
    const url = databaseUrl;
    const name = `centime_migrate_race_${randomBytes(4).toString("hex")}`;
    const admin = await openPostgres({ url, poolSizeMax: 1 });
    await admin.query(`create database ${name}`);
    try {
      const instances = await Promise.all(
        [0, 1, 2, 3].map(() => openPostgres({ url: serverUrl(url, name), poolSizeMax: 2 })),
      );
      try {
        const applied = await Promise.all(instances.map((db) => migrate(db)));
        const all = applied.flat().sort((a, b) => a - b);
        assert.deepEqual(
          all,
          listMigrations().map((m) => m.version),
          "every migration applied exactly once",
        );
      } finally {
        for (const db of instances) await db.close();
      }
    } finally {
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.close();
    }
  });
}
