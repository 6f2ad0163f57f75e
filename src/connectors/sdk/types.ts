/**
 * The one contract every payment provider (mobile operator protocol or card PSP) implements.
 * Methods take one input object and return one output object. Outcomes are a discriminated union:
 * only an explicit, checked success from the provider becomes `succeeded`.
 */

export type Capability =
  | "charge"
  | "refund"
  | "reserve"
  | "capture"
  | "release"
  | "balance"
  | "identify"
  | "send_sms"
  | "consent";

export type DeclineCategory =
  | "insufficient_funds"
  | "limit_reached"
  | "barred"
  | "consent_required"
  | "invalid"
  | "duplicate";

/** What the payer must do before the charge can complete (3-D Secure redirect, operator PIN). */
export type NextAction = { type: "redirect"; url: string } | { type: "enter_pin"; consent_id: string };

export interface Succeeded {
  status: "succeeded";
  /** The provider's own reference for this transaction (serverReferenceCode, message_id, …). */
  provider_reference: string;
  /** Amount and currency as the provider reported them, already checked against the request. */
  amount: bigint;
  currency: string;
}

export interface Pending {
  status: "pending";
  /** How the final result will arrive. */
  via: "callback" | "poll" | "file" | "receipt" | "redirect";
  provider_reference?: string;
  next_action?: NextAction;
}

export interface Declined {
  status: "declined";
  category: DeclineCategory;
  /** The provider's raw code (POL1000, SVC0270, 0x45…), for the timeline and for support. */
  code: string;
  retryable: boolean;
  retry_after_ms?: number;
  message?: string;
}

export interface Unknown {
  status: "unknown";
  /** Why we cannot tell: timeout, unreadable reply, amount mismatch, circuit half-open loss… */
  reason: string;
}

export interface NotSent {
  status: "not_sent";
  /** The request certainly never reached the operator: safe to retry with the same attempt id. */
  reason: "circuit_open" | "rate_limited" | "connect_failed" | "not_found" | "unsupported" | "invalid_input";
  retry_after_ms?: number;
}

export type Outcome = Succeeded | Pending | Declined | Unknown | NotSent;
export type OutcomeStatus = Outcome["status"];

/** A card as the PSP sandbox takes it; carrier connectors ignore it. */
/** A card: its number (test mode, the simulator), or a token the PSP issued from its own form. */
export type CardDetails =
  | {
      number: string;
      exp_month: number;
      exp_year: number;
      cvc: string;
    }
  | { token: string };

/** What a PSP token stands for, without the number. */
export interface CardTokenInfo {
  brand: string;
  last4: string;
  exp_month: number;
  exp_year: number;
}

export interface ChargeInput {
  /** Our attempt id: sent as the protocol's idempotency key (clientCorrelator, referenceCode, …). */
  attempt_id: string;
  msisdn?: string;
  card?: CardDetails;
  amount: bigint;
  currency: string;
  description: string;
  /** Set when the operator already confirmed the payer (PIN verified, consent granted). */
  consent_id?: string;
  /** Where the PSP sends the payer back after a redirect. */
  return_url?: string;
  deadline_ms?: number;
}

export interface RefundInput {
  attempt_id: string;
  /** The provider reference of the charge being refunded. */
  original_reference: string;
  /** The amount that charge took, when known: a refund of all of it is a protocol's `total` refund. */
  original_amount?: bigint;
  msisdn?: string;
  amount: bigint;
  currency: string;
  description: string;
  deadline_ms?: number;
}

export interface ReserveInput {
  attempt_id: string;
  msisdn: string;
  amount: bigint;
  currency: string;
  description: string;
  deadline_ms?: number;
}

export interface CaptureInput {
  attempt_id: string;
  reservation_id: string;
  msisdn: string;
  amount: bigint;
  currency: string;
  description: string;
  deadline_ms?: number;
}

export interface ReleaseInput {
  attempt_id: string;
  reservation_id: string;
  msisdn: string;
  deadline_ms?: number;
}

/** A void of a card payment not yet settled (awaiting 3-D Secure, or charged today). */
export interface CancelInput {
  attempt_id: string;
  deadline_ms?: number;
}
/**
 * `canceled`: the provider holds none of the payer's money for the attempt (voided now or
 * earlier, or never charged); `refused`: it will not cancel (already settled or refunded);
 * `unknown`: no readable answer.
 */
export type CancelOutput =
  | { status: "canceled"; provider_reference?: string }
  | { status: "refused"; reason: string }
  | { status: "unknown"; reason: string };

export interface SyncInput {
  attempt_id: string;
  /** What the attempt asked for, so the answer can be checked; the MSISDN is part of some URLs. */
  msisdn?: string;
  amount?: bigint;
  currency?: string;
  operation?: "charge" | "refund" | "reserve" | "capture" | "release";
  /** For a refund: the provider reference of the charge it gives money back from. */
  original_reference?: string;
  deadline_ms?: number;
}

export interface BalanceInput {
  msisdn: string;
  deadline_ms?: number;
}
export type BalanceOutput =
  | { status: "ok"; rating: "prepaid" | "postpaid"; balance?: bigint; currency: string }
  | { status: "failed"; reason: string };

export interface IdentifyInput {
  headers?: Record<string, string | undefined>;
  msisdn?: string;
  deadline_ms?: number;
}
export type IdentifyOutput =
  | { status: "identified"; msisdn: string; mccmnc?: string }
  | { status: "unidentified" };

export interface SendSmsInput {
  attempt_id: string;
  msisdn: string;
  text: string;
  deadline_ms?: number;
}
export type SendSmsOutput =
  | { status: "sent"; provider_reference: string }
  | { status: "failed"; reason: string };

export interface StartConsentInput {
  attempt_id: string;
  msisdn: string;
  amount: bigint;
  currency: string;
  description: string;
  deadline_ms?: number;
}
export type StartConsentOutput =
  | { status: "pin_sent"; consent_id: string; next_action: NextAction }
  | { status: "failed"; reason: string };

export interface VerifyConsentInput {
  consent_id: string;
  pin: string;
  deadline_ms?: number;
}
export type VerifyConsentOutput =
  | { status: "verified"; consent_id: string }
  | { status: "rejected"; reason: string };

/** Events a connector raises outside a call: callbacks, delivery receipts, MO keywords, file lines. */
export type ConnectorEvent =
  | { type: "outcome"; attempt_id: string; outcome: Outcome }
  | { type: "mo"; msisdn: string; shortcode: string; keyword: string; text: string }
  | { type: "rejected_callback"; reason: string };

/** An operator's or PSP's asynchronous notification, as the core's HTTP route received it. */
export interface CallbackRequest {
  /** The last path segment of the callback URL the connector handed out: the attempt id. */
  attempt_id: string;
  query: Record<string, string | undefined>;
  headers: Record<string, string | undefined>;
  body: string;
}

export interface CallbackReply {
  status: number;
  body: string;
}

export interface Connector {
  readonly protocol: string;
  readonly operator: string;
  readonly capabilities: ReadonlySet<Capability>;
  charge(input: ChargeInput): Promise<Outcome>;
  sync(input: SyncInput): Promise<Outcome>;
  refund?(input: RefundInput): Promise<Outcome>;
  reserve?(input: ReserveInput): Promise<Outcome & { reservation_id?: string }>;
  capture?(input: CaptureInput): Promise<Outcome>;
  release?(input: ReleaseInput): Promise<Outcome>;
  cancel?(input: CancelInput): Promise<CancelOutput>;
  balance?(input: BalanceInput): Promise<BalanceOutput>;
  identify?(input: IdentifyInput): Promise<IdentifyOutput>;
  sendSms?(input: SendSmsInput): Promise<SendSmsOutput>;
  startConsent?(input: StartConsentInput): Promise<StartConsentOutput>;
  verifyConsent?(input: VerifyConsentInput): Promise<VerifyConsentOutput>;
  /** Verifies and applies an asynchronous notification; raises an `outcome` or `rejected_callback` event. */
  handleCallback(request: CallbackRequest): Promise<CallbackReply>;
  /** Subscribe to events (callbacks, receipts, MO, settlement lines). Returns an unsubscribe. */
  onEvent(listener: (event: ConnectorEvent) => void): () => void;
  close(): Promise<void>;
}

/** One wire exchange, as the core's append-only interaction log stores it. Secrets are redacted. */
export interface Interaction {
  operator: string;
  protocol: string;
  operation: string;
  attempt_id: string | undefined;
  request: unknown;
  response: unknown;
  outcome: string;
  latency_ms: number;
}

export interface InteractionLog {
  record(interaction: Interaction): void;
}

export const nullLog: InteractionLog = { record() {} };

/** A log that keeps everything in memory: for tests, the simulator console and the benchmark. */
export class MemoryLog implements InteractionLog {
  readonly entries: Interaction[] = [];
  record(interaction: Interaction): void {
    this.entries.push(interaction);
  }
}
