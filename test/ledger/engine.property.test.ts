import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { accountId } from "../../src/ledger/accounts.ts";
import { type BalanceDelta, decide, type PendingState } from "../../src/ledger/engine.ts";
import type { Account, Balance, TransferResult, TransferRow } from "../../src/ledger/types.ts";
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
  zeroBalance,
} from "./model.ts";

// Mutation testing (npm run mutation) asks for fewer runs per mutant; npm test runs them all.
const RUN_COUNT = Number(process.env.CENTIME_PROPERTY_RUNS ?? 2500);
const seen = new Set<TransferResult>();

/** Balances recomputed from the rows alone, the way an auditor with only the transfer log would. */
function balancesFromRows(rows: readonly TransferRow[]): Map<string, ModelBalance> {
  const out = new Map<string, ModelBalance>();
  const of = (id: string) => {
    const b = out.get(id) ?? zeroBalance();
    out.set(id, b);
    return b;
  };
  const resolved = new Set(rows.flatMap((r) => (r.pending_id ? [r.pending_id] : [])));
  for (const r of rows) {
    if (r.type === "single_phase" || r.type === "post_pending") {
      of(r.debit_account_id).debitsPosted += r.amount;
      of(r.credit_account_id).creditsPosted += r.amount;
    } else if (r.type === "pending" && !resolved.has(r.id)) {
      of(r.debit_account_id).debitsPending += r.amount;
      of(r.credit_account_id).creditsPending += r.amount;
    }
  }
  return out;
}

function asBalance(b: ModelBalance | Balance | BalanceDelta | undefined): ModelBalance {
  return {
    debitsPending: b?.debitsPending ?? 0n,
    debitsPosted: b?.debitsPosted ?? 0n,
    creditsPending: b?.creditsPending ?? 0n,
    creditsPosted: b?.creditsPosted ?? 0n,
  };
}

test("the engine agrees with an independent auditor on every result and balance", () => {
  const scenario = fc.record({
    shapes: fc.array(accountShapeArb, { minLength: 2, maxLength: 7 }),
    batches: fc.array(batchArb(7), { minLength: 1, maxLength: 12 }),
    /** Whether limited accounts with no balance row yet are left out of the state, as a new account's might be. */
    omitEmptyLimited: fc.boolean(),
  });
  fc.assert(
    fc.property(scenario, ({ shapes, batches, omitEmptyLimited }) => {
      const merchants = ["mer_a", "mer_b"] as const;
      const accounts: Account[] = shapes.map((shape, n) => {
        const spec = accountSpec(shape, merchants, n);
        return { ...(spec as Required<typeof spec>), id: accountId(spec) };
      });
      // Operations name accounts by index; indices past the end name a missing account.
      const modelAccounts: ModelAccount[] = accounts.map((a) => ({ ...a }));
      while (modelAccounts.length < 7) {
        modelAccounts.push({
          id: `la_missing_${modelAccounts.length}`,
          merchantId: "mer_a",
          mode: "test",
          currency: "EUR",
          debitsMustNotExceedCredits: false,
          creditsMustNotExceedDebits: false,
        });
      }
      const accountMap = new Map(accounts.map((a) => [a.id, a]));
      const auditor = new Auditor(new Map(modelAccounts.slice(0, accounts.length).map((a) => [a.id, a])));
      const materializer = new Materializer("", modelAccounts);
      const allRows: TransferRow[] = [];
      const fromDeltas = new Map<string, ModelBalance>();
      let nowMs = 1_000_000;

      for (const shape of batches) {
        nowMs += shape.advanceMs;
        const inputs = materializer.batch(shape, nowMs);

        const existing = new Map(allRows.map((r) => [r.id, r]));
        const pending = new Map<string, PendingState>();
        // As the database gives it: every transfer named as a pending id, whatever its type.
        for (const r of allRows) pending.set(r.id, { row: r, resolution: null });
        for (const r of allRows) {
          if (r.pending_id) {
            const p = pending.get(r.pending_id);
            assert.ok(p, "a resolution points to a pending transfer");
            p.resolution = r.type as PendingState["resolution"];
          }
        }
        const limitedBalances = new Map<string, Balance>();
        for (const a of accounts) {
          if (!a.debitsMustNotExceedCredits && !a.creditsMustNotExceedDebits) continue;
          const b = fromDeltas.get(a.id);
          if (!b && omitEmptyLimited) continue;
          limitedBalances.set(a.id, { accountId: a.id, ...asBalance(b) });
        }

        const decision = decide(
          inputs,
          { accounts: accountMap, existing, pending, limitedBalances },
          { nowMs },
        );
        const predicted = auditor.apply(inputs, nowMs);
        for (const r of decision.results) seen.add(r);
        assert.deepEqual(decision.results, predicted, "results match the auditor's predictions");

        // Rows written are exactly the accepted new transfers (grouped by journal, so compared as sets).
        assert.deepEqual(
          decision.rows.map((r) => r.id).sort(),
          inputs.flatMap((t, i) => (decision.results[i] === "ok" ? [t.id] : [])).sort(),
        );
        // Rejected journals write nothing.
        const rejectedJournals = new Set(
          inputs.flatMap((t, i) => {
            const r = decision.results[i];
            return r !== "ok" && r !== "exists" ? [t.journalId] : [];
          }),
        );
        for (const row of decision.rows)
          assert.ok(!rejectedJournals.has(row.journal_id), "rejected journal wrote");
        for (const row of decision.rows) {
          const d = accountMap.get(row.debit_account_id);
          const c = accountMap.get(row.credit_account_id);
          assert.ok(d && c, "rows name existing accounts");
          assert.equal(d.currency, row.currency);
          assert.equal(c.currency, row.currency);
          assert.equal(d.merchantId, c.merchantId);
          assert.equal(row.merchant_id, d.merchantId);
          assert.ok(row.amount >= 0n);
        }

        // Per currency, debit-side deltas equal credit-side deltas (posted and pending).
        const sums = new Map<string, ModelBalance>();
        for (const delta of decision.deltas) {
          const account = accountMap.get(delta.accountId);
          assert.ok(account, "deltas name existing accounts");
          const s = sums.get(account.currency) ?? zeroBalance();
          s.debitsPending += delta.debitsPending;
          s.debitsPosted += delta.debitsPosted;
          s.creditsPending += delta.creditsPending;
          s.creditsPosted += delta.creditsPosted;
          sums.set(account.currency, s);
          const b = fromDeltas.get(delta.accountId) ?? zeroBalance();
          b.debitsPending += delta.debitsPending;
          b.debitsPosted += delta.debitsPosted;
          b.creditsPending += delta.creditsPending;
          b.creditsPosted += delta.creditsPosted;
          fromDeltas.set(delta.accountId, b);
        }
        for (const [currency, s] of sums) {
          assert.equal(s.debitsPosted, s.creditsPosted, `posted balances in ${currency}`);
          assert.equal(s.debitsPending, s.creditsPending, `pending balances in ${currency}`);
        }
        allRows.push(...decision.rows);

        const fromRows = balancesFromRows(allRows);
        for (const a of accounts) {
          const b = asBalance(fromDeltas.get(a.id));
          assert.deepEqual(b, asBalance(auditor.balance(a.id)), `balance of ${a.id} matches the auditor`);
          assert.deepEqual(b, asBalance(fromRows.get(a.id)), `balance of ${a.id} matches the transfer log`);
          assert.equal(limitBroken(a, b), null, `limit of ${a.id} holds`);
          for (const field of ["debitsPending", "creditsPending"] as const) assert.ok(b[field] >= 0n);
        }
        // A pending transfer is resolved at most once.
        const resolutions = allRows.flatMap((r) => (r.pending_id ? [r.pending_id] : []));
        assert.equal(
          new Set(resolutions).size,
          resolutions.length,
          "each pending transfer resolved at most once",
        );
      }
    }),
    { numRuns: RUN_COUNT, includeErrorInReport: true, ...replay() },
  );
});

test("a hold's life, step by step, gives the named results the rules promise", () => {
  const spec = (ownerId: string, purpose: string, wallet = false) => ({
    merchantId: "mer_a",
    mode: "test" as const,
    ownerId,
    purpose,
    currency: "EUR",
    debitsMustNotExceedCredits: wallet,
    creditsMustNotExceedDebits: false,
  });
  const accounts = [
    spec("cus_1", "wallet", true),
    spec("mer_a", "available"),
    spec("provider:sandbox", "clearing"),
  ].map((s) => ({ ...s, id: accountId(s) }));
  const [wallet, merchant, clearing] = accounts as [Account, Account, Account];
  const accountMap = new Map(accounts.map((a) => [a.id, a]));
  const rows: TransferRow[] = [];
  const run = (inputs: Parameters<typeof decide>[0], nowMs: number): TransferResult[] => {
    const existing = new Map(rows.map((r) => [r.id, r]));
    const pending = new Map<string, PendingState>(rows.map((r) => [r.id, { row: r, resolution: null }]));
    for (const r of rows)
      if (r.pending_id) pending.get(r.pending_id)!.resolution = r.type as PendingState["resolution"];
    const limited = balancesFromRows(rows).get(wallet.id);
    const decision = decide(
      inputs,
      {
        accounts: accountMap,
        existing,
        pending,
        limitedBalances: new Map([[wallet.id, { accountId: wallet.id, ...asBalance(limited) }]]),
      },
      { nowMs },
    );
    rows.push(...decision.rows);
    for (const r of decision.results) seen.add(r);
    return decision.results;
  };
  const move = (
    id: string,
    type: "single_phase" | "pending",
    from: Account,
    to: Account,
    amount: bigint,
    expiresAtMs?: number,
  ) => ({
    id,
    journalId: `jrn_${id}`,
    code: "example",
    type,
    debitAccountId: from.id,
    creditAccountId: to.id,
    amount,
    currency: "EUR",
    ...(expiresAtMs === undefined ? {} : { expiresAtMs }),
  });
  const resolve = (
    id: string,
    type: "post_pending" | "void_pending" | "expire_pending",
    pendingId: string,
    amount?: bigint,
  ) => ({
    id,
    journalId: `jrn_${id}`,
    code: "example",
    type,
    pendingId,
    ...(amount === undefined ? {} : { amount }),
  });

  assert.deepEqual(run([move("fund", "single_phase", clearing, wallet, 100n)], 1000), ["ok"]);
  assert.deepEqual(run([move("h1", "pending", wallet, merchant, 60n, 2000)], 1000), ["ok"]);
  // The hold counts against the wallet: 60 held, 40 left.
  assert.deepEqual(run([move("h2", "pending", wallet, merchant, 41n)], 1000), ["exceeds_credits"]);
  assert.deepEqual(run([move("h1", "pending", wallet, merchant, 60n, 2000)], 1000), ["exists"]);
  assert.deepEqual(run([move("h1", "pending", wallet, merchant, 60n, 3000)], 1000), [
    "exists_with_different_fields",
  ]);
  assert.deepEqual(run([resolve("p1", "expire_pending", "h1")], 1500), ["pending_transfer_has_not_expired"]);
  assert.deepEqual(run([resolve("p1", "post_pending", "h1", 61n)], 1500), [
    "exceeds_pending_transfer_amount",
  ]);
  assert.deepEqual(run([resolve("p1", "post_pending", "h1", 25n)], 1500), ["ok"]);
  assert.deepEqual(run([resolve("p2", "void_pending", "h1")], 1500), ["pending_transfer_already_posted"]);
  // The partial capture posted 25 and released 35: the wallet may spend its remaining 75.
  assert.deepEqual(run([move("spend", "single_phase", wallet, merchant, 75n)], 1500), ["ok"]);

  assert.deepEqual(run([move("fund2", "single_phase", clearing, wallet, 100n)], 1500), ["ok"]);
  assert.deepEqual(run([move("h3", "pending", wallet, merchant, 10n, 2000)], 1500), ["ok"]);
  assert.deepEqual(run([resolve("v3", "void_pending", "h3")], 1600), ["ok"]);
  assert.deepEqual(run([resolve("p3", "post_pending", "h3")], 1600), ["pending_transfer_already_voided"]);
  assert.deepEqual(run([move("h4", "pending", wallet, merchant, 10n, 2000)], 1600), ["ok"]);
  assert.deepEqual(run([resolve("p4", "post_pending", "h4")], 2000), ["pending_transfer_expired"]);
  assert.deepEqual(run([resolve("e4", "expire_pending", "h4")], 2000), ["ok"]);
  assert.deepEqual(run([resolve("v4", "void_pending", "h4")], 2000), ["pending_transfer_already_expired"]);
  // One failing transfer fails its whole journal.
  assert.deepEqual(
    run(
      [
        { ...move("j1", "single_phase", wallet, merchant, 50n), journalId: "jrn_linked" },
        { ...move("j2", "single_phase", wallet, merchant, 51n), journalId: "jrn_linked" },
      ],
      2000,
    ),
    ["linked_transfer_failed", "exceeds_credits"],
  );
  assert.equal(
    rows.some((r) => r.journal_id === "jrn_linked"),
    false,
  );
  const final = asBalance(balancesFromRows(rows).get(wallet.id));
  assert.deepEqual(final, { debitsPending: 0n, debitsPosted: 100n, creditsPending: 0n, creditsPosted: 200n });
});

test("the workloads above reached every named result", () => {
  // The workload must reach every rule the auditor predicts, or the property above proves little.
  const expected: TransferResult[] = [
    "ok",
    "exists",
    "exists_with_different_fields",
    "linked_transfer_failed",
    "amount_must_be_positive",
    "accounts_must_be_different",
    "accounts_must_share_ledger",
    "currency_mismatch",
    "exceeds_credits",
    "exceeds_debits",
    "expires_at_must_be_in_future",
    "debit_account_not_found",
    "credit_account_not_found",
    "pending_transfer_not_found",
    "pending_transfer_not_pending",
    "pending_transfer_already_posted",
    "pending_transfer_already_voided",
    "pending_transfer_already_expired",
    "pending_transfer_expired",
    "pending_transfer_has_not_expired",
    "exceeds_pending_transfer_amount",
  ];
  const missing = expected.filter((r) => !seen.has(r));
  assert.deepEqual(missing, [], "every named result was produced by the workload");
});
