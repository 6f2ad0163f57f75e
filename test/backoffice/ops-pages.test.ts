/**
 * The back office's operations screens over HTTP: webhooks (redeliver sends the delivery again,
 * once however often the form is sent), API keys (a key made on the page works with only its
 * permissions, is shown once, and stops at revocation), operators (read-only health), the risk
 * review queue (approve charges once, refuse fails). Another merchant's objects are 404, a viewer
 * is refused every write (403), a role without the permission sees no entry and a 403 page, and
 * every write is in the audit log.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createWebhookEndpoint, runDeliveryPass } from "../../src/events/index.ts";
import { parseAllowedHosts } from "../../src/events/ssrf.ts";
import type { ChargeRequest } from "../../src/payments/provider.ts";
import { startReceiver, testTransport } from "../events/support.ts";
import { call, createMerchant, createTestApp, type MerchantKeys, type TestApp } from "../support/app.ts";
import { StaffVisitor, signedInStaff } from "./staff-visitor.ts";

let t: TestApp;
let m: MerchantKeys;
let stranger: MerchantKeys;
let admin: StaffVisitor;
let adminId: string;
let viewer: StaffVisitor;
let support: StaffVisitor;
const charged: string[] = [];

before(async () => {
  t = await createTestApp();
  m = await createMerchant(t.app, "Pixel Forge");
  stranger = await createMerchant(t.app, "Stranger studio");
  ({ visitor: admin, id: adminId } = await signedInStaff(t.app, {
    email: "admin@pixelforge.example",
    role: "administrator",
    merchant: m.merchantId,
  }));
  ({ visitor: viewer } = await signedInStaff(t.app, {
    email: "viewer@pixelforge.example",
    role: "viewer",
    merchant: m.merchantId,
  }));
  ({ visitor: support } = await signedInStaff(t.app, {
    email: "support@pixelforge.example",
    role: "support",
    merchant: m.merchantId,
  }));
  const sandbox = t.services.payments.providers.get("sandbox")!;
  const charge = sandbox.charge.bind(sandbox);
  sandbox.charge = async (request: ChargeRequest) => {
    charged.push(request.attemptId);
    return charge(request);
  };
});
after(() => t.close());

async function pay(keys: MerchantKeys, amount: number) {
  const r = await call<{ id: string; status: string }>(t.app, "POST", "/v1/payments", {
    key: keys.secretKey,
    body: { amount, currency: "EUR", payment_method: { type: "sandbox", scenario: "approve" } },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

/** How many times the provider was asked to charge a payment, and its ledger transfers. */
async function chargesOf(paymentId: string): Promise<{ charges: number; transfers: number }> {
  const { rows } = await t.database.db.query<{ attempt_id: string; transfers: number }>(
    `select attempt_id, (select count(*)::int from ledger_transfers where reference = $1) as transfers
       from payments where id = $1`,
    [paymentId],
  );
  return {
    charges: charged.filter((id) => id === rows[0]?.attempt_id).length,
    transfers: rows[0]?.transfers ?? 0,
  };
}

async function auditOf(actor: string, action: string) {
  const { rows } = await t.database.db.query<{ outcome: string; object: string | null; status_code: number }>(
    "select outcome, object, status_code from audit_events where actor = $1 and action = $2 order by id",
    [actor, action],
  );
  return rows;
}

test("webhooks: failed deliveries are listed; redeliver sends the event again, once per form however often it is sent", async () => {
  const receiver = await startReceiver();
  const transport = testTransport();
  try {
    receiver.respond((_request, response) => {
      response.statusCode = 500;
      response.end();
    });
    const deps = { db: t.services.db, clock: t.services.clock, allowedHosts: parseAllowedHosts("127.0.0.1") };
    const endpoint = await createWebhookEndpoint(
      deps,
      { merchantId: m.merchantId, mode: "test" },
      { url: receiver.url, events: ["payment.succeeded"] },
    );
    const paid = await pay(m, 700);
    // Every retry of the schedule, on a clock of the worker's own that runs ahead a day per pass.
    let workerNow = Date.now();
    const worker = { nowMs: () => workerNow };
    for (let pass = 0; pass < 20; pass++) {
      await runDeliveryPass({ db: t.services.db, clock: worker, transport, random: () => 0 });
      workerNow += 86_400_000;
    }
    const attempts = receiver.received.length;
    assert.ok(attempts >= 2, `attempts: ${attempts}`);
    const { rows: failed } = await t.database.db.query<{ id: string; status: string; event_id: string }>(
      "select id::text as id, status, event_id from webhook_deliveries where endpoint_id = $1",
      [endpoint.id],
    );
    assert.deepEqual(
      failed.map((d) => d.status),
      ["failed"],
    );
    const delivery = failed[0]!;

    const page = await admin.request("GET", "/admin/webhooks");
    assert.equal(page.statusCode, 200);
    assert.match(page.body, new RegExp(receiver.url.replace(/[/.]/g, "\\$&")));
    assert.match(page.body, /payment\.succeeded/);
    assert.match(page.body, /http_status \(HTTP 500\)/);
    assert.match(page.body, /Given up/);
    const action = `/admin/webhooks/deliveries/${delivery.id}/redeliver`;
    const key = StaffVisitor.formKey(page.body, action);

    // A viewer may look, not redeliver; another merchant's staff gets 404.
    assert.equal((await viewer.request("GET", "/admin/webhooks")).statusCode, 200);
    assert.equal((await viewer.request("POST", action, { idempotency_key: key })).statusCode, 403);
    const { visitor: foreign } = await signedInStaff(t.app, {
      email: "admin@stranger.example",
      role: "administrator",
      merchant: stranger.merchantId,
    });
    await foreign.request("GET", "/admin/webhooks");
    assert.equal((await foreign.request("POST", action, {})).statusCode, 404);

    receiver.respond((_request, response) => {
      response.statusCode = 204;
      response.end();
    });
    // A double click (both at once) and a reload of the POST: one redelivery.
    const [first, second] = await Promise.all([
      admin.request("POST", action, { idempotency_key: key }),
      admin.request("POST", action, { idempotency_key: key }),
    ]);
    assert.deepEqual([first.statusCode, second.statusCode], [303, 303]);
    const again = await admin.request("POST", action, { idempotency_key: key });
    assert.equal(again.headers.location, "/admin/webhooks?done=already");
    // The same delivery from a second tab (another form key): still queued once.
    const otherTab = await admin.request("POST", action, { idempotency_key: "another-tab-key" });
    assert.equal(otherTab.headers.location, "/admin/webhooks?done=already");
    const { rows: queued } = await t.database.db.query<{ n: number }>(
      "select count(*)::int as n from webhook_deliveries where endpoint_id = $1 and manual and status = 'pending'",
      [endpoint.id],
    );
    assert.equal(queued[0]!.n, 1);

    await runDeliveryPass({ db: t.services.db, clock: t.services.clock, transport });
    assert.equal(receiver.received.length, attempts + 1);
    const resent = receiver.received.at(-1)!;
    assert.equal(resent.headers["webhook-id"], delivery.event_id);
    assert.equal((JSON.parse(resent.body) as { data: { object: { id: string } } }).data.object.id, paid.id);

    const audit = await auditOf(adminId, "webhook_deliveries.redeliver");
    assert.ok(audit.some((a) => a.outcome === "success" && a.status_code === 202));
    assert.ok(audit.length >= 3);
  } finally {
    transport.close();
    await receiver.close();
  }
});

test("API keys: a restricted key made on the page works with only its permissions, is shown once, and revocation stops it", async () => {
  const { visitor: developer, id: developerId } = await signedInStaff(t.app, {
    email: "dev@pixelforge.example",
    role: "developer",
    merchant: m.merchantId,
  });
  const page = await developer.request("GET", "/admin/api-keys");
  assert.equal(page.statusCode, 200);
  assert.match(page.body, /value="payment:read"/);
  // A developer does not hold ledger:adjust: it is not offered, and sending it is refused.
  assert.doesNotMatch(page.body, /value="ledger:adjust"/);
  const refused = await developer.request("POST", "/admin/api-keys", {
    idempotency_key: StaffVisitor.formKey(page.body, "/admin/api-keys"),
    name: "too much",
    permissions: ["payment:read", "ledger:adjust"],
  });
  assert.equal(refused.statusCode, 403);

  const form = await developer.request("GET", "/admin/api-keys");
  const key = StaffVisitor.formKey(form.body, "/admin/api-keys");
  const created = await developer.request("POST", "/admin/api-keys", {
    idempotency_key: key,
    name: "reporting",
    permissions: ["payment:read"],
  });
  assert.equal(created.statusCode, 201, created.body);
  assert.equal(created.headers["cache-control"], "no-store");
  const secret = /(sk_test_[0-9A-Za-z]+)/.exec(created.body)?.[1];
  assert.ok(secret, "the secret is on the answer");

  // It reads payments, and nothing else.
  assert.equal((await call(t.app, "GET", "/v1/payments", { key: secret })).status, 200);
  const write = await call(t.app, "POST", "/v1/payments", {
    key: secret,
    body: { amount: 100, currency: "EUR", payment_method: { type: "sandbox", scenario: "approve" } },
  });
  assert.equal(write.status, 403);
  assert.equal((await call(t.app, "GET", "/v1/customers", { key: secret })).status, 403);

  // Never shown again: not on the list, not on a second submit of the same form.
  const list = await developer.request("GET", "/admin/api-keys");
  assert.doesNotMatch(list.body, new RegExp(secret));
  assert.match(list.body, new RegExp(`sk_test_…${secret.slice(-4)}`));
  const replay = await developer.request("POST", "/admin/api-keys", {
    idempotency_key: key,
    name: "reporting",
    permissions: ["payment:read"],
  });
  assert.equal(replay.statusCode, 201);
  assert.doesNotMatch(replay.body, /sk_test_[0-9A-Za-z]{20,}/);
  assert.match(replay.body, /shown once and cannot be shown again/);
  const { rows: made } = await t.database.db.query<{ id: string }>(
    "select id from api_keys where merchant_id = $1 and name = 'reporting'",
    [m.merchantId],
  );
  assert.equal(made.length, 1);
  const keyId = made[0]!.id;

  // Another merchant's key is not ours to revoke; a viewer revokes nothing.
  const { rows: theirs } = await t.database.db.query<{ id: string }>(
    "select id from api_keys where merchant_id = $1 and type = 'secret' and mode = 'test'",
    [stranger.merchantId],
  );
  assert.equal(
    (await developer.request("POST", `/admin/api-keys/${theirs[0]!.id}/revoke`, {})).statusCode,
    404,
  );
  assert.equal((await call(t.app, "GET", "/v1/payments", { key: stranger.secretKey })).status, 200);
  await viewer.request("GET", "/admin/api-keys");
  assert.equal((await viewer.request("POST", `/admin/api-keys/${keyId}/revoke`, {})).statusCode, 403);
  assert.equal((await call(t.app, "GET", "/v1/payments", { key: secret })).status, 200);

  const listed = await developer.request("GET", "/admin/api-keys");
  const revoked = await developer.request("POST", `/admin/api-keys/${keyId}/revoke`, {
    idempotency_key: StaffVisitor.formKey(listed.body, `/admin/api-keys/${keyId}/revoke`),
  });
  assert.equal(revoked.statusCode, 303);
  assert.equal((await call(t.app, "GET", "/v1/payments", { key: secret })).status, 401);

  const audit = await auditOf(developerId, "api_keys.create");
  assert.deepEqual(
    audit.map((a) => [a.outcome, a.status_code]),
    [
      ["refused", 403],
      ["success", 201],
      ["success", 201],
    ],
  );
  assert.equal(audit[1]!.object, keyId);
  const { rows: secrets } = await t.database.db.query<{ n: number }>(
    "select count(*)::int as n from audit_events where changes::text like $1",
    [`%${secret}%`],
  );
  assert.equal(secrets[0]!.n, 0, "the secret is never in the audit log");
  assert.equal((await auditOf(developerId, "api_keys.revoke")).at(-1)?.outcome, "success");
});

test("risk reviews: the queue shows the rule and its values; approve charges once however often it is sent, refuse fails", async () => {
  const rule = await call<{ id: string }>(t.app, "POST", "/v1/risk_rules", {
    key: m.secretKey,
    body: { name: "look first", rule: "review if amount >= 7000", mode: "enforce" },
  });
  assert.equal(rule.status, 201);
  const held = await pay(m, 7000);
  const other = await pay(m, 7001);
  assert.equal(held.status, "processing");

  const page = await admin.request("GET", "/admin/risk/reviews");
  assert.equal(page.statusCode, 200);
  assert.match(page.body, new RegExp(held.id));
  assert.match(page.body, /look first/);
  assert.match(page.body, /review if amount &gt;= 7000/);
  assert.match(page.body, /<code>amount<\/code><\/dt><dd>7000<\/dd>/);
  const approve = `/admin/risk/reviews/${held.id}/approve`;
  const key = StaffVisitor.formKey(page.body, approve);

  // A viewer sees the queue without buttons and is refused; support has no risk:read at all.
  const seen = await viewer.request("GET", "/admin/risk/reviews");
  assert.equal(seen.statusCode, 200);
  assert.doesNotMatch(seen.body, new RegExp(`action="${approve}"`));
  assert.equal((await viewer.request("POST", approve, { idempotency_key: key })).statusCode, 403);
  const supportPage = await support.request("GET", "/admin/payments");
  assert.doesNotMatch(supportPage.body, /href="\/admin\/risk\/reviews"/);
  assert.doesNotMatch(supportPage.body, /href="\/admin\/api-keys"/);
  assert.match(supportPage.body, /href="\/admin\/webhooks"/);
  assert.equal((await support.request("GET", "/admin/risk/reviews")).statusCode, 403);
  assert.equal((await support.request("GET", "/admin/api-keys")).statusCode, 403);
  // Another merchant's staff cannot decide it.
  const strangerHeld = await call(t.app, "POST", "/v1/risk_rules", {
    key: stranger.secretKey,
    body: { name: "theirs", rule: "review if amount >= 7000", mode: "enforce" },
  });
  assert.equal(strangerHeld.status, 201);
  const theirs = await pay(stranger, 9000);
  assert.doesNotMatch(page.body, new RegExp(theirs.id));
  assert.equal((await admin.request("POST", `/admin/risk/reviews/${theirs.id}/approve`, {})).statusCode, 404);

  const [first, second] = await Promise.all([
    admin.request("POST", approve, { idempotency_key: key }),
    admin.request("POST", approve, { idempotency_key: key }),
  ]);
  assert.deepEqual([first.statusCode, second.statusCode], [303, 303]);
  const thirdTab = await admin.request("POST", approve, { idempotency_key: "a-third-tab" });
  assert.equal(thirdTab.headers.location, "/admin/risk/reviews?done=already");
  assert.deepEqual(await chargesOf(held.id), { charges: 1, transfers: 1 });
  const approved = await call<{ status: string }>(t.app, "GET", `/v1/payments/${held.id}`, {
    key: m.secretKey,
  });
  assert.equal(approved.body.status, "succeeded");

  const refusePage = await admin.request("GET", "/admin/risk/reviews");
  const refuse = `/admin/risk/reviews/${other.id}/refuse`;
  const refused = await admin.request("POST", refuse, {
    idempotency_key: StaffVisitor.formKey(refusePage.body, refuse),
  });
  assert.equal(refused.headers.location, "/admin/risk/reviews?done=refused");
  const failed = await call<{ status: string; failure_code: string }>(
    t.app,
    "GET",
    `/v1/payments/${other.id}`,
    {
      key: m.secretKey,
    },
  );
  assert.deepEqual([failed.body.status, failed.body.failure_code], ["failed", "refused_in_review"]);
  assert.deepEqual(await chargesOf(other.id), { charges: 0, transfers: 0 });

  const { rows: events } = await t.database.db.query<{ payment_id: string; type: string }>(
    "select payment_id, type from events where payment_id in ($1, $2) order by id",
    [held.id, other.id],
  );
  assert.deepEqual(
    events.filter((e) => e.payment_id === held.id).map((e) => e.type),
    ["payment.created", "payment.review_approved", "payment.succeeded"],
  );
  assert.deepEqual(
    events.filter((e) => e.payment_id === other.id).map((e) => e.type),
    ["payment.created", "payment.review_refused", "payment.failed"],
  );
  const audit = await auditOf(adminId, "risk_reviews.approve");
  assert.ok(audit.some((a) => a.outcome === "success" && a.object === held.id));
  assert.ok(audit.some((a) => a.outcome === "refused" && a.status_code === 404));
  assert.equal((await auditOf(adminId, "risk_reviews.refuse")).at(-1)?.outcome, "success");
  await call(t.app, "DELETE", `/v1/risk_rules/${rule.body.id}`, { key: m.secretKey });
});

test("operators: each operator's TPS limit, success rate and latency from the rollups, read-only", async () => {
  const hour = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3_600_000);
  await t.database.db.query(
    `insert into analytics_rollups (grain, bucket, merchant_id, mode, metric, operator, count)
     values ('hour', $1, $2, 'test', 'succeeded', '20801', 9), ('hour', $1, $2, 'test', 'failed', '20801', 1),
            ('hour', $1, $3, 'test', 'failed', '20801', 50)`,
    [hour, m.merchantId, stranger.merchantId],
  );
  await t.database.db.query(
    `insert into analytics_distributions (grain, bucket, merchant_id, mode, metric, operator, le_ms, count)
     values ('hour', $1, $2, 'test', 'provider_latency', '20801', 120, 10),
            ('hour', $1, $2, 'test', 'provider_latency', '20801', 900, 1)`,
    [hour, m.merchantId],
  );
  await t.database.db.query(
    `insert into provider_interactions (id, merchant_id, mode, provider, operation, outcome, latency_ms, created, operator)
     values ('ix_ops_1', $1, 'test', 'carrier', 'charge', 'declined:POL1002', 80, now(), '20801'),
            ('ix_ops_2', $2, 'test', 'carrier', 'charge', 'unknown:timeout_of_the_stranger', 80, now(), '20801')`,
    [m.merchantId, stranger.merchantId],
  );
  const page = await viewer.request("GET", "/admin/operators?lang=en");
  assert.equal(page.statusCode, 200);
  // Operators with traffic only (the registry holds about 1,500).
  assert.equal(page.body.match(/class="panel" id="operator-/g)?.length, 1);
  const orange = page.body.slice(page.body.indexOf('id="operator-20801"'));
  assert.match(orange, /Orange France/);
  assert.match(orange, /requests per second/);
  // The merchant's own traffic only: 9 of 10, not the stranger's 50 failures nor its errors.
  assert.match(orange, /90% of 10 payments/);
  assert.match(orange, /120 ms \/ 900 ms/);
  assert.match(orange, /charge: <code>declined:POL1002<\/code>/);
  assert.doesNotMatch(orange, /timeout_of_the_stranger/);
  assert.doesNotMatch(page.body, /<form method="post" action="\/admin\/operators/);
  const france = await viewer.request("GET", "/admin/operators?country=FR");
  assert.match(france.body, /id="operator-20801"/);
  assert.ok((france.body.match(/class="panel" id="operator-/g)?.length ?? 0) > 1);
});

test("every message the operations templates use is in all four catalogues", async () => {
  const { readFileSync } = await import("node:fs");
  const { loadCatalogues } = await import("../../src/web/index.ts");
  const catalogues = loadCatalogues(new URL("../../src/backoffice/messages", import.meta.url).pathname);
  const used = new Set<string>();
  for (const name of ["webhooks", "api-keys", "api-key-created", "operators", "risk-reviews"]) {
    const text = readFileSync(new URL(`../../src/backoffice/templates/${name}.eta`, import.meta.url), "utf8");
    for (const match of text.matchAll(/it\.t\("([a-z_]+\.[a-z_]+)"[,)]/g)) used.add(match[1]!);
  }
  // And the keys the templates build (a notice, a type, a state).
  for (const key of [
    "nav.webhooks",
    "nav.api_keys",
    "nav.operators",
    "nav.risk_reviews",
    "webhooks.notice_queued",
    "webhooks.notice_already",
    "api_keys.notice_revoked",
    "api_keys.type_secret",
    "api_keys.type_publishable",
    "operators.state_healthy",
    "operators.state_degraded",
    "risk_reviews.notice_approved",
    "risk_reviews.notice_refused",
    "risk_reviews.notice_already",
  ])
    used.add(key);
  assert.ok(used.size > 60, `${used.size} keys`);
  for (const locale of ["en", "fr", "ro", "es"] as const) {
    const missing = [...used].filter((k) => !(k in (catalogues[locale] ?? {})));
    assert.deepEqual(missing, [], locale);
  }
});
