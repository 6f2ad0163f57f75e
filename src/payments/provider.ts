import type { PaymentMethod } from "./model.ts";

/**
 * What a payment provider answers. `unknown` means we cannot tell whether money moved (a
 * timeout): the payment stays `processing` and is settled by asking the provider, never by
 * charging again.
 */
export type ChargeOutcome =
  | { status: "succeeded"; reference: string }
  | { status: "authorized"; reference: string }
  | { status: "pending" }
  | { status: "unknown"; reason: string }
  | { status: "declined"; code: string; message: string }
  | { status: "requires_pin" };

/** One request to the outside world and its answer, for the interaction log and the timeline. */
export interface Interaction {
  operation: string;
  request: Record<string, unknown>;
  response: Record<string, unknown> | null;
  outcome: string;
  latencyMs: number;
}

export interface ChargeRequest {
  attemptId: string;
  amount: bigint;
  currency: string;
  capture: "automatic" | "manual";
  paymentMethod: PaymentMethod;
  pin?: string;
}

export interface SyncRequest {
  attemptId: string;
  amount: bigint;
  currency: string;
  capture: "automatic" | "manual";
  paymentMethod: PaymentMethod;
  createdMs: number;
  nowMs: number;
}

export interface PaymentProvider {
  readonly name: string;
  /**
   * True when the provider keeps no state of its own outside our transaction, so a charge may be
   * decided and written in one commit. Remote providers must record the attempt before calling.
   */
  readonly inProcess: boolean;
  charge(request: ChargeRequest): Promise<{ outcome: ChargeOutcome; interaction: Interaction }>;
  /** Asks what really happened to an attempt. Never charges. */
  sync(request: SyncRequest): Promise<{ outcome: ChargeOutcome; interaction: Interaction }>;
  capture(request: {
    attemptId: string;
    amount: bigint;
    currency: string;
  }): Promise<{ ok: boolean; interaction: Interaction }>;
  cancel(request: { attemptId: string }): Promise<{ ok: boolean; interaction: Interaction }>;
  refund(request: { attemptId: string; refundId: string; amount: bigint; currency: string }): Promise<{
    ok: boolean;
    code?: string;
    interaction: Interaction;
  }>;
}
