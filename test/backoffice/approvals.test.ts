/** Four-eyes: bound to exact arguments, decided once, by someone else with the permission, before it expires. */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  ADMIN_KEY,
  call,
  createMerchant,
  createTestApp,
  FakeClock,
  type MerchantKeys,
  sandboxPayment,
  type TestApp,
} from "../support/app.ts";

let t: TestApp;
let m: MerchantKeys;
let clock: FakeClock;
const keys: Record<string, string> = {};

interface Approval {
  id: string;
  object: string;
  status: string;
  action: string;
  arguments: Record<string, unknown>;
  result: Record<string, unknown> | null;
}

before(async () => {
  clock = new FakeClock(Date.now());
  t = await createTestApp({ clock });
  m = await createMerchant(t.app);
  for (const [name, role] of [
    ["finance1", "finance"],
    ["finance2", "finance"],
    ["support1", "support"],
    ["support2", "support"],
    ["owner1", "owner"],
    ["owner2", "owner"],
  ]) {
    const r = await call<{ api_key: string }>(t.app, "POST", "/v1/staff", {
      key: ADMIN_KEY,
      body: { email: `${name}@studio.example`, role, merchant: m.merchantId },
    });
    assert.equal(r.status, 201);
    keys[name!] = r.body.api_key;
  }
});
after(() => t.close());

async function available(currency: string): Promise<number> {
  const balance = await call<{ available: Array<{ currency: string; amount: number }> }>(
    t.app,
    "GET",
    "/v1/balance",
    { key: m.secretKey },
  );
  return balance.body.available.find((b) => b.currency === currency)?.amount ?? 0;
}

test("a ledger adjustment waits (202), the maker cannot approve it, a second person runs it once", async () => {
  const asked = await call<Approval>(t.app, "POST", "/v1/ledger/adjustments", {
    key: keys.finance1,
    body: { currency: "EUR", amount: 1234, direction: "credit", reason: "goodwill" },
  });
  assert.equal(asked.status, 202);
  assert.equal(asked.body.object, "approval");
  assert.match(asked.body.id, /^apr_/);
  assert.equal(asked.body.status, "pending");
  assert.equal(asked.body.action, "ledger.adjustment");
  assert.equal(asked.body.arguments.amount, 1234);
  const before = await available("EUR");

  const pending = await call<{ data: Approval[] }>(t.app, "GET", "/v1/approvals?status=pending", {
    key: keys.finance2,
  });
  assert.ok(pending.body.data.some((a) => a.id === asked.body.id));

  const own = await call<{ error: { code: string } }>(
    t.app,
    "POST",
    `/v1/approvals/${asked.body.id}/approve`,
    { key: keys.finance1 },
  );
  assert.equal(own.status, 403);
  assert.equal(own.body.error.code, "approval_own_request");
  // Support may see approvals but does not hold ledger:adjust.
  const support = await call(t.app, "POST", `/v1/approvals/${asked.body.id}/approve`, { key: keys.support1 });
  assert.equal(support.status, 403);
  // No other arguments can ride on the approval.
  const other = await call(t.app, "POST", `/v1/approvals/${asked.body.id}/approve`, {
    key: keys.finance2,
    body: { amount: 999999 },
  });
  assert.equal(other.status, 400);
  assert.equal(await available("EUR"), before);

  const approved = await call<Approval>(t.app, "POST", `/v1/approvals/${asked.body.id}/approve`, {
    key: keys.finance2,
  });
  assert.equal(approved.status, 200, JSON.stringify(approved.body));
  assert.equal(approved.body.status, "approved");
  assert.equal(await available("EUR"), before + 1234);

  // No replay, by the same person or another.
  for (const key of [keys.finance2, keys.owner1!]) {
    const again = await call<{ error: { code: string } }>(
      t.app,
      "POST",
      `/v1/approvals/${asked.body.id}/approve`,
      { key },
    );
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, "approval_not_pending");
  }
  assert.equal(await available("EUR"), before + 1234);
});

test("arguments changed in the database after the request cannot run", async () => {
  const asked = await call<Approval>(t.app, "POST", "/v1/ledger/adjustments", {
    key: keys.finance1,
    body: { currency: "EUR", amount: 10, direction: "credit", reason: "small" },
  });
  await t.services.db.query(
    "update approvals set arguments = jsonb_set(arguments, '{amount}', '1000000') where id = $1",
    [asked.body.id],
  );
  const before = await available("EUR");
  const approved = await call<{ error: { code: string } }>(
    t.app,
    "POST",
    `/v1/approvals/${asked.body.id}/approve`,
    { key: keys.finance2 },
  );
  assert.equal(approved.status, 409);
  assert.equal(approved.body.error.code, "approval_arguments_changed");
  assert.equal(await available("EUR"), before);
});

test("an expired approval cannot be used; a rejected one neither", async () => {
  const asked = await call<Approval>(t.app, "POST", "/v1/ledger/adjustments", {
    key: keys.finance1,
    body: { currency: "EUR", amount: 50, direction: "debit", reason: "fee" },
  });
  clock.advance(73 * 3600 * 1000);
  const late = await call<{ error: { code: string } }>(
    t.app,
    "POST",
    `/v1/approvals/${asked.body.id}/approve`,
    { key: keys.finance2 },
  );
  assert.equal(late.status, 409);
  const shown = await call<Approval>(t.app, "GET", `/v1/approvals/${asked.body.id}`, { key: keys.finance2 });
  assert.equal(shown.body.status, "expired");

  const second = await call<Approval>(t.app, "POST", "/v1/ledger/adjustments", {
    key: keys.finance1,
    body: { currency: "EUR", amount: 50, direction: "debit", reason: "fee" },
  });
  const rejected = await call<Approval>(t.app, "POST", `/v1/approvals/${second.body.id}/reject`, {
    key: keys.finance2,
  });
  assert.equal(rejected.body.status, "rejected");
  const after = await call(t.app, "POST", `/v1/approvals/${second.body.id}/approve`, { key: keys.owner1 });
  assert.equal(after.status, 409);
});

test("a staff refund above the merchant's threshold waits for a second person; below it runs", async () => {
  const set = await call(t.app, "POST", `/v1/merchants/${m.merchantId}/refund_approval_thresholds`, {
    key: ADMIN_KEY,
    body: { currency: "EUR", amount: 300 },
  });
  assert.equal(set.status, 200);
  const paid = await call<{ id: string }>(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: sandboxPayment("approve"),
  });
  const small = await call<{ object: string; amount: number }>(t.app, "POST", "/v1/refunds", {
    key: keys.support1,
    body: { payment: paid.body.id, amount: 100 },
  });
  assert.equal(small.status, 201);
  assert.equal(small.body.object, "refund");
  const big = await call<Approval>(t.app, "POST", "/v1/refunds", {
    key: keys.support1,
    body: { payment: paid.body.id },
  });
  assert.equal(big.status, 202);
  assert.equal(big.body.action, "refund.create");
  assert.equal(big.body.arguments.amount, 400);
  const payment = async () =>
    (
      await call<{ amount_refunded: number }>(t.app, "GET", `/v1/payments/${paid.body.id}`, {
        key: m.secretKey,
      })
    ).body;
  assert.equal((await payment()).amount_refunded, 100);
  const approved = await call<Approval>(t.app, "POST", `/v1/approvals/${big.body.id}/approve`, {
    key: keys.support2,
  });
  assert.equal(approved.status, 200, JSON.stringify(approved.body));
  assert.equal(approved.body.status, "approved");
  assert.equal(approved.body.result?.object, "refund", JSON.stringify(approved.body));
  assert.equal((await payment()).amount_refunded, 500);
});

test("a role change is a four-eyes action too", async () => {
  const target = await call<{ staff: { id: string } }>(t.app, "POST", "/v1/staff", {
    key: keys.owner1,
    body: { email: "newbie@studio.example", role: "viewer" },
  });
  const asked = await call<Approval>(t.app, "POST", `/v1/staff/${target.body.staff.id}/role`, {
    key: keys.owner1,
    body: { role: "finance" },
  });
  assert.equal(asked.status, 202);
  // The merchant's key is not a person: it never decides (it could mint the people who would).
  const byKey = await call<{ error: { code: string } }>(
    t.app,
    "POST",
    `/v1/approvals/${asked.body.id}/approve`,
    {
      key: m.secretKey,
    },
  );
  assert.equal(byKey.status, 403);
  assert.equal(byKey.body.error.code, "approval_needs_person");
  const approved = await call<Approval>(t.app, "POST", `/v1/approvals/${asked.body.id}/approve`, {
    key: keys.owner2,
  });
  assert.equal(approved.body.status, "approved");
  const staff = await call<{ role: string }>(t.app, "GET", `/v1/staff/${target.body.staff.id}`, {
    key: m.secretKey,
  });
  assert.equal(staff.body.role, "finance");
});

interface Batch {
  id: string;
  status: string;
  approved_by: string | null;
}

async function batchBy(key: string): Promise<Batch> {
  const created = await call<Batch>(t.app, "POST", "/v1/voucher_batches", {
    key,
    body: { count: 3, value: { amount: 500, currency: "EUR" } },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal(created.body.status, "pending_approval");
  return created.body;
}

async function batchStatus(id: string): Promise<Batch> {
  return (await call<Batch>(t.app, "GET", `/v1/voucher_batches/${id}`, { key: m.secretKey })).body;
}

test("voucher batch approval: a finance member asks (202), the creator and the maker never decide, an owner approves once", async () => {
  const batch = await batchBy(keys.finance1!);
  // The creator can neither approve nor ask.
  const ownBatch = await call<{ error: { code: string } }>(
    t.app,
    "POST",
    `/v1/voucher_batches/${batch.id}/approve`,
    { key: keys.finance1 },
  );
  assert.equal(ownBatch.status, 403);
  assert.equal(ownBatch.body.error.code, "approver_is_creator");
  // Support holds no voucher permission at all.
  const support = await call(t.app, "POST", `/v1/voucher_batches/${batch.id}/approve`, {
    key: keys.support1,
  });
  assert.equal(support.status, 403);

  const asked = await call<Approval>(t.app, "POST", `/v1/voucher_batches/${batch.id}/approve`, {
    key: keys.finance2,
  });
  assert.equal(asked.status, 202, JSON.stringify(asked.body));
  assert.equal(asked.body.action, "voucher_batch.approve");
  assert.deepEqual(asked.body.arguments, { merchant: m.merchantId, mode: "test", batch: batch.id });
  assert.equal((await batchStatus(batch.id)).status, "pending_approval");

  // The maker cannot decide; the creator does not hold voucher:approve; other arguments are refused.
  const maker = await call<{ error: { code: string } }>(
    t.app,
    "POST",
    `/v1/approvals/${asked.body.id}/approve`,
    { key: keys.finance2 },
  );
  assert.equal(maker.body.error.code, "approval_own_request");
  const creator = await call(t.app, "POST", `/v1/approvals/${asked.body.id}/approve`, { key: keys.finance1 });
  assert.equal(creator.status, 403);
  const other = await batchBy(keys.finance1!);
  const otherArguments = await call(t.app, "POST", `/v1/approvals/${asked.body.id}/approve`, {
    key: keys.owner1,
    body: { batch: other.id },
  });
  assert.equal(otherArguments.status, 400);
  assert.equal((await batchStatus(batch.id)).status, "pending_approval");

  const approved = await call<Approval>(t.app, "POST", `/v1/approvals/${asked.body.id}/approve`, {
    key: keys.owner1,
  });
  assert.equal(approved.status, 200, JSON.stringify(approved.body));
  assert.equal(approved.body.status, "approved");
  const after = await batchStatus(batch.id);
  assert.equal(after.status, "approved");
  // The approval ran for its own batch only.
  assert.equal((await batchStatus(other.id)).status, "pending_approval");

  const replay = await call<{ error: { code: string } }>(
    t.app,
    "POST",
    `/v1/approvals/${asked.body.id}/approve`,
    { key: keys.owner1 },
  );
  assert.equal(replay.status, 409);
  assert.equal(replay.body.error.code, "approval_not_pending");
  // Asking again about an approved batch is refused.
  const again = await call(t.app, "POST", `/v1/voucher_batches/${batch.id}/approve`, { key: keys.finance2 });
  assert.equal(again.status, 409);
});

test("voucher batch approval: an owner approves a finance member's batch at once, never their own; a request expires", async () => {
  const batch = await batchBy(keys.finance1!);
  const direct = await call<Batch>(t.app, "POST", `/v1/voucher_batches/${batch.id}/approve`, {
    key: keys.owner1,
  });
  assert.equal(direct.status, 200, JSON.stringify(direct.body));
  assert.equal(direct.body.status, "approved");

  const owners = await batchBy(keys.owner1!);
  const own = await call<{ error: { code: string } }>(
    t.app,
    "POST",
    `/v1/voucher_batches/${owners.id}/approve`,
    { key: keys.owner1 },
  );
  assert.equal(own.status, 403);
  assert.equal(own.body.error.code, "approver_is_creator");

  const late = await batchBy(keys.finance1!);
  const asked = await call<Approval>(t.app, "POST", `/v1/voucher_batches/${late.id}/approve`, {
    key: keys.finance2,
  });
  assert.equal(asked.status, 202);
  clock.advance(73 * 3600 * 1000);
  const expired = await call(t.app, "POST", `/v1/approvals/${asked.body.id}/approve`, { key: keys.owner1 });
  assert.equal(expired.status, 409);
  assert.equal((await batchStatus(late.id)).status, "pending_approval");
});

/** A staff member made by `key` (the merchant's key, or a person's): their personal key. */
async function staffBy(key: string, email: string, role: string): Promise<string> {
  const made = await call<{ api_key: string }>(t.app, "POST", "/v1/staff", { key, body: { email, role } });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  return made.body.api_key;
}

test("four eyes are two people: an API key never decides, nor anyone the maker (or its merchant's keys) created", async () => {
  // The merchant's automation asks for money; a key it mints and a person it adds are still it.
  const asked = await call<Approval>(t.app, "POST", "/v1/ledger/adjustments", {
    key: m.secretKey,
    body: { currency: "EUR", amount: 1_000_000, direction: "credit", reason: "self-approved?" },
  });
  assert.equal(asked.status, 202, JSON.stringify(asked.body));
  const before = await available("EUR");
  const minted = await call<{ secret: string }>(t.app, "POST", "/v1/api_keys", {
    key: m.secretKey,
    body: { type: "secret" },
  });
  assert.equal(minted.status, 201, JSON.stringify(minted.body));
  const byKey = await call<{ error: { code: string; type: string } }>(
    t.app,
    "POST",
    `/v1/approvals/${asked.body.id}/approve`,
    { key: minted.body.secret },
  );
  assert.equal(byKey.status, 403);
  assert.equal(byKey.body.error.code, "approval_needs_person");
  const puppet = await staffBy(minted.body.secret, "puppet@studio.example", "finance");
  const byPuppet = await call<{ error: { code: string } }>(
    t.app,
    "POST",
    `/v1/approvals/${asked.body.id}/approve`,
    { key: puppet },
  );
  assert.equal(byPuppet.status, 403);
  assert.equal(byPuppet.body.error.code, "approval_own_request");
  // The puppet's own puppet too: the chain of creators leads back to the merchant's keys.
  const owner = await staffBy(m.secretKey, "key-made-owner@studio.example", "owner");
  const grandchild = await staffBy(owner, "grandchild@studio.example", "finance");
  const byGrandchild = await call(t.app, "POST", `/v1/approvals/${asked.body.id}/reject`, {
    key: grandchild,
  });
  assert.equal(byGrandchild.status, 403);
  assert.equal(await available("EUR"), before, "nothing was credited");

  // A person the merchant's keys did not create decides.
  const approved = await call<Approval>(t.app, "POST", `/v1/approvals/${asked.body.id}/approve`, {
    key: keys.finance2,
  });
  assert.equal(approved.status, 200, JSON.stringify(approved.body));
  assert.equal(await available("EUR"), before + 1_000_000);
});

test("a person's requests are not approved by the people they added", async () => {
  const added = await staffBy(keys.owner1!, "added-by-owner1@studio.example", "finance");
  const asked = await call<Approval>(t.app, "POST", "/v1/ledger/adjustments", {
    key: keys.owner1,
    body: { currency: "EUR", amount: 77, direction: "credit", reason: "owner asks" },
  });
  assert.equal(asked.status, 202, JSON.stringify(asked.body));
  const byAdded = await call<{ error: { code: string } }>(
    t.app,
    "POST",
    `/v1/approvals/${asked.body.id}/approve`,
    {
      key: added,
    },
  );
  assert.equal(byAdded.status, 403);
  assert.equal(byAdded.body.error.code, "approval_own_request");
  // The people the platform owner added decide each other's requests (the owner is the root).
  const approved = await call(t.app, "POST", `/v1/approvals/${asked.body.id}/approve`, {
    key: keys.finance1,
  });
  assert.equal(approved.status, 200, JSON.stringify(approved.body));
});

test("a merchant key that adds an owner to its team cannot approve its own voucher batch through them", async () => {
  const batch = await batchBy(m.secretKey);
  const direct = await call<{ error: { code: string } }>(
    t.app,
    "POST",
    `/v1/voucher_batches/${batch.id}/approve`,
    { key: m.secretKey },
  );
  assert.equal(direct.status, 403);
  assert.equal(direct.body.error.code, "approver_is_creator");
  const owner = await staffBy(m.secretKey, "voucher-owner@studio.example", "owner");
  const viaOwner = await call<{ error: { code: string } }>(
    t.app,
    "POST",
    `/v1/voucher_batches/${batch.id}/approve`,
    { key: owner },
  );
  assert.equal(viaOwner.status, 403, JSON.stringify(viaOwner.body));
  assert.equal(viaOwner.body.error.code, "approver_is_creator");
  assert.equal((await batchStatus(batch.id)).status, "pending_approval");
  const codes = await call(t.app, "GET", `/v1/voucher_batches/${batch.id}/codes`, { key: m.secretKey });
  assert.notEqual(codes.status, 200, "no codes before an approval");

  // An owner the platform added approves it.
  const approved = await call<Batch>(t.app, "POST", `/v1/voucher_batches/${batch.id}/approve`, {
    key: keys.owner1,
  });
  assert.equal(approved.status, 200, JSON.stringify(approved.body));
  assert.equal(approved.body.status, "approved");
});
