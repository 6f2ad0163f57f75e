/**
 * Rules edited in one process reach the others (migration 0360): every change to a merchant's
 * rules or list entries moves its version, and a process holding rules asks for the versions of
 * all the merchants it holds once a second, in one query, reloading only those that moved. A
 * process with nothing changed reads no rules at all, however many merchants it holds.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Db } from "../../src/db/db.ts";
import { Risk, RULES_POLL_MS } from "../../src/risk/index.ts";
import { call, createMerchant, createTestApp, type MerchantKeys, type TestApp } from "../support/app.ts";

let t: TestApp;
const shops: MerchantKeys[] = [];

before(async () => {
  t = await createTestApp();
  for (const name of ["Versions one", "Versions two", "Versions three"])
    shops.push(await createMerchant(t.app, name));
});
after(async () => t.close());

/** Another process's engine on the same database: its own memory, a clock the test moves. */
function otherProcess() {
  const statements: string[] = [];
  const db = new Proxy(t.database.db, {
    get(target, name, receiver) {
      if (name === "query")
        return (text: string, params?: unknown[]) => {
          statements.push(text);
          return target.query(text, params);
        };
      const value = Reflect.get(target, name, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  }) as Db;
  let nowMs = 0;
  const risk = new Risk(db, t.clock, () => nowMs);
  return {
    risk,
    statements,
    advance: (ms: number) => {
      nowMs += ms;
    },
  };
}

const scopeOf = (shop: MerchantKeys) => ({ merchantId: shop.merchantId, mode: "test" as const });
const attempt = (amount: number) => ({
  flow: "payment" as const,
  paymentId: `pay_versions_${amount}`,
  amount,
  currency: "EUR",
  method: "sandbox",
});
const rulesLoads = (statements: string[]) => statements.filter((s) => s.includes("from risk_rules")).length;
const polls = (statements: string[]) =>
  statements.filter((s) => s.startsWith("select merchant_id, mode, version from risk_settings_versions"))
    .length;

test("an edit made through the API reaches another process within a poll, and only that merchant reloads", async () => {
  const other = otherProcess();
  for (const shop of shops)
    assert.equal((await other.risk.assess(scopeOf(shop), attempt(5000), Date.now())).action, "allow");
  const loadsAtStart = rulesLoads(other.statements);
  assert.ok(loadsAtStart >= shops.length, "each merchant's rules were read once");

  // Nothing changed: a second later, one poll for the three merchants and no rules read.
  other.advance(RULES_POLL_MS);
  for (const shop of shops) await other.risk.assess(scopeOf(shop), attempt(5000), Date.now());
  await other.risk.settled();
  assert.equal(polls(other.statements), 1);
  assert.equal(rulesLoads(other.statements), loadsAtStart);

  // The API (this test app's own process) enforces a new rule for the second merchant.
  const created = await call(t.app, "POST", "/v1/risk_rules", {
    key: shops[1]!.secretKey,
    body: { name: "cap at ten euros", rule: "block if amount > 1000", mode: "enforce" },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));

  // Before the next poll the other process still decides by what it holds.
  assert.equal((await other.risk.assess(scopeOf(shops[1]!), attempt(5000), Date.now())).action, "allow");

  // The poll finds the moved version and reloads that merchant only.
  other.advance(RULES_POLL_MS);
  await other.risk.assess(scopeOf(shops[0]!), attempt(5000), Date.now());
  await other.risk.settled();
  assert.equal(polls(other.statements), 2);
  assert.equal(rulesLoads(other.statements), loadsAtStart + 1);
  assert.equal((await other.risk.assess(scopeOf(shops[1]!), attempt(5000), Date.now())).action, "block");
  assert.equal((await other.risk.assess(scopeOf(shops[0]!), attempt(5000), Date.now())).action, "allow");

  // Disabling it moves the version again (an update), as a list entry does (an insert, a delete).
  const rule = created.body as { id: string };
  const disabled = await call(t.app, "POST", `/v1/risk_rules/${rule.id}`, {
    key: shops[1]!.secretKey,
    body: { mode: "disabled" },
  });
  assert.equal(disabled.status, 200, JSON.stringify(disabled.body));
  other.advance(RULES_POLL_MS);
  await other.risk.assess(scopeOf(shops[2]!), attempt(5000), Date.now());
  await other.risk.settled();
  assert.equal((await other.risk.assess(scopeOf(shops[1]!), attempt(5000), Date.now())).action, "allow");
  await other.risk.close();
});

test("every change to rules and list entries moves the merchant's version", async () => {
  const versionOf = async (shop: MerchantKeys) => {
    const { rows } = await t.database.db.query<{ version: string }>(
      "select version from risk_settings_versions where merchant_id = $1 and mode = 'test'",
      [shop.merchantId],
    );
    return Number(rows[0]?.version ?? 0);
  };
  const shop = shops[2]!;
  const before = await versionOf(shop);
  const neighbour = await versionOf(shops[0]!);
  const entry = await call(t.app, "POST", "/v1/risk_list_entries", {
    key: shop.secretKey,
    body: { list_type: "blocklist", list: "msisdns", value: "+33612345678" },
  });
  assert.equal(entry.status, 201, JSON.stringify(entry.body));
  const added = await versionOf(shop);
  assert.ok(added > before, `an added entry moves the version (${before} → ${added})`);
  const removed = await call(t.app, "DELETE", `/v1/risk_list_entries/${(entry.body as { id: string }).id}`, {
    key: shop.secretKey,
  });
  assert.equal(removed.status, 200, JSON.stringify(removed.body));
  assert.ok((await versionOf(shop)) > added, "a removed entry moves it too");
  assert.equal(await versionOf(shops[0]!), neighbour, "another merchant's version stays");
});
