/**
 * Every permission checked, for every default role: the matrix is generated from the permission
 * catalogue and the routes the API registers, never written by hand.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { API_ROUTES } from "../../src/backoffice/index.ts";
import {
  ALL_PERMISSIONS,
  DEFAULT_ROLES,
  type Permission,
  PLATFORM_PERMISSIONS,
  permissionForRoute,
} from "../../src/staff/index.ts";
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
  m = await createMerchant(t.app);
});
after(() => t.close());

function routesFor(permission: Permission): string[] {
  return [...API_ROUTES].filter((r) => {
    const [method, url] = r.split(" ") as [string, string];
    return permissionForRoute(method, url) === permission;
  });
}

async function callRoute(route: string, key: string) {
  const [method, url] = route.split(" ") as ["GET" | "POST" | "DELETE", string];
  return call<{ error?: { type: string; code: string } }>(
    t.app,
    method,
    url.replace(/:[a-z_]+/g, "x_missing"),
    {
      key,
      ...(method === "POST" ? { body: {} } : {}),
    },
  );
}

test("every route of the API is in the catalogue", () => {
  assert.ok(API_ROUTES.size > 40);
  const unmapped = [...API_ROUTES].filter((r) => {
    const [method, url] = r.split(" ") as [string, string];
    return permissionForRoute(method, url) === null;
  });
  assert.deepEqual(unmapped, []);
});

for (const [role, held] of Object.entries(DEFAULT_ROLES)) {
  test(`a merchant's ${role}: 403 for each permission the role lacks, never for those it holds`, async () => {
    const invited = await call<{ api_key: string }>(t.app, "POST", "/v1/staff", {
      key: ADMIN_KEY,
      body: { email: `${role}@studio.example`, role, merchant: m.merchantId },
    });
    assert.equal(invited.status, 201, JSON.stringify(invited.body));
    const key = invited.body.api_key;
    assert.match(key, /^sk_staff_/);
    let checked = 0;
    for (const permission of ALL_PERMISSIONS) {
      const holds = held.includes(permission) && !PLATFORM_PERMISSIONS.has(permission);
      for (const route of routesFor(permission)) {
        const reply = await callRoute(route, key);
        // Refused by the catalogue (permission_denied) or, for platform routes, by the surface.
        const denied = reply.status === 403 && reply.body.error?.type === "permission_error";
        assert.equal(
          denied,
          !holds,
          `${role} ${route} (${permission}): ${reply.status} ${JSON.stringify(reply.body)}`,
        );
        checked++;
      }
    }
    assert.ok(checked > 40);
  });
}

test("a restricted key may do only what it lists, and nobody grants what they do not hold", async () => {
  const restricted = await call<{ secret: string; permissions: string[] }>(t.app, "POST", "/v1/api_keys", {
    key: m.secretKey,
    body: { type: "secret", permissions: ["payment:read", "api_key:write"] },
  });
  assert.equal(restricted.status, 201);
  assert.deepEqual(restricted.body.permissions, ["payment:read", "api_key:write"]);
  const key = restricted.body.secret;
  assert.equal((await call(t.app, "GET", "/v1/payments", { key })).status, 200);
  const refused = await call<{ error: { code: string } }>(t.app, "POST", "/v1/customers", { key, body: {} });
  assert.equal(refused.status, 403);
  assert.equal(refused.body.error.code, "permission_denied");
  // It holds api_key:write, but not customer:write: it cannot mint a key that has it.
  const escalation = await call<{ error: { code: string; param: string } }>(t.app, "POST", "/v1/api_keys", {
    key,
    body: { type: "secret", permissions: ["customer:write"] },
  });
  assert.equal(escalation.status, 403);
  assert.equal(escalation.body.error.code, "permission_not_grantable");
  // Nor an unrestricted one.
  const unrestricted = await call(t.app, "POST", "/v1/api_keys", { key, body: { type: "secret" } });
  assert.equal(unrestricted.status, 403);
});

test("a support member cannot invite an owner; a custom role cannot hold more than its maker", async () => {
  const support = await call<{ api_key: string }>(t.app, "POST", "/v1/staff", {
    key: m.secretKey,
    body: { email: "lead@studio.example", role: "support" },
  });
  assert.equal(support.status, 201);
  const invite = await call(t.app, "POST", "/v1/staff", {
    key: support.body.api_key,
    body: { email: "boss@studio.example", role: "owner" },
  });
  assert.equal(invite.status, 403);
  const admin = await call<{ api_key: string }>(t.app, "POST", "/v1/staff", {
    key: m.secretKey,
    body: { email: "admin@studio.example", role: "administrator" },
  });
  const role = await call<{ error: { code: string } }>(t.app, "POST", "/v1/roles", {
    key: admin.body.api_key,
    body: { name: "adjuster", permissions: ["payment:read", "ledger:adjust"] },
  });
  assert.equal(role.status, 403);
  assert.equal(role.body.error.code, "permission_not_grantable");
  const ok = await call<{ name: string }>(t.app, "POST", "/v1/roles", {
    key: admin.body.api_key,
    body: { name: "reader", permissions: ["payment:read"] },
  });
  assert.equal(ok.status, 201);
  // A merchant's own key never reaches platform permissions.
  assert.equal(
    (await call(t.app, "POST", "/v1/merchants", { key: m.secretKey, body: { name: "x" } })).status,
    403,
  );
});
