/**
 * Goal: statements the platform runs again and again are prepared once per connection, and no
 * stream of one-off SQL can make the client or the server keep an unbounded number of them.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { openPostgres, StatementNames } from "../../src/db/postgres.ts";
import { serverUrl } from "../support/templates.ts";

test("a text is named on its second run and keeps its name", () => {
  const names = new StatementNames();
  assert.equal(names.nameFor("select $1"), undefined);
  const name = names.nameFor("select $1");
  assert.ok(name);
  assert.equal(names.nameFor("select $1"), name);
  assert.notEqual(names.nameFor("select $2") ?? names.nameFor("select $2"), name);
});

test("names differ between pools: behind a shared pooler a name never stands for another process's text", () => {
  const a = new StatementNames();
  const b = new StatementNames();
  a.nameFor("select $1");
  b.nameFor("select $1");
  assert.notEqual(
    a.nameFor("select $2") ?? a.nameFor("select $2"),
    b.nameFor("select $2") ?? b.nameFor("select $2"),
  );
  assert.notEqual(a.nameFor("select $1"), b.nameFor("select $1"));
});

test("once stopped, nothing is named again", () => {
  const names = new StatementNames();
  names.nameFor("select $1");
  assert.ok(names.nameFor("select $1"));
  names.stop();
  assert.equal(names.nameFor("select $1"), undefined);
  assert.equal(names.nameFor("select $1"), undefined);
  assert.equal(names.naming, false);
});

test("at most `max` texts are named; one-off texts are forgotten, not hoarded", () => {
  const names = new StatementNames(3);
  const named = new Set<string>();
  for (let i = 0; i < 10; i++) {
    names.nameFor(`select ${i}`);
    const name = names.nameFor(`select ${i}`);
    if (name) named.add(name);
  }
  assert.equal(named.size, 3);
  // Thousands of texts run once each: the first named ones keep their names.
  for (let i = 0; i < 5_000; i++) assert.equal(names.nameFor(`select 'once ${i}'`), undefined);
  assert.equal(names.nameFor("select 0"), [...named][0]);
  assert.ok(names.trackedCount() <= 3 * 4 + 1, `tracked ${names.trackedCount()}`);
});

// PostgreSQL only (the embedded engine prepares nothing): without DATABASE_URL no test is defined.
const databaseUrl = process.env.DATABASE_URL;
if (databaseUrl !== undefined) {
  test("a prepared `select *` whose table gains a column (a newer instance's migration) still answers", async () => {
    const name = `centime_stale_plan_${randomBytes(4).toString("hex")}`;
    const admin = await openPostgres({ url: databaseUrl, poolSizeMax: 1 });
    await admin.query(`create database ${name}`);
    try {
      const db = await openPostgres({ url: serverUrl(databaseUrl, name), poolSizeMax: 1 });
      const other = await openPostgres({ url: serverUrl(databaseUrl, name), poolSizeMax: 1 });
      try {
        await db.query("create table things (id text primary key, n integer)");
        await db.query("insert into things values ('a', 1)");
        const read = (sql: string) => db.query<Record<string, unknown>>(sql, ["a"]);
        const sql = "select * from things where id = $1";
        for (let i = 0; i < 3; i++) assert.deepEqual((await read(sql)).rows, [{ id: "a", n: 1 }]);
        await other.query("alter table things add column note text");
        // PostgreSQL refuses the prepared statement (0A000); it runs again unprepared, then renamed.
        assert.deepEqual((await read(sql)).rows, [{ id: "a", n: 1, note: null }]);
        assert.deepEqual((await read(sql)).rows, [{ id: "a", n: 1, note: null }]);
        // In a transaction the refusal is the caller's (the transaction is aborted); the next one runs.
        await other.query("alter table things add column more text");
        await assert.rejects(
          db.transaction((tx) => tx.query(sql, ["a"])),
          /cached plan must not change result type/,
        );
        const again = await db.transaction((tx) => tx.query(sql, ["a"]));
        assert.deepEqual(again.rows, [{ id: "a", n: 1, note: null, more: null }]);
      } finally {
        await db.close();
        await other.close();
      }
    } finally {
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.close();
    }
  });

  test("CENTIME_DB_PREPARED_STATEMENTS=off (a pooler that cannot follow them): nothing is prepared by name", async () => {
    const prepared = async (preparedStatements: boolean | undefined) => {
      // One connection, so that the statements it prepared are the ones pg_prepared_statements shows.
      const db = await openPostgres({
        url: databaseUrl,
        poolSizeMax: 1,
        ...(preparedStatements === undefined ? {} : { preparedStatements }),
      });
      try {
        for (let i = 0; i < 5; i++) await db.query("select $1::int + 1 as n", [i]);
        const { rows } = await db.query<{ n: bigint }>(
          "select count(*) as n from pg_prepared_statements where statement like $1",
          ["select $1::int + 1 as n%"],
        );
        return Number(rows[0]!.n);
      } finally {
        await db.close();
      }
    };
    assert.equal(await prepared(undefined), 1, "the default names a text run again");
    assert.equal(await prepared(false), 0);
  });

  test("a connection that loses its prepared statements (a pooler in transaction mode) answers, and naming stops", async () => {
    const told: Error[] = [];
    const db = await openPostgres({
      url: databaseUrl,
      poolSizeMax: 1,
      onPreparedStatementsOff: (error) => told.push(error),
    });
    try {
      const sql = "select $1::int * 2 as n";
      for (let i = 0; i < 3; i++) assert.equal((await db.query<{ n: number }>(sql, [i])).rows[0]!.n, i * 2);
      // The server side forgets what the client believes it prepared, as when PgBouncer before
      // 1.21 gives the client another server connection.
      await db.query("deallocate all");
      assert.equal((await db.query<{ n: number }>(sql, [21])).rows[0]!.n, 42);
      assert.equal(told.length, 1);
      assert.match(String((told[0] as { code?: string }).code), /^(26000|42P05)$/);
      // From now on nothing is prepared by name, in or out of transactions.
      await db.transaction((tx) => tx.query(sql, [1]));
      assert.equal((await db.query<{ n: number }>(sql, [5])).rows[0]!.n, 10);
      const { rows } = await db.query<{ n: bigint }>("select count(*) as n from pg_prepared_statements");
      assert.equal(Number(rows[0]!.n), 0);
      assert.equal(told.length, 1, "told once");
    } finally {
      await db.close();
    }
  });
}
