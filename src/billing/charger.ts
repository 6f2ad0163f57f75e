import { connectorFor } from "../connectors/operators/index.ts";
import type { Outcome } from "../connectors/sdk/types.ts";
import type { Interaction } from "../payments/provider.ts";
import { SANDBOX_PIN } from "../payments/sandbox.ts";
import type { SubscriptionMethod, SubscriptionRow } from "./model.ts";

/**
 * The one seam between the scheduler and whoever moves the money. The scheduler decides what to
 * charge and when; a charger only asks. `attempt_id` is the idempotency key all the way to the
 * operator: asking again with the same id never charges twice, and `sync` never charges.
 */
export type ChargeResult =
  | { status: "succeeded"; reference: string; amount: bigint }
  | { status: "declined"; code: string; message: string; category: DeclineKind }
  | { status: "pending" }
  | { status: "unknown"; reason: string };

/** Soft declines are retried by the dunning ladder; hard ones end the subscription (or pause it). */
export type DeclineKind = "insufficient_funds" | "limit_reached" | "soft" | "hard";

export interface ChargeRequest {
  attempt_id: string;
  subscription: SubscriptionRow;
  amount: bigint;
  currency: string;
  description: string;
  /** When the attempt was first sent (sync uses it to tell a late answer from a lost one). */
  created_ms: number;
  now_ms: number;
}

export interface SubscriptionCharger {
  /** The `provider` recorded on the payments it makes (refunds go through the same provider). */
  readonly provider: string;
  /**
   * True when the charger keeps no state outside our transaction (the sandbox): the charge is
   * decided inside the claiming transaction. Otherwise the attempt is recorded first and the
   * operator is called after commit.
   */
  readonly inProcess: boolean;
  /** The prepaid balance where the protocol can tell; undefined when it cannot. */
  balance?(subscription: SubscriptionRow, nowMs: number): Promise<bigint | undefined>;
  charge(request: ChargeRequest): Promise<{ result: ChargeResult; interaction: Interaction }>;
  sync(request: ChargeRequest): Promise<{ result: ChargeResult; interaction: Interaction }>;
}

export const SANDBOX_SUBSCRIPTION_SCENARIOS = [
  "approve",
  "decline_insufficient_funds",
  "decline_generic",
  "decline_blocked",
  "pending_then_approve",
  "pending_then_decline",
  "timeout_then_approve",
  "require_pin",
] as const;

/** How long a sandbox `pending` stays pending. */
export const SANDBOX_PENDING_MS = 60_000;

function interaction(operation: string, request: ChargeRequest, result: ChargeResult): Interaction {
  return {
    operation,
    request: {
      attempt_id: request.attempt_id,
      amount: Number(request.amount),
      currency: request.currency,
      subscription: request.subscription.id,
    },
    response: result.status === "unknown" ? null : { ...result, ...amountJson(result) },
    outcome: result.status === "unknown" ? `unknown:${result.reason}` : result.status,
    latencyMs: 0,
  };
}

function amountJson(result: ChargeResult): Record<string, unknown> {
  return result.status === "succeeded" ? { amount: Number(result.amount) } : {};
}

/**
 * Test mode: the subscriber's sandbox scenario drives every charge. A pure function of the
 * scenario, the attempt and the time, so `sync` knows what a real operator would have on record.
 */
export class SandboxCharger implements SubscriptionCharger {
  readonly provider = "sandbox";
  readonly inProcess = true;

  async balance(subscription: SubscriptionRow): Promise<bigint | undefined> {
    const method = subscription.payment_method;
    if (method.type !== "sandbox" || method.balance === undefined) return undefined;
    return BigInt(method.balance);
  }

  private decide(request: ChargeRequest, first: boolean): ChargeResult {
    const method = request.subscription.payment_method;
    const scenario = method.type === "sandbox" ? method.scenario : "approve";
    const succeeded: ChargeResult = {
      status: "succeeded",
      reference: `sbx_${request.attempt_id}`,
      amount: request.amount,
    };
    if (method.type === "sandbox" && method.balance !== undefined && BigInt(method.balance) < request.amount)
      return {
        status: "declined",
        code: "insufficient_funds",
        message: "The payer's balance is too low.",
        category: "insufficient_funds",
      };
    switch (scenario) {
      case "decline_insufficient_funds":
        return {
          status: "declined",
          code: "insufficient_funds",
          message: "The payer's balance is too low.",
          category: "insufficient_funds",
        };
      case "decline_generic":
        return {
          status: "declined",
          code: "generic_decline",
          message: "The provider declined the payment.",
          category: "soft",
        };
      case "decline_blocked":
        return {
          status: "declined",
          code: "blocked",
          message: "The payer is blocked from this kind of payment.",
          category: "hard",
        };
      case "pending_then_approve":
        return first || request.now_ms < request.created_ms + SANDBOX_PENDING_MS
          ? { status: "pending" }
          : succeeded;
      case "pending_then_decline":
        return first || request.now_ms < request.created_ms + SANDBOX_PENDING_MS
          ? { status: "pending" }
          : {
              status: "declined",
              code: "generic_decline",
              message: "The provider declined the payment.",
              category: "soft",
            };
      case "timeout_then_approve":
        // The operator applies the charge but its answer is lost; sync finds the charge.
        return first ? { status: "unknown", reason: "timeout" } : succeeded;
      default:
        return succeeded;
    }
  }

  async charge(request: ChargeRequest) {
    const result = this.decide(request, true);
    return { result, interaction: interaction("charge", request, result) };
  }

  async sync(request: ChargeRequest) {
    const result = this.decide(request, false);
    return { result, interaction: interaction("sync", request, result) };
  }
}

/** Test-mode PIN for double opt-in, as for payments. */
export const TEST_MODE_PIN = SANDBOX_PIN;

function fromOutcome(outcome: Outcome, amount: bigint): ChargeResult {
  switch (outcome.status) {
    case "succeeded":
      return { status: "succeeded", reference: outcome.provider_reference, amount: outcome.amount ?? amount };
    case "pending":
      return { status: "pending" };
    case "unknown":
      return { status: "unknown", reason: outcome.reason };
    case "not_sent":
      // Certainly never reached the operator: a soft failure the ladder may retry with a new attempt.
      return {
        status: "declined",
        code: `not_sent:${outcome.reason}`,
        message: outcome.reason,
        category: "soft",
      };
    case "declined": {
      const category: DeclineKind =
        outcome.category === "insufficient_funds"
          ? "insufficient_funds"
          : outcome.category === "limit_reached"
            ? "limit_reached"
            : outcome.retryable
              ? "soft"
              : "hard";
      return { status: "declined", code: outcome.code, message: outcome.message ?? outcome.code, category };
    }
  }
}

/**
 * Live carrier billing through the operator connectors (issue 4): the attempt id is the
 * protocol's idempotency key (clientCorrelator, referenceCode). Not in-process: the scheduler
 * records the attempt before calling and settles unknown answers with `sync`.
 */
export class CarrierCharger implements SubscriptionCharger {
  readonly provider = "carrier";
  readonly inProcess = false;

  async balance(subscription: SubscriptionRow): Promise<bigint | undefined> {
    const method = subscription.payment_method;
    if (method.type !== "carrier" || !subscription.operator) return undefined;
    const connector = connectorFor(subscription.operator);
    if (!connector?.balance || !connector.capabilities.has("balance")) return undefined;
    const answer = await connector.balance({ msisdn: method.msisdn });
    if (answer.status !== "ok" || answer.rating !== "prepaid" || answer.balance === undefined)
      return undefined;
    return answer.currency === subscription.currency ? answer.balance : undefined;
  }

  private connector(request: ChargeRequest) {
    const operator = request.subscription.operator;
    return operator ? connectorFor(operator) : undefined;
  }

  async charge(request: ChargeRequest) {
    const connector = this.connector(request);
    const method = request.subscription.payment_method;
    const outcome: Outcome =
      connector && method.type === "carrier"
        ? await connector.charge({
            attempt_id: request.attempt_id,
            msisdn: method.msisdn,
            amount: request.amount,
            currency: request.currency,
            description: request.description,
          })
        : { status: "not_sent", reason: "not_found" };
    const result = fromOutcome(outcome, request.amount);
    return { result, interaction: interaction("charge", request, result) };
  }

  async sync(request: ChargeRequest) {
    const connector = this.connector(request);
    const method = request.subscription.payment_method;
    const outcome: Outcome =
      connector && method.type === "carrier"
        ? await connector.sync({
            attempt_id: request.attempt_id,
            msisdn: method.msisdn,
            amount: request.amount,
            currency: request.currency,
            operation: "charge",
          })
        : { status: "unknown", reason: "no_connector" };
    // A sync that cannot tell keeps the attempt unknown; it is never turned into a new charge.
    const result =
      outcome.status === "not_sent"
        ? { status: "unknown" as const, reason: outcome.reason }
        : fromOutcome(outcome, request.amount);
    return { result, interaction: interaction("sync", request, result) };
  }
}

export function chargerKey(method: SubscriptionMethod): string {
  return method.type;
}

export function defaultChargers(): Map<string, SubscriptionCharger> {
  return new Map<string, SubscriptionCharger>([
    ["sandbox", new SandboxCharger()],
    ["carrier", new CarrierCharger()],
  ]);
}
