import type { Db } from "../db/db.ts";
import type { AuthContext } from "../merchants/index.ts";
import type { PaymentsContext } from "../payments/index.ts";
import type { Clock } from "../platform/clock.ts";
import type { Logger } from "../platform/log.ts";
import type { AuthScope } from "../platform/scope.ts";
import type { LinkKeyStore } from "./link-keys.ts";
import type { MethodType } from "./model.ts";
import type { ReceiptSender } from "./receipts.ts";

/** How checkout is set up (CENTIME_CHECKOUT_* variables, docs/checkout.md). */
export interface CheckoutSettings {
  /**
   * Header enrichment: the header an operator's proxy adds with the payer's MSISDN (and the one
   * with the MCC+MNC), honoured only from these proxy addresses. Off when no proxy is configured.
   */
  enrichment: { msisdnHeader: string; operatorHeader: string; proxies: ReadonlySet<string> };
  /** How long a PIN-confirmed MSISDN is recognized in the merchant's other apps. */
  consentValidityMs: number;
  /** How long links signed with a rotated key keep working. */
  linkKeyOverlapMs: number;
  /** Hosts that fulfilment URLs may reach although private (CENTIME_WEBHOOK_ALLOWED_HOSTS). */
  allowedHosts: ReadonlySet<string>;
  /** The card provider's tokenization form (its origin goes into form-action). */
  cardFormUrl: () => string | null;
  /** The trusted proxy's country header (CENTIME_IP_COUNTRY_HEADER): the risk engine's ip_country. */
  ipCountryHeader?: string;
}

/**
 * Wallets and vouchers as the hosted page needs them (wired by services.ts, so checkout does not
 * reach into those capabilities): a customer's spendable balance, and a voucher redeemed for them.
 */
export interface WalletAccess {
  balance(scope: AuthScope, customerId: string, currency: string, nowMs: number): Promise<bigint>;
  /** Redeems a code for the customer; throws the vouchers' ApiError (voucher_invalid, 429). */
  redeem(
    scope: AuthScope,
    code: string,
    customerId: string,
    ip: string,
    nowMs: number,
  ): Promise<{ amount?: number; currency?: string; entitlement?: string }>;
}

/** What a card provider's token stands for (never the number). */
export interface CardTokenInfo {
  brand: string;
  last4: string;
  exp_month: number;
  exp_year: number;
}

/** What every checkout flow needs, built once per process. */
export interface CheckoutContext {
  db: Db;
  clock: Clock;
  logger: Logger;
  /** The one charging seam: checkout creates and confirms payments through it, never beside it. */
  payments: PaymentsContext;
  keys: LinkKeyStore;
  receipts: ReceiptSender;
  settings: CheckoutSettings;
  /** Checks an API key (the embedded form's publishable key). */
  authenticate(authorization: string): Promise<AuthContext>;
  /** The payment-method types the hosted page offers in a mode (the registered method modules). */
  availableMethods(mode: "test" | "live"): MethodType[];
  /** Asks the card provider what a token from its form stands for (null: unknown); wired by services.ts. */
  cardToken?: (token: string) => Promise<CardTokenInfo | null>;
  /** Wallets and vouchers, when the process has them (the wallet and voucher methods). */
  wallets?: WalletAccess;
  /** Where Centime's pages are reached (CENTIME_PUBLIC_URL, else the address it listens on). */
  publicUrl(): string;
}

export type Scope = AuthScope;

export function sessionUrl(ctx: CheckoutContext, id: string): string {
  return `${ctx.publicUrl()}/checkout/${id}`;
}
