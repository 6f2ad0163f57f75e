/** The audit log: every write recorded with its request, append-only in the database, hash-chained. */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  ADMIN_KEY,
  call,
  createMerchant,
  createTestApp,
  type MerchantKeys,
  sandboxPayment,
  type TestApp,
} from "../support/app.ts";

let t: TestApp;
let m: MerchantKeys;

before(async () => {
  t = await createTestApp();
  m = await createMerchant(t.app);
});
after(() => t.close());

interface AuditList {
  data: Array<{
    id: string;
    action: string;
    target: string | null;
    outcome: string;
    actor: { id: string; kind: string; credential: string | null };
    changes: Record<string, unknown> | null;
    ip: string | null;
    user_agent: string | null;
    request_id: string | null;
    chain: { lane: number; seq: string };
  }>;
}

test("a payment, a refusal and a merchant creation are each recorded, without secrets", async () => {
  const paid = await call<{ id: string }>(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: sandboxPayment("approve"),
    headers: { "user-agent": "audit-test/1.0", "idempotency-key": "audit-pay-1" },
  });
  assert.equal(paid.status, 201);
  // A refused card payment (live keys have no sandbox) still carries card data in its request.
  const card = await call(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: {
      amount: 100,
      currency: "EUR",
      payment_method: { type: "card", number: "4242424242424242", exp_month: 1, exp_year: 2030, cvc: "123" },
      unknown_field: 1,
    },
  });
  const refused = await call(t.app, "POST", "/v1/refunds", {
    key: m.secretKey,
    body: { payment: "pay_missing" },
  });
  assert.equal(refused.status, 404);

  const log = await call<AuditList>(t.app, "GET", `/v1/audit_events?object=${paid.body.id}`, {
    key: ADMIN_KEY,
  });
  assert.equal(log.status, 200);
  assert.equal(log.body.data.length, 1);
  const entry = log.body.data[0]!;
  assert.equal(entry.action, "payments.create");
  assert.equal(entry.outcome, "success");
  assert.equal(entry.actor.kind, "api_key");
  assert.equal(entry.user_agent, "audit-test/1.0");
  assert.match(entry.request_id ?? "", /^req_/);
  assert.deepEqual(entry.changes?.amount, 500);

  const refusals = await call<AuditList>(t.app, "GET", "/v1/audit_events?action=refunds.create", {
    key: ADMIN_KEY,
  });
  assert.equal(refusals.body.data[0]?.outcome, "refused");

  // Card data never reaches the log, whatever the outcome of the payment.
  assert.equal(card.status, 400);
  const { rows } = await t.services.db.query<{ changes: unknown }>("select changes from audit_events");
  const dump = JSON.stringify(rows);
  assert.ok(!dump.includes("4242424242424242"));
  assert.ok(!dump.includes(m.secretKey));

  const merchants = await call<AuditList>(t.app, "GET", "/v1/audit_events?action=merchants.create", {
    key: ADMIN_KEY,
  });
  assert.equal(merchants.body.data[0]?.actor.id, "owner");
});

test("reads of the audit log are audited", async () => {
  const before = await t.services.db.query<{ n: string }>(
    "select count(*)::text as n from audit_events where action = 'audit_events.read'",
  );
  await call(t.app, "GET", "/v1/audit_events", { key: ADMIN_KEY });
  const after = await t.services.db.query<{ n: string }>(
    "select count(*)::text as n from audit_events where action = 'audit_events.read'",
  );
  assert.equal(Number(after.rows[0]!.n), Number(before.rows[0]!.n) + 1);
});

test("a write that rolls back leaves no success record", async () => {
  const count = async () =>
    Number(
      (
        await t.services.db.query<{ n: string }>(
          "select count(*)::text as n from audit_events where outcome = 'success' and action = 'customers.create'",
        )
      ).rows[0]!.n,
    );
  const start = await count();
  const ok = await call(t.app, "POST", "/v1/customers", {
    key: m.secretKey,
    body: { email: "a@example.com" },
  });
  assert.equal(ok.status, 201);
  const bad = await call(t.app, "POST", "/v1/customers", {
    key: m.secretKey,
    body: { msisdn: "not a number" },
  });
  assert.equal(bad.status, 400);
  assert.equal(await count(), start + 1);
});

test("the database refuses to update or delete an audit row", async () => {
  const { rows } = await t.services.db.query<{ id: string }>("select id from audit_events limit 1");
  const id = rows[0]!.id;
  await assert.rejects(
    t.services.db.query("update audit_events set actor = 'someone' where id = $1", [id]),
    /append-only/,
  );
  await assert.rejects(t.services.db.query("delete from audit_events where id = $1", [id]), /append-only/);
  await assert.rejects(t.services.db.query("truncate audit_events_default"), /append-only/);
});

test("verify walks the chain; a row changed behind the trigger's back is named", async () => {
  const clean = await call<{ valid: boolean; checked: number }>(t.app, "GET", "/v1/audit_events/verify", {
    key: ADMIN_KEY,
  });
  assert.equal(clean.status, 200);
  assert.equal(clean.body.valid, true);
  assert.ok(clean.body.checked >= 5);

  const { rows } = await t.services.db.query<{ id: string }>(
    "select id from audit_events where action = 'payments.create' order by id limit 1",
  );
  const victim = rows[0]!.id;
  // Someone with the database's keys: triggers off, one field rewritten, triggers on.
  await t.services.db.transaction(async (tx) => {
    await tx.query("alter table audit_events disable trigger user");
    await tx.query("update audit_events set changes = jsonb_set(changes, '{amount}', '1') where id = $1", [
      victim,
    ]);
    await tx.query("alter table audit_events enable trigger user");
  });
  const broken = await call<{ valid: boolean; first_broken: { id: string; reason: string } }>(
    t.app,
    "GET",
    "/v1/audit_events/verify",
    { key: ADMIN_KEY },
  );
  assert.equal(broken.body.valid, false);
  assert.equal(broken.body.first_broken.id, victim);
  assert.equal(broken.body.first_broken.reason, "hash_mismatch");
});

test("a merchant's key sees only its own audit log and cannot verify the platform's", async () => {
  const own = await call<AuditList>(t.app, "GET", "/v1/audit_events?limit=100", { key: m.secretKey });
  assert.equal(own.status, 200);
  assert.ok(own.body.data.every((e) => e.actor.id !== "owner"));
  const verify = await call(t.app, "GET", "/v1/audit_events/verify", { key: m.secretKey });
  assert.equal(verify.status, 403);
});

test("the audit page names people by e-mail as far as the viewer may see them: a merchant's team sees only its own", async () => {
  const made = async (email: string, merchant?: string) => {
    const r = await call<{ staff: { id: string } }>(t.app, "POST", "/v1/staff", {
      key: ADMIN_KEY,
      body: { email, role: merchant ? "support" : "owner", ...(merchant ? { merchant } : {}) },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.staff.id;
  };
  const platform = await made("platform-auditor@centime.example");
  const own = await made("team-auditor@studio.example", m.merchantId);
  const other = await createMerchant(t.app, "Elsewhere");
  const elsewhere = await made("other-team@elsewhere.example", other.merchantId);
  const ids = [platform, own, elsewhere, "key_not_a_person"];
  assert.deepEqual(Object.fromEntries(await t.services.staff.emailsOf(ids, null)), {
    [platform]: "platform-auditor@centime.example",
    [own]: "team-auditor@studio.example",
    [elsewhere]: "other-team@elsewhere.example",
  });
  assert.deepEqual(Object.fromEntries(await t.services.staff.emailsOf(ids, m.merchantId)), {
    [own]: "team-auditor@studio.example",
  });
});
