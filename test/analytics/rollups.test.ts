/**
 * The rollups equal a direct count over the payments table after a seeded run of mixed payments,
 * with the ingest crashing mid-batch again and again, interleaved with the writes; a rebuild of
 * the period from the outbox gives the same rows.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { catchUp, INGEST_CURSOR, ingestBatch, rebuildRollups } from "../../src/analytics/index.ts";
import { readCursor } from "../../src/analytics/outbox.ts";
import type { Db } from "../../src/db/db.ts";
import { reconcileDuePayments } from "../../src/payments/reconcile.ts";
import {
  call,
  createMerchant,
  createTestApp,
  FakeClock,
  type MerchantKeys,
  type TestApp,
} from "../support/app.ts";

const START = Date.parse("2026-03-01T10:00:00Z");
const clock = new FakeClock(START);
let t: TestApp;
let m: MerchantKeys;

before(async () => {
  t = await createTestApp({ clock, config: { sandboxAsyncDelayMs: 1000, reconcileAfterMs: 2000 } });
  m = await createMerchant(t.app);
});
after(() => t.close());

interface Random {
  nextInt(min: number, max: number): number;
}

/** A seeded generator (mulberry32), so a failing run can be replayed. */
function seeded(seed: number): Random {
  let state = seed >>> 0;
  return {
    nextInt(min, max) {
      state = (state + 0x6d2b79f5) >>> 0;
      let x = state;
      x = Math.imul(x ^ (x >>> 15), x | 1);
      x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
      const unit = ((x ^ (x >>> 14)) >>> 0) / 4294967296;
      return min + Math.floor(unit * (max - min + 1));
    },
  };
}

const SCENARIOS = [
  "approve",
  "decline_insufficient_funds",
  "decline_generic",
  "pending_then_approve",
  "pending_then_decline",
  "require_pin",
  "manual",
] as const;
const APPS = ["app_a", "app_b"];
const COUNTRIES = ["FR", "RO", "KE"];

async function mixedPayment(random: Random, index: number): Promise<void> {
  const scenario = SCENARIOS[random.nextInt(0, SCENARIOS.length - 1)]!;
  const manual = scenario === "manual";
  const body = {
    amount: random.nextInt(1, 5000),
    currency: random.nextInt(0, 3) === 0 ? "RON" : "EUR",
    payment_method: { type: "sandbox", scenario: manual ? "approve" : scenario },
    capture: manual ? "manual" : "automatic",
    metadata: {
      app: APPS[index % APPS.length]!,
      country: COUNTRIES[random.nextInt(0, COUNTRIES.length - 1)]!,
      operator: `op${random.nextInt(1, 3)}`,
    },
  };
  const created = await call<{ id: string; status: string; amount: number }>(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body,
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.id;
  if (scenario === "require_pin" && random.nextInt(0, 2) > 0) {
    const pin = random.nextInt(0, 1) === 0 ? "1234" : "0000";
    await call(t.app, "POST", `/v1/payments/${id}/confirm`, { key: m.secretKey, body: { pin } });
  }
  if (manual) {
    const choice = random.nextInt(0, 2);
    if (choice === 0) await call(t.app, "POST", `/v1/payments/${id}/cancel`, { key: m.secretKey });
    if (choice === 1) {
      const amount = Math.max(1, Math.floor(created.body.amount / 2));
      const captured = await call(t.app, "POST", `/v1/payments/${id}/capture`, {
        key: m.secretKey,
        body: { amount },
      });
      assert.equal(captured.status, 200, JSON.stringify(captured.body));
    }
  }
  if (created.body.status === "succeeded" && random.nextInt(0, 4) === 0) {
    await call(t.app, "POST", "/v1/refunds", { key: m.secretKey, body: { payment: id, amount: 1 } });
  }
}

/** The payments table grouped as the rollup is keyed. */
async function directCounts(db: Db): Promise<string[]> {
  const { rows } = await db.query<Record<string, unknown>>(
    `select date_trunc('minute', created) as bucket, status as outcome, coalesce(failure_code, '') as reason, currency,
            coalesce(metadata->>'app', '') as app, coalesce(metadata->>'country', '') as country,
            coalesce(metadata->>'operator', '') as operator, payment_method->>'type' as method,
            count(*)::bigint as count,
            sum(case when status = 'succeeded' then amount_captured else amount end)::bigint as amount
       from payments where merchant_id = $1 group by 1, 2, 3, 4, 5, 6, 7, 8`,
    [m.merchantId],
  );
  return rows.map(canonical).sort();
}

async function rolledUp(db: Db, table: string, granularity: string): Promise<string[]> {
  const { rows } = await db.query<Record<string, unknown>>(
    `select date_trunc('${granularity}', bucket) as bucket, outcome, reason, currency, app, country, operator, method,
            sum(count)::bigint as count, sum(amount)::bigint as amount
       from ${table} where merchant_id = $1 and metric = 'payments'
      group by 1, 2, 3, 4, 5, 6, 7, 8 having sum(count) <> 0`,
    [m.merchantId],
  );
  return rows.map(canonical).sort();
}

function canonical(row: Record<string, unknown>): string {
  return JSON.stringify(
    Object.fromEntries(
      Object.entries(row).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : String(v)]),
    ),
  );
}

async function allRollups(db: Db): Promise<string[]> {
  const out: string[] = [];
  for (const table of ["analytics_minute", "analytics_hour", "analytics_day"]) {
    const { rows } = await db.query<Record<string, unknown>>(
      `select '${table}' as t, * from ${table} where count <> 0 or amount <> 0`,
    );
    out.push(...rows.map(canonical));
  }
  return out.sort();
}

test("rollups equal a direct count over payments, across ingest crashes mid-batch; a rebuild gives the same", async () => {
  const random = seeded(20260301);
  let crashes = 0;
  for (let i = 0; i < 120; i++) {
    await mixedPayment(random, i);
    clock.advance(random.nextInt(1, 40) * 1000);
    if (i % 9 === 4) await reconcileDuePayments(t.services.payments);
    if (i % 7 === 0) {
      // A crash after the rollups and the cursor were written, before the commit: all rolled back.
      // (Nothing to crash on when the outbox has nothing committed past the horizon yet.)
      await ingestBatch(t.services.db, clock.nowMs(), {
        batchSize: 1 + (i % 13),
        beforeCommit: () => {
          crashes++;
          throw new Error("ingest worker killed");
        },
      }).catch((error: Error) => assert.match(error.message, /killed/));
    }
    if (i % 5 === 0) await ingestBatch(t.services.db, clock.nowMs(), { batchSize: 1 + (i % 17) });
  }
  clock.advance(10_000);
  await reconcileDuePayments(t.services.payments);
  await catchUp(t.services.db, clock.nowMs(), { batchSize: 7 });
  assert.ok(crashes >= 5, `${crashes} crashes`);

  const direct = await directCounts(t.services.db);
  assert.ok(direct.length > 10, "the run produced a spread of keys");
  assert.deepEqual(await rolledUp(t.services.db, "analytics_minute", "minute"), direct);
  for (const granularity of ["hour", "day"] as const) {
    assert.deepEqual(
      await rolledUp(t.services.db, `analytics_${granularity}`, granularity),
      await rolledUp(t.services.db, "analytics_minute", granularity),
    );
  }
  const cursor = await readCursor(t.services.db, INGEST_CURSOR);
  const { rows } = await t.services.db.query<{ n: bigint }>("select count(*)::bigint as n from events");
  assert.equal(cursor?.eventsConsumed, rows[0]!.n, "every event consumed exactly once");

  const before = await allRollups(t.services.db);
  const rebuilt = await rebuildRollups(t.services.db, { fromMs: START, toMs: clock.nowMs() }, clock.nowMs());
  assert.equal(BigInt(rebuilt.events), rows[0]!.n);
  assert.deepEqual(await allRollups(t.services.db), before);
  // And the ingest carries on after a rebuild without counting anything again.
  assert.equal(await catchUp(t.services.db, clock.nowMs()), 0);
  assert.deepEqual(await rolledUp(t.services.db, "analytics_minute", "minute"), direct);
});
