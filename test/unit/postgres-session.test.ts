/**
 * Goal: every connection of the PostgreSQL pool runs without JIT compilation. With it on, the
 * analytics feed's read (3,306 rows estimated at two million) spent 900 ms compiling a query that
 * runs in 50 ms, on every batch, and doubled PostgreSQL's CPU a payment under load (session 16,
 * auto_explain on the payments benchmark).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { openPostgres } from "../../src/db/postgres.ts";

// PostgreSQL only: without DATABASE_URL no test is defined.
const databaseUrl = process.env.DATABASE_URL;
if (databaseUrl !== undefined) {
  test("every pooled connection has JIT off, from its first statement", async () => {
    const db = await openPostgres({ url: databaseUrl, poolSizeMax: 3 });
    try {
      // Three transactions at once hold three connections: each answers for itself.
      let entered = 0;
      let release!: () => void;
      const allIn = new Promise<void>((resolve) => {
        release = resolve;
      });
      const settings = await Promise.all(
        [0, 1, 2].map(() =>
          db.transaction(async (tx) => {
            const { rows } = await tx.query<{ jit: string; pid: number }>(
              "select current_setting('jit') as jit, pg_backend_pid() as pid",
            );
            if (++entered === 3) release();
            await allIn;
            return rows[0]!;
          }),
        ),
      );
      assert.equal(new Set(settings.map((s) => s.pid)).size, 3, "three connections");
      assert.deepEqual(
        settings.map((s) => s.jit),
        ["off", "off", "off"],
      );
    } finally {
      await db.close();
    }
  });
}
