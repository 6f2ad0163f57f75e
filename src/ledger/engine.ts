import type {
  Account,
  Balance,
  TransferInput,
  TransferRejection,
  TransferResult,
  TransferRow,
} from "./types.ts";
import { emptyBalance, isMove } from "./types.ts";

/**
 * The pure heart of the ledger: given what the database says (accounts, transfers that already
 * exist, the pending transfers referred to and the locked balances of limited accounts), decide
 * each transfer in order, as TigerBeetle does. It reads and writes nothing; the caller loads the
 * state under locks and writes the outcome, so the same rules hold for one transfer or a batch.
 */
export interface PendingState {
  row: TransferRow;
  /** How it was resolved, if it was. */
  resolution: "post_pending" | "void_pending" | "expire_pending" | null;
}

export interface LedgerState {
  accounts: ReadonlyMap<string, Account>;
  existing: ReadonlyMap<string, TransferRow>;
  pending: ReadonlyMap<string, PendingState>;
  /** Slot-0 balances of accounts with a limit flag, read under a row lock. */
  limitedBalances: ReadonlyMap<string, Balance>;
}

export interface BalanceDelta {
  accountId: string;
  debitsPending: bigint;
  debitsPosted: bigint;
  creditsPending: bigint;
  creditsPosted: bigint;
}

export interface Decision {
  results: TransferResult[];
  rows: TransferRow[];
  deltas: BalanceDelta[];
}

function sameFields(input: TransferInput, row: TransferRow): boolean {
  if (input.type !== row.type || input.journalId !== row.journal_id || input.code !== row.code) return false;
  if ((input.reference ?? null) !== row.reference) return false;
  if (isMove(input)) {
    // A hold that ends at another time is another hold.
    const expiresAtMs = input.type === "pending" ? (input.expiresAtMs ?? null) : null;
    return (
      input.debitAccountId === row.debit_account_id &&
      input.creditAccountId === row.credit_account_id &&
      input.amount === row.amount &&
      input.currency === row.currency &&
      expiresAtMs === (row.expires_at?.getTime() ?? null)
    );
  }
  if (input.pendingId !== row.pending_id) return false;
  return input.type !== "post_pending" || input.amount === undefined || input.amount === row.amount;
}

function addDelta(deltas: Map<string, BalanceDelta>, accountId: string, change: Partial<BalanceDelta>): void {
  const d = deltas.get(accountId) ?? {
    accountId,
    debitsPending: 0n,
    debitsPosted: 0n,
    creditsPending: 0n,
    creditsPosted: 0n,
  };
  d.debitsPending += change.debitsPending ?? 0n;
  d.debitsPosted += change.debitsPosted ?? 0n;
  d.creditsPending += change.creditsPending ?? 0n;
  d.creditsPosted += change.creditsPosted ?? 0n;
  deltas.set(accountId, d);
}

function withinLimits(account: Account, b: Balance): TransferRejection | null {
  if (account.debitsMustNotExceedCredits && b.debitsPending + b.debitsPosted > b.creditsPosted) {
    return "exceeds_credits";
  }
  if (account.creditsMustNotExceedDebits && b.creditsPending + b.creditsPosted > b.debitsPosted) {
    return "exceeds_debits";
  }
  return null;
}

/**
 * Decides a list of transfers. Transfers that share a journal id are linked: they all succeed or
 * all fail together (`linked_transfer_failed`), so a journal is never half-applied.
 */
export function decide(
  inputs: readonly TransferInput[],
  state: LedgerState,
  context: { nowMs: number; merchantOf?: (account: Account) => string },
): Decision {
  const results: TransferResult[] = new Array(inputs.length).fill("ok");
  const rows: TransferRow[] = [];
  const committedDeltas = new Map<string, BalanceDelta>();
  // Working copies: limited balances and resolutions change as the batch proceeds.
  const balances = new Map<string, Balance>();
  for (const [id, b] of state.limitedBalances) balances.set(id, { ...b });
  const resolved = new Map<string, PendingState["resolution"]>();
  const created = new Map<string, TransferRow>();

  // Group indices by journal, preserving first-appearance order.
  const journals = new Map<string, number[]>();
  inputs.forEach((input, index) => {
    const list = journals.get(input.journalId) ?? [];
    list.push(index);
    journals.set(input.journalId, list);
  });

  for (const indices of journals.values()) {
    const journalBalances = new Map<string, Balance>();
    const journalResolved = new Map<string, PendingState["resolution"]>();
    const journalRows: TransferRow[] = [];
    // Transfers created earlier in this journal: later ones see them (a replay of the same id is
    // `exists`, a pending transfer may be resolved in the journal that created it).
    const journalCreated = new Map<string, TransferRow>();
    const journalDeltas = new Map<string, BalanceDelta>();
    let failedAt = -1;

    const balanceOf = (id: string): Balance => {
      const current = journalBalances.get(id) ?? balances.get(id) ?? emptyBalance(id);
      const copy = { ...current };
      journalBalances.set(id, copy);
      return copy;
    };

    for (const index of indices) {
      const input = inputs[index]!;
      const outcome = decideOne(input);
      if (outcome !== "ok") {
        results[index] = outcome;
        if (outcome !== "exists") {
          failedAt = index;
          break;
        }
      }
    }

    if (failedAt >= 0) {
      for (const index of indices) if (index !== failedAt) results[index] = "linked_transfer_failed";
      continue;
    }
    // Every limited balance the journal touched carries over to the next journal, including those
    // of accounts the caller had no balance row for (they started at zero).
    for (const [id, b] of journalBalances) balances.set(id, b);
    for (const [id, r] of journalResolved) resolved.set(id, r);
    for (const row of journalRows) {
      created.set(row.id, row);
      rows.push(row);
    }
    for (const d of journalDeltas.values()) {
      addDelta(committedDeltas, d.accountId, d);
    }

    function decideOne(input: TransferInput): TransferResult {
      const existing = state.existing.get(input.id) ?? created.get(input.id) ?? journalCreated.get(input.id);
      if (existing) return sameFields(input, existing) ? "exists" : "exists_with_different_fields";

      let debitId: string;
      let creditId: string;
      let amount: bigint;
      let currency: string;
      let pendingRow: TransferRow | null = null;

      if (isMove(input)) {
        if (input.amount <= 0n) return "amount_must_be_positive";
        if (input.debitAccountId === input.creditAccountId) return "accounts_must_be_different";
        if (
          input.type === "pending" &&
          input.expiresAtMs !== undefined &&
          input.expiresAtMs <= context.nowMs
        ) {
          return "expires_at_must_be_in_future";
        }
        debitId = input.debitAccountId;
        creditId = input.creditAccountId;
        amount = input.amount;
        currency = input.currency;
      } else {
        const pending = state.pending.get(input.pendingId);
        const pendingCreated = created.get(input.pendingId) ?? journalCreated.get(input.pendingId);
        pendingRow = pending?.row ?? pendingCreated ?? null;
        if (!pendingRow) return "pending_transfer_not_found";
        if (pendingRow.type !== "pending") return "pending_transfer_not_pending";
        const resolution =
          journalResolved.get(input.pendingId) ??
          resolved.get(input.pendingId) ??
          pending?.resolution ??
          null;
        if (resolution === "post_pending") return "pending_transfer_already_posted";
        if (resolution === "void_pending") return "pending_transfer_already_voided";
        if (resolution === "expire_pending") return "pending_transfer_already_expired";
        const expiresMs = pendingRow.expires_at?.getTime();
        const expired = expiresMs !== undefined && expiresMs <= context.nowMs;
        if (input.type === "expire_pending" && !expired) return "pending_transfer_has_not_expired";
        if (input.type !== "expire_pending" && expired) return "pending_transfer_expired";
        debitId = pendingRow.debit_account_id;
        creditId = pendingRow.credit_account_id;
        currency = pendingRow.currency;
        if (input.type === "post_pending") {
          amount = input.amount ?? pendingRow.amount;
          if (amount <= 0n) return "amount_must_be_positive";
          if (amount > pendingRow.amount) return "exceeds_pending_transfer_amount";
        } else {
          amount = pendingRow.amount;
        }
      }

      const debit = state.accounts.get(debitId);
      const credit = state.accounts.get(creditId);
      if (!debit) return "debit_account_not_found";
      if (!credit) return "credit_account_not_found";
      if (debit.merchantId !== credit.merchantId || debit.mode !== credit.mode)
        return "accounts_must_share_ledger";
      if (debit.currency !== currency || credit.currency !== currency) return "currency_mismatch";

      // Effects on both accounts.
      const pendingAmount = pendingRow?.amount ?? 0n;
      const debitChange: Partial<BalanceDelta> = {};
      const creditChange: Partial<BalanceDelta> = {};
      switch (input.type) {
        case "single_phase":
          debitChange.debitsPosted = amount;
          creditChange.creditsPosted = amount;
          break;
        case "pending":
          debitChange.debitsPending = amount;
          creditChange.creditsPending = amount;
          break;
        case "post_pending":
          debitChange.debitsPending = -pendingAmount;
          debitChange.debitsPosted = amount;
          creditChange.creditsPending = -pendingAmount;
          creditChange.creditsPosted = amount;
          break;
        case "void_pending":
        case "expire_pending":
          debitChange.debitsPending = -pendingAmount;
          creditChange.creditsPending = -pendingAmount;
          break;
      }

      for (const [account, change] of [
        [debit, debitChange],
        [credit, creditChange],
      ] as const) {
        if (!account.debitsMustNotExceedCredits && !account.creditsMustNotExceedDebits) continue;
        const b = balanceOf(account.id);
        const next: Balance = {
          accountId: b.accountId,
          debitsPending: b.debitsPending + (change.debitsPending ?? 0n),
          debitsPosted: b.debitsPosted + (change.debitsPosted ?? 0n),
          creditsPending: b.creditsPending + (change.creditsPending ?? 0n),
          creditsPosted: b.creditsPosted + (change.creditsPosted ?? 0n),
        };
        const rejection = withinLimits(account, next);
        if (rejection) return rejection;
      }
      for (const [account, change] of [
        [debit, debitChange],
        [credit, creditChange],
      ] as const) {
        if (account.debitsMustNotExceedCredits || account.creditsMustNotExceedDebits) {
          const b = balanceOf(account.id);
          b.debitsPending += change.debitsPending ?? 0n;
          b.debitsPosted += change.debitsPosted ?? 0n;
          b.creditsPending += change.creditsPending ?? 0n;
          b.creditsPosted += change.creditsPosted ?? 0n;
        }
        addDelta(journalDeltas, account.id, change);
      }

      if (!isMove(input)) journalResolved.set(input.pendingId, input.type);
      const row: TransferRow = {
        id: input.id,
        merchant_id: debit.merchantId,
        mode: debit.mode,
        journal_id: input.journalId,
        type: input.type,
        debit_account_id: debitId,
        credit_account_id: creditId,
        amount,
        currency,
        pending_id: isMove(input) ? null : input.pendingId,
        expires_at:
          input.type === "pending" && input.expiresAtMs !== undefined ? new Date(input.expiresAtMs) : null,
        code: input.code,
        reference: input.reference ?? null,
        created: new Date(context.nowMs),
      };
      journalRows.push(row);
      journalCreated.set(row.id, row);
      return "ok";
    }
  }

  return { results, rows, deltas: [...committedDeltas.values()] };
}
