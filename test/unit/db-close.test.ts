/**
 * Goal: closing a database twice is harmless (a server's stop closes the database it was handed,
 * and whoever opened it closes it again), and a test file's PostgreSQL database is dropped even
 * when the platform it ran closed its pool first. Before, the second close threw, the drop after it
 * never ran, and every PostgreSQL test run left about nine databases on the server.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { openEmbedded } from "../../src/db/embedded.ts";
import { openPostgres } from "../../src/db/postgres.ts";
import { openTestDatabase } from "../support/db.ts";

test("the embedded database closes twice without an error", async () => {
  const db = await openEmbedded({});
  await Promise.all([db.close(), db.close()]);
  await db.close();
});

// PostgreSQL only: without DATABASE_URL no test is defined.
const databaseUrl = process.env.DATABASE_URL;
if (databaseUrl !== undefined) {
  test("a PostgreSQL pool closes twice without an error", async () => {
    const db = await openPostgres({ url: databaseUrl, poolSizeMax: 1 });
    await db.close();
    await db.close();
  });

  test("a test database is dropped even when its pool was closed first (as a live server's stop does)", async () => {
    const test = await openTestDatabase();
    const name = new URL(test.url!).pathname.slice(1);
    await test.db.close();
    await test.close();
    const admin = await openPostgres({ url: databaseUrl, poolSizeMax: 1 });
    try {
      const { rowCount } = await admin.query("select 1 from pg_database where datname = $1", [name]);
      assert.equal(rowCount, 0, `${name} is still on the server`);
    } finally {
      await admin.close();
    }
  });
}
