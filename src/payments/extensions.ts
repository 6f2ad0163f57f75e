import type { Queryable } from "../db/db.ts";
import type { TransferInput } from "../ledger/index.ts";
import type { AuthScope } from "../platform/scope.ts";
import type { PaymentRow, RefundRow } from "./model.ts";
import type { Transition } from "./transitions.ts";

/**
 * What other capabilities (wallets, memberships, commissions) do with payments, without the
 * payment flows knowing them: a creation request is completed first (a price names the amount,
 * a top-up names its target currency), and the work each capability attaches to a payment runs
 * inside the very transaction that changes the payment's state or settles its refund, so money and
 * its consequences commit together or not at all.
 */
export interface PaymentRequest {
  amount?: number;
  currency?: string;
  customer?: string;
  price?: string;
  wallet_top_up?: { currency: string };
  payment_method: { type: string };
  capture?: "automatic" | "manual";
}

export interface PreparedPayment {
  amount: number;
  currency: string;
  /** Kept on the payment (`effects`) and read when it succeeds; null when there is nothing to do. */
  effects: Record<string, unknown> | null;
}

export interface PaymentExtensions {
  /** Completes and checks a creation request before anything is written; throws ApiError on bad input. */
  prepare(scope: AuthScope, input: PaymentRequest, nowMs: number): Promise<PreparedPayment>;
  /** True when the payment's first answer must commit with our work in one transaction. */
  needsTransaction(payment: PaymentRow): boolean;
  /**
   * Inside the transaction that writes a payment's transition, before its journal. May throw
   * ApiError to refuse it all. Returns true when it wrote the transition's journal itself, with
   * its own movements, in one ledger call (one sorted lock of balance rows per transaction).
   */
  onTransition(tx: Queryable, transition: Transition, nowMs: number): Promise<boolean>;
  /**
   * Inside the transaction that settles a refund as succeeded, before its journal; returns what to
   * show on the refund. Its movements go into `out` (which holds the refund's own transfer): the
   * caller writes them all in one ledger call (one sorted lock of balance rows per transaction).
   */
  onRefundSucceeded(
    tx: Queryable,
    payment: PaymentRow,
    refund: RefundRow,
    nowMs: number,
    out: TransferInput[],
  ): Promise<Record<string, unknown> | null>;
}
