/**
 * The operators' per-second budgets under two workers at once (steps/tps.ts): each batch locks
 * only the shards its charges need, from its own offset, so a second worker charging the same
 * operators in the same second gets shards of its own instead of deferring its whole batch; and
 * the budget still holds across both.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { billingContext } from "../../src/billing/context.ts";
import type { CapUsage } from "../../src/billing/steps/caps.ts";
import { allocateOperatorSeconds } from "../../src/billing/steps/tps.ts";
import type { Planned } from "../../src/billing/steps/types.ts";
import { Ledger } from "../../src/ledger/index.ts";
import { openTestDatabase, type TestDatabase } from "../support/db.ts";

let database: TestDatabase;
before(async () => {
  database = await openTestDatabase();
});
after(() => database.close());

const reserved: bigint[] = [];
const usage = { reserve: (_item: unknown, amount: bigint) => reserved.push(amount) } as unknown as CapUsage;

/** `count` charges of 100 to each operator, which allows `tps` a second. */
function charges(operators: readonly string[], count: number, tps: number): Planned[] {
  return operators.flatMap((operator) =>
    Array.from(
      { length: count },
      () =>
        ({
          item: { sub: { operator }, rules: { tps_max: tps } },
          plan: { kind: "charge", amount: 100n },
        }) as unknown as Planned,
    ),
  );
}

function contextOf() {
  return billingContext({ db: database.db, ledger: new Ledger(database.db) } as never);
}

test("two workers in one second each get shards of the same operators; the budget holds across both", async () => {
  // The embedded engine runs one transaction at a time: only a server shows two at once.
  if (database.db.kind !== "postgres") return assertOneWorkerOnEmbedded();
  const operators = ["20801", "20810", "26201"];
  const nowMs = Date.UTC(2026, 10, 30, 12, 0, 0);
  const tps = 800; // 100 per shard
  const a = contextOf();
  const b = contextOf();
  // Both start at the same shard: the worst case for the second one.
  Object.defineProperty(b.caches, "shardOffset", { value: a.caches.shardOffset });
  // The operators' rows exist already (a worker that creates them holds them until it commits).
  await database.db.transaction((tx) =>
    allocateOperatorSeconds(a, tx, charges(operators, 1, tps), usage, nowMs - 60_000),
  );
  for (const operator of operators) b.caches.operatorRows.add(operator);
  let releaseA!: () => void;
  const aHolds = new Promise<void>((resolve) => (releaseA = resolve));
  let aLocked!: () => void;
  const aHasLocked = new Promise<void>((resolve) => (aLocked = resolve));
  const first = database.db.transaction(async (tx) => {
    const out = await allocateOperatorSeconds(a, tx, charges(operators, 150, tps), usage, nowMs);
    aLocked();
    await aHolds; // still in its transaction, its shards locked
    return out;
  });
  await aHasLocked;
  const second = await database.db.transaction((tx) =>
    allocateOperatorSeconds(b, tx, charges(operators, 150, tps), usage, nowMs),
  );
  releaseA();
  const charged = (planned: Planned[]) => planned.filter((p) => p.plan.kind === "charge").length;
  assert.equal(charged(await first), 450, "the first worker charges all it claimed (two shards each)");
  assert.equal(charged(second), 450, "the second one too, on other shards, in the same second");

  // A third batch the same second: 800 a second, 300 of each used, so 500 more at most.
  const third = await database.db.transaction((tx) =>
    allocateOperatorSeconds(b, tx, charges(operators, 600, tps), usage, nowMs),
  );
  assert.equal(charged(third), 1500, "the rest of each operator's budget, and no more");
  const deferred = third.filter((p) => p.plan.kind === "defer");
  assert.equal(deferred.length, 300);
  assert.ok(deferred.every((p) => p.plan.kind === "defer" && p.plan.reason === "operator_tps"));
});

async function assertOneWorkerOnEmbedded() {
  const out = await database.db.transaction((tx) =>
    allocateOperatorSeconds(contextOf(), tx, charges(["20801"], 900, 800), usage, Date.UTC(2026, 10, 30, 13)),
  );
  assert.equal(out.filter((p) => p.plan.kind === "charge").length, 800, "one second's budget, all shards");
}
