import type { TSchema } from "@sinclair/typebox";
import type { Mode } from "../platform/scope.ts";
import type { PaymentMethod } from "./model.ts";

/**
 * The one charging seam. Every charge (an API payment, a subscription renewal, and whatever comes
 * next: checkout sessions, top-ups, wallets, vouchers) asks a `PaymentProvider` from the one
 * registry (`registry.ts`), keyed by payment-method type, and gets a `ChargeOutcome`: the one
 * outcome vocabulary, mapped from each provider's own answers once, in the provider.
 *
 * `unknown` means we cannot tell whether money moved (a timeout, an unreadable reply): the payment
 * stays `processing` and is settled by asking the provider about our attempt, never by charging
 * again.
 */
export type ChargeOutcome =
  | { status: "succeeded"; reference: string }
  | { status: "authorized"; reference: string }
  | { status: "pending"; reference?: string }
  | { status: "unknown"; reason: string }
  /**
   * `retryable`: whether the same charge may succeed later (insufficient funds, a busy gateway);
   * a payment that is not retryable (barred, blocked, consent refused) ends a subscription.
   */
  | { status: "declined"; code: string; message: string; retryable: boolean }
  | { status: "requires_pin" }
  /** The payer must text `keyword` to `shortcode` (the MO flow). */
  | { status: "requires_mo"; shortcode: string; keyword: string }
  | { status: "requires_redirect"; url: string; reference?: string };

export type DeclinedOutcome = Extract<ChargeOutcome, { status: "declined" }>;

/** One request to the outside world and its answer, for the interaction log and the timeline. */
export interface Interaction {
  operation: string;
  request: unknown;
  response: unknown;
  outcome: string;
  latencyMs: number;
}

export interface ProviderAnswer {
  outcome: ChargeOutcome;
  /** The wire exchanges behind the answer, secrets redacted. */
  interactions: Interaction[];
  /** What the provider needs to continue this payment later (a consent id), kept on the payment. */
  state?: Record<string, unknown>;
}

export interface ChargeRequest {
  attemptId: string;
  amount: bigint;
  currency: string;
  capture: "automatic" | "manual";
  paymentMethod: PaymentMethod;
  description: string | null;
  /**
   * A merchant-initiated charge under a consent the payer already gave (a subscription renewal):
   * the payer is not there, so no PIN, MO or redirect can be asked for.
   */
  recurring?: boolean;
  /** The payer's answer to an `enter_pin` next action. */
  pin?: string;
  /** What an earlier answer asked us to keep. */
  state: Record<string, unknown> | null;
  /** Details that are never stored (a card number): present on the first call only. */
  secretDetails?: Record<string, unknown>;
}

export interface SyncRequest extends Omit<ChargeRequest, "pin" | "secretDetails"> {
  createdMs: number;
  nowMs: number;
}

export interface RefundRequest {
  refundId: string;
  paymentAttemptId: string;
  paymentReference: string | null;
  paymentMethod: PaymentMethod;
  amount: bigint;
  currency: string;
}

/**
 * A refund's state as a provider reports it. A decline always names its reason: the code is the
 * refund's `failure_code`, shown to the merchant, so none is made up for a provider that gave none.
 */
export type RefundStatus =
  | { status: "failed"; code: string; reference?: string }
  | { status: "succeeded" | "pending" | "unknown"; code?: string; reference?: string };

export type RefundAnswer = RefundStatus & { interactions: Interaction[] };

/** What a payment method is checked against when it enters: the mode, the currency, the request. */
export interface ResolveContext {
  mode: Mode;
  currency: string;
  nowMs: number;
  /** A one-off payment, or the method a subscription renews with (no payer present later). */
  usage: "payment" | "subscription";
  headers?: Record<string, string | undefined>;
}

export interface ResolvedMethod {
  /** What is stored and shown: never a full card number. */
  stored: PaymentMethod;
  /** What only the first call to the provider may see. */
  secretDetails?: Record<string, unknown>;
}

/** A payment method as the API receives it: a tagged object, checked by its provider's schema. */
export interface PaymentMethodInput {
  type: string;
  [field: string]: unknown;
}

export interface PaymentProvider {
  /** The payment-method type it serves (`payment_method.type`), also its ledger clearing owner. */
  readonly name: string;
  /**
   * True when the provider keeps no state of its own outside our transaction, so a charge may be
   * decided and written in one commit. Remote providers get the attempt committed before the call.
   */
  readonly inProcess: boolean;
  /** Whether a hold (manual capture) is possible. */
  readonly supportsManualCapture: boolean;
  /** The API's schema of `payment_method` for this type; absent: not accepted by POST /v1/payments. */
  readonly paymentSchema?: TSchema;
  /** The schema for subscriptions; absent: this method cannot renew a subscription. */
  readonly subscriptionSchema?: TSchema;
  /**
   * The same method, made to go through the payer's PIN step (a risk rule's `require_pin`), or
   * undefined when this method cannot ask the payer for a PIN. Absent: never.
   */
  requirePin?(method: PaymentMethod): PaymentMethod | undefined;
  /** Checks a method the API received (a schema-valid one) against the world; throws ApiError. */
  resolve(input: PaymentMethodInput, context: ResolveContext): Promise<ResolvedMethod>;
  /**
   * The payer's prepaid balance where the provider can tell (before a renewal, so a doomed charge
   * is not sent or a lower price point is picked); undefined when it cannot.
   */
  balance?(request: {
    paymentMethod: PaymentMethod;
    currency: string;
    nowMs: number;
  }): Promise<bigint | undefined>;
  charge(request: ChargeRequest): Promise<ProviderAnswer>;
  /** Asks what really happened to an attempt. Never charges. */
  sync(request: SyncRequest): Promise<ProviderAnswer>;
  refund(request: RefundRequest): Promise<RefundAnswer>;
  /** Asks what happened to a refund whose answer we did not get. */
  syncRefund(request: RefundRequest): Promise<RefundAnswer>;
  capture(request: {
    attemptId: string;
    amount: bigint;
    currency: string;
  }): Promise<{ ok: boolean; interactions: Interaction[] }>;
  /**
   * Tells the provider the payment is canceled (a void): `ok` only when it confirms it holds none
   * of the payer's money for the attempt.
   */
  cancel(request: { attemptId: string }): Promise<{ ok: boolean; interactions: Interaction[] }>;
  /**
   * Gives back the money of an attempt that succeeded after its payment was canceled (a void
   * where the provider can). Absent: a refund of the whole amount.
   */
  reverse?(request: RefundRequest): Promise<RefundAnswer>;
}

/** A provider that still has no record of an attempt this long after it was made never got it. */
export const NO_RECORD_GIVE_UP_MS = 15 * 60_000;

/**
 * A sync answer about an attempt the provider has no record of: while the attempt is young the
 * request may still be on its way (unknown); after `NO_RECORD_GIVE_UP_MS` it never arrived, so
 * nothing was charged and the attempt fails with `attempt_not_found`. Payments and renewals both
 * settle through this.
 */
export function settleUnseenAttempt(
  answer: ProviderAnswer,
  createdMs: number,
  nowMs: number,
): ProviderAnswer {
  const o = answer.outcome;
  if (o.status !== "unknown" || o.reason !== "sync_not_found") return answer;
  if (nowMs - createdMs <= NO_RECORD_GIVE_UP_MS) return answer;
  return {
    ...answer,
    outcome: {
      status: "declined",
      code: "attempt_not_found",
      message: "The provider has no record of this attempt.",
      retryable: true,
    },
  };
}
