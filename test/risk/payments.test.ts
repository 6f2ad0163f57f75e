/**
 * The risk hook in the payment path: a rule in shadow mode blocks nothing and records what it
 * would have done; switched on, it blocks: the payment is created (201) `failed` with
 * `blocked_by_risk_rule`, the provider is never called and the ledger never touched; decisions
 * name the rule, its action and the values it read. A `review` rule holds the payment with
 * nothing charged until the review queue approves it (charged once) or refuses it.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { ChargeRequest } from "../../src/payments/provider.ts";
import { Risk } from "../../src/risk/index.ts";
import {
  ADMIN_KEY,
  call,
  createMerchant,
  createTestApp,
  type MerchantKeys,
  type TestApp,
} from "../support/app.ts";

let t: TestApp;
let m: MerchantKeys;
const charged: string[] = [];

before(async () => {
  t = await createTestApp();
  m = await createMerchant(t.app, "Guarded studio");
  // Every charge the sandbox is asked for, by payment.
  const sandbox = t.services.payments.providers.get("sandbox")!;
  const charge = sandbox.charge.bind(sandbox);
  sandbox.charge = async (request: ChargeRequest) => {
    charged.push(request.attemptId);
    return charge(request);
  };
});
after(async () => t.close());

interface Payment {
  id: string;
  status: string;
  failure_code: string | null;
  failure_message: string | null;
}
interface Decision {
  rule: string;
  rule_name: string;
  action: string;
  mode: string;
  applied: boolean;
  payment: string;
  attribute_values: Record<string, unknown>;
}

async function pay(amount: number, extra: Record<string, unknown> = {}, key?: string) {
  return call<Payment>(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: { amount, currency: "EUR", payment_method: { type: "sandbox", scenario: "approve" }, ...extra },
    ...(key ? { headers: { "Idempotency-Key": key } } : {}),
  });
}

/** How many times the provider was asked to charge a payment (its attempts, by id). */
async function chargesOf(paymentId: string): Promise<number> {
  const { rows } = await t.database.db.query<{ attempt_id: string }>(
    "select attempt_id from payments where id = $1",
    [paymentId],
  );
  return charged.filter((id) => id === rows[0]?.attempt_id).length;
}

async function decisionsOf(paymentId: string, key = m.secretKey) {
  const reply = await call<{ data: Decision[] }>(t.app, "GET", `/v1/risk_decisions?payment=${paymentId}`, {
    key,
  });
  assert.equal(reply.status, 200);
  return reply.body.data;
}

async function ledgerTransfersOf(paymentId: string): Promise<number> {
  const { rows } = await t.database.db.query<{ n: number }>(
    "select count(*)::int as n from ledger_transfers where reference = $1",
    [paymentId],
  );
  return Number(rows[0]!.n);
}

test("a shadow rule blocks nothing and records what it would have done; enforced, it blocks", async () => {
  const rule = await call<{ id: string }>(t.app, "POST", "/v1/risk_rules", {
    key: m.secretKey,
    body: { name: "big", rule: "block if amount > 1000", mode: "shadow" },
  });
  assert.equal(rule.status, 201);

  const small = await pay(500);
  assert.equal(small.body.status, "succeeded");
  assert.deepEqual(await decisionsOf(small.body.id), []);

  const shadowed = await pay(5000);
  assert.equal(shadowed.status, 201);
  assert.equal(shadowed.body.status, "succeeded");
  const [wouldHave] = await decisionsOf(shadowed.body.id);
  assert.deepEqual(
    { ...wouldHave, attribute_values: wouldHave?.attribute_values },
    {
      ...wouldHave,
      rule: rule.body.id,
      rule_name: "big",
      action: "block",
      mode: "shadow",
      applied: false,
      payment: shadowed.body.id,
      attribute_values: { amount: 5000 },
    },
  );

  await call(t.app, "POST", `/v1/risk_rules/${rule.body.id}`, {
    key: m.secretKey,
    body: { mode: "enforce" },
  });
  const before = charged.length;
  const blocked = await pay(5000, {}, "blocked-once");
  assert.equal(blocked.status, 201);
  assert.equal(blocked.body.status, "failed");
  assert.equal(blocked.body.failure_code, "blocked_by_risk_rule");
  assert.match(blocked.body.failure_message ?? "", /big/);
  assert.equal(charged.length, before, "the provider was never asked");
  assert.equal(await chargesOf(blocked.body.id), 0);
  assert.equal(await ledgerTransfersOf(blocked.body.id), 0, "no ledger posting");
  const [decision] = await decisionsOf(blocked.body.id);
  assert.equal(decision?.rule, rule.body.id);
  assert.equal(decision?.action, "block");
  assert.equal(decision?.mode, "enforce");
  assert.equal(decision?.applied, true);

  // The same key answers the same blocked payment; nothing new is created.
  const replay = await pay(5000, {}, "blocked-once");
  assert.equal(replay.body.id, blocked.body.id);
  assert.equal(replay.headers["idempotent-replayed"], "true");
  const got = await call<Payment>(t.app, "GET", `/v1/payments/${blocked.body.id}`, { key: m.secretKey });
  assert.equal(got.body.status, "failed");

  // A blocked payment's events: created and failed, like any declined payment.
  const { rows: events } = await t.database.db.query<{ type: string }>(
    "select type from events where payment_id = $1 order by id",
    [blocked.body.id],
  );
  assert.deepEqual(
    events.map((e) => e.type),
    ["payment.created", "payment.failed"],
  );
  await call(t.app, "DELETE", `/v1/risk_rules/${rule.body.id}`, { key: m.secretKey });
  assert.equal((await pay(5000)).body.status, "succeeded");
});

test("lists: a blocklisted address is blocked, an allowlisted one passes a blocking rule", async () => {
  const block = await call<{ id: string }>(t.app, "POST", "/v1/risk_rules", {
    key: m.secretKey,
    body: { name: "blocked addresses", rule: 'block if ip in blocklist("ips")', mode: "enforce" },
  });
  assert.equal(block.status, 201);
  await call(t.app, "POST", "/v1/risk_list_entries", {
    key: m.secretKey,
    body: { list_type: "blocklist", list: "ips", value: "203.0.113.9" },
  });
  const blocked = await pay(300, { ip_address: "203.0.113.9" });
  assert.equal(blocked.status, 201, JSON.stringify(blocked.body));
  assert.equal(blocked.body.failure_code, "blocked_by_risk_rule");
  const [decision] = await decisionsOf(blocked.body.id);
  assert.deepEqual(decision?.attribute_values, { ip: "203.0.113.9" });
  assert.equal((await pay(300, { ip_address: "203.0.113.10" })).body.status, "succeeded");

  const allow = await call<{ id: string }>(t.app, "POST", "/v1/risk_rules", {
    key: m.secretKey,
    body: { name: "trusted", rule: 'allow if ip in allowlist("ips")', mode: "enforce" },
  });
  await call(t.app, "POST", "/v1/risk_list_entries", {
    key: m.secretKey,
    body: { list_type: "allowlist", list: "ips", value: "203.0.113.9" },
  });
  const allowed = await pay(300, { ip_address: "203.0.113.9" });
  assert.equal(allowed.body.status, "succeeded");
  const decisions = await decisionsOf(allowed.body.id);
  assert.deepEqual(decisions.map((d) => [d.rule_name, d.action, d.applied]).sort(), [
    ["blocked addresses", "block", false],
    ["trusted", "allow", true],
  ]);
  for (const id of [block.body.id, allow.body.id])
    await call(t.app, "DELETE", `/v1/risk_rules/${id}`, { key: m.secretKey });
});

test("a review rule holds the payment; approving charges it once, refusing fails it; nothing moves before", async () => {
  const rule = await call<{ id: string }>(t.app, "POST", "/v1/risk_rules", {
    key: m.secretKey,
    body: { name: "look first", rule: "review if amount >= 7000", mode: "enforce" },
  });
  const held = await pay(7000);
  assert.equal(held.status, 201);
  assert.equal(held.body.status, "processing");
  assert.equal(await chargesOf(held.body.id), 0);
  assert.equal(await ledgerTransfersOf(held.body.id), 0);
  const other = await pay(7001);

  const queue = await call<{ data: { id: string; review: { rule: string } }[] }>(
    t.app,
    "GET",
    "/v1/risk_reviews",
    {
      key: m.secretKey,
    },
  );
  assert.equal(queue.status, 200);
  assert.deepEqual(
    queue.body.data.map((p) => p.id),
    [held.body.id, other.body.id],
  );
  assert.equal(queue.body.data[0]?.review.rule, "look first");

  // Another merchant cannot decide it.
  const stranger = await createMerchant(t.app, "Stranger");
  const foreign = await call(t.app, "POST", `/v1/risk_reviews/${held.body.id}/approve`, {
    key: stranger.secretKey,
    body: {},
  });
  assert.equal(foreign.status, 404);

  const approved = await call<Payment>(t.app, "POST", `/v1/risk_reviews/${held.body.id}/approve`, {
    key: m.secretKey,
    body: {},
  });
  assert.equal(approved.status, 200, JSON.stringify(approved.body));
  assert.equal(approved.body.status, "succeeded");
  assert.equal(await chargesOf(held.body.id), 1);
  assert.equal(await ledgerTransfersOf(held.body.id), 1);
  const twice = await call<{ error: { code: string } }>(
    t.app,
    "POST",
    `/v1/risk_reviews/${held.body.id}/approve`,
    {
      key: m.secretKey,
      body: {},
    },
  );
  assert.equal(twice.status, 409);
  assert.equal(await chargesOf(held.body.id), 1);

  const refused = await call<Payment>(t.app, "POST", `/v1/risk_reviews/${other.body.id}/refuse`, {
    key: ADMIN_KEY,
    body: {},
  });
  assert.equal(refused.status, 200, JSON.stringify(refused.body));
  assert.equal(refused.body.status, "failed");
  assert.equal(refused.body.failure_code, "refused_in_review");
  assert.equal(await chargesOf(other.body.id), 0);
  assert.equal(await ledgerTransfersOf(other.body.id), 0);

  const { rows: events } = await t.database.db.query<{ payment_id: string; type: string }>(
    "select payment_id, type from events where payment_id in ($1, $2) order by id",
    [held.body.id, other.body.id],
  );
  assert.deepEqual(
    events.filter((e) => e.payment_id === held.body.id).map((e) => e.type),
    ["payment.created", "payment.review_approved", "payment.succeeded"],
  );
  assert.deepEqual(
    events.filter((e) => e.payment_id === other.body.id).map((e) => e.type),
    ["payment.created", "payment.review_refused", "payment.failed"],
  );
  assert.equal(
    (await call<{ data: unknown[] }>(t.app, "GET", "/v1/risk_reviews", { key: m.secretKey })).body.data
      .length,
    0,
  );
  await call(t.app, "DELETE", `/v1/risk_rules/${rule.body.id}`, { key: m.secretKey });
});

test("require_pin sends a flagged payment through the PIN step; unflagged ones are charged at once", async () => {
  const rule = await call<{ id: string }>(t.app, "POST", "/v1/risk_rules", {
    key: m.secretKey,
    body: { name: "pin for big ones", rule: "require_pin if amount >= 5000", mode: "enforce" },
  });
  assert.equal(rule.status, 201);
  const small = await pay(4999);
  assert.equal(small.body.status, "succeeded");
  const big = await call<
    Payment & { next_action: { type: string } | null; payment_method: { scenario: string } }
  >(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    body: { amount: 5000, currency: "EUR", payment_method: { type: "sandbox", scenario: "approve" } },
  });
  assert.equal(big.status, 201);
  assert.equal(big.body.status, "requires_action", JSON.stringify(big.body));
  assert.equal(big.body.next_action?.type, "enter_pin");
  const decisions = await decisionsOf(big.body.id);
  assert.deepEqual(
    decisions.map((d) => [d.rule_name, d.action, d.applied]),
    [["pin for big ones", "require_pin", true]],
  );
  const wrong = await call<Payment>(t.app, "POST", `/v1/payments/${big.body.id}/confirm`, {
    key: m.secretKey,
    body: { pin: "0000" },
  });
  assert.notEqual(wrong.body.status, "succeeded");
  const right = await call<Payment>(t.app, "POST", `/v1/payments/${big.body.id}/confirm`, {
    key: m.secretKey,
    body: { pin: "1234" },
  });
  assert.equal(right.body.status, "succeeded", JSON.stringify(right.body));
  assert.equal((await ledgerTransfersOf(big.body.id)) > 0, true);
  // In shadow mode it is recorded only.
  await call(t.app, "POST", `/v1/risk_rules/${rule.body.id}`, { key: m.secretKey, body: { mode: "shadow" } });
  assert.equal((await pay(6000)).body.status, "succeeded");
  await call(t.app, "DELETE", `/v1/risk_rules/${rule.body.id}`, { key: m.secretKey });
});

test("decisions that decided nothing leave the payment's commit: written within a flush period, read at once by the API, written at shutdown", async () => {
  const shop = await createMerchant(t.app, "Shadowed shop");
  for (const [name, rule, mode] of [
    ["watch everything", "review if amount > 0", "shadow"],
    ["stop the huge", "block if amount > 100000", "enforce"],
  ] as const) {
    const created = await call(t.app, "POST", "/v1/risk_rules", {
      key: shop.secretKey,
      body: { name, rule, mode },
    });
    assert.equal(created.status, 201);
  }
  // What each payment hands to the group commit.
  const committed: Array<{ table: string; row: Record<string, unknown> }[]> = [];
  const submit = t.services.committer.submit.bind(t.services.committer);
  t.services.committer.submit = (unit) => {
    committed.push([...unit.rows]);
    return submit(unit);
  };
  const payAt = (amount: number) =>
    call<Payment>(t.app, "POST", "/v1/payments", {
      key: shop.secretKey,
      body: { amount, currency: "EUR", payment_method: { type: "sandbox", scenario: "approve" } },
    });
  const stored = async (paymentId: string) => {
    const { rows } = await t.database.db.query<{ rule_name: string; decided: boolean }>(
      "select rule_name, decided from risk_decisions where payment_id = $1 order by rule_name",
      [paymentId],
    );
    return rows.map((r) => `${r.rule_name}:${r.decided}`);
  };
  try {
    // A shadow match only: nothing of it in the payment's statement, in the table soon after
    // without anyone reading (the buffer's timer).
    const watched = await payAt(500);
    assert.equal(watched.body.status, "succeeded");
    assert.deepEqual(
      committed.at(-1)!.filter((r) => r.table === "risk_decisions"),
      [],
      "no decision row in the payment's commit",
    );
    const deadline = Date.now() + 5000;
    while ((await stored(watched.body.id)).length === 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(await stored(watched.body.id), ["watch everything:false"]);

    // The API reads what this process decided at once (it writes its buffer before reading).
    const next = await payAt(600);
    const [decision] = await decisionsOf(next.body.id, shop.secretKey);
    assert.equal(decision?.rule_name, "watch everything");
    assert.equal(decision?.applied, false);

    // The decision that refused a payment commits with it; the shadow one beside it does not.
    const blocked = await payAt(200_000);
    assert.equal(blocked.body.status, "failed");
    const inCommit = committed.at(-1)!.filter((r) => r.table === "risk_decisions");
    assert.deepEqual(
      inCommit.map((r) => `${r.row.rule_name}:${r.row.decided}`),
      ["stop the huge:true"],
    );
    assert.deepEqual(
      (await decisionsOf(blocked.body.id, shop.secretKey)).map((d) => `${d.rule_name}:${d.applied}`).sort(),
      ["stop the huge:true", "watch everything:false"],
    );
  } finally {
    t.services.committer.submit = submit;
  }

  // A process that stops writes what it still holds.
  const other = new Risk(t.database.db, t.clock);
  const scope = { merchantId: shop.merchantId, mode: "test" as const };
  const verdict = await other.assess(
    scope,
    { flow: "payment", paymentId: "pay_written_at_close", amount: 100, currency: "EUR", method: "sandbox" },
    Date.now(),
  );
  assert.equal(verdict.rows.length, 0);
  other.log(verdict.logged);
  await other.close();
  assert.deepEqual(await stored("pay_written_at_close"), ["watch everything:false"]);
});
