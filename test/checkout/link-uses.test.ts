/**
 * A limited link (`max_uses`) under concurrency: 50 payers who opened sessions on it pay at the
 * same moment; no more than `max_uses` complete, whatever the database (run it on PostgreSQL,
 * where the payers really are concurrent), and no money is kept for the ones refused.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { LinkUsedUp, PaymentInFlight, SessionClosed } from "../../src/checkout/attempts.ts";
import { call, createMerchant, createTestApp, type MerchantKeys, type TestApp } from "../support/app.ts";
import { pathOf, paySandbox } from "./support.ts";

let t: TestApp;
let m: MerchantKeys;
before(async () => {
  t = await createTestApp();
  m = await createMerchant(t.app);
});
after(() => t.close());

async function limitedLink(maxUses: number) {
  const r = await call<{ id: string; url: string }>(t.app, "POST", "/v1/payment_links", {
    key: m.secretKey,
    body: { amount: 250, currency: "EUR", max_uses: maxUses },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

/** 50 visits at once, each opening its own session (opening only checks uses < max_uses). */
async function visits(url: string, n: number): Promise<string[]> {
  const answers = await Promise.all(
    Array.from({ length: n }, () => t.app.inject({ method: "GET", url: pathOf(url) })),
  );
  assert.ok(
    answers.every((a) => a.statusCode === 303),
    "every visit opens a session",
  );
  return answers.map((a) => String(a.headers.location).split("/")[2]!);
}

async function moneyOf(sessions: string[]) {
  const { rows } = await t.services.db.query<{ status: string; captured: string; refunded: string }>(
    `select status, amount_captured::text as captured, amount_refunded::text as refunded
       from payments where metadata ->> 'checkout_session' = any($1)`,
    [sessions],
  );
  return {
    succeeded: rows.filter((r) => r.status === "succeeded").length,
    kept: rows.reduce((sum, r) => sum + BigInt(r.captured) - BigInt(r.refunded), 0n),
  };
}

async function completed(sessions: string[]): Promise<number> {
  const { rows } = await t.services.db.query<{ n: string }>(
    "select count(*)::text as n from checkout_sessions where id = any($1) and status = 'complete'",
    [sessions],
  );
  return Number(rows[0]!.n);
}

for (const [maxUses, scenarios] of [
  [3, ["approve"]],
  [5, ["approve", "decline_generic", "approve", "require_pin"]],
] as const) {
  test(`max_uses=${maxUses}: 50 payers at once (${scenarios.join(", ")}) never complete more than ${maxUses}`, async () => {
    const link = await limitedLink(maxUses);
    const sessions = await visits(link.url, 50);
    const outcomes = await Promise.allSettled(
      sessions.map((id, i) => paySandbox(t, id, scenarios[i % scenarios.length])),
    );
    for (const o of outcomes)
      if (o.status === "rejected")
        assert.ok(o.reason instanceof SessionClosed || o.reason instanceof PaymentInFlight, String(o.reason));
    const refused = outcomes.filter((o) => o.status === "rejected" && o.reason instanceof LinkUsedUp).length;
    const done = await completed(sessions);
    const money = await moneyOf(sessions);
    const uses = await call<{ uses: number }>(t.app, "GET", `/v1/payment_links/${link.id}`, {
      key: m.secretKey,
    });
    assert.ok(done <= maxUses, `${done} completed, at most ${maxUses}`);
    assert.equal(uses.body.uses, done, "uses counts the completed sessions");
    assert.equal(money.succeeded, done, "a charge only for a completed session");
    assert.equal(money.kept, BigInt(done) * 250n, "exactly the completed sessions' totals are kept");
    assert.ok(refused > 0, "payers beyond the last use are refused before any charge");
    if (scenarios.length === 1) assert.equal(done, maxUses, "every use is taken when everyone pays");
    // A payer still on an open session of the used-up link gets the used-up page, not the methods.
    if (done === maxUses) {
      const open = sessions.find((_, i) => outcomes[i]?.status === "rejected");
      const page = await t.app.inject({ method: "GET", url: `/checkout/${open}` });
      assert.equal(page.statusCode, 410);
      assert.match(page.body, /used up/);
    }
  });
}
