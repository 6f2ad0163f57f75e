/**
 * The ledger's vocabulary. Transfers move one amount in one currency from a debit account to a
 * credit account; every business event is a journal of transfers, so every journal balances per
 * currency by construction. Transfers are immutable: resolving a pending transfer writes a new
 * transfer that points to it.
 */
import { newId } from "../platform/ids.ts";

export type Mode = "test" | "live";

export interface AccountKey {
  merchantId: string;
  mode: Mode;
  /** Who the account belongs to: the merchant, a customer (wallets) or a provider (clearing). */
  ownerId: string;
  purpose: string;
  currency: string;
}

export interface AccountSpec extends AccountKey {
  /** A wallet: its balance (credits - debits) may never go below zero. */
  debitsMustNotExceedCredits?: boolean;
  /** An asset that may never go negative: debits - credits may never go below zero. */
  creditsMustNotExceedDebits?: boolean;
}

export interface Account extends Required<AccountSpec> {
  id: string;
}

interface TransferCommon {
  id: string;
  journalId: string;
  /** What business event the transfer records, e.g. `payment_capture`. */
  code: string;
  /** The object that caused it, e.g. a payment id. */
  reference?: string;
}

export interface MoveInput extends TransferCommon {
  type: "single_phase" | "pending";
  debitAccountId: string;
  creditAccountId: string;
  amount: bigint;
  currency: string;
  /** Pending transfers only: after this time the hold may only be expired. */
  expiresAtMs?: number;
}

/** Resolves a pending transfer: post all of it or part (the rest is released), void or expire it. */
export interface ResolveInput extends TransferCommon {
  type: "post_pending" | "void_pending" | "expire_pending";
  pendingId: string;
  /** post_pending only: how much to post, at most the pending amount; all of it when absent. */
  amount?: bigint;
}

export type TransferInput = MoveInput | ResolveInput;

export function isMove(input: TransferInput): input is MoveInput {
  return input.type === "single_phase" || input.type === "pending";
}

export type TransferType = TransferInput["type"];

/** Every way a transfer can be refused, by name. Tests assert these, never messages. */
export type TransferRejection =
  | "exists_with_different_fields"
  | "linked_transfer_failed"
  | "amount_must_be_positive"
  | "accounts_must_be_different"
  | "debit_account_not_found"
  | "credit_account_not_found"
  | "accounts_must_share_ledger"
  | "currency_mismatch"
  | "exceeds_credits"
  | "exceeds_debits"
  | "expires_at_must_be_in_future"
  | "pending_transfer_not_found"
  | "pending_transfer_not_pending"
  | "pending_transfer_already_posted"
  | "pending_transfer_already_voided"
  | "pending_transfer_already_expired"
  | "pending_transfer_expired"
  | "pending_transfer_has_not_expired"
  | "exceeds_pending_transfer_amount";

export type TransferResult = "ok" | "exists" | TransferRejection;

/** A stored transfer, as written. */
export interface TransferRow {
  id: string;
  merchant_id: string;
  mode: Mode;
  journal_id: string;
  type: TransferType;
  debit_account_id: string;
  credit_account_id: string;
  amount: bigint;
  currency: string;
  pending_id: string | null;
  expires_at: Date | null;
  code: string;
  reference: string | null;
  created: Date;
}

export interface Balance {
  accountId: string;
  debitsPending: bigint;
  debitsPosted: bigint;
  creditsPending: bigint;
  creditsPosted: bigint;
}

export function emptyBalance(accountId: string): Balance {
  return { accountId, debitsPending: 0n, debitsPosted: 0n, creditsPending: 0n, creditsPosted: 0n };
}

/** What a single-phase movement needs; ids are generated unless the journal is shared. */
export interface MovementSpec {
  from: string;
  to: string;
  amount: bigint;
  currency: string;
  code: string;
  reference?: string;
  nowMs: number;
  /** A journal shared with other transfers (they succeed or fail together); a new one otherwise. */
  journalId?: string;
}

/** Money moved from one account to another at once: the transfer most journals are made of. */
export function movement(spec: MovementSpec): MoveInput {
  return {
    id: newId("tr", spec.nowMs),
    journalId: spec.journalId ?? newId("jrn", spec.nowMs),
    type: "single_phase",
    debitAccountId: spec.from,
    creditAccountId: spec.to,
    amount: spec.amount,
    currency: spec.currency,
    code: spec.code,
    ...(spec.reference === undefined ? {} : { reference: spec.reference }),
  };
}
