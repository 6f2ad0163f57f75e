/**
 * Payments through the sandbox provider, scenario by scenario: statuses, money on the ledger,
 * the timeline, and the settlement of unknown outcomes by asking the provider (never by charging
 * again).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { reconcileDuePayments } from "../../src/payments/reconcile.ts";
import {
  call,
  createMerchant,
  createTestApp,
  FakeClock,
  type MerchantKeys,
  sandboxPayment,
  type TestApp,
} from "../support/app.ts";
import { auditMerchantBooks } from "../support/auditor.ts";

type Payment = {
  id: string;
  status: string;
  amount: number;
  amount_captured: number;
  amount_refunded: number;
  amount_capturable: number;
  failure_code: string | null;
  next_action: { type: string; enter_pin?: { attempts_remaining: number } } | null;
  created: string;
  capture_before: string | null;
};

const clock = new FakeClock(Date.parse("2026-03-01T10:00:00Z"));
let t: TestApp;
let m: MerchantKeys;

before(async () => {
  t = await createTestApp({ clock, config: { sandboxAsyncDelayMs: 1000, reconcileAfterMs: 2000 } });
  m = await createMerchant(t.app);
});
after(async () => {
  // Whatever the tests above did, the merchant's books agree with its payments and refunds.
  await auditMerchantBooks(async (path) => (await call(t.app, "GET", path, { key: m.secretKey })).body);
  await t.close();
});

async function pay(body: unknown) {
  return call<Payment>(t.app, "POST", "/v1/payments", { key: m.secretKey, body });
}

async function trialBalance() {
  const r = await call<{
    data: Array<{
      currency: string;
      debits: number;
      credits: number;
      pending_debits: number;
      pending_credits: number;
    }>;
  }>(t.app, "GET", "/v1/ledger/trial_balance", { key: m.secretKey });
  return r.body.data;
}

async function capturesOf(paymentId: string) {
  const { rows } = await t.services.db.query<{ type: string; amount: bigint }>(
    "select type, amount from ledger_transfers where reference = $1 order by id",
    [paymentId],
  );
  return rows;
}

describe("automatic capture", () => {
  test("approve: succeeded, captured in full, one ledger transfer, balanced", async () => {
    const r = await pay(sandboxPayment("approve", { amount: 199 }));
    assert.equal(r.status, 201);
    assert.equal(r.body.status, "succeeded");
    assert.equal(r.body.amount_captured, 199);
    assert.match(r.body.id, /^pay_[0-9a-z]{26}$/);
    const transfers = await capturesOf(r.body.id);
    assert.deepEqual(transfers, [{ type: "single_phase", amount: 199n }]);
    for (const row of await trialBalance()) assert.equal(row.debits, row.credits);
  });

  for (const [scenario, code] of [
    ["decline_insufficient_funds", "insufficient_funds"],
    ["decline_generic", "generic_decline"],
    ["decline_blocked", "blocked"],
  ] as const) {
    test(`${scenario}: created as failed with failure_code ${code}, no money moved`, async () => {
      const r = await pay(sandboxPayment(scenario));
      assert.equal(r.status, 201);
      assert.equal(r.body.status, "failed");
      assert.equal(r.body.failure_code, code);
      assert.equal(r.body.amount_captured, 0);
      assert.deepEqual(await capturesOf(r.body.id), []);
    });
  }
});

describe("asynchronous and unknown outcomes", () => {
  test("pending_then_approve: processing, then succeeded once the provider settles it", async () => {
    const r = await pay(sandboxPayment("pending_then_approve"));
    assert.equal(r.body.status, "processing");
    await reconcileDuePayments(t.services.payments);
    assert.equal(
      (await call<Payment>(t.app, "GET", `/v1/payments/${r.body.id}`, { key: m.secretKey })).body.status,
      "processing",
    );
    clock.advance(1000);
    await reconcileDuePayments(t.services.payments);
    const after = await call<Payment>(t.app, "GET", `/v1/payments/${r.body.id}`, { key: m.secretKey });
    assert.equal(after.body.status, "succeeded");
    assert.deepEqual(await capturesOf(r.body.id), [{ type: "single_phase", amount: 500n }]);
  });

  test("pending_then_decline: processing, then failed, no money moved", async () => {
    const r = await pay(sandboxPayment("pending_then_decline"));
    assert.equal(r.body.status, "processing");
    clock.advance(1000);
    await reconcileDuePayments(t.services.payments);
    const after = await call<Payment>(t.app, "GET", `/v1/payments/${r.body.id}`, { key: m.secretKey });
    assert.equal(after.body.status, "failed");
    assert.deepEqual(await capturesOf(r.body.id), []);
  });

  test("timeout_then_approve: stays processing, is settled by a sync (not a second charge), exactly one capture", async () => {
    const r = await pay(sandboxPayment("timeout_then_approve", { amount: 777 }));
    assert.equal(r.body.status, "processing");
    clock.advance(2000);
    await Promise.all([reconcileDuePayments(t.services.payments), reconcileDuePayments(t.services.payments)]);
    clock.advance(60_000);
    await reconcileDuePayments(t.services.payments);
    const after = await call<Payment>(t.app, "GET", `/v1/payments/${r.body.id}`, { key: m.secretKey });
    assert.equal(after.body.status, "succeeded");
    assert.deepEqual(await capturesOf(r.body.id), [{ type: "single_phase", amount: 777n }]);
    const timeline = await call<{
      data: Array<{ type: string; operation?: string; event?: string; outcome?: string }>;
    }>(t.app, "GET", `/v1/payments/${r.body.id}/timeline`, { key: m.secretKey });
    const operations = timeline.body.data
      .filter((e) => e.type === "provider_interaction")
      .map((e) => `${e.operation}:${e.outcome}`);
    assert.deepEqual(operations, ["charge:unknown:timeout", "sync:succeeded"]);
    const events = timeline.body.data.filter((e) => e.type === "state_change").map((e) => e.event);
    assert.deepEqual(events, ["payment.created", "payment.processing", "payment.succeeded"]);
  });
});

describe("manual capture", () => {
  test("a hold, then a partial capture: the rest is released", async () => {
    const r = await pay(sandboxPayment("approve", { amount: 1000, capture: "manual" }));
    assert.equal(r.body.status, "requires_capture");
    assert.equal(r.body.amount_capturable, 1000);
    let balance = await call<{ available: Array<{ amount: number }>; pending: Array<{ amount: number }> }>(
      t.app,
      "GET",
      "/v1/balance",
      {
        key: m.secretKey,
      },
    );
    const pendingBefore = balance.body.pending[0]!.amount;
    assert.ok(pendingBefore >= 1000);
    const c = await call<Payment>(t.app, "POST", `/v1/payments/${r.body.id}/capture`, {
      key: m.secretKey,
      body: { amount: 600 },
    });
    assert.equal(c.status, 200);
    assert.equal(c.body.status, "succeeded");
    assert.equal(c.body.amount_captured, 600);
    balance = await call(t.app, "GET", "/v1/balance", { key: m.secretKey });
    assert.equal(balance.body.pending[0]!.amount, pendingBefore - 1000);
    const transfers = await capturesOf(r.body.id);
    assert.deepEqual(
      transfers.map((x) => x.type),
      ["pending", "post_pending"],
    );
    assert.equal(transfers[1]!.amount, 600n);
    const again = await call(t.app, "POST", `/v1/payments/${r.body.id}/capture`, {
      key: m.secretKey,
      body: {},
    });
    assert.equal(again.status, 409);
    assert.equal((again.body as { error: { code: string } }).error.code, "payment_unexpected_state");
    for (const row of await trialBalance()) {
      assert.equal(row.debits, row.credits);
      assert.equal(row.pending_debits, row.pending_credits);
    }
  });

  test("capturing more than authorized is refused and changes nothing", async () => {
    const r = await pay(sandboxPayment("approve", { amount: 300, capture: "manual" }));
    const c = await call<{ error: { code: string; param: string } }>(
      t.app,
      "POST",
      `/v1/payments/${r.body.id}/capture`,
      {
        key: m.secretKey,
        body: { amount: 301 },
      },
    );
    assert.equal(c.status, 400);
    assert.equal(c.body.error.code, "amount_too_large");
    assert.equal(c.body.error.param, "amount");
    const still = await call<Payment>(t.app, "GET", `/v1/payments/${r.body.id}`, { key: m.secretKey });
    assert.equal(still.body.status, "requires_capture");
  });

  test("cancel voids the hold", async () => {
    const r = await pay(sandboxPayment("approve", { amount: 400, capture: "manual" }));
    const c = await call<Payment>(t.app, "POST", `/v1/payments/${r.body.id}/cancel`, { key: m.secretKey });
    assert.equal(c.status, 200);
    assert.equal(c.body.status, "canceled");
    assert.deepEqual(
      (await capturesOf(r.body.id)).map((x) => x.type),
      ["pending", "void_pending"],
    );
    const cancelSucceeded = await pay(sandboxPayment("approve"));
    const refused = await call(t.app, "POST", `/v1/payments/${cancelSucceeded.body.id}/cancel`, {
      key: m.secretKey,
    });
    assert.equal(refused.status, 409);
  });

  test("a capture or a cancel the provider refuses changes nothing in the books (502 provider_refused)", async () => {
    const r = await pay(sandboxPayment("approve", { amount: 350, capture: "manual" }));
    const sandbox = t.services.payments.providers.require("sandbox");
    const { capture, cancel } = sandbox;
    sandbox.capture = async () => ({ ok: false, interactions: [] });
    sandbox.cancel = async () => ({ ok: false, interactions: [] });
    try {
      for (const action of ["capture", "cancel"]) {
        const refused = await call<{ error: { code: string } }>(
          t.app,
          "POST",
          `/v1/payments/${r.body.id}/${action}`,
          { key: m.secretKey, body: {} },
        );
        assert.equal(refused.status, 502, action);
        assert.equal(refused.body.error.code, "provider_refused", action);
      }
    } finally {
      sandbox.capture = capture;
      sandbox.cancel = cancel;
    }
    const still = await call<Payment>(t.app, "GET", `/v1/payments/${r.body.id}`, { key: m.secretKey });
    assert.equal(still.body.status, "requires_capture");
    assert.equal(still.body.amount_captured, 0);
    assert.deepEqual(
      (await capturesOf(r.body.id)).map((x) => x.type),
      ["pending"],
      "the hold stands: neither posted nor voided",
    );
  });

  test("an authorization not captured within 7 days expires and the payment is canceled", async () => {
    const { expireHolds } = await import("../../src/payments/reconcile.ts");
    const r = await pay(sandboxPayment("approve", { amount: 250, capture: "manual" }));
    const sevenDaysMs = 7 * 24 * 3600 * 1000;
    assert.equal(r.body.status, "requires_capture");
    assert.equal(Date.parse(r.body.capture_before ?? "") - Date.parse(r.body.created), sevenDaysMs);
    // A moment before the seven days are over the hold still stands.
    clock.advance(sevenDaysMs - 1);
    await expireHolds(t.services.payments);
    const before = await call<Payment>(t.app, "GET", `/v1/payments/${r.body.id}`, { key: m.secretKey });
    assert.equal(before.body.status, "requires_capture");
    clock.advance(2);
    await expireHolds(t.services.payments);
    const after = await call<Payment>(t.app, "GET", `/v1/payments/${r.body.id}`, { key: m.secretKey });
    assert.equal(after.body.status, "canceled");
    assert.equal(after.body.failure_code, "authorization_expired");
    assert.deepEqual(
      (await capturesOf(r.body.id)).map((x) => x.type),
      ["pending", "expire_pending"],
    );
  });
});

describe("PIN confirmation", () => {
  test("require_pin: requires_action, a wrong PIN is counted, 1234 succeeds", async () => {
    const r = await pay(sandboxPayment("require_pin"));
    assert.equal(r.body.status, "requires_action");
    assert.equal(r.body.next_action?.type, "enter_pin");
    const wrong = await call<{ error: { code: string; param: string } }>(
      t.app,
      "POST",
      `/v1/payments/${r.body.id}/confirm`,
      {
        key: m.secretKey,
        body: { pin: "0000" },
      },
    );
    assert.equal(wrong.status, 402);
    assert.equal(wrong.body.error.code, "incorrect_pin");
    assert.equal(wrong.body.error.param, "pin");
    const mid = await call<Payment>(t.app, "GET", `/v1/payments/${r.body.id}`, { key: m.secretKey });
    assert.equal(mid.body.next_action?.enter_pin?.attempts_remaining, 2);
    const ok = await call<Payment>(t.app, "POST", `/v1/payments/${r.body.id}/confirm`, {
      key: m.secretKey,
      body: { pin: "1234" },
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.body.status, "succeeded");
    assert.equal((await capturesOf(r.body.id)).length, 1);
  });

  test("three wrong PINs fail the payment", async () => {
    const r = await pay(sandboxPayment("require_pin"));
    for (let i = 0; i < 2; i++) {
      const wrong = await call(t.app, "POST", `/v1/payments/${r.body.id}/confirm`, {
        key: m.secretKey,
        body: { pin: "9999" },
      });
      assert.equal(wrong.status, 402);
    }
    const last = await call<Payment>(t.app, "POST", `/v1/payments/${r.body.id}/confirm`, {
      key: m.secretKey,
      body: { pin: "9999" },
    });
    assert.equal(last.body.status, "failed");
    assert.equal(last.body.failure_code, "pin_attempts_exceeded");
    const late = await call(t.app, "POST", `/v1/payments/${r.body.id}/confirm`, {
      key: m.secretKey,
      body: { pin: "1234" },
    });
    assert.equal(late.status, 409);
    assert.deepEqual(await capturesOf(r.body.id), []);
  });
});

describe("lists", () => {
  test("cursor pagination walks every payment once, newest first", async () => {
    const other = await createMerchant(t.app, "Pager");
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const r = await call<Payment>(t.app, "POST", "/v1/payments", {
        key: other.secretKey,
        body: sandboxPayment("approve"),
      });
      ids.push(r.body.id);
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await call<{ data: Payment[]; has_more: boolean }>(
        t.app,
        "GET",
        `/v1/payments?limit=3${cursor ? `&starting_after=${cursor}` : ""}`,
        { key: other.secretKey },
      );
      seen.push(...page.body.data.map((p) => p.id));
      if (!page.body.has_more) break;
      cursor = page.body.data.at(-1)!.id;
    }
    assert.deepEqual(seen, [...ids].reverse());
    const back = await call<{ data: Payment[]; has_more: boolean }>(
      t.app,
      "GET",
      `/v1/payments?limit=2&ending_before=${ids[2]}`,
      {
        key: other.secretKey,
      },
    );
    assert.deepEqual(
      back.body.data.map((p) => p.id),
      [ids[4], ids[3]],
    );
    const failed = await call<{ data: Payment[] }>(t.app, "GET", "/v1/payments?status=failed", {
      key: other.secretKey,
    });
    assert.equal(failed.body.data.length, 0);
  });

  test("a cursor that is not an id, or both cursors at once, is refused naming the field", async () => {
    const m = await createMerchant(t.app, "Cursors");
    const cases: Array<[string, string]> = [
      ["starting_after=garbage", "starting_after"],
      ["starting_after=pay_nope", "starting_after"],
      ["ending_before=x'%3B--", "ending_before"],
      [`starting_after=pay_${"0".repeat(26)}&ending_before=pay_${"1".repeat(26)}`, "ending_before"],
    ];
    for (const [query, param] of cases) {
      const r = await call<{ error: { code: string; param: string } }>(
        t.app,
        "GET",
        `/v1/payments?${query}`,
        {
          key: m.secretKey,
        },
      );
      assert.equal(r.status, 400, query);
      assert.equal(r.body.error.code, "parameter_invalid", query);
      assert.equal(r.body.error.param, param, query);
    }
    // A well-formed id that is not (or no longer) there is a position in time, as any other.
    const empty = await call<{ data: Payment[] }>(
      t.app,
      "GET",
      `/v1/payments?starting_after=pay_${"0".repeat(26)}`,
      {
        key: m.secretKey,
      },
    );
    assert.equal(empty.status, 200);
  });

  test("ledger entries page by entry: every entry once, a page never larger than its limit, forwards and backwards", async () => {
    const m = await createMerchant(t.app, "Entries");
    for (let i = 0; i < 3; i++) {
      await call(t.app, "POST", "/v1/payments", { key: m.secretKey, body: sandboxPayment("approve") });
    }
    type Entry = { id: string; account: string };
    const list = (query: string) =>
      call<{ data: Entry[]; has_more: boolean }>(t.app, "GET", `/v1/ledger/entries?${query}`, {
        key: m.secretKey,
      });
    const all = (await list("limit=100")).body.data.map((e) => e.id);
    assert.ok(all.length >= 6, `${all.length} entries`);
    assert.equal(new Set(all).size, all.length);
    for (const limit of [1, 2, 3]) {
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let pages = 0; pages < 100; pages++) {
        const page = await list(`limit=${limit}${cursor ? `&starting_after=${cursor}` : ""}`);
        assert.equal(page.status, 200);
        assert.ok(page.body.data.length <= limit, `limit ${limit}: a page of ${page.body.data.length}`);
        seen.push(...page.body.data.map((e) => e.id));
        if (!page.body.has_more) break;
        cursor = page.body.data.at(-1)!.id;
      }
      assert.deepEqual(seen, all, `forwards, limit ${limit}`);
      const back: string[] = [];
      cursor = all.at(-1);
      back.unshift(cursor!);
      for (let pages = 0; pages < 100; pages++) {
        const page = await list(`limit=${limit}&ending_before=${cursor}`);
        assert.ok(page.body.data.length <= limit);
        back.unshift(...page.body.data.map((e) => e.id));
        if (!page.body.has_more) break;
        cursor = page.body.data[0]!.id;
      }
      assert.deepEqual(back, all, `backwards, limit ${limit}`);
    }
    // One account's side only, paged one by one.
    const account = (await list("limit=1")).body.data[0]!.account;
    const ofAccount = (await list(`limit=100&account=${account}`)).body.data.map((e) => e.id);
    const paged: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 100; pages++) {
      const page = await list(`limit=1&account=${account}${cursor ? `&starting_after=${cursor}` : ""}`);
      paged.push(...page.body.data.map((e) => e.id));
      if (!page.body.has_more) break;
      cursor = page.body.data.at(-1)!.id;
    }
    assert.deepEqual(paged, ofAccount);
    const refused = await list("starting_after=tr_nope");
    assert.equal(refused.status, 400);
    assert.equal((refused.body as unknown as { error: { param: string } }).error.param, "starting_after");
  });
});
