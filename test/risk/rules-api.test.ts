/**
 * The risk API: rules are created in shadow mode, refused with a 400 naming `rule` and the
 * character where the text went wrong, switched to enforce, disabled (never erased); every merchant
 * sees the default rules; list entries are added, listed and removed; one merchant never sees
 * another's rules, lists or decisions.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { call, createMerchant, createTestApp, type MerchantKeys, type TestApp } from "../support/app.ts";

let t: TestApp;
let m: MerchantKeys;
let other: MerchantKeys;

before(async () => {
  t = await createTestApp();
  m = await createMerchant(t.app, "Risky studio");
  other = await createMerchant(t.app, "Other studio");
});
after(async () => t.close());

interface Rule {
  id: string;
  name: string;
  rule: string;
  action: string;
  mode: string;
  default: boolean;
}

test("a rule is created in shadow mode, shown in canonical form, and switched on", async () => {
  const created = await call<Rule>(t.app, "POST", "/v1/risk_rules", {
    key: m.secretKey,
    body: { name: "big amounts", rule: "block   if amount>1000" },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal(created.body.rule, "block if amount > 1000");
  assert.equal(created.body.action, "block");
  assert.equal(created.body.mode, "shadow");
  assert.equal(created.body.default, false);
  assert.match(created.body.id, /^rr_/);

  const enforced = await call<Rule>(t.app, "POST", `/v1/risk_rules/${created.body.id}`, {
    key: m.secretKey,
    body: { mode: "enforce" },
  });
  assert.equal(enforced.status, 200);
  assert.equal(enforced.body.mode, "enforce");
  assert.equal(enforced.body.rule, "block if amount > 1000");

  const got = await call<Rule>(t.app, "GET", `/v1/risk_rules/${created.body.id}`, { key: m.secretKey });
  assert.equal(got.body.mode, "enforce");

  const disabled = await call<Rule>(t.app, "DELETE", `/v1/risk_rules/${created.body.id}`, {
    key: m.secretKey,
  });
  assert.equal(disabled.status, 200);
  assert.equal(disabled.body.mode, "disabled");
  assert.equal(
    (await call<Rule>(t.app, "GET", `/v1/risk_rules/${created.body.id}`, { key: m.secretKey })).body.mode,
    "disabled",
  );

  const duplicate = await call<{ error: { code: string; param: string } }>(t.app, "POST", "/v1/risk_rules", {
    key: m.secretKey,
    body: { name: "big amounts", rule: "block if amount > 5" },
  });
  assert.equal(duplicate.status, 409);
  assert.equal(duplicate.body.error.param, "name");
});

test("a bad rule is a 400 naming the field rule and the character", async () => {
  const cases: [string, RegExp][] = [
    ["block amount > 1000", /Expected 'if'.*at character 7 of rule/],
    ["block if amout > 1000", /Unknown attribute 'amout'.*at character 10/],
    ['block if amount > "ten"', /compares numbers only/],
    ["", /./],
    ['block if msisdn in blocklist("phones")', /A list is one of/],
  ];
  for (const [rule, message] of cases) {
    const reply = await call<{ error: { code: string; param: string; message: string } }>(
      t.app,
      "POST",
      "/v1/risk_rules",
      {
        key: m.secretKey,
        body: { name: `bad ${rule}`, rule },
      },
    );
    assert.equal(reply.status, 400, rule);
    assert.equal(reply.body.error.param, "rule", rule);
    assert.match(reply.body.error.message, message, rule);
    assert.ok(
      ["parameter_invalid", "parameter_too_long", "parameter_invalid_type"].includes(reply.body.error.code) ||
        reply.body.error.code.startsWith("parameter"),
      reply.body.error.code,
    );
  }
  const badMode = await call<{ error: { param: string } }>(t.app, "POST", "/v1/risk_rules", {
    key: m.secretKey,
    body: { name: "x", rule: "block if amount > 1", mode: "loud" },
  });
  assert.equal(badMode.status, 400);
  assert.equal(badMode.body.error.param, "mode");
  const reserved = await call<{ error: { param: string } }>(t.app, "POST", "/v1/risk_rules", {
    key: m.secretKey,
    body: { name: "default: mine", rule: "block if amount > 1" },
  });
  assert.equal(reserved.status, 400);
  assert.equal(reserved.body.error.param, "name");
});

test("every merchant has the default rules, enforced; they change mode but not text", async () => {
  const list = await call<{ data: Rule[] }>(t.app, "GET", "/v1/risk_rules?limit=100", {
    key: other.secretKey,
  });
  assert.equal(list.status, 200);
  const defaults = list.body.data.filter((r) => r.default);
  assert.ok(defaults.length >= 4, JSON.stringify(list.body.data));
  assert.ok(defaults.every((r) => r.mode === "enforce" && r.name.startsWith("default:")));
  // Another merchant's rules are not listed.
  assert.ok(!list.body.data.some((r) => r.name === "big amounts"));
  const target = defaults[0]!;
  const shadowed = await call<Rule>(t.app, "POST", `/v1/risk_rules/${target.id}`, {
    key: other.secretKey,
    body: { mode: "shadow" },
  });
  assert.equal(shadowed.body.mode, "shadow");
  const rewrite = await call<{ error: { param: string } }>(t.app, "POST", `/v1/risk_rules/${target.id}`, {
    key: other.secretKey,
    body: { rule: "allow if amount > 0" },
  });
  assert.equal(rewrite.status, 400);
  assert.equal(rewrite.body.error.param, "rule");
  // Disabling a default does not bring it back.
  await call(t.app, "DELETE", `/v1/risk_rules/${target.id}`, { key: other.secretKey });
  const again = await call<{ data: Rule[] }>(t.app, "GET", "/v1/risk_rules?limit=100", {
    key: other.secretKey,
  });
  assert.equal(again.body.data.filter((r) => r.name === target.name).length, 1);
  assert.equal(again.body.data.find((r) => r.name === target.name)?.mode, "disabled");
  // Another merchant cannot read or change it.
  assert.equal((await call(t.app, "GET", `/v1/risk_rules/${target.id}`, { key: m.secretKey })).status, 404);
  assert.equal(
    (
      await call(t.app, "POST", `/v1/risk_rules/${target.id}`, {
        key: m.secretKey,
        body: { mode: "enforce" },
      })
    ).status,
    404,
  );
});

test("list entries are added, filtered, refused twice and removed", async () => {
  const add = (body: Record<string, string>) =>
    call<{ id: string; value: string; list: string; list_type: string; error?: { param: string } }>(
      t.app,
      "POST",
      "/v1/risk_list_entries",
      { key: m.secretKey, body },
    );
  const msisdn = await add({ list_type: "blocklist", list: "msisdns", value: "+33612345678" });
  assert.equal(msisdn.status, 201);
  assert.match(msisdn.body.id, /^rle_/);
  const country = await add({ list_type: "allowlist", list: "countries", value: "fr" });
  assert.equal(country.status, 201);
  assert.equal(country.body.value, "FR");
  assert.equal((await add({ list_type: "blocklist", list: "msisdns", value: "+33612345678" })).status, 409);
  const badCountry = await add({ list_type: "blocklist", list: "countries", value: "France" });
  assert.equal(badCountry.status, 400);
  assert.equal(badCountry.body.error?.param, "value");
  assert.equal((await add({ list_type: "greylist", list: "msisdns", value: "+1" })).status, 400);

  const blocked = await call<{ data: { id: string }[] }>(
    t.app,
    "GET",
    "/v1/risk_list_entries?list_type=blocklist",
    {
      key: m.secretKey,
    },
  );
  assert.deepEqual(
    blocked.body.data.map((e) => e.id),
    [msisdn.body.id],
  );
  assert.equal(
    (await call<{ data: unknown[] }>(t.app, "GET", "/v1/risk_list_entries", { key: other.secretKey })).body
      .data.length,
    0,
  );
  assert.equal(
    (await call(t.app, "DELETE", `/v1/risk_list_entries/${msisdn.body.id}`, { key: other.secretKey })).status,
    404,
  );
  const removed = await call<{ deleted: boolean }>(
    t.app,
    "DELETE",
    `/v1/risk_list_entries/${msisdn.body.id}`,
    {
      key: m.secretKey,
    },
  );
  assert.equal(removed.status, 200);
  assert.equal(removed.body.deleted, true);
  assert.equal(
    (await call(t.app, "DELETE", `/v1/risk_list_entries/${msisdn.body.id}`, { key: m.secretKey })).status,
    404,
  );
});

test("the routes are described in the OpenAPI document", async () => {
  const doc = await call<{
    paths: Record<string, Record<string, { operationId?: string; responses?: Record<string, unknown> }>>;
  }>(t.app, "GET", "/openapi.json");
  for (const [path, method, id] of [
    ["/v1/risk_rules", "post", "createRiskRule"],
    ["/v1/risk_rules", "get", "listRiskRules"],
    ["/v1/risk_rules/{id}", "post", "updateRiskRule"],
    ["/v1/risk_rules/{id}", "delete", "disableRiskRule"],
    ["/v1/risk_list_entries", "post", "createRiskListEntry"],
    ["/v1/risk_decisions", "get", "listRiskDecisions"],
  ] as const) {
    const op = doc.body.paths[path]?.[method];
    assert.equal(op?.operationId, id, `${method} ${path}`);
    assert.ok(op?.responses?.["400"], `${method} ${path} documents its 400`);
  }
});
