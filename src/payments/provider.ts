import type { PaymentMethod } from "./model.ts";

/**
 * What a payment provider answers. `unknown` means we cannot tell whether money moved (a
 * timeout, an unreadable reply): the payment stays `processing` and is settled by asking the
 * provider about our attempt, never by charging again.
 */
export type ChargeOutcome =
  | { status: "succeeded"; reference: string }
  | { status: "authorized"; reference: string }
  | { status: "pending"; reference?: string }
  | { status: "unknown"; reason: string }
  | { status: "declined"; code: string; message: string }
  | { status: "requires_pin" }
  /** The payer must text `keyword` to `shortcode` (the MO flow). */
  | { status: "requires_mo"; shortcode: string; keyword: string }
  | { status: "requires_redirect"; url: string; reference?: string };

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

export interface RefundAnswer {
  status: "succeeded" | "failed" | "pending" | "unknown";
  code?: string;
  reference?: string;
  interactions: Interaction[];
}

export interface PaymentProvider {
  readonly name: string;
  /**
   * True when the provider keeps no state of its own outside our transaction, so a charge may be
   * decided and written in one commit. Remote providers get the attempt committed before the call.
   */
  readonly inProcess: boolean;
  /** Whether a hold (manual capture) is possible. */
  readonly supportsManualCapture: boolean;
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
  cancel(request: { attemptId: string }): Promise<{ ok: boolean; interactions: Interaction[] }>;
}
