import type { Db, Queryable } from "../db/db.ts";
import { assert } from "../platform/errors.ts";
import { type AccountRow, accountFromRow, accountId } from "./accounts.ts";
import { type BalanceDelta, decide, type PendingState } from "./engine.ts";
import {
  type Account,
  type AccountSpec,
  type Balance,
  isMove,
  type TransferInput,
  type TransferResult,
  type TransferRow,
} from "./types.ts";

/** Balances of accounts without limits are spread over this many rows, summed on read. */
export const BALANCE_SLOT_COUNT = 16;

export interface ApplyOptions {
  nowMs: number;
  /**
   * Which balance slot this writer adds to for accounts without limits. Concurrent writers that
   * pick different slots never wait for each other, so a busy merchant has no hot row.
   */
  slot?: number;
}

let nextSlot = 0;

/**
 * The double-entry ledger on PostgreSQL. `apply` runs inside the caller's transaction, so money
 * moves in the same commit as the business state that explains it.
 */
export class Ledger {
  private readonly accountCache = new Map<string, Account>();

  constructor(private readonly db: Db) {}

  /**
   * Creates missing accounts (in its own short commit, so a cached account always exists) and
   * returns them in the order asked.
   */
  async ensureAccounts(specs: readonly AccountSpec[], nowMs: number): Promise<Account[]> {
    const missing = specs.filter((spec) => !this.accountCache.has(accountId(spec)));
    if (missing.length > 0) {
      const rows = missing.map((spec) => ({
        id: accountId(spec),
        merchant_id: spec.merchantId,
        mode: spec.mode,
        owner_id: spec.ownerId,
        purpose: spec.purpose,
        currency: spec.currency,
        debits_must_not_exceed_credits: spec.debitsMustNotExceedCredits ?? false,
        credits_must_not_exceed_debits: spec.creditsMustNotExceedDebits ?? false,
        created: new Date(nowMs).toISOString(),
      }));
      await this.db.transaction(async (tx) => {
        await tx.query(
          // No arbiter: the id derives from the natural key, and naming only (id) would let two
          // processes creating the same account at once fail on the natural key's unique index.
          `insert into ledger_accounts select * from json_populate_recordset(null::ledger_accounts, $1::json)
           on conflict do nothing`,
          [JSON.stringify(rows)],
        );
        // Slot 0 exists from the start: a limited account's balance lives there, under a row lock.
        await tx.query(
          "insert into ledger_balances (account_id, slot) select unnest($1::text[]), 0 on conflict do nothing",
          [rows.map((r) => r.id)],
        );
      });
      await this.accounts(
        this.db,
        rows.map((r) => r.id),
      );
    }
    return specs.map((spec) => {
      const account = this.accountCache.get(accountId(spec));
      assert(account, "an ensured account is cached");
      return account;
    });
  }

  async accounts(q: Queryable, ids: readonly string[]): Promise<Map<string, Account>> {
    const result = new Map<string, Account>();
    const unknown: string[] = [];
    for (const id of new Set(ids)) {
      const account = this.accountCache.get(id);
      if (account) result.set(id, account);
      else unknown.push(id);
    }
    if (unknown.length > 0) {
      const { rows } = await q.query<AccountRow>("select * from ledger_accounts where id = any($1::text[])", [
        unknown,
      ]);
      for (const row of rows) {
        const account = accountFromRow(row);
        this.accountCache.set(account.id, account);
        result.set(account.id, account);
      }
    }
    return result;
  }

  /**
   * Decides and writes transfers inside the caller's transaction. Limited accounts are locked
   * (in id order, so concurrent writers cannot deadlock) before their limits are checked.
   * Returns one result per input; rejected journals write nothing.
   */
  async apply(
    tx: Queryable,
    inputs: readonly TransferInput[],
    options: ApplyOptions,
  ): Promise<TransferResult[]> {
    if (inputs.length === 0) return [];
    const ids = inputs.map((t) => t.id);
    const pendingIds = inputs.flatMap((t) => (isMove(t) ? [] : [t.pendingId]));

    const pending = new Map<string, PendingState>();
    if (pendingIds.length > 0) {
      // Locking the pending transfer serializes every attempt to resolve it.
      const { rows } = await tx.query<TransferRow>(
        "select * from ledger_transfers where id = any($1::text[]) order by id for update",
        [pendingIds],
      );
      for (const row of rows) pending.set(row.id, { row, resolution: null });
    }

    const accountIds = new Set<string>();
    for (const t of inputs) {
      if (isMove(t)) {
        accountIds.add(t.debitAccountId);
        accountIds.add(t.creditAccountId);
      }
    }
    for (const p of pending.values()) {
      accountIds.add(p.row.debit_account_id);
      accountIds.add(p.row.credit_account_id);
    }
    const accounts = await this.accounts(tx, [...accountIds]);

    const limitedIds = [...accounts.values()]
      .filter((a) => a.debitsMustNotExceedCredits || a.creditsMustNotExceedDebits)
      .map((a) => a.id)
      .sort();
    const limitedBalances = new Map<string, Balance>();
    if (limitedIds.length > 0) {
      const { rows } = await tx.query<BalanceRow>(
        `select * from ledger_balances where account_id = any($1::text[]) and slot = 0
         order by account_id for update`,
        [limitedIds],
      );
      for (const row of rows) limitedBalances.set(row.account_id, balanceFromRow(row));
    }

    // Read only now, with the locks held: under READ COMMITTED each statement sees what committed
    // before it started, so a writer that waited for a lock sees the resolution or transfer written
    // by the one it waited for. (Reading them in the locking statement would use that statement's
    // older snapshot: the loser of a race would miss the winner's resolution and hit the unique
    // resolution index instead of answering `pending_transfer_already_posted`.)
    if (pending.size > 0) {
      const { rows } = await tx.query<{ pending_id: string; type: NonNullable<PendingState["resolution"]> }>(
        "select pending_id, type from ledger_transfers where pending_id = any($1::text[])",
        [[...pending.keys()]],
      );
      for (const row of rows) {
        const p = pending.get(row.pending_id);
        if (p) p.resolution = row.type;
      }
    }
    const existing = new Map<string, TransferRow>();
    {
      const { rows } = await tx.query<TransferRow>(
        "select * from ledger_transfers where id = any($1::text[])",
        [ids],
      );
      for (const row of rows) existing.set(row.id, row);
    }

    const decision = decide(
      inputs,
      { accounts, existing, pending, limitedBalances },
      { nowMs: options.nowMs },
    );
    if (decision.rows.length > 0) {
      await tx.query(insertTransfersSql(), [JSON.stringify(decision.rows.map(transferToJson))]);
      nextSlot = (nextSlot + 1) % BALANCE_SLOT_COUNT;
      const slot = options.slot ?? nextSlot;
      await this.writeDeltas(tx, decision.deltas, accounts, slot);
    }
    return decision.results;
  }

  private async writeDeltas(
    tx: Queryable,
    deltas: readonly BalanceDelta[],
    accounts: ReadonlyMap<string, Account>,
    slot: number,
  ): Promise<void> {
    await tx.query(upsertBalancesSql(), [balanceRowsJson(deltas, accounts, slot)]);
  }

  /**
   * The write-only path for the common case: every input moves money between accounts this
   * process knows, none of which has a limit, under a freshly generated id. Nothing needs to be
   * read or locked, so the decision is made here and the caller writes `transfersJson` and
   * `balancesJson` (with `insertTransfersSql` and `upsertBalancesSql`, or inside one larger
   * statement). Returns null when the general path (`apply`) is needed.
   */
  planAppend(
    inputs: readonly TransferInput[],
    options: ApplyOptions,
  ): { results: TransferResult[]; transfersJson: string; balancesJson: string } | null {
    const accounts = new Map<string, Account>();
    for (const t of inputs) {
      if (!isMove(t)) return null;
      for (const id of [t.debitAccountId, t.creditAccountId]) {
        const account = this.accountCache.get(id);
        if (!account || account.debitsMustNotExceedCredits || account.creditsMustNotExceedDebits) return null;
        accounts.set(id, account);
      }
    }
    const decision = decide(
      inputs,
      { accounts, existing: new Map(), pending: new Map(), limitedBalances: new Map() },
      { nowMs: options.nowMs },
    );
    nextSlot = (nextSlot + 1) % BALANCE_SLOT_COUNT;
    return {
      results: decision.results,
      transfersJson: JSON.stringify(decision.rows.map(transferToJson)),
      balancesJson: balanceRowsJson(decision.deltas, accounts, options.slot ?? nextSlot),
    };
  }

  /** Balances summed over all slots. */
  async balances(q: Queryable, ids: readonly string[]): Promise<Map<string, Balance>> {
    const { rows } = await q.query<BalanceRow>(
      `select account_id, 0 as slot,
         sum(debits_pending)::bigint as debits_pending, sum(debits_posted)::bigint as debits_posted,
         sum(credits_pending)::bigint as credits_pending, sum(credits_posted)::bigint as credits_posted
       from ledger_balances where account_id = any($1::text[]) group by account_id`,
      [ids],
    );
    return new Map(rows.map((row) => [row.account_id, balanceFromRow(row)]));
  }
}

/**
 * The ledger owns its tables: callers that write a planned journal inside a larger statement get
 * these fragments with the number of the parameter that carries the JSON, never SQL to patch.
 */
export function insertTransfersSql(param = 1): string {
  return `insert into ledger_transfers select * from json_populate_recordset(null::ledger_transfers, $${param}::json)`;
}

/** Adds balance deltas to their slots; rows are sorted so concurrent writers lock in one order. */
export function upsertBalancesSql(param = 1): string {
  return `insert into ledger_balances
  select * from json_populate_recordset(null::ledger_balances, $${param}::json)
  on conflict (account_id, slot) do update set
    debits_pending = ledger_balances.debits_pending + excluded.debits_pending,
    debits_posted = ledger_balances.debits_posted + excluded.debits_posted,
    credits_pending = ledger_balances.credits_pending + excluded.credits_pending,
    credits_posted = ledger_balances.credits_posted + excluded.credits_posted`;
}

function balanceRowsJson(
  deltas: readonly BalanceDelta[],
  accounts: ReadonlyMap<string, Account>,
  slot: number,
): string {
  const rows = deltas
    .map((d) => {
      const account = accounts.get(d.accountId)!;
      const limited = account.debitsMustNotExceedCredits || account.creditsMustNotExceedDebits;
      return {
        account_id: d.accountId,
        slot: limited ? 0 : slot,
        debits_pending: d.debitsPending.toString(),
        debits_posted: d.debitsPosted.toString(),
        credits_pending: d.creditsPending.toString(),
        credits_posted: d.creditsPosted.toString(),
      };
    })
    .sort((a, b) => (a.account_id < b.account_id ? -1 : a.account_id > b.account_id ? 1 : a.slot - b.slot));
  return JSON.stringify(rows);
}

interface BalanceRow {
  account_id: string;
  slot: number;
  debits_pending: bigint;
  debits_posted: bigint;
  credits_pending: bigint;
  credits_posted: bigint;
}

function balanceFromRow(row: BalanceRow): Balance {
  return {
    accountId: row.account_id,
    debitsPending: row.debits_pending,
    debitsPosted: row.debits_posted,
    creditsPending: row.credits_pending,
    creditsPosted: row.credits_posted,
  };
}

function transferToJson(row: TransferRow): Record<string, unknown> {
  return {
    ...row,
    amount: row.amount.toString(),
    expires_at: row.expires_at?.toISOString() ?? null,
    created: row.created.toISOString(),
  };
}
