/**
 * Background jobs that change business state are audited as `system:<job>`, in the job's own
 * transaction (issue 12): commissions maturing and wallet grants expiring here; the chain stays
 * valid for `audit verify`.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { customer, innerCurrency } from "../community/support.ts";
import {
  ADMIN_KEY,
  call,
  createMerchant,
  createTestApp,
  FakeClock,
  type MerchantKeys,
  type TestApp,
} from "../support/app.ts";

let t: TestApp;
let m: MerchantKeys;
const clock = new FakeClock(Date.parse("2026-03-01T00:00:00Z"));
const DAY = 86_400_000;

interface AuditList {
  data: Array<{
    action: string;
    target: string | null;
    outcome: string;
    actor: { id: string; kind: string; credential: string | null };
    changes: Record<string, unknown> | null;
  }>;
}

before(async () => {
  t = await createTestApp({ clock });
  m = await createMerchant(t.app);
});
after(() => t.close());

async function systemEvents(job: string) {
  const r = await call<AuditList>(t.app, "GET", `/v1/audit_events?actor=system:${job}&limit=100`, {
    key: ADMIN_KEY,
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.data;
}

async function chainValid() {
  const r = await call<{ valid: boolean; checked: number }>(t.app, "GET", "/v1/audit_events/verify", {
    key: ADMIN_KEY,
  });
  assert.equal(r.status, 200);
  return r.body;
}

test("commissions maturing are audited as system:commission_approval, one record per commission, the chain still valid", async () => {
  const plan = await call(t.app, "POST", "/v1/commission_plans", {
    key: m.secretKey,
    body: { levels: [{ level: 1, percent: "10" }], hold_days: 14, max_depth: 1 },
  });
  assert.equal(plan.status, 201);
  const affiliate = await customer(t.app, m, {});
  const payer = await customer(t.app, m, { referred_by: affiliate });
  for (const amount of [1000, 3000]) {
    const r = await call(t.app, "POST", "/v1/payments", {
      key: m.secretKey,
      body: {
        amount,
        currency: "EUR",
        customer: payer,
        payment_method: { type: "sandbox", scenario: "approve" },
      },
    });
    assert.equal(r.status, 201);
  }
  assert.deepEqual(await systemEvents("commission_approval"), [], "nothing before the hold ends");
  clock.advance(15 * DAY);
  assert.equal(await t.services.community.commissions.approveDue(clock.nowMs()), 2);
  const { rows } = await t.services.db.query<{ id: string }>(
    "select id from commissions where affiliate_id = $1 order by id",
    [affiliate],
  );
  const events = await systemEvents("commission_approval");
  assert.deepEqual(events.map((e) => e.target).sort(), rows.map((r) => r.id).sort());
  for (const e of events) {
    assert.equal(e.action, "commissions.approve");
    assert.equal(e.actor.kind, "system");
    assert.equal(e.actor.credential, null);
    assert.equal(e.outcome, "success");
    assert.deepEqual(e.changes?.status, { from: "pending", to: "approved" });
  }
  assert.deepEqual(events.map((e) => e.changes?.amount).sort(), ["100", "300"]);
  assert.equal((await chainValid()).valid, true);
});

test("wallet grants expiring are audited as system:wallet_grant_expiry with what they took; a run with nothing due records nothing", async () => {
  await innerCurrency(t.app, m, "GEMS");
  const c = await customer(t.app, m);
  const r = await call<{ id: string }>(t.app, "POST", "/v1/wallet_grants", {
    key: m.secretKey,
    body: {
      customer: c,
      currency: "GEMS",
      amount: 40,
      category: "paid",
      expires_at: new Date(clock.nowMs() + DAY).toISOString(),
    },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal(await t.services.community.wallets.expireDue(clock.nowMs()), 0);
  assert.deepEqual(await systemEvents("wallet_grant_expiry"), []);
  clock.advance(2 * DAY);
  assert.equal(await t.services.community.wallets.expireDue(clock.nowMs()), 1);
  const events = await systemEvents("wallet_grant_expiry");
  assert.equal(events.length, 1);
  assert.equal(events[0]!.target, r.body.id);
  assert.equal(events[0]!.action, "wallet_grants.expire");
  assert.deepEqual(events[0]!.changes?.remaining, { from: "40", to: "0" });
  const verified = await chainValid();
  assert.equal(verified.valid, true);
  assert.ok(verified.checked >= 3);
});

test("a job's change that rolls back leaves no audit record", async () => {
  await assert.rejects(
    t.services.db.transaction(async (tx) => {
      const { recordSystem } = await import("../../src/audit/index.ts");
      await recordSystem(
        tx,
        "commission_approval",
        { action: "commissions.approve", object: "com_x" },
        clock.nowMs(),
      );
      throw new Error("the job failed");
    }),
    /the job failed/,
  );
  const { rows } = await t.services.db.query("select 1 from audit_events where object = 'com_x'");
  assert.equal(rows.length, 0);
  assert.equal((await chainValid()).valid, true, "the rolled-back lane head is untouched");
});
