import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Ledger } from "../../src/ledger/ledger.ts";
import type { Account, TransferResult } from "../../src/ledger/types.ts";
import { newId } from "../../src/platform/ids.ts";
import { openTestDatabase, type TestDatabase } from "../support/db.ts";

/**
 * Many writers at once. On PostgreSQL these transactions really overlap and the row locks decide;
 * on the embedded engine they queue on its single connection. Either way the outcome is the same.
 */
let database: TestDatabase;
const NOW_MS = Date.UTC(2026, 0, 1);

before(async () => {
  database = await openTestDatabase();
});
after(async () => {
  await database.close();
});

async function setup(ledger: Ledger): Promise<{ wallet: Account; merchant: Account; clearing: Account }> {
  const merchantId = newId("mer");
  const base = { merchantId, mode: "test" as const, currency: "EUR" };
  const [wallet, merchant, clearing] = await ledger.ensureAccounts(
    [
      { ...base, ownerId: newId("cus"), purpose: "wallet", debitsMustNotExceedCredits: true },
      { ...base, ownerId: merchantId, purpose: "available" },
      { ...base, ownerId: "provider:sandbox", purpose: "clearing" },
    ],
    NOW_MS,
  );
  return { wallet: wallet!, merchant: merchant!, clearing: clearing! };
}

// "Concurrent": on the embedded database (one connection) these transactions run one at a time;
// real races between them happen in the PostgreSQL run (.ci/run runs every test file on both).
test("twenty writers race to resolve one hold: exactly one wins, the others are told how it ended", async () => {
  const { db } = database;
  const ledger = new Ledger(db);
  const { wallet, merchant, clearing } = await setup(ledger);
  const holdId = newId("tr");
  const [funded, held] = await db.transaction((tx) =>
    ledger.apply(
      tx,
      [
        {
          id: newId("tr"),
          journalId: newId("jrn"),
          code: "top_up",
          type: "single_phase",
          debitAccountId: clearing.id,
          creditAccountId: wallet.id,
          amount: 500n,
          currency: "EUR",
        },
        {
          id: holdId,
          journalId: newId("jrn"),
          code: "payment_hold",
          type: "pending",
          debitAccountId: wallet.id,
          creditAccountId: merchant.id,
          amount: 300n,
          currency: "EUR",
        },
      ],
      { nowMs: NOW_MS },
    ),
  );
  assert.deepEqual([funded, held], ["ok", "ok"]);

  const WRITER_COUNT = 20;
  const kinds = Array.from({ length: WRITER_COUNT }, (_, i): "post_pending" | "void_pending" =>
    i % 2 === 0 ? "post_pending" : "void_pending",
  );
  const outcomes = await Promise.all(
    kinds.map((type, i) =>
      db.transaction((tx) =>
        ledger.apply(
          tx,
          [
            {
              id: newId("tr"),
              journalId: newId("jrn"),
              code: type === "post_pending" ? "payment_capture" : "payment_cancel",
              type,
              pendingId: holdId,
              ...(type === "post_pending" ? { amount: BigInt(100 + i) } : {}),
            },
          ],
          { nowMs: NOW_MS + 1, slot: i % 16 },
        ),
      ),
    ),
  );
  const results = outcomes.map((r) => r[0]);
  const winners = results.flatMap((r, i) => (r === "ok" ? [i] : []));
  assert.equal(winners.length, 1, `exactly one writer resolves the hold: ${results.join(",")}`);
  const winner = winners[0]!;
  const expected: TransferResult =
    kinds[winner] === "post_pending" ? "pending_transfer_already_posted" : "pending_transfer_already_voided";
  for (const [i, r] of results.entries()) if (i !== winner) assert.equal(r, expected);

  const { rows } = await db.query<{ n: bigint }>(
    "select count(*)::bigint as n from ledger_transfers where pending_id = $1",
    [holdId],
  );
  assert.equal(rows[0]?.n, 1n);
  const balance = (await ledger.balances(db, [wallet.id])).get(wallet.id);
  const posted = kinds[winner] === "post_pending" ? BigInt(100 + winner) : 0n;
  assert.deepEqual(balance, {
    accountId: wallet.id,
    debitsPending: 0n,
    debitsPosted: posted,
    creditsPending: 0n,
    creditsPosted: 500n,
  });
});

// "Concurrent": on the embedded database (one connection) these transactions run one at a time;
// real races between them happen in the PostgreSQL run (.ci/run runs every test file on both).
test("fifty debits of 10 race for a wallet holding 200: twenty succeed and it never goes below zero", async () => {
  const { db } = database;
  const ledger = new Ledger(db);
  const { wallet, merchant, clearing } = await setup(ledger);
  const [funded] = await db.transaction((tx) =>
    ledger.apply(
      tx,
      [
        {
          id: newId("tr"),
          journalId: newId("jrn"),
          code: "top_up",
          type: "single_phase",
          debitAccountId: clearing.id,
          creditAccountId: wallet.id,
          amount: 200n,
          currency: "EUR",
        },
      ],
      { nowMs: NOW_MS },
    ),
  );
  assert.equal(funded, "ok");

  const DEBIT_COUNT = 50;
  const outcomes = await Promise.all(
    Array.from({ length: DEBIT_COUNT }, (_, i) =>
      db.transaction((tx) =>
        ledger.apply(
          tx,
          [
            {
              id: newId("tr"),
              journalId: newId("jrn"),
              code: "purchase",
              type: "single_phase",
              debitAccountId: wallet.id,
              creditAccountId: merchant.id,
              amount: 10n,
              currency: "EUR",
            },
          ],
          { nowMs: NOW_MS + 1, slot: i % 16 },
        ),
      ),
    ),
  );
  const results = outcomes.map((r) => r[0]);
  assert.equal(results.filter((r) => r === "ok").length, 20);
  assert.equal(results.filter((r) => r === "exceeds_credits").length, 30);

  const balances = await ledger.balances(db, [wallet.id, merchant.id]);
  const w = balances.get(wallet.id)!;
  assert.equal(w.creditsPosted - w.debitsPosted - w.debitsPending, 0n);
  assert.equal(balances.get(merchant.id)?.creditsPosted, 200n);
  // The balance rows agree with the transfer log: no writer slipped past the lock.
  const { rows } = await db.query<{ spent: bigint }>(
    "select coalesce(sum(amount), 0)::bigint as spent from ledger_transfers where debit_account_id = $1",
    [wallet.id],
  );
  assert.equal(rows[0]?.spent, 200n);
});

test("many ledgers (processes) create the same new accounts at once: each gets them, one row each", async () => {
  const { db } = database;
  // The race is narrow: repeat it on fresh accounts so that the PostgreSQL run meets it.
  for (let round = 0; round < 30; round++) {
    const merchantId = newId("mer");
    const base = { merchantId, mode: "test" as const, currency: "EUR" };
    const specs = [
      { ...base, ownerId: newId("cus"), purpose: "wallet", debitsMustNotExceedCredits: true },
      { ...base, ownerId: merchantId, purpose: "available" },
    ];
    // A fresh Ledger per writer has an empty cache, like separate processes meeting a new customer.
    const results = await Promise.all(
      Array.from({ length: 16 }, () => new Ledger(db).ensureAccounts(specs, NOW_MS)),
    );
    const ids = new Set(results.flatMap((accounts) => accounts.map((a) => a.id)));
    assert.equal(ids.size, 2);
    const { rows } = await db.query<{ n: string }>(
      "select count(*)::text as n from ledger_accounts where merchant_id = $1",
      [merchantId],
    );
    assert.equal(rows[0]!.n, "2");
  }
});
