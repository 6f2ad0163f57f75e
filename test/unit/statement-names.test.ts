/**
 * Goal: statements the platform runs again and again are prepared once per connection, and no
 * stream of one-off SQL can make the client or the server keep an unbounded number of them.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { StatementNames } from "../../src/db/postgres.ts";

test("a text is named on its second run and keeps its name", () => {
  const names = new StatementNames();
  assert.equal(names.nameFor("select $1"), undefined);
  const name = names.nameFor("select $1");
  assert.ok(name);
  assert.equal(names.nameFor("select $1"), name);
  assert.notEqual(names.nameFor("select $2") ?? names.nameFor("select $2"), name);
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
