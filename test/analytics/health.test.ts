/**
 * Goal: an operator whose acceptance falls well below the same window a week earlier raises
 * `operator.degraded` once (queued for the merchant's webhooks), and `operator.recovered` once it
 * is back — on a test clock, with the payments a simulated operator answered.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { checkOperatorHealth, feedLag, ingestRollups, nextState } from "../../src/analytics/index.ts";
import { insertEvents, type NewEvent } from "../../src/events/index.ts";
import { call, createMerchant, createTestApp, FakeClock, type TestApp } from "../support/app.ts";

const T0 = Date.parse("2026-03-10T12:00:00Z");
const WEEK = 7 * 86_400_000;
const MINUTE = 60_000;
let t: TestApp;
let clock: FakeClock;
let merchantId: string;
let key: string;
let endpointId: string;
let n = 0;

/** What a simulated operator answered: `ok` approvals and `ko` declines around `atMs`. */
async function answered(operator: string, atMs: number, ok: number, ko: number): Promise<void> {
  const events: NewEvent[] = [];
  for (let i = 0; i < ok + ko; i++) {
    const succeeded = i < ok;
    events.push({
      merchantId,
      mode: "test" as const,
      type: succeeded ? "payment.succeeded" : "payment.failed",
      object: {
        id: `pay_h${n++}`,
        object: "payment",
        amount: 100,
        amount_captured: succeeded ? 100 : 0,
        currency: "EUR",
        failure_code: succeeded ? null : "insufficient_funds",
        payment_method: { type: "carrier", operator, msisdn: "+33612345678", flow: "pin" },
      },
      createdMs: atMs + (i % 5) * 1000,
    });
  }
  await t.services.db.transaction((tx) => insertEvents(tx, events));
  while ((await feedLag(t.services.db, "rollups")) > 0n) {
    if ((await ingestRollups(t.services)) === 0) await new Promise((r) => setTimeout(r, 20));
  }
}

async function queued(type: string): Promise<number> {
  const { rows } = await t.services.db.query<{ n: bigint }>(
    `select count(*)::int8 as n from webhook_deliveries d join events e on e.id = d.event_id
      where d.endpoint_id = $1 and e.type = $2`,
    [endpointId, type],
  );
  return Number(rows[0]!.n);
}

before(async () => {
  process.env.CENTIME_WEBHOOK_ALLOWED_HOSTS = "127.0.0.1";
  clock = new FakeClock(T0);
  t = await createTestApp({ clock });
  const m = await createMerchant(t.app);
  merchantId = m.merchantId;
  key = m.secretKey;
  const endpoint = await call<{ id: string }>(t.app, "POST", "/v1/webhook_endpoints", {
    key,
    body: { url: "http://127.0.0.1:9/hooks", events: ["operator.degraded", "operator.recovered"] },
  });
  assert.equal(endpoint.status, 201, JSON.stringify(endpoint.body));
  endpointId = endpoint.body.id;
  // A week earlier, both windows the test looks at: 90% acceptance on both operators.
  for (const at of [T0 - WEEK - 10 * MINUTE, T0 - WEEK + 10 * MINUTE]) {
    await answered("20801", at, 27, 3);
    await answered("20810", at, 27, 3);
  }
});
after(() => t.close());

test("the decision: a drop beyond the threshold degrades, a return within half of it recovers", () => {
  assert.deepEqual(nextState("healthy", { succeeded: 10, failed: 20 }, { succeeded: 27, failed: 3 }), {
    state: "degraded",
    reason: "acceptance",
    nowBp: 3333,
    beforeBp: 9000,
    latencyNowMs: null,
    latencyBeforeMs: null,
  });
  assert.equal(nextState("healthy", { succeeded: 22, failed: 8 }, { succeeded: 27, failed: 3 }), null);
  assert.equal(
    nextState("healthy", { succeeded: 1, failed: 9 }, { succeeded: 27, failed: 3 }),
    null,
    "too few",
  );
  assert.equal(
    nextState("degraded", { succeeded: 25, failed: 5 }, { succeeded: 27, failed: 3 })?.state,
    "healthy",
  );
  assert.equal(nextState("degraded", { succeeded: 20, failed: 10 }, { succeeded: 27, failed: 3 }), null);
});

test("the decision on latency: p99 above twice the baseline (and 500 ms more) degrades; back under 1.5x recovers", () => {
  const fine = { succeeded: 27, failed: 3 };
  const at = (p99Ms: number, calls = 30) => ({ ...fine, latency: { p99Ms, calls } });
  assert.deepEqual(nextState("healthy", at(1300), at(400)), {
    state: "degraded",
    reason: "latency",
    nowBp: 9000,
    beforeBp: 9000,
    latencyNowMs: 1300,
    latencyBeforeMs: 400,
  });
  assert.equal(nextState("healthy", at(800), at(400)), null, "twice, but not 500 ms more");
  assert.equal(nextState("healthy", at(1300), at(400, 5)), null, "too few calls a week earlier");
  assert.equal(nextState("degraded", at(700), at(400)), null, "better, not yet back under 1.5x");
  assert.equal(nextState("degraded", at(600), at(400))?.state, "healthy");
  // Degraded by latency, recovered latency but acceptance now down: stays degraded.
  assert.equal(
    nextState("degraded", { succeeded: 10, failed: 20, latency: { p99Ms: 400, calls: 30 } }, at(400)),
    null,
  );
});

test("an operator that starts declining raises operator.degraded once, then operator.recovered", async () => {
  await answered("20801", T0 - 10 * MINUTE, 10, 20); // 33%: degraded
  await answered("20810", T0 - 10 * MINUTE, 26, 4); // 87%: fine
  assert.equal(await checkOperatorHealth(t.services), 1);
  assert.equal(await queued("operator.degraded"), 1);
  // Checked again: still degraded, nothing new.
  clock.advance(MINUTE);
  assert.equal(await checkOperatorHealth(t.services), 0);
  assert.equal(await queued("operator.degraded"), 1);
  const listed = await call<{ data: Array<{ type: string; data: { object: Record<string, unknown> } }> }>(
    t.app,
    "GET",
    "/v1/events?type=operator.degraded",
    { key },
  );
  assert.equal(listed.body.data.length, 1);
  assert.equal(listed.body.data[0]!.data.object.operator, "20801");
  assert.equal(listed.body.data[0]!.data.object.acceptance_bp, 3333);
  assert.equal(listed.body.data[0]!.data.object.baseline_acceptance_bp, 9000);

  // Twenty minutes later the operator answers normally again.
  clock.advance(19 * MINUTE);
  await answered("20801", clock.nowMs() - 10 * MINUTE, 26, 4);
  assert.equal(await checkOperatorHealth(t.services), 1);
  assert.equal(await queued("operator.recovered"), 1);
  assert.equal(await queued("operator.degraded"), 1);
  clock.advance(MINUTE);
  assert.equal(await checkOperatorHealth(t.services), 0);
});

/** Provider calls of an operator as the ingest stores them: a minute histogram of latencies. */
async function calls(operator: string, atMs: number, latencyMs: number, count: number): Promise<void> {
  await t.services.db.query(
    `insert into analytics_distributions (grain, bucket, merchant_id, mode, metric, provider, operator, le_ms, count, errors)
     values ('minute', $1, $2, 'test', 'provider_latency', 'carrier', $3, $4, $5, 0)`,
    [new Date(Math.floor(atMs / MINUTE) * MINUTE), merchantId, operator, latencyMs, count],
  );
}

test("an operator that answers as often but much slower raises operator.degraded (latency), then recovers", async () => {
  clock.advance(30 * MINUTE); // the windows of the test above are behind us
  const now = clock.nowMs();
  const degradedBefore = await queued("operator.degraded");
  const recoveredBefore = await queued("operator.recovered");
  for (const at of [now - WEEK - 10 * MINUTE, now - WEEK + 10 * MINUTE]) {
    await answered("20820", at, 27, 3);
    await calls("20820", at, 300, 29);
    await calls("20820", at, 450, 1);
  }
  await answered("20820", now - 10 * MINUTE, 27, 3); // acceptance as usual
  await calls("20820", now - 10 * MINUTE, 2400, 30); // every call takes seconds
  assert.equal(await checkOperatorHealth(t.services), 1);
  assert.equal(await queued("operator.degraded"), degradedBefore + 1);
  const listed = await call<{ data: Array<{ data: { object: Record<string, unknown> } }> }>(
    t.app,
    "GET",
    "/v1/events?type=operator.degraded&limit=1",
    { key },
  );
  const object = listed.body.data[0]!.data.object;
  assert.equal(object.operator, "20820");
  assert.equal(object.reason, "latency");
  assert.equal(object.latency_p99_ms, 2400);
  assert.equal(object.baseline_latency_p99_ms, 450);
  assert.equal(object.acceptance_bp, 9000);

  clock.advance(20 * MINUTE);
  await answered("20820", clock.nowMs() - 10 * MINUTE, 27, 3);
  await calls("20820", clock.nowMs() - 10 * MINUTE, 320, 30);
  assert.equal(await checkOperatorHealth(t.services), 1);
  assert.equal(await queued("operator.recovered"), recoveredBefore + 1);
  clock.advance(MINUTE);
  assert.equal(await checkOperatorHealth(t.services), 0);
});
