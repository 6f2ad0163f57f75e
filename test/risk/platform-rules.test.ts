/**
 * The platform's own risk rules (`/v1/platform/risk_*`, SIGNIN_SCOPE): the admin key and platform
 * staff holding `risk:platform` manage them; merchant keys, merchant staff (even owners) and
 * platform staff without the permission get 403. Every write is in the audit log. A platform rule
 * in enforce blocks payer sign-ins (code requests); it never judges a merchant's payment, which
 * only its merchant's rules do (docs/risk.md).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { PayerThrottle } from "../../src/payers/index.ts";
import { SIGNIN_SCOPE } from "../../src/risk/index.ts";
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

before(async () => {
  t = await createTestApp();
  t.services.payers.ctx.throttle = new PayerThrottle();
  m = await createMerchant(t.app, "Risky studio");
});
after(async () => t.close());

interface Rule {
  id: string;
  name: string;
  rule: string;
  mode: string;
  default: boolean;
  livemode: boolean;
}

async function staffKey(role: string, merchant: string | null): Promise<string> {
  const r = await call<{ api_key: string }>(t.app, "POST", "/v1/staff", {
    key: ADMIN_KEY,
    body: {
      email: `${role}-${merchant ?? "platform"}@centime.example`,
      role,
      ...(merchant ? { merchant } : {}),
    },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.api_key;
}

async function askCode(msisdn: string) {
  const r = await t.app.inject({
    method: "POST",
    url: "/v1/payer_sessions/codes",
    remoteAddress: "203.0.113.7",
    headers: { "content-type": "application/json" },
    payload: JSON.stringify({ msisdn }),
  });
  return r.statusCode;
}

const ROUTES: Array<["GET" | "POST" | "DELETE", string, unknown?]> = [
  ["GET", "/v1/platform/risk_rules"],
  ["POST", "/v1/platform/risk_rules", { name: "x", rule: "block if amount > 1" }],
  ["GET", "/v1/platform/risk_rules/rr_x"],
  ["POST", "/v1/platform/risk_rules/rr_x", { mode: "enforce" }],
  ["DELETE", "/v1/platform/risk_rules/rr_x"],
  ["GET", "/v1/platform/risk_list_entries"],
  [
    "POST",
    "/v1/platform/risk_list_entries",
    { list_type: "blocklist", list: "msisdns", value: "+33600000000" },
  ],
  ["DELETE", "/v1/platform/risk_list_entries/rle_x"],
  ["GET", "/v1/platform/risk_decisions"],
];

test("only the admin key and platform staff with risk:platform reach the platform's rules", async () => {
  const refused = [
    ["merchant secret key", m.secretKey],
    ["merchant owner", await staffKey("owner", m.merchantId)],
    ["platform viewer", await staffKey("viewer", null)],
  ] as const;
  for (const [who, key] of refused)
    for (const [method, url, body] of ROUTES) {
      const r = await call<{ error: { type: string } }>(t.app, method, url, {
        key,
        ...(body ? { body } : {}),
      });
      assert.equal(r.status, 403, `${who} ${method} ${url}: ${r.status} ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error.type, "permission_error");
    }
  // Nothing was written by the refused calls.
  const { rows } = await t.database.db.query(
    "select name from risk_rules where merchant_id = $1 and origin = 'merchant'",
    [SIGNIN_SCOPE.merchantId],
  );
  assert.deepEqual(rows, []);
  const administrator = await staffKey("administrator", null);
  const listed = await call<{ data: Rule[] }>(t.app, "GET", "/v1/platform/risk_rules", {
    key: administrator,
  });
  assert.equal(listed.status, 200, JSON.stringify(listed.body));
  // The platform's defaults (made on first use), in live mode.
  assert.ok(listed.body.data.some((r) => r.name === "default: PIN brute force" && r.default && r.livemode));
});

test("an enforced platform rule blocks sign-ins; shadow records only; every write is audited", async () => {
  const number = "+33655501234";
  assert.equal(await askCode(number), 202);
  const created = await call<Rule>(t.app, "POST", "/v1/platform/risk_rules", {
    key: ADMIN_KEY,
    body: { name: "stolen numbers", rule: `block if msisdn = "${number}"` },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal(created.body.mode, "shadow");
  assert.equal(created.body.rule, `block if msisdn = "${number}"`);
  // Shadow: the decision is recorded, the payer is not turned away.
  assert.equal(await askCode(number), 202);
  const enforced = await call<Rule>(t.app, "POST", `/v1/platform/risk_rules/${created.body.id}`, {
    key: ADMIN_KEY,
    body: { mode: "enforce" },
  });
  assert.equal(enforced.status, 200);
  assert.equal(enforced.body.mode, "enforce");
  assert.equal(await askCode(number), 429);
  assert.equal(await askCode("+33655509999"), 202, "another number is not blocked");
  const decisions = await call<{
    data: Array<{ rule_name: string; mode: string; applied: boolean; flow: string }>;
  }>(t.app, "GET", "/v1/platform/risk_decisions", { key: ADMIN_KEY });
  const ours = decisions.body.data.filter((d) => d.rule_name === "stolen numbers");
  assert.deepEqual(
    ours.map((d) => [d.flow, d.mode, d.applied]),
    [
      ["signin", "enforce", true],
      ["signin", "shadow", false],
    ],
  );
  // A merchant never sees the platform's rules.
  const merchantRules = await call<{ data: Rule[] }>(t.app, "GET", "/v1/risk_rules", { key: m.secretKey });
  assert.ok(!merchantRules.body.data.some((r) => r.id === created.body.id));
  for (const action of ["platform.risk_rules.create", "platform.risk_rules.update"]) {
    const audit = await call<{ data: Array<{ action: string; outcome: string; target: string }> }>(
      t.app,
      "GET",
      `/v1/audit_events?action=${action}`,
      {
        key: ADMIN_KEY,
      },
    );
    assert.equal(audit.status, 200, JSON.stringify(audit.body));
    // The refused attempts of the first test are there too, as refusals.
    const done = audit.body.data.filter((e) => e.outcome === "success");
    assert.deepEqual(
      done.map((e) => e.target),
      [created.body.id],
      `${action}: ${JSON.stringify(audit.body)}`,
    );
  }
  // Disabled, it blocks no more.
  await call(t.app, "POST", `/v1/platform/risk_rules/${created.body.id}`, {
    key: ADMIN_KEY,
    body: { mode: "disabled" },
  });
  assert.equal(await askCode(number), 202);
});

test("platform lists: a blocklisted number is refused at sign-in once a rule reads the list", async () => {
  const number = "+33655507777";
  const entry = await call<{ id: string; value: string }>(t.app, "POST", "/v1/platform/risk_list_entries", {
    key: ADMIN_KEY,
    body: { list_type: "blocklist", list: "msisdns", value: number },
  });
  assert.equal(entry.status, 201, JSON.stringify(entry.body));
  const rule = await call<Rule>(t.app, "POST", "/v1/platform/risk_rules", {
    key: ADMIN_KEY,
    body: { name: "blocked numbers", rule: 'block if msisdn in blocklist("msisdns")', mode: "enforce" },
  });
  assert.equal(rule.status, 201, JSON.stringify(rule.body));
  assert.equal(await askCode(number), 429);
  const listed = await call<{ data: Array<{ value: string }> }>(
    t.app,
    "GET",
    "/v1/platform/risk_list_entries",
    {
      key: ADMIN_KEY,
    },
  );
  assert.deepEqual(
    listed.body.data.map((e) => e.value),
    [number],
  );
  const removed = await call(t.app, "DELETE", `/v1/platform/risk_list_entries/${entry.body.id}`, {
    key: ADMIN_KEY,
  });
  assert.equal(removed.status, 200);
  assert.equal(await askCode(number), 202);
  // DELETE disables a platform rule as it does a merchant's: kept, switched off.
  const disabled = await call<Rule>(t.app, "DELETE", `/v1/platform/risk_rules/${rule.body.id}`, {
    key: ADMIN_KEY,
  });
  assert.equal(disabled.status, 200, JSON.stringify(disabled.body));
  assert.equal(disabled.body.mode, "disabled");
});

test("a platform rule never judges a merchant's payment (payments follow their merchant's rules)", async () => {
  const rule = await call<Rule>(t.app, "POST", "/v1/platform/risk_rules", {
    key: ADMIN_KEY,
    body: { name: "every amount", rule: "block if amount >= 1", mode: "enforce" },
  });
  assert.equal(rule.status, 201);
  const payment = await call<{ id: string; status: string }>(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    headers: { "idempotency-key": "platform-rule-1" },
    body: { amount: 199, currency: "EUR", payment_method: { type: "sandbox", scenario: "approve" } },
  });
  assert.equal(payment.status, 201, JSON.stringify(payment.body));
  assert.equal(payment.body.status, "succeeded");
  const { rows } = await t.database.db.query(
    "select 1 from risk_decisions where payment_id = $1 and merchant_id = $2",
    [payment.body.id, SIGNIN_SCOPE.merchantId],
  );
  assert.equal(rows.length, 0);
  // The same rule in the merchant's own scope does block it.
  await call(t.app, "POST", "/v1/risk_rules", {
    key: m.secretKey,
    body: { name: "every amount", rule: "block if amount >= 1", mode: "enforce" },
  });
  const blocked = await call<{ status: string; failure_code: string }>(t.app, "POST", "/v1/payments", {
    key: m.secretKey,
    headers: { "idempotency-key": "platform-rule-2" },
    body: { amount: 199, currency: "EUR", payment_method: { type: "sandbox", scenario: "approve" } },
  });
  assert.equal(blocked.body.status, "failed", JSON.stringify(blocked.body));
  assert.equal(blocked.body.failure_code, "blocked_by_risk_rule");
});
