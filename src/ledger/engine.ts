import { assert } from "../platform/errors.ts";
import type {
  Account,
  Balance,
  MoveInput,
  ResolveInput,
  TransferInput,
  TransferRejection,
  TransferResult,
  TransferRow,
  TransferType,
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

/** What the batch has decided so far: later journals see earlier ones' effects. */
interface Working {
  /** Limited balances as they stand after the journals decided so far. */
  balances: Map<string, Balance>;
  resolved: Map<string, PendingState["resolution"]>;
  created: Map<string, TransferRow>;
}

/** One journal's effects while it is being decided; applied to `Working` only if it all succeeds. */
interface JournalDraft {
  balances: Map<string, Balance>;
  resolved: Map<string, PendingState["resolution"]>;
  created: Map<string, TransferRow>;
  rows: TransferRow[];
  deltas: Map<string, BalanceDelta>;
}

/** The accounts, amount and currency a transfer moves, once its input is known to be valid. */
interface Movement {
  debitId: string;
  creditId: string;
  amount: bigint;
  currency: string;
  /** The pending transfer a resolution settles. */
  pendingRow: TransferRow | null;
}

interface Context {
  nowMs: number;
}

/**
 * Decides a list of transfers. Transfers that share a journal id are linked: they all succeed or
 * all fail together (`linked_transfer_failed`), so a journal is never half-applied.
 */
export function decide(inputs: readonly TransferInput[], state: LedgerState, context: Context): Decision {
  const results: TransferResult[] = new Array(inputs.length).fill("ok");
  const rows: TransferRow[] = [];
  const committedDeltas = new Map<string, BalanceDelta>();
  const working: Working = {
    balances: new Map([...state.limitedBalances].map(([id, b]) => [id, { ...b }])),
    resolved: new Map(),
    created: new Map(),
  };

  for (const indices of journalsOf(inputs)) {
    const draft: JournalDraft = {
      balances: new Map(),
      resolved: new Map(),
      created: new Map(),
      rows: [],
      deltas: new Map(),
    };
    let failedAt = -1;
    for (const index of indices) {
      const outcome = decideOne(inputs[index]!, state, working, draft, context);
      results[index] = outcome;
      if (outcome !== "ok" && outcome !== "exists") {
        failedAt = index;
        break;
      }
    }
    if (failedAt >= 0) {
      for (const index of indices) if (index !== failedAt) results[index] = "linked_transfer_failed";
      continue;
    }
    assertJournalBalances(draft, state.accounts);
    // Every limited balance the journal touched carries over to the next journal, including those
    // of accounts the caller had no balance row for (they started at zero).
    for (const [id, b] of draft.balances) working.balances.set(id, b);
    for (const [id, r] of draft.resolved) working.resolved.set(id, r);
    for (const row of draft.rows) {
      working.created.set(row.id, row);
      rows.push(row);
    }
    for (const d of draft.deltas.values()) addDelta(committedDeltas, d.accountId, d);
  }

  return { results, rows, deltas: [...committedDeltas.values()] };
}

/** Indices grouped by journal, in order of first appearance. */
function journalsOf(inputs: readonly TransferInput[]): number[][] {
  const journals = new Map<string, number[]>();
  inputs.forEach((input, index) => {
    const list = journals.get(input.journalId) ?? [];
    list.push(index);
    journals.set(input.journalId, list);
  });
  return [...journals.values()];
}

function decideOne(
  input: TransferInput,
  state: LedgerState,
  working: Working,
  draft: JournalDraft,
  context: Context,
): TransferResult {
  const existing =
    state.existing.get(input.id) ?? working.created.get(input.id) ?? draft.created.get(input.id);
  if (existing) return sameFields(input, existing) ? "exists" : "exists_with_different_fields";

  const movement = isMove(input)
    ? checkMove(input, context)
    : checkResolution(input, state, working, draft, context);
  if (typeof movement === "string") return movement;

  const debit = state.accounts.get(movement.debitId);
  const credit = state.accounts.get(movement.creditId);
  if (!debit) return "debit_account_not_found";
  if (!credit) return "credit_account_not_found";
  if (debit.merchantId !== credit.merchantId || debit.mode !== credit.mode)
    return "accounts_must_share_ledger";
  if (debit.currency !== movement.currency || credit.currency !== movement.currency)
    return "currency_mismatch";

  const [debitChange, creditChange] = effectsOf(input.type, movement);
  const changes = [
    [debit, debitChange],
    [credit, creditChange],
  ] as const;
  // Limits are checked for both sides before either balance changes.
  for (const [account, change] of changes) {
    if (!isLimited(account)) continue;
    const rejection = withinLimits(account, plus(balanceIn(draft, working, account.id), change));
    if (rejection) return rejection;
  }
  for (const [account, change] of changes) {
    if (isLimited(account))
      draft.balances.set(account.id, plus(balanceIn(draft, working, account.id), change));
    addDelta(draft.deltas, account.id, change);
  }

  if (!isMove(input)) draft.resolved.set(input.pendingId, input.type);
  const row: TransferRow = {
    id: input.id,
    merchant_id: debit.merchantId,
    mode: debit.mode,
    journal_id: input.journalId,
    type: input.type,
    debit_account_id: movement.debitId,
    credit_account_id: movement.creditId,
    amount: movement.amount,
    currency: movement.currency,
    pending_id: isMove(input) ? null : input.pendingId,
    expires_at:
      input.type === "pending" && input.expiresAtMs !== undefined ? new Date(input.expiresAtMs) : null,
    code: input.code,
    reference: input.reference ?? null,
    created: new Date(context.nowMs),
  };
  draft.rows.push(row);
  draft.created.set(row.id, row);
  return "ok";
}

/** A new movement of money: what its input alone can tell. */
function checkMove(input: MoveInput, context: Context): Movement | TransferRejection {
  if (input.amount <= 0n) return "amount_must_be_positive";
  if (input.debitAccountId === input.creditAccountId) return "accounts_must_be_different";
  if (input.type === "pending" && input.expiresAtMs !== undefined && input.expiresAtMs <= context.nowMs) {
    return "expires_at_must_be_in_future";
  }
  return {
    debitId: input.debitAccountId,
    creditId: input.creditAccountId,
    amount: input.amount,
    currency: input.currency,
    pendingRow: null,
  };
}

/** Posting, voiding or expiring a pending transfer: it must exist, be pending and unresolved. */
function checkResolution(
  input: ResolveInput,
  state: LedgerState,
  working: Working,
  draft: JournalDraft,
  context: Context,
): Movement | TransferRejection {
  const pending = state.pending.get(input.pendingId);
  const pendingRow =
    pending?.row ?? working.created.get(input.pendingId) ?? draft.created.get(input.pendingId) ?? null;
  if (!pendingRow) return "pending_transfer_not_found";
  if (pendingRow.type !== "pending") return "pending_transfer_not_pending";
  const resolution =
    draft.resolved.get(input.pendingId) ??
    working.resolved.get(input.pendingId) ??
    pending?.resolution ??
    null;
  if (resolution === "post_pending") return "pending_transfer_already_posted";
  if (resolution === "void_pending") return "pending_transfer_already_voided";
  if (resolution === "expire_pending") return "pending_transfer_already_expired";
  const expiresMs = pendingRow.expires_at?.getTime();
  const expired = expiresMs !== undefined && expiresMs <= context.nowMs;
  if (input.type === "expire_pending" && !expired) return "pending_transfer_has_not_expired";
  if (input.type !== "expire_pending" && expired) return "pending_transfer_expired";
  let amount = pendingRow.amount;
  if (input.type === "post_pending" && input.amount !== undefined) {
    if (input.amount <= 0n) return "amount_must_be_positive";
    if (input.amount > pendingRow.amount) return "exceeds_pending_transfer_amount";
    amount = input.amount;
  }
  return {
    debitId: pendingRow.debit_account_id,
    creditId: pendingRow.credit_account_id,
    amount,
    currency: pendingRow.currency,
    pendingRow,
  };
}

/** What a transfer does to its debit and its credit account: the same amounts on both sides. */
function effectsOf(type: TransferType, movement: Movement): [Partial<BalanceDelta>, Partial<BalanceDelta>] {
  const { amount } = movement;
  const held = movement.pendingRow?.amount ?? 0n;
  switch (type) {
    case "single_phase":
      return [{ debitsPosted: amount }, { creditsPosted: amount }];
    case "pending":
      return [{ debitsPending: amount }, { creditsPending: amount }];
    case "post_pending":
      // The whole hold is released; only the posted amount moves (a partial capture).
      return [
        { debitsPending: -held, debitsPosted: amount },
        { creditsPending: -held, creditsPosted: amount },
      ];
    case "void_pending":
    case "expire_pending":
      return [{ debitsPending: -held }, { creditsPending: -held }];
  }
}

function isLimited(account: Account): boolean {
  return account.debitsMustNotExceedCredits || account.creditsMustNotExceedDebits;
}

function balanceIn(draft: JournalDraft, working: Working, id: string): Balance {
  return draft.balances.get(id) ?? working.balances.get(id) ?? emptyBalance(id);
}

function plus(b: Balance, change: Partial<BalanceDelta>): Balance {
  return {
    accountId: b.accountId,
    debitsPending: b.debitsPending + (change.debitsPending ?? 0n),
    debitsPosted: b.debitsPosted + (change.debitsPosted ?? 0n),
    creditsPending: b.creditsPending + (change.creditsPending ?? 0n),
    creditsPosted: b.creditsPosted + (change.creditsPosted ?? 0n),
  };
}

/**
 * Double entry, checked where it is decided: in every currency a journal moves, what it debits
 * equals what it credits, posted and pending alike, and every transfer moves a positive amount
 * between two accounts of that currency.
 */
function assertJournalBalances(draft: JournalDraft, accounts: ReadonlyMap<string, Account>): void {
  for (const row of draft.rows) {
    assert(row.amount > 0n, `transfer ${row.id} moves a positive amount`);
    assert(row.debit_account_id !== row.credit_account_id, `transfer ${row.id} moves between two accounts`);
  }
  const net = new Map<string, { pending: bigint; posted: bigint }>();
  for (const d of draft.deltas.values()) {
    const currency = accounts.get(d.accountId)?.currency;
    assert(currency !== undefined, `a journal's delta is on a known account (${d.accountId})`);
    const sums = net.get(currency) ?? { pending: 0n, posted: 0n };
    sums.pending += d.debitsPending - d.creditsPending;
    sums.posted += d.debitsPosted - d.creditsPosted;
    net.set(currency, sums);
  }
  for (const [currency, sums] of net) {
    assert(sums.pending === 0n && sums.posted === 0n, `a journal balances in ${currency}`);
  }
}
