/**
 * Voucher batches on the back office's page: a finance member activates the cards a shop sold and
 * voids a lost box, through the API's own functions, once per form (a resubmit changes nothing),
 * each in the audit log; the activated cards redeem, the voided ones do not; a viewer gets no form
 * and a 403; another merchant's batch is not found.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  ADMIN_KEY,
  call,
  createMerchant,
  createTestApp,
  type MerchantKeys,
  type TestApp,
} from "../support/app.ts";
import { type AdminSession, signedIn } from "./admin-session.ts";

let t: TestApp;
let ours: MerchantKeys;
let theirs: MerchantKeys;
let finance: AdminSession;
let customerId: string;

/** An approved batch of 10 cards worth 500 EUR cents, and its printer's file (serial → code). */
async function approvedBatch(
  m: MerchantKeys,
): Promise<{ id: string; cards: Array<{ serial: string; code: string }> }> {
  const created = await call<{ id: string }>(t.app, "POST", "/v1/voucher_batches", {
    key: m.secretKey,
    body: { count: 10, value: { amount: 500, currency: "EUR" } },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const approved = await call(t.app, "POST", `/v1/voucher_batches/${created.body.id}/approve`, {
    key: ADMIN_KEY,
  });
  assert.equal(approved.status, 200, JSON.stringify(approved.body));
  const csv = await t.app.inject({
    method: "GET",
    url: `/v1/voucher_batches/${created.body.id}/codes`,
    headers: { authorization: `Bearer ${m.secretKey}` },
  });
  const cards = csv.body
    .trim()
    .split("\n")
    .slice(1)
    .map((line) => {
      const [serial, code] = line.split(",");
      return { serial: serial!, code: code! };
    });
  return { id: created.body.id, cards };
}

async function redeem(code: string): Promise<number> {
  const r = await call(t.app, "POST", "/v1/voucher_redemptions", {
    key: ours.secretKey,
    body: { code, customer: customerId },
  });
  return r.status;
}

/** The form's own idempotency key, as drawn on the page for this batch and action. */
function formKeyOf(page: string, batch: string, action: string): string {
  const at = page.indexOf(`action="/admin/vouchers/${batch}/${action}"`);
  assert.ok(at >= 0, `the page has the ${action} form`);
  const key = /name="idempotency_key" value="([^"]+)"/.exec(page.slice(at))?.[1];
  assert.ok(key);
  return key;
}

before(async () => {
  t = await createTestApp();
  ours = await createMerchant(t.app, "Pixel Forge");
  theirs = await createMerchant(t.app, "Other Studio");
  const customer = await call<{ id: string }>(t.app, "POST", "/v1/customers", {
    key: ours.secretKey,
    body: { email: "gamer@example.org" },
  });
  customerId = customer.body.id;
  finance = (
    await signedIn(t.app, { email: "finance@pixelforge.example", role: "finance", merchant: ours.merchantId })
  ).session;
});
after(() => t.close());

test("activate a sold range once; void a lost range; the cards redeem accordingly", async () => {
  const batch = await approvedBatch(ours);
  const page = await finance.get("/admin/vouchers");
  assert.equal(page.status, 200);
  const key = formKeyOf(page.body, batch.id, "activate");
  const range = { serial_from: batch.cards[0]!.serial, serial_to: batch.cards[3]!.serial };

  // Not sold yet: the code does not redeem.
  assert.equal(await redeem(batch.cards[0]!.code), 400);
  const activated = await finance.post(`/admin/vouchers/${batch.id}/activate`, {
    ...range,
    idempotency_key: key,
  });
  assert.equal(activated.status, 303);
  assert.match(activated.location ?? "", /done=activated&count=4/);
  assert.match((await finance.get(activated.location!)).body, /4 cards are now active/);
  // The same form sent again (a double click): answered from the first, nothing changes.
  const again = await finance.post(`/admin/vouchers/${batch.id}/activate`, {
    ...range,
    idempotency_key: key,
  });
  assert.match(again.location ?? "", /done=already/);

  const voidPage = await finance.get("/admin/vouchers");
  const voided = await finance.post(`/admin/vouchers/${batch.id}/void`, {
    serial_from: batch.cards[2]!.serial,
    serial_to: batch.cards[5]!.serial,
    idempotency_key: formKeyOf(voidPage.body, batch.id, "void"),
  });
  assert.match(voided.location ?? "", /done=voided&count=4/);

  assert.equal(await redeem(batch.cards[0]!.code), 201, "activated and not voided");
  assert.equal(await redeem(batch.cards[1]!.code), 201);
  assert.equal(await redeem(batch.cards[2]!.code), 400, "activated, then voided");
  assert.equal(await redeem(batch.cards[4]!.code), 400, "voided before it was sold");
  assert.equal(await redeem(batch.cards[6]!.code), 400, "never activated");

  const audit = await call<{ data: Array<{ action: string; outcome: string }> }>(
    t.app,
    "GET",
    `/v1/audit_events?object=${batch.id}`,
    { key: ADMIN_KEY },
  );
  const actions = audit.body.data.map((e) => `${e.action} ${e.outcome}`);
  // Each submission is recorded (the resubmit too, answered from the first): the cards changed once.
  assert.equal(actions.filter((a) => a === "voucher_batches.activate success").length, 2, actions.join(", "));
  assert.equal(actions.filter((a) => a === "voucher_batches.void success").length, 1, actions.join(", "));
});

test("a bad serial is named; a viewer gets no form and a 403; another merchant's batch is not found", async () => {
  const batch = await approvedBatch(ours);
  const page = await finance.get("/admin/vouchers");
  const bad = await finance.post(`/admin/vouchers/${batch.id}/activate`, {
    serial_from: "",
    serial_to: batch.cards[1]!.serial,
    idempotency_key: formKeyOf(page.body, batch.id, "activate"),
  });
  assert.equal(bad.status, 400);
  assert.match(bad.body, /serial_from/);

  const viewer = (
    await signedIn(t.app, { email: "viewer@pixelforge.example", role: "viewer", merchant: ours.merchantId })
  ).session;
  const seen = await viewer.get("/admin/vouchers");
  assert.equal(seen.status, 200);
  assert.ok(!seen.body.includes(`/admin/vouchers/${batch.id}/activate`));
  const refused = await viewer.post(`/admin/vouchers/${batch.id}/activate`, {
    serial_from: batch.cards[0]!.serial,
    serial_to: batch.cards[0]!.serial,
  });
  assert.equal(refused.status, 403);
  assert.equal(await redeem(batch.cards[0]!.code), 400, "nothing was activated");

  const theirBatch = await approvedBatch(theirs);
  const foreign = await finance.post(`/admin/vouchers/${theirBatch.id}/activate`, {
    serial_from: theirBatch.cards[0]!.serial,
    serial_to: theirBatch.cards[1]!.serial,
  });
  assert.equal(foreign.status, 404);
});
