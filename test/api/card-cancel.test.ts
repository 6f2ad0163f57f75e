/**
 * Cancelling a card payment during 3-D Secure, end to end against the simulator's card PSP: the
 * cancel is a void at the PSP, and a success that arrives after the cancel anyway (a notification
 * that crossed it) is given back at the PSP with its ledger entries and an event. The payment stays
 * canceled, the payer's card holds what it held before, and the books agree with the API's objects.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { signatureHeader } from "../../src/connectors/sdk/auth.ts";
import type { PaymentRow } from "../../src/payments/model.ts";
import type { PaymentProvider, RefundAnswer, RefundRequest } from "../../src/payments/provider.ts";
import { ADMIN_KEY } from "../support/app.ts";
import { auditMerchantBooks } from "../support/auditor.ts";
import { eventually, http, type LiveServer, startLiveServer } from "../support/server.ts";

type Payment = {
  id: string;
  status: string;
  amount_captured: number;
  next_action: { type: string; redirect_to_url?: { url: string } } | null;
};

let live: LiveServer;
let key: string;
let counter = 0;

before(async () => {
  live = await startLiveServer();
  const merchant = await http<{ secret_key: string }>(live.url, "POST", "/v1/merchants", ADMIN_KEY, {
    name: "Card studio",
  });
  key = merchant.body.secret_key;
});
after(async () => {
  await auditMerchantBooks(async (path) => (await http(live.url, "GET", path, key)).body);
  await live.close();
});

/** A fresh Luhn-valid test card ending in 0007: the PSP asks for the 3-D Secure step. */
function card3ds(): string {
  counter++;
  const stem = `4000${String((Date.now() + counter) % 1e7).padStart(7, "0")}`;
  for (let x = 0; x < 10; x++) {
    const n = `${stem}${x}0007`;
    let sum = 0;
    for (let i = 0; i < n.length; i++) {
      let digit = n.charCodeAt(n.length - 1 - i) - 48;
      if (i % 2 === 1) digit = digit * 2 > 9 ? digit * 2 - 9 : digit * 2;
      sum += digit;
    }
    if (sum % 10 === 0) return n;
  }
  throw new Error("no Luhn digit");
}

async function cardBalance(number: string): Promise<number> {
  const network = (await import("../../src/connectors/operators/index.ts")).carrierNetwork();
  // The network keeps a card's account by a fingerprint of the number, never the number.
  const { cardAccountOf } = await import("../../src/simulator/index.ts");
  const r = await fetch(`${network.http_url}/_sim/subscribers/${encodeURIComponent(cardAccountOf(number))}`);
  assert.equal(r.status, 200, `the PSP knows the card ${number}`);
  return Number(((await r.json()) as { balance: number | string }).balance);
}

async function startThreeDs(number: string): Promise<Payment> {
  const r = await http<Payment>(live.url, "POST", "/v1/payments", key, {
    amount: 1500,
    currency: "EUR",
    payment_method: { type: "card", number, exp_month: 12, exp_year: 2035, cvc: "123" },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  assert.equal(r.body.status, "requires_action");
  assert.equal(r.body.next_action?.type, "redirect_to_url");
  return r.body;
}

async function ledgerCodes(paymentId: string): Promise<string[]> {
  const { rows } = await live.database.db.query<{ code: string; amount: bigint }>(
    "select code, amount from ledger_transfers where reference = $1 order by id",
    [paymentId],
  );
  return rows.map((r) => `${r.code}:${r.amount}`);
}

test("cancelling during 3-D Secure voids the payment at the card PSP: the payer can no longer approve it, and the card is not charged", async () => {
  const number = card3ds();
  const created = await startThreeDs(number);
  const authorised = await cardBalance(number);
  const canceled = await http<Payment>(live.url, "POST", `/v1/payments/${created.id}/cancel`, key);
  assert.equal(canceled.status, 200, JSON.stringify(canceled.body));
  assert.equal(canceled.body.status, "canceled");
  assert.equal(await cardBalance(number), authorised + 1500, "the PSP gave the authorisation back");
  // The payer comes back from the bank's page and approves: the PSP has nothing left to approve.
  const page = await fetch(`${created.next_action!.redirect_to_url!.url}?result=approve`);
  await page.text();
  assert.equal(page.status, 404, "no pending authentication after the void");
  assert.equal(await cardBalance(number), authorised + 1500, "still nothing charged");
  const after = await http<Payment>(live.url, "GET", `/v1/payments/${created.id}`, key);
  assert.equal(after.body.status, "canceled");
  assert.equal(after.body.amount_captured, 0);
  assert.deepEqual(await ledgerCodes(created.id), [], "no money moved in the books");
  const { rows } = await live.database.db.query<{ operation: string }>(
    "select operation from provider_interactions where payment_id = $1 order by id",
    [created.id],
  );
  assert.ok(
    rows.some((r) => r.operation === "cardpsp.cancel"),
    `the cancel reached the PSP: ${rows.map((r) => r.operation)}`,
  );
});

test("a success that reaches us after the cancel (a notification that crossed it) is given back at the PSP, with money in and back out in the ledger and an event; the payment stays canceled", async () => {
  const number = card3ds();
  const created = await startThreeDs(number);
  const before = (await cardBalance(number)) + 1500;
  const { rows } = await live.database.db.query<{ attempt_id: string; provider_reference: string }>(
    "select attempt_id, provider_reference from payments where id = $1",
    [created.id],
  );
  const { attempt_id, provider_reference } = rows[0]!;
  const canceled = await http<Payment>(live.url, "POST", `/v1/payments/${created.id}/cancel`, key);
  assert.equal(canceled.body.status, "canceled");
  // The PSP's signed "succeeded" notification, sent before it saw the void, arrives now (twice:
  // notifications are retried). It must not be dropped, and not be applied twice.
  const body = JSON.stringify({
    type: "payment.updated",
    data: {
      id: provider_reference,
      object: "payment",
      reference: attempt_id,
      amount: 1500,
      currency: "EUR",
      status: "succeeded",
    },
  });
  for (let i = 0; i < 2; i++) {
    const r = await fetch(`${live.url}/provider_callbacks/cardpsp/${encodeURIComponent(attempt_id)}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-signature": signatureHeader("whsec_sandbox", body) },
      body,
    });
    assert.equal(r.status, 200);
    await r.text();
  }
  const codes = await eventually(async () => {
    const c = await ledgerCodes(created.id);
    return c.length > 0 ? c : undefined;
  });
  assert.deepEqual(
    [...codes].sort(),
    ["payment_late_success:1500", "payment_late_success_reversal:1500"],
    "money in and back out, once",
  );
  const events = await http<{ data: Array<{ type: string; data: { object: { id: string } } }> }>(
    live.url,
    "GET",
    "/v1/events?limit=100",
    key,
  );
  const mine = events.body.data.filter((e) => e.data.object.id === created.id).map((e) => e.type);
  assert.equal(mine.filter((t) => t === "payment.late_success_reversed").length, 1, `events: ${mine}`);
  const after = await http<Payment>(live.url, "GET", `/v1/payments/${created.id}`, key);
  assert.equal(after.body.status, "canceled");
  assert.equal(after.body.amount_captured, 0);
  assert.equal(await cardBalance(number), before, "the payer's card holds what it held before");
});

test("a reconciliation answer of success applied after the cancel (the pass asked the PSP just before it) is given back the same way, once", async () => {
  const { settleAttempt } = await import("../../src/payments/attempt.ts");
  const number = card3ds();
  const created = await startThreeDs(number);
  const before = (await cardBalance(number)) + 1500;
  const { rows } = await live.database.db.query<{ attempt_id: string; provider_reference: string }>(
    "select attempt_id, provider_reference from payments where id = $1",
    [created.id],
  );
  const { attempt_id, provider_reference } = rows[0]!;
  const canceled = await http<Payment>(live.url, "POST", `/v1/payments/${created.id}/cancel`, key);
  assert.equal(canceled.body.status, "canceled");
  // What reconcileDuePayments hands to settleAttempt after a sync that found the payment succeeded.
  const answer = {
    outcome: { status: "succeeded" as const, reference: provider_reference },
    interactions: [],
  };
  const ctx = live.server.services.payments;
  const first = await settleAttempt(ctx, created.id, attempt_id, answer);
  const second = await settleAttempt(ctx, created.id, attempt_id, answer);
  assert.equal(first.status, "canceled");
  assert.equal(second.status, "canceled");
  assert.deepEqual([...(await ledgerCodes(created.id))].sort(), [
    "payment_late_success:1500",
    "payment_late_success_reversal:1500",
  ]);
  assert.equal(await cardBalance(number), before);
});

type Unresolved = {
  data: Array<{ id: string; status: string; reconciliation: { reason: string; checks: number } }>;
};

/** The late success of a canceled 3-D Secure payment, as reconciliation would hand it over. */
async function canceledWithLateSuccess() {
  const number = card3ds();
  const created = await startThreeDs(number);
  const balance = (await cardBalance(number)) + 1500;
  const { rows } = await live.database.db.query<{ attempt_id: string; provider_reference: string }>(
    "select attempt_id, provider_reference from payments where id = $1",
    [created.id],
  );
  const canceled = await http<Payment>(live.url, "POST", `/v1/payments/${created.id}/cancel`, key);
  assert.equal(canceled.body.status, "canceled");
  const answer = {
    outcome: { status: "succeeded" as const, reference: rows[0]!.provider_reference },
    interactions: [],
  };
  return { id: created.id, attempt: rows[0]!.attempt_id, number, balance, answer };
}

/** The card provider with its give-back answered by `reverse` (the real one passed in). */
function patchGiveBack(
  reverse: (
    request: RefundRequest,
    real: (r: RefundRequest) => Promise<RefundAnswer>,
  ) => Promise<RefundAnswer>,
): () => void {
  const card = live.server.services.payments.providers.get("card") as PaymentProvider;
  const real = card.reverse!.bind(card);
  card.reverse = (request) => reverse(request, real);
  return () => {
    delete (card as { reverse?: unknown }).reverse;
  };
}

test("a give-back the PSP refuses once is asked again by the reconciliation job until confirmed: listed as unresolved meanwhile, money in and out once, one event", async () => {
  const { settleAttempt } = await import("../../src/payments/attempt.ts");
  const late = await canceledWithLateSuccess();
  const asks: string[] = [];
  let listedWhileWaiting: string | undefined;
  const restore = patchGiveBack(async (request, real) => {
    asks.push(request.refundId);
    if (asks.length === 1) return { status: "failed", code: "processor_unavailable", interactions: [] };
    // The second ask comes from the job: until it is confirmed, the payment waits in the list.
    const list = await http<Unresolved>(live.url, "GET", "/v1/payments/unresolved?limit=100", key);
    listedWhileWaiting = list.body.data.find((p) => p.id === late.id)?.reconciliation.reason;
    return real(request);
  });
  try {
    const first = await settleAttempt(live.server.services.payments, late.id, late.attempt, late.answer);
    assert.equal(first.status, "canceled");
    assert.deepEqual(await ledgerCodes(late.id), [], "nothing in the books until the PSP confirms");
    const codes = await eventually(async () => {
      const c = await ledgerCodes(late.id);
      return c.length > 0 ? c : undefined;
    });
    assert.deepEqual([...codes].sort(), ["payment_late_success:1500", "payment_late_success_reversal:1500"]);
  } finally {
    restore();
  }
  assert.equal(asks.length, 2, `asked ${asks.length} times`);
  assert.deepEqual(new Set(asks), new Set([`rev_${late.attempt}`]), "every ask is the same request");
  assert.equal(listedWhileWaiting, "give_back_unconfirmed");
  const list = await http<Unresolved>(live.url, "GET", "/v1/payments/unresolved?limit=100", key);
  assert.equal(list.body.data.filter((p) => p.id === late.id).length, 0, "off the list once confirmed");
  const events = await http<{ data: Array<{ type: string; data: { object: { id: string } } }> }>(
    live.url,
    "GET",
    "/v1/events?limit=100",
    key,
  );
  const mine = events.body.data.filter((e) => e.data.object.id === late.id).map((e) => e.type);
  assert.equal(mine.filter((t) => t === "payment.late_success_reversed").length, 1, `events: ${mine}`);
  const after = await http<Payment>(live.url, "GET", `/v1/payments/${late.id}`, key);
  assert.equal(after.body.status, "canceled");
  assert.equal(await cardBalance(late.number), late.balance);
});

test("a give-back the PSP never confirms is asked a bounded number of times, then left on the unresolved list for a person", async () => {
  const { settleAttempt, retryGiveBack, GIVE_BACK_ASKS_MAX } = await import("../../src/payments/attempt.ts");
  const late = await canceledWithLateSuccess();
  const restore = patchGiveBack(async () => ({ status: "pending", interactions: [] }));
  const db = live.database.db;
  try {
    const ctx = live.server.services.payments;
    await settleAttempt(ctx, late.id, late.attempt, late.answer);
    // As if asked all but once already; the job kept away (due next year).
    await db.query(
      `update payments set reconcile_after = now() + interval '1 year',
         provider_state = jsonb_set(provider_state, '{give_back,asked}', $2::jsonb) where id = $1`,
      [late.id, JSON.stringify(GIVE_BACK_ASKS_MAX - 1)],
    );
    const { rows } = await db.query<PaymentRow>("select * from payments where id = $1", [late.id]);
    await retryGiveBack(ctx, rows[0]!);
  } finally {
    restore();
  }
  const { rows } = await db.query<{
    reconcile_after: Date | null;
    provider_state: { give_back: { asked: number } };
  }>("select reconcile_after, provider_state from payments where id = $1", [late.id]);
  assert.equal(rows[0]!.reconcile_after, null, "no more asks");
  assert.equal(rows[0]!.provider_state.give_back.asked, GIVE_BACK_ASKS_MAX);
  const list = await http<Unresolved>(live.url, "GET", "/v1/payments/unresolved?limit=100", key);
  const listed = list.body.data.find((p) => p.id === late.id);
  assert.equal(listed?.reconciliation.reason, "give_back_unconfirmed");
  assert.equal(listed?.reconciliation.checks, GIVE_BACK_ASKS_MAX);
  assert.equal(listed?.status, "canceled");
  assert.deepEqual(await ledgerCodes(late.id), [], "nothing written while the PSP has not given it back");
});
