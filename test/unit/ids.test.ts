/** Ids sort in the order they were made: on the system clock, and on a test clock in the past. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { idFloor, idTimeMs, isWellFormedId, newId } from "../../src/platform/ids.ts";

test("ids minted in one millisecond of the system clock sort in the order made", () => {
  const now = Date.now();
  const ids = Array.from({ length: 500 }, () => newId("pay", now));
  assert.deepEqual([...ids].sort(), ids);
  assert.ok(ids.every((id) => isWellFormedId(id, "pay") && id >= idFloor("pay", now)));
});

test("ids minted in one millisecond of a test clock far in the past sort in the order made", () => {
  newId("evt"); // the system clock has been seen: the past clock is far behind it
  const past = Date.parse("2020-03-01T02:00:00Z");
  const ids: string[] = [];
  for (let i = 0; i < 200; i++) {
    ids.push(newId("evt", past));
    if (i % 10 === 0) newId("evt"); // system-clock ids interleaved do not break the sequence
  }
  assert.deepEqual([...ids].sort(), ids);
  assert.ok(ids.every((id) => id >= idFloor("evt", past) && id < idFloor("evt", past + 1)));
  // The next millisecond of the past clock sorts after all of them.
  assert.ok(newId("evt", past + 1) > ids.at(-1)!);
});

test("an id tells the millisecond it was minted at", () => {
  for (const timeMs of [0, 1, Date.parse("2020-03-01T02:00:00Z"), Date.now(), 2 ** 48 - 1]) {
    assert.equal(idTimeMs(idFloor("ix", timeMs)), timeMs);
  }
  const past = Date.parse("2021-06-01T00:00:00.123Z");
  assert.equal(idTimeMs(newId("pay", past)), past);
  const id = newId("re", past + 1);
  assert.equal(idTimeMs(`${id.slice(0, -1)}!`), past + 1, "only the time part is read");
  assert.equal(idTimeMs(`re_U${id.slice(4)}`), null, "not our alphabet");
  assert.equal(idTimeMs("pay_01"), null, "too short");
  assert.equal(idTimeMs("payment"), null);
});
