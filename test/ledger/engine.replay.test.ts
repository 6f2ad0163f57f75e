/**
 * A transfer id names one transfer forever: sent again with the same fields it is `exists` (a safe
 * retry), with any one field changed it is `exists_with_different_fields` and moves nothing. The
 * property test never replays an id with another code, journal, reference or expiry; mutation
 * testing showed those comparisons could be removed unnoticed.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { decide, type LedgerState } from "../../src/ledger/engine.ts";
import type { Account, MoveInput, ResolveInput, TransferInput, TransferRow } from "../../src/ledger/types.ts";

const NOW = Date.parse("2026-03-01T10:00:00Z");

function account(id: string, currency = "EUR"): Account {
  return {
    id,
    merchantId: "acct_m",
    mode: "test",
    ownerId: id,
    purpose: "test",
    currency,
    debitsMustNotExceedCredits: false,
    creditsMustNotExceedDebits: false,
  };
}

const accounts = new Map(
  [account("a"), account("b"), account("c"), account("usd", "USD")].map((a) => [a.id, a]),
);

function stateWith(existing: TransferRow[]): LedgerState {
  return {
    accounts,
    existing: new Map(existing.map((r) => [r.id, r])),
    pending: new Map(),
    limitedBalances: new Map(),
  };
}

/** Decides `first` on an empty ledger, then `again` against what that wrote. */
function replayed(first: TransferInput, again: TransferInput) {
  const written = decide([first], stateWith([]), { nowMs: NOW });
  assert.deepEqual(written.results, ["ok"]);
  return decide([again], stateWith(written.rows), { nowMs: NOW });
}

const hold: MoveInput = {
  id: "tr_1",
  journalId: "jrn_1",
  type: "pending",
  debitAccountId: "a",
  creditAccountId: "b",
  amount: 500n,
  currency: "EUR",
  code: "payment_hold",
  reference: "pay_1",
  expiresAtMs: NOW + 60_000,
};

test("the same transfer sent again is `exists` and moves nothing", () => {
  const move: MoveInput = { ...hold, id: "tr_9", type: "single_phase", expiresAtMs: undefined };
  for (const first of [hold, move]) {
    const again = replayed(first, { ...first });
    assert.deepEqual(again.results, ["exists"], first.type);
    assert.deepEqual(again.rows, [], first.type);
    assert.deepEqual(again.deltas, [], first.type);
  }
});

test("a move sent again with any one field changed is refused and moves nothing", () => {
  const changes: Array<[string, Partial<MoveInput>]> = [
    ["type", { type: "single_phase", expiresAtMs: undefined }],
    ["journal", { journalId: "jrn_2" }],
    ["code", { code: "other_code" }],
    ["reference", { reference: "pay_2" }],
    ["no reference", { reference: undefined }],
    ["debit account", { debitAccountId: "c" }],
    ["credit account", { creditAccountId: "c" }],
    ["amount", { amount: 501n }],
    ["currency", { currency: "USD" }],
    ["expiry", { expiresAtMs: NOW + 120_000 }],
    ["no expiry", { expiresAtMs: undefined }],
  ];
  for (const [what, change] of changes) {
    const again = replayed(hold, { ...hold, ...change } as MoveInput);
    assert.deepEqual(again.results, ["exists_with_different_fields"], what);
    assert.deepEqual(again.rows, [], what);
    assert.deepEqual(again.deltas, [], what);
  }
});

test("a resolution sent again is `exists` with its fields, refused with another pending id or amount", () => {
  const created = decide([hold], stateWith([]), { nowMs: NOW });
  const other: MoveInput = { ...hold, id: "tr_2", reference: "pay_2" };
  const both = decide([other], stateWith(created.rows), { nowMs: NOW });
  const ledger = [...created.rows, ...both.rows];
  const post: ResolveInput = {
    id: "tr_3",
    journalId: "jrn_3",
    type: "post_pending",
    pendingId: "tr_1",
    amount: 300n,
    code: "payment_capture",
  };
  const pendingState = (): LedgerState => ({
    ...stateWith(ledger),
    pending: new Map(ledger.map((row) => [row.id, { row, resolution: null }])),
  });
  const first = decide([post], pendingState(), { nowMs: NOW });
  assert.deepEqual(first.results, ["ok"]);
  const after = (input: ResolveInput) =>
    decide(
      [input],
      { ...pendingState(), existing: new Map([...ledger, ...first.rows].map((r) => [r.id, r])) },
      {
        nowMs: NOW,
      },
    ).results;
  assert.deepEqual(after({ ...post }), ["exists"]);
  assert.deepEqual(after({ ...post, pendingId: "tr_2" }), ["exists_with_different_fields"], "pending id");
  assert.deepEqual(after({ ...post, amount: 301n }), ["exists_with_different_fields"], "amount");
  assert.deepEqual(after({ ...post, amount: undefined }), ["exists"], "no amount: whatever was posted");
  assert.deepEqual(after({ ...post, type: "void_pending" }), ["exists_with_different_fields"], "type");
});
