/**
 * Goal: subscribers get the messages their country's rules require, and only those: in Great
 * Britain a confirmation of the terms, a receipt after every charge and a reminder once a year;
 * in France a confirmation and receipts, by e-mail in French when there is no number; in Germany
 * nothing. Each by the channel the subscriber has, in their locale, once however many workers run.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { runDueBilling } from "../../src/billing/scheduler.ts";
import { NOTICE_EVENTS_SQL, NOTICE_SETTLE_MS, runNotices } from "../../src/notifications/index.ts";
import {
  ADMIN_KEY,
  call,
  createMerchant,
  createTestApp,
  FakeClock,
  type MerchantKeys,
  type TestApp,
} from "../support/app.ts";

const clock = new FakeClock(Date.parse("2026-03-02T11:00:00Z"));
let t: TestApp;
let m: MerchantKeys;

type Message = {
  to: string;
  kind: string;
  locale: string;
  body: string;
  subject: string | null;
  channel: string;
};

const post = <T = Record<string, unknown>>(url: string, body: unknown = {}) =>
  call<T>(t.app, "POST", url, { key: m.secretKey, body });

const notices = () =>
  runNotices({
    db: t.services.db,
    notifier: t.services.notifier,
    clock,
    portalUrl: "https://pay.example/portal",
  });

async function messagesTo(to: string): Promise<Message[]> {
  const r = await call<{ data: Message[] }>(
    t.app,
    "GET",
    `/v1/test_helpers/messages?to=${encodeURIComponent(to)}&limit=100`,
    { key: ADMIN_KEY },
  );
  return r.body.data.reverse();
}

async function subscribe(customer: Record<string, unknown>, period = "P1M") {
  const c = await post<{ id: string }>("/v1/customers", customer);
  assert.equal(c.status, 201, JSON.stringify(c.body));
  const product = await post<{ id: string }>("/v1/products", { name: "Match alerts" });
  const price = await post<{ id: string }>("/v1/prices", {
    product: product.body.id,
    amount: 450,
    currency: "GBP",
    recurring: { period },
  });
  let sub = await post<{ id: string; status: string }>("/v1/subscriptions", {
    customer: c.body.id,
    price: price.body.id,
    payment_method: { type: "sandbox", scenario: "approve" },
  });
  assert.equal(sub.status, 201, JSON.stringify(sub.body));
  if (sub.body.status === "incomplete")
    sub = await post(`/v1/subscriptions/${sub.body.id}/confirm`, { pin: "1234" });
  return sub.body.id;
}

async function settle() {
  clock.advance(NOTICE_SETTLE_MS + 1000);
  // Two workers at once: each event is claimed once.
  await Promise.all([notices(), notices()]);
  while ((await notices()) > 0);
}

before(async () => {
  t = await createTestApp({ clock });
  m = await createMerchant(t.app, "Goal Alerts Ltd");
});
after(() => t.close());

test("Great Britain: confirmation, a receipt per charge, a yearly reminder; once each", async () => {
  const number = "+447700900123";
  await subscribe({ msisdn: number, country: "GB", locale: "en-GB" });
  await runDueBilling(t.services.billing.context, { nowMs: clock.nowMs() });
  await settle();
  let sent = await messagesTo(number);
  assert.deepEqual(
    sent.map((s) => s.kind),
    ["subscription_confirmation", "subscription_receipt"],
  );
  assert.equal(sent[0]!.channel, "sms");
  assert.match(sent[0]!.body, /Goal Alerts Ltd: you subscribed to Match alerts for £4\.50 per month/);
  assert.match(sent[0]!.body, /https:\/\/pay\.example\/portal or reply STOP/);
  assert.match(sent[1]!.body, /£4\.50 charged for Match alerts/);

  // Twelve more months of renewals: a receipt each, and the reminder once the year is up.
  for (let month = 0; month < 12; month++) {
    clock.advance(31 * 86_400_000);
    await runDueBilling(t.services.billing.context, { nowMs: clock.nowMs() });
  }
  await settle();
  sent = await messagesTo(number);
  const kinds = sent.map((s) => s.kind);
  assert.equal(kinds.filter((k) => k === "subscription_confirmation").length, 1);
  assert.equal(kinds.filter((k) => k === "subscription_receipt").length, 13);
  assert.equal(kinds.filter((k) => k === "subscription_reminder").length, 1);
  assert.match(sent.find((s) => s.kind === "subscription_reminder")!.body, /still running/);
  // Running again sends nothing more.
  await settle();
  assert.equal((await messagesTo(number)).length, sent.length);
});

test("France by e-mail in French; Germany gets nothing (its rules ask for nothing)", async () => {
  await subscribe({ email: "Zoe@Example.fr", country: "FR", locale: "fr-FR" });
  await subscribe({ msisdn: "+4915112349999", country: "DE" });
  await runDueBilling(t.services.billing.context, { nowMs: clock.nowMs() });
  await settle();
  const zoe = await messagesTo("zoe@example.fr");
  assert.deepEqual(
    zoe.map((s) => [s.channel, s.kind, s.locale]),
    [
      ["email", "subscription_confirmation", "fr"],
      ["email", "subscription_receipt", "fr"],
    ],
  );
  assert.match(zoe[0]!.subject ?? "", /Votre abonnement à Match alerts/);
  assert.match(zoe[1]!.body, /prélevés pour Match alerts/);
  assert.deepEqual(await messagesTo("+4915112349999"), []);
});

test("a run reads only subscription events: payments' events after the cursor are not scanned", async () => {
  // Before migration 0350 the query filtered every event after the cursor by type, and the cursor
  // moves only when a subscription event is found: with payments alone each run read them all.
  const { db } = t.services;
  const plan = await db.transaction(async (tx) => {
    await tx.query("set local enable_seqscan = off");
    const { rows } = await tx.query<{ "QUERY PLAN": string }>(`explain ${NOTICE_EVENTS_SQL}`, [
      "evt_",
      50,
      new Date(clock.nowMs()),
    ]);
    return rows.map((r) => r["QUERY PLAN"]).join("\n");
  });
  // Each day partition has its own copy of the index, named by PostgreSQL.
  const { rows: copies } = await db.query<{ name: string }>(
    `select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
      where i.inhparent = 'events_notices'::regclass`,
  );
  const notices = new Set(copies.map((c) => c.name));
  const scanned = [...plan.matchAll(/Index (?:Only )?Scan (?:Backward )?on (\w+)|Scan using (\w+)/g)].map(
    (m) => m[1] ?? m[2]!,
  );
  assert.ok(scanned.length > 0 && scanned.every((index) => notices.has(index)), plan);
});
