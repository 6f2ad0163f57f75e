/**
 * Invariants under concurrency: a session completes at most once whatever its payers do at the
 * same time (and a charge that slips past is refunded, never kept), and a product's codes are
 * handed out one per purchase, never twice, under 50 concurrent purchases.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import fc from "fast-check";
import {
  completeSession,
  expireSession,
  loadPayment,
  PaymentInFlight,
  SessionClosed,
} from "../../src/checkout/attempts.ts";
import type { SessionRow } from "../../src/checkout/model.ts";
import { findSession } from "../../src/checkout/sessions.ts";
import { call, createMerchant, createTestApp, type MerchantKeys, type TestApp } from "../support/app.ts";
import { createPrice, createSessionVia, paySandbox } from "./support.ts";

let t: TestApp;
let m: MerchantKeys;
before(async () => {
  t = await createTestApp();
  m = await createMerchant(t.app);
});
after(() => t.close());

async function capturedFor(
  sessionId: string,
): Promise<{ captured: bigint; refunded: bigint; succeeded: number }> {
  const { rows } = await t.services.db.query<{
    amount_captured: bigint;
    amount_refunded: bigint;
    status: string;
  }>(
    "select amount_captured, amount_refunded, status from payments where metadata ->> 'checkout_session' = $1",
    [sessionId],
  );
  return {
    captured: rows.reduce((sum, r) => sum + BigInt(r.amount_captured), 0n),
    refunded: rows.reduce((sum, r) => sum + BigInt(r.amount_refunded), 0n),
    succeeded: rows.filter((r) => r.status === "succeeded").length,
  };
}

async function completedEvents(sessionId: string): Promise<number> {
  const { rows } = await t.services.db.query(
    "select 1 from events where type = 'checkout_session.completed' and object_id = $1",
    [sessionId],
  );
  return rows.length;
}

const Action = fc.constantFrom("approve", "decline_generic", "require_pin", "expire", "approve");

test("property: whatever payers do at once, a session completes at most once and keeps one charge", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(Action, { minLength: 2, maxLength: 8 }), async (actions) => {
      const s = await createSessionVia(t.app, m.secretKey, { amount: 777, currency: "EUR" });
      const outcomes = await Promise.allSettled(
        actions.map(async (action) => {
          if (action === "expire") {
            const session = (await findSession(t.services.db, s.id)) as SessionRow;
            return expireSession(t.services.checkout.ctx, session);
          }
          return paySandbox(t, s.id, action);
        }),
      );
      for (const o of outcomes) {
        if (o.status === "rejected")
          assert.ok(
            o.reason instanceof PaymentInFlight || o.reason instanceof SessionClosed,
            String(o.reason),
          );
      }
      const final = (await findSession(t.services.db, s.id)) as SessionRow;
      const money = await capturedFor(s.id);
      const events = await completedEvents(s.id);
      assert.ok(events <= 1, "completed at most once");
      if (final.status === "complete") {
        assert.equal(events, 1);
        assert.equal(money.captured - money.refunded, 777n, "exactly the total is kept");
        const payment = await loadPayment(t.services.db, final.payment_id!);
        assert.equal(payment?.status, "succeeded");
      } else {
        assert.equal(events, 0);
        assert.equal(money.captured - money.refunded, 0n, "nothing kept for a session that did not complete");
      }
    }),
    { numRuns: 15 },
  );
});

test("a second succeeded payment reaching a complete session is refunded in full", async () => {
  const s = await createSessionVia(t.app, m.secretKey, { amount: 500, currency: "EUR" });
  await paySandbox(t, s.id);
  // A payment made outside the session's claim (what a crash between claim and record could leave).
  const stray = await call<{ id: string }>(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: {
      amount: 500,
      currency: "EUR",
      payment_method: { type: "sandbox", scenario: "approve" },
      metadata: { checkout_session: s.id },
    },
  });
  const strayRow = await loadPayment(t.services.db, stray.body.id);
  const results = await Promise.all(
    [1, 2, 3].map(() => completeSession(t.services.checkout.ctx, s.id, strayRow!)),
  );
  assert.ok(results.every((r) => r.status === "complete" && r.payment_id !== stray.body.id));
  const after = await loadPayment(t.services.db, stray.body.id);
  assert.equal(after?.amount_refunded, 500n, "refunded once, in full");
  assert.equal(await completedEvents(s.id), 1);
});

test("50 concurrent purchases of a product with codes: one code each, never one twice", async () => {
  const { price, product } = await createPrice(t.app, m.secretKey, 300, "EUR", "Steam key");
  const codes = Array.from({ length: 45 }, (_, i) => `KEY-${String(i).padStart(4, "0")}-ABCD`);
  const added = await call<{ added: number; available: number }>(
    t.app,
    "POST",
    `/v1/products/${product}/codes`,
    {
      key: m.secretKey,
      body: { codes: [...codes, codes[0]] },
    },
  );
  assert.equal(added.status, 200, JSON.stringify(added.body));
  assert.equal(added.body.added, 45, "a repeated code is added once");
  const sessions = await Promise.all(
    Array.from({ length: 50 }, () => createSessionVia(t.app, m.secretKey, { line_items: [{ price }] })),
  );
  const paid = await Promise.all(sessions.map((s) => paySandbox(t, s.id)));
  assert.ok(paid.every((p) => p.session.status === "complete"));
  const handedOut = paid.flatMap((p) => p.session.codes.map((c) => c.code));
  assert.equal(handedOut.length, 45, "as many as there were");
  assert.equal(new Set(handedOut).size, 45, "never one code twice");
  assert.ok(
    paid.every((p) => p.session.codes.length <= 1),
    "one per unit bought",
  );
  const counts = await call<{ available: number; assigned: number }>(
    t.app,
    "GET",
    `/v1/products/${product}/codes`,
    {
      key: m.secretKey,
    },
  );
  assert.deepEqual([counts.body.available, counts.body.assigned], [0, 45]);
  const { rows } = await t.services.db.query<{ n: bigint }>(
    "select count(distinct session_id) as n from checkout_product_codes where product_id = $1 and session_id is not null",
    [product],
  );
  assert.equal(Number(rows[0]!.n), 45);
});
