import type { AccountSpec } from "../ledger/index.ts";
import type { Mode } from "../platform/scope.ts";

/**
 * The ledger accounts of wallets. A customer's credit in one currency sits on two accounts, one
 * per category, that can never go below zero. The merchant's side:
 * - `wallet_issuance`: where paid credit comes from (top-ups, vouchers, refunds) and goes back to;
 * - `promotion_expense`: where promotional credit comes from, and where it returns when it expires;
 * - `wallet_breakage`: paid credit that expired unspent;
 * - `conversion_residue`: the part of a top-up worth less than one minor unit of the inner currency.
 */
export type GrantCategory = "paid" | "promotional";

interface Ledgered {
  merchantId: string;
  mode: Mode;
}

export function walletAccount(
  scope: Ledgered,
  customerId: string,
  category: GrantCategory,
  currency: string,
): AccountSpec {
  return {
    merchantId: scope.merchantId,
    mode: scope.mode,
    ownerId: customerId,
    purpose: category === "paid" ? "wallet_paid" : "wallet_promotional",
    currency,
    debitsMustNotExceedCredits: true,
  };
}

export type MerchantWalletPurpose =
  | "wallet_issuance"
  | "promotion_expense"
  | "wallet_breakage"
  | "conversion_residue"
  | "available";

export function merchantAccount(
  scope: Ledgered,
  purpose: MerchantWalletPurpose,
  currency: string,
): AccountSpec {
  return { merchantId: scope.merchantId, mode: scope.mode, ownerId: scope.merchantId, purpose, currency };
}

/** Where a grant's credit comes from, and where what is left of it goes when it expires. */
export function grantSource(scope: Ledgered, category: GrantCategory, currency: string): AccountSpec {
  return merchantAccount(scope, category === "paid" ? "wallet_issuance" : "promotion_expense", currency);
}

export function expirySink(scope: Ledgered, category: GrantCategory, currency: string): AccountSpec {
  return merchantAccount(scope, category === "paid" ? "wallet_breakage" : "promotion_expense", currency);
}

/** The clearing account of wallet payments: what wallets pay, the payment passes on to the merchant. */
export function walletClearing(scope: Ledgered, currency: string): AccountSpec {
  return {
    merchantId: scope.merchantId,
    mode: scope.mode,
    ownerId: "provider:wallet",
    purpose: "clearing",
    currency,
  };
}
