/**
 * The action filter of the audit log (GET /v1/audit_events?action=) with the action index that
 * leaves out `payments.create` (migration 0280, issue 12): both kinds of filter find exactly their
 * records, and a rare action is read through the index.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type AuditDraft, appendAudit, listAuditEvents } from "../../src/audit/index.ts";
import { newId } from "../../src/platform/ids.ts";
import { openTestDatabase, type TestDatabase } from "../support/db.ts";

let database: TestDatabase;
const MERCHANT = "acct_actionfilter";

function draft(action: string, object: string): AuditDraft {
  const nowMs = Date.now();
  return {
    id: newId("aud", nowMs),
    createdMs: nowMs,
    actor: "key_actionfilter",
    actorKind: "api_key",
    credential: "key_actionfilter",
    merchantId: MERCHANT,
    mode: "test",
    action,
    object,
    ip: null,
    userAgent: null,
    requestId: null,
    outcome: "success",
    statusCode: 201,
    changes: null,
  };
}

before(async () => {
  database = await openTestDatabase();
  const drafts = [
    ...Array.from({ length: 30 }, (_, i) => draft("payments.create", `pay_${i}`)),
    draft("refunds.create", "re_1"),
    draft("refunds.create", "re_2"),
    draft("webhook_endpoints.delete", "we_1"),
  ];
  await database.db.transaction((tx) => appendAudit(tx, drafts));
});
after(() => database.close());

test("payments.create and a rare action are each filtered exactly", async () => {
  const list = (action: string) =>
    listAuditEvents(database.db, { merchantId: MERCHANT, action }, { limit: 100 }).then((p) =>
      p.rows.map((r) => r.object).sort(),
    );
  assert.equal((await list("payments.create")).length, 30);
  assert.deepEqual(await list("refunds.create"), ["re_1", "re_2"]);
  assert.deepEqual(await list("webhook_endpoints.delete"), ["we_1"]);
  const platformWide = await listAuditEvents(
    database.db,
    { merchantId: null, action: "refunds.create" },
    { limit: 1 },
  );
  assert.equal(platformWide.rows.length, 1);
  assert.equal(platformWide.hasMore, true);
});

test("a rare action is read through the partial action index", async () => {
  const plan = await database.db.transaction(async (tx) => {
    await tx.query("set local enable_seqscan = off");
    const { rows } = await tx.query<Record<string, string>>(
      "explain select * from audit_events where action = $1 and action <> 'payments.create' order by id desc limit 11",
      ["refunds.create"],
    );
    return rows.map((r) => Object.values(r)[0]).join("\n");
  });
  assert.match(plan, /audit_events_default_action_id_idx|audit_events_action/, plan);
  const { rows } = await database.db.query<{ indexdef: string }>(
    "select indexdef from pg_indexes where indexname = 'audit_events_action'",
  );
  assert.match(rows[0]!.indexdef, /WHERE \(action <> 'payments\.create'::text\)/);
});
