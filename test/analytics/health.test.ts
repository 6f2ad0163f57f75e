/**
 * Operator health on a test clock: an operator whose acceptance falls against the same window a
 * week earlier raises `operator.degraded` within minutes, and `operator.recovered` once it is back;
 * webhooks queue both; an operator without a week-old baseline raises nothing.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { BASELINE_OFFSET_MS, catchUp, checkOperatorHealth } from "../../src/analytics/index.ts";
import {
  call,
  createMerchant,
  createTestApp,
  FakeClock,
  type MerchantKeys,
  type TestApp,
} from "../support/app.ts";

const WEEK = BASELINE_OFFSET_MS;
const MINUTE = 60_000;
const T = Date.parse("2026-05-11T12:00:00Z");
const clock = new FakeClock(T - WEEK - 20 * MINUTE);
let t: TestApp;
let m: MerchantKeys;

before(async () => {
  t = await createTestApp({ clock });
  m = await createMerchant(t.app);
});
after(() => t.close());

async function pay(operator: string, scenario: string) {
  const r = await call(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: {
      amount: 99,
      currency: "EUR",
      payment_method: { type: "sandbox", scenario },
      metadata: { operator },
    },
  });
  assert.equal(r.status, 201);
}

/** One minute of traffic: `accepted` of `total` approved, the rest declined; then the worker's tick. */
async function minuteOf(operator: string, total: number, accepted: number) {
  for (let i = 0; i < total; i++) await pay(operator, i < accepted ? "approve" : "decline_generic");
}

async function tick() {
  clock.advance(MINUTE);
  await catchUp(t.services.db, clock.nowMs());
  return checkOperatorHealth(t.services.db, clock.nowMs());
}

test("acceptance falling a week later raises operator.degraded within minutes, then operator.recovered", async () => {
  const endpoint = await call<{ id: string }>(t.app, "POST", "/v1/webhook_endpoints", {
    key: m.secretKey,
    body: { url: "https://hooks.example.com/centime", events: ["operator.degraded", "operator.recovered"] },
  });
  assert.equal(endpoint.status, 201, JSON.stringify(endpoint.body));

  // A week earlier: 45 minutes of op1 and op2 accepting everything.
  for (let minute = 0; minute < 45; minute++) {
    await minuteOf("op1", 2, 2);
    await minuteOf("op2", 2, 2);
    await tick();
  }
  // Now, a week later minus the gap: op2 has no baseline worth the name for the fresh op3.
  clock.set(T - 20 * MINUTE);
  const raised: { type: string; operator: string; minute: number }[] = [];
  for (let minute = 0; minute < 45; minute++) {
    const failing = minute >= 20 && minute < 26;
    await minuteOf("op1", 2, failing ? 0 : 2);
    await minuteOf("op2", 2, 2);
    await minuteOf("op3", 2, 0);
    for (const alert of await tick()) raised.push({ type: alert.type, operator: alert.operator, minute });
  }
  const degraded = raised.find((r) => r.type === "operator.degraded");
  const recovered = raised.find((r) => r.type === "operator.recovered");
  assert.ok(degraded, JSON.stringify(raised));
  assert.equal(degraded.operator, "op1");
  assert.ok(degraded.minute - 20 <= 5, `degraded ${degraded.minute - 20} minutes after the fall`);
  assert.ok(recovered, JSON.stringify(raised));
  assert.equal(recovered.operator, "op1");
  assert.ok(recovered.minute > degraded.minute);
  assert.deepEqual(
    raised.map((r) => `${r.type} ${r.operator}`),
    ["operator.degraded op1", "operator.recovered op1"],
    "op2 never moved; op3 has no baseline a week earlier",
  );

  // The events, on the API and queued for the webhook endpoint.
  const events = await call<{
    data: { id: string; type: string; data: { object: Record<string, unknown> } }[];
  }>(t.app, "GET", "/v1/events?type=operator.degraded", { key: m.secretKey });
  assert.equal(events.body.data.length, 1);
  const object = events.body.data[0]!.data.object;
  assert.equal(object.object, "operator_health");
  assert.equal(object.status, "degraded");
  assert.equal(object.baseline_acceptance_rate, 1);
  const { rows } = await t.services.db.query<{ n: bigint }>(
    "select count(*)::bigint as n from webhook_deliveries where endpoint_id = $1",
    [endpoint.body.id],
  );
  assert.equal(rows[0]!.n, 2n, "both alerts queued for delivery");

  const operators = await call<{ data: { operator: string; status: string }[] }>(
    t.app,
    "GET",
    "/v1/analytics/operators",
    {
      key: m.secretKey,
    },
  );
  assert.deepEqual(
    operators.body.data.map((o) => [o.operator, o.status]),
    [
      ["op1", "healthy"],
      ["op2", "healthy"],
      ["op3", "healthy"],
    ],
  );
});
