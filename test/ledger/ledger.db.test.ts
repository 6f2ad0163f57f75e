import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import fc from "fast-check";
import { isUniqueViolation } from "../../src/db/db.ts";
import { Ledger } from "../../src/ledger/ledger.ts";
import type { Account } from "../../src/ledger/types.ts";
import { newId } from "../../src/platform/ids.ts";
import { openTestDatabase, type TestDatabase } from "../support/db.ts";
import {
  Auditor,
  accountShapeArb,
  accountSpec,
  batchArb,
  limitBroken,
  Materializer,
  type ModelAccount,
  type ModelBalance,
  replay,
} from "./model.ts";

/** Kept modest: every run writes through real transactions on both engines. */
const RUN_COUNT = 30;
const ACCOUNT_INDEX_MAX = 6;

let database: TestDatabase;
before(async () => {
  database = await openTestDatabase();
});
after(async () => {
  await database.close();
});

interface BalanceRow {
  account_id: string;
  debits_pending: bigint;
  debits_posted: bigint;
  credits_pending: bigint;
  credits_posted: bigint;
}

function toModel(row: BalanceRow | undefined): ModelBalance {
  return {
    debitsPending: row?.debits_pending ?? 0n,
    debitsPosted: row?.debits_posted ?? 0n,
    creditsPending: row?.credits_pending ?? 0n,
    creditsPosted: row?.credits_posted ?? 0n,
  };
}

/** Each account's balance computed from the transfer log alone: a pending transfer counts until resolved. */
const BALANCES_FROM_TRANSFERS = `
  with entries as (
    select t.debit_account_id as account_id, 'debit' as side, t.type, t.amount,
           exists (select 1 from ledger_transfers r where r.pending_id = t.id) as resolved
    from ledger_transfers t
    union all
    select t.credit_account_id, 'credit', t.type, t.amount,
           exists (select 1 from ledger_transfers r where r.pending_id = t.id)
    from ledger_transfers t
  )
  select account_id,
    coalesce(sum(amount) filter (where side = 'debit' and type = 'pending' and not resolved), 0)::bigint as debits_pending,
    coalesce(sum(amount) filter (where side = 'debit' and type in ('single_phase', 'post_pending')), 0)::bigint as debits_posted,
    coalesce(sum(amount) filter (where side = 'credit' and type = 'pending' and not resolved), 0)::bigint as credits_pending,
    coalesce(sum(amount) filter (where side = 'credit' and type in ('single_phase', 'post_pending')), 0)::bigint as credits_posted
  from entries where account_id = any($1::text[]) group by account_id`;

test("random journals through Ledger.apply: balances, trial balance, limits and resolutions hold", async () => {
  const { db } = database;
  const ledger = new Ledger(db);
  const scenario = fc.record({
    shapes: fc.array(accountShapeArb, { minLength: 2, maxLength: ACCOUNT_INDEX_MAX + 1 }),
    batches: fc.array(batchArb(ACCOUNT_INDEX_MAX + 1), { minLength: 1, maxLength: 8 }),
  });
  await fc.assert(
    fc.asyncProperty(scenario, async ({ shapes, batches }) => {
      const merchants = [newId("mer"), newId("mer")] as const;
      const accounts: Account[] = await ledger.ensureAccounts(
        shapes.map((shape, n) => accountSpec(shape, merchants, n)),
        Date.UTC(2026, 0, 1),
      );
      const modelAccounts: ModelAccount[] = accounts.map((a) => ({ ...a }));
      while (modelAccounts.length <= ACCOUNT_INDEX_MAX) {
        modelAccounts.push({
          ...modelAccounts[0]!,
          id: `la_missing_${merchants[0]}_${modelAccounts.length}`,
        });
      }
      const auditor = new Auditor(new Map(accounts.map((a) => [a.id, { ...a }])));
      const materializer = new Materializer(`${merchants[0]}_`, modelAccounts);
      let nowMs = Date.UTC(2026, 0, 1);

      for (const shape of batches) {
        nowMs += shape.advanceMs;
        const inputs = materializer.batch(shape, nowMs);
        const results = await db.transaction((tx) =>
          ledger.apply(tx, inputs, { nowMs, ...(shape.slot === undefined ? {} : { slot: shape.slot }) }),
        );
        assert.deepEqual(results, auditor.apply(inputs, nowMs), "results match the auditor's predictions");
      }

      const ids = accounts.map((a) => a.id);
      const summed = await ledger.balances(db, ids);
      const fromTransfers = new Map(
        (await db.query<BalanceRow>(BALANCES_FROM_TRANSFERS, [ids])).rows.map((r) => [r.account_id, r]),
      );
      const { rows: slotRows } = await db.query<{ account_id: string; slot: number }>(
        "select account_id, slot from ledger_balances where account_id = any($1::text[])",
        [ids],
      );
      for (const account of accounts) {
        const balance = summed.get(account.id);
        assert.ok(balance, "every ensured account has a balance row");
        const { accountId: _, ...fromSlots } = balance;
        assert.deepEqual(fromSlots, toModel(fromTransfers.get(account.id)), "slots sum to the transfer log");
        assert.deepEqual(fromSlots, auditor.balance(account.id), "slots sum to the auditor's balance");
        assert.equal(limitBroken(account, fromSlots), null, "limits hold");
        if (account.debitsMustNotExceedCredits || account.creditsMustNotExceedDebits) {
          const slots = slotRows.filter((r) => r.account_id === account.id).map((r) => Number(r.slot));
          assert.deepEqual(slots, [0], "a limited account keeps its balance on slot 0 only");
        }
      }
    }),
    { numRuns: RUN_COUNT, includeErrorInReport: true, ...replay() },
  );

  // Across everything written: per currency, debits equal credits, both in the transfer log and
  // in the balance slots.
  const { rows: trial } = await db.query<{
    currency: string;
    source: string;
    debits_posted: bigint;
    credits_posted: bigint;
    debits_pending: bigint;
    credits_pending: bigint;
  }>(
    `select a.currency, 'transfers' as source,
       sum(b.debits_posted)::bigint as debits_posted, sum(b.credits_posted)::bigint as credits_posted,
       sum(b.debits_pending)::bigint as debits_pending, sum(b.credits_pending)::bigint as credits_pending
     from (${BALANCES_FROM_TRANSFERS}) b join ledger_accounts a on a.id = b.account_id group by a.currency
     union all
     select a.currency, 'balances',
       sum(b.debits_posted)::bigint, sum(b.credits_posted)::bigint,
       sum(b.debits_pending)::bigint, sum(b.credits_pending)::bigint
     from ledger_balances b join ledger_accounts a on a.id = b.account_id group by a.currency`,
    [(await db.query<{ id: string }>("select id from ledger_accounts")).rows.map((r) => r.id)],
  );
  assert.ok(trial.length > 0);
  for (const row of trial) {
    assert.equal(row.debits_posted, row.credits_posted, `${row.source} posted in ${row.currency}`);
    assert.equal(row.debits_pending, row.credits_pending, `${row.source} pending in ${row.currency}`);
  }
  const bySource = (source: string) =>
    trial
      // Currencies whose accounts never moved appear only among the balance rows, as zeros.
      .filter((r) => r.source === source && (r.debits_posted !== 0n || r.debits_pending !== 0n))
      .map(({ source: _, ...rest }) => rest)
      .sort((a, b) => a.currency.localeCompare(b.currency));
  assert.deepEqual(bySource("balances"), bySource("transfers"), "balance slots agree with the transfer log");

  // Limited accounts never below zero, anywhere in the database.
  const { rows: broken } = await db.query(
    `select a.id from ledger_accounts a join ledger_balances b on b.account_id = a.id group by a.id
     having (bool_or(a.debits_must_not_exceed_credits)
              and sum(b.debits_posted + b.debits_pending) > sum(b.credits_posted))
         or (bool_or(a.credits_must_not_exceed_debits)
              and sum(b.credits_posted + b.credits_pending) > sum(b.debits_posted))`,
  );
  assert.deepEqual(broken, []);

  // Each pending transfer resolved at most once, and only pending transfers are resolved.
  const { rows: twice } = await db.query(
    "select pending_id from ledger_transfers where pending_id is not null group by pending_id having count(*) > 1",
  );
  assert.deepEqual(twice, []);
  const { rows: notPending } = await db.query(
    `select r.id from ledger_transfers r join ledger_transfers p on p.id = r.pending_id where p.type <> 'pending'`,
  );
  assert.deepEqual(notPending, []);
});

test("the unique resolution index refuses a second resolution even past the engine", async () => {
  const { db } = database;
  const ledger = new Ledger(db);
  const merchantId = newId("mer");
  const base = { merchantId, mode: "test" as const, currency: "EUR" };
  const [clearing, merchant] = await ledger.ensureAccounts(
    [
      { ...base, ownerId: "provider:sandbox", purpose: "clearing" },
      { ...base, ownerId: merchantId, purpose: "available" },
    ],
    Date.UTC(2026, 0, 1),
  );
  const holdId = newId("tr");
  const nowMs = Date.UTC(2026, 0, 1);
  const results = await db.transaction((tx) =>
    ledger.apply(
      tx,
      [
        {
          id: holdId,
          journalId: newId("jrn"),
          code: "payment_hold",
          type: "pending",
          debitAccountId: clearing!.id,
          creditAccountId: merchant!.id,
          amount: 50n,
          currency: "EUR",
        },
        {
          id: newId("tr"),
          journalId: newId("jrn"),
          code: "payment_capture",
          type: "post_pending",
          pendingId: holdId,
        },
      ],
      { nowMs },
    ),
  );
  assert.deepEqual(results, ["ok", "ok"]);
  // A writer that bypassed the engine (a bug) would still be stopped by the database.
  await assert.rejects(
    db.transaction((tx) =>
      tx.query(
        `insert into ledger_transfers (id, merchant_id, mode, journal_id, type, debit_account_id, credit_account_id,
           amount, currency, pending_id, code, created)
         values ($1, $2, 'test', $3, 'void_pending', $4, $5, 50, 'EUR', $6, 'rogue', now())`,
        [newId("tr"), merchantId, newId("jrn"), clearing!.id, merchant!.id, holdId],
      ),
    ),
    (error: unknown) => isUniqueViolation(error),
  );
});
