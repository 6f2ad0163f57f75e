/**
 * Goal: the rollups equal a direct count over the payments table, however the ingest is
 * interrupted (a crash after the rollups are written but before the cursor moves) and while
 * payments keep being written; a rebuild of the day gives the same numbers.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  callsFromMs,
  DECIDED_CALLS_SQL,
  decidedCalls,
  feedLag,
  INDEX_PLAN_SQL,
  ingestRollups,
  pruneFeed,
  rebuildRollups,
} from "../../src/analytics/index.ts";
import { partitionsFrom } from "../../src/db/partitions.ts";
import { newId } from "../../src/platform/ids.ts";
import { call, createMerchant, createTestApp, type TestApp } from "../support/app.ts";

let t: TestApp;
let key: string;
let merchantId: string;

before(async () => {
  t = await createTestApp({ config: { sandboxAsyncDelayMs: 50 } });
  const m = await createMerchant(t.app);
  key = m.secretKey;
  merchantId = m.merchantId;
});
after(() => t.close());

const SCENARIOS = [
  "approve",
  "approve",
  "decline_generic",
  "decline_insufficient_funds",
  "require_pin",
  "approve",
];

/** A deterministic mix: approved, declined, waiting for a PIN, canceled, partly refunded. */
async function pay(i: number): Promise<void> {
  const scenario = SCENARIOS[i % SCENARIOS.length]!;
  const manual = i % 7 === 3;
  const reply = await call<{ id: string; status: string }>(t.app, "POST", "/v1/payments", {
    key,
    body: {
      amount: 100 + ((i * 37) % 900),
      currency: i % 5 === 0 ? "GBP" : "EUR",
      payment_method: { type: "sandbox", scenario },
      ...(manual ? { capture: "manual" } : {}),
    },
  });
  assert.equal(reply.status, 201, JSON.stringify(reply.body));
  const id = reply.body.id;
  if (reply.body.status === "requires_action" && i % 2 === 0) {
    await call(t.app, "POST", `/v1/payments/${id}/confirm`, { key, body: { pin: "1234" } });
  }
  if (reply.body.status === "requires_capture") {
    if (i % 2 === 0) await call(t.app, "POST", `/v1/payments/${id}/capture`, { key, body: { amount: 50 } });
    else await call(t.app, "POST", `/v1/payments/${id}/cancel`, { key });
  }
  if (reply.body.status === "succeeded" && i % 4 === 0) {
    await call(t.app, "POST", "/v1/refunds", { key, body: { payment: id, amount: 10 } });
  }
}

type Totals = Record<string, { count: bigint; amount: bigint }>;

async function fromPayments(): Promise<Totals> {
  const { rows } = await t.services.db.query<{ metric: string; count: bigint; amount: bigint }>(
    `select status as metric, count(*)::int8 as count,
            sum(case when status = 'succeeded' then amount_captured else amount end)::int8 as amount
       from payments where merchant_id = $1 and status in ('succeeded', 'failed', 'canceled') group by status
     union all
     select 'attempted', count(*)::int8, sum(amount)::int8 from payments where merchant_id = $1
     union all
     select 'refunded', count(*)::int8, coalesce(sum(amount), 0)::int8 from refunds where merchant_id = $1 and status = 'succeeded'`,
    [merchantId],
  );
  return Object.fromEntries(rows.map((r) => [r.metric, { count: r.count, amount: r.amount }]));
}

async function fromRollups(grain: string): Promise<Totals> {
  const { rows } = await t.services.db.query<{ metric: string; count: bigint; amount: bigint }>(
    `select metric, sum(count)::int8 as count, sum(amount)::int8 as amount
       from analytics_rollups where merchant_id = $1 and grain = $2 group by metric`,
    [merchantId, grain],
  );
  const out: Totals = Object.fromEntries(rows.map((r) => [r.metric, { count: r.count, amount: r.amount }]));
  out.refunded ??= { count: 0n, amount: 0n };
  return out;
}

async function drain(crashEvery: number): Promise<void> {
  let round = 0;
  for (;;) {
    round++;
    const crash = crashEvery > 0 && round % crashEvery === 0;
    try {
      const consumed = await ingestRollups(t.services, {
        batchSize: 7,
        beforeCursorMoves: () => {
          if (crash) throw new Error("crash mid-batch");
        },
      });
      // Nothing readable now is not the end: on a shared server, transactions of other
      // databases hold the horizon back for a moment. Done when nothing is left behind the cursor.
      if (consumed === 0) {
        if ((await feedLag(t.services.db, "rollups")) === 0n) return;
        await new Promise((r) => setTimeout(r, 20));
      }
    } catch (error) {
      assert.equal((error as Error).message, "crash mid-batch");
    }
  }
}

test("rollups equal the payments table after crashes mid-batch, at every grain", async () => {
  // Payments are written while the ingest runs (and crashes), so batches see commits in flight.
  let written = 0;
  const writer = (async () => {
    for (; written < 60; written++) await pay(written);
  })();
  while (written < 60) {
    await drain(3);
    await new Promise((r) => setTimeout(r, 5));
  }
  await writer;
  // Settle what is still pending, then take the rest.
  await new Promise((r) => setTimeout(r, 200));
  await drain(2);

  const expected = await fromPayments();
  assert.ok(expected.succeeded && expected.failed && expected.canceled, "the mix has every outcome");
  assert.ok(expected.refunded!.count > 0n, "some refunds");
  for (const grain of ["minute", "hour", "day"]) {
    assert.deepEqual(await fromRollups(grain), expected, `${grain} rollups`);
  }
  // Every feed row is behind the cursor: nothing left over, nothing counted twice.
  const { rows } = await t.services.db.query<{ events: bigint }>(
    `select count(*)::int8 as events from events e where e.merchant_id = $1 and e.type = any($2::text[])`,
    [
      merchantId,
      ["payment.created", "payment.succeeded", "payment.failed", "payment.canceled", "refund.succeeded"],
    ],
  );
  const counted = Object.values(await fromRollups("minute")).reduce((n, v) => n + v.count, 0n);
  assert.equal(counted, rows[0]!.events);
});

test("a rebuild of the day gives the same numbers, and later ingest still counts once", async () => {
  const before = await fromRollups("minute");
  const day = Math.floor(Date.now() / 86_400_000) * 86_400_000;
  // Damage the rollups, then rebuild: what the events say comes back.
  await t.services.db.query("update analytics_rollups set count = count + 5 where merchant_id = $1", [
    merchantId,
  ]);
  const result = await rebuildRollups(t.services, day, day + 86_400_000);
  assert.ok(result.events > 0);
  for (const grain of ["minute", "hour", "day"]) assert.deepEqual(await fromRollups(grain), before, grain);
  for (let i = 60; i < 70; i++) await pay(i);
  await new Promise((r) => setTimeout(r, 200));
  await drain(0);
  for (const grain of ["minute", "hour", "day"])
    assert.deepEqual(await fromRollups(grain), await fromPayments());
});

test("a rebuild refuses periods that are not whole days, naming the field", async () => {
  await assert.rejects(rebuildRollups(t.services, 1000, 86_400_000), { param: "from" });
});

test("an event committed late by an older transaction is counted once, not skipped", async () => {
  const { insertEvents } = await import("../../src/events/index.ts");
  const db = t.services.db;
  const event = (id: string) => ({
    merchantId,
    mode: "test" as const,
    type: "payment.failed" as const,
    object: {
      id,
      object: "payment",
      amount: 7,
      currency: "EUR",
      failure_code: "late",
      payment_method: { type: "sandbox" },
    },
    createdMs: Date.now(),
  });
  const before = (await fromRollups("minute")).failed!;
  if (db.kind === "postgres") {
    // The old transaction takes its id first, the newer one commits and is ingested meanwhile.
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let started!: () => void;
    const hasId = new Promise<void>((r) => {
      started = r;
    });
    const old = db.transaction(async (tx) => {
      await tx.query("select pg_current_xact_id()");
      started();
      await held;
      await insertEvents(tx, [event("pay_late_old")]);
    });
    await hasId;
    await db.transaction((tx) => insertEvents(tx, [event("pay_late_new")]));
    // The newer event waits behind the horizon of the older transaction still running.
    await ingestRollups(t.services);
    assert.equal((await fromRollups("minute")).failed!.count, before.count);
    release();
    await old;
  } else {
    // One connection: transactions cannot interleave; both commit, in turn.
    await db.transaction((tx) => insertEvents(tx, [event("pay_late_old")]));
    await db.transaction((tx) => insertEvents(tx, [event("pay_late_new")]));
  }
  await drain(0);
  const now = (await fromRollups("minute")).failed!;
  assert.equal(now.count, before.count + 2n);
  assert.equal(now.amount, before.amount + 14n);
});

test("feed rows past the events' retention are pruned once counted, and the rollups stay", async () => {
  const { insertEvents } = await import("../../src/events/index.ts");
  const old = Date.now() - 31 * 86_400_000;
  await t.services.db.transaction((tx) =>
    insertEvents(tx, [
      {
        merchantId,
        mode: "test",
        type: "payment.failed",
        object: {
          id: "pay_old",
          object: "payment",
          amount: 3,
          currency: "EUR",
          payment_method: { type: "sandbox" },
        },
        createdMs: old,
      },
    ]),
  );
  const oldFeed = async () =>
    (
      await t.services.db.query<{ n: bigint }>(
        "select count(*)::int8 as n from analytics_feed where created < $1",
        [new Date(Date.now() - 30 * 86_400_000)],
      )
    ).rows[0]!.n;
  assert.equal(await pruneFeed(t.services), 0, "not counted yet: kept");
  await drain(0);
  const before = await fromRollups("day");
  assert.equal(await oldFeed(), 1n);
  assert.equal(await pruneFeed(t.services), 1);
  assert.equal(await oldFeed(), 0n);
  assert.deepEqual(await fromRollups("day"), before);
});

test("the ingest reads decided payments' and refunds' calls through indexes on the plan it sets, whatever the tables' sizes", async () => {
  // Before migration 0354 refund_id had no index: a batch with a refund in it, or any batch once
  // PostgreSQL chose the prepared statement's generic plan, scanned every partition of the table.
  // Then the generic plan, made while a day's partition was nearly empty, scanned that partition
  // once per id all day: the plan the ingest sets up must not depend on the tables' sizes.
  const plan = await t.services.db.transaction(async (tx) => {
    await tx.query(INDEX_PLAN_SQL);
    await tx.query(`prepare decided_calls_plan (text[], text[]) as ${DECIDED_CALLS_SQL}`);
    const { rows } = await tx.query<{ "QUERY PLAN": string }>(
      "explain execute decided_calls_plan ('{pay_x}', '{re_x}')",
    );
    await tx.query("deallocate decided_calls_plan");
    return rows.map((r) => r["QUERY PLAN"]).join("\n");
  });
  assert.doesNotMatch(plan, /Seq Scan/, plan);
  assert.match(plan, /Index Cond: \(refund_id = ANY/, plan);
  assert.match(plan, /Index Cond: \(payment_id = ANY/, plan);
  // Each branch first asks once whether its table has a row: an empty partition (the days made
  // ahead) is not probed once per id.
  assert.match(plan, /One-Time Filter/, plan);
});

test("the look-up of decided calls leaves the transaction's plan settings as they were", async () => {
  const settings = await t.services.db.transaction(async (tx) => {
    await tx.query("set local enable_seqscan = on");
    await tx.query("set local plan_cache_mode = force_custom_plan");
    const calls = await decidedCalls(tx, Date.now(), [newId("pay")], []);
    const { rows } = await tx.query<{ s: string; p: string }>(
      "select current_setting('enable_seqscan') as s, current_setting('plan_cache_mode') as p",
    );
    return { calls: calls.length, ...rows[0]! };
  });
  assert.deepEqual(settings, { calls: 0, s: "on", p: "force_custom_plan" });
});

test("decided calls are read from the wire log's partitions of the oldest object's day on, with the calls found", async () => {
  const day = 86_400_000;
  const all = await partitionsFrom(t.services.db, "provider_interactions", 0);
  const fromNow = await partitionsFrom(t.services.db, "provider_interactions", Date.now());
  const later = await partitionsFrom(t.services.db, "provider_interactions", Date.now() + 5 * day);
  const dayOf = (ms: number) =>
    `provider_interactions_p${new Date(ms).toISOString().slice(0, 10).replaceAll("-", "")}`;
  assert.ok(
    all.includes("provider_interactions_legacy") && all.includes("provider_interactions_default"),
    all.join(),
  );
  assert.ok(all.includes(dayOf(Date.now() + 5 * day)), all.join());
  // The legacy partition holds the history up to the table's cut-over (a day or two ahead here).
  assert.deepEqual(fromNow, all);
  assert.ok(!later.includes("provider_interactions_legacy"), later.join());
  assert.ok(
    !later.includes(dayOf(Date.now() + 4 * day)) && later.includes(dayOf(Date.now() + 5 * day)),
    later.join(),
  );
  assert.ok(later.includes("provider_interactions_default"), later.join());

  const reply = await call<{ id: string }>(t.app, "POST", "/v1/payments", {
    key,
    body: { amount: 250, currency: "EUR", payment_method: { type: "sandbox", scenario: "approve" } },
  });
  assert.equal(reply.status, 201);
  const calls = await t.services.db.transaction((tx) => decidedCalls(tx, Date.now(), [reply.body.id], []));
  assert.ok(calls.length >= 1, "the sandbox charge was logged");
  assert.ok(
    calls.every((c) => c.payment_id === reply.body.id && c.provider === "sandbox"),
    JSON.stringify(calls),
  );
});

test("a call's floor is a day before the oldest object's id or now, and an id that is not ours bounds nothing", () => {
  const day = 86_400_000;
  const at = Date.parse("2026-06-15T12:00:00Z");
  const now = at + 10 * day;
  assert.equal(callsFromMs([newId("pay", at + 5000), newId("re", at)], now), at - day);
  // A test clock a month ahead: its payment's calls are logged on the platform's clock.
  assert.equal(callsFromMs([newId("pay", now + 30 * day)], now), now - day);
  assert.equal(callsFromMs([newId("pay", at), "pay_legacy"], now), 0);
  assert.equal(callsFromMs([], now), now - day);
});
