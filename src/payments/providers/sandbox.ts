import { Type } from "@sinclair/typebox";
import { ApiError } from "../../platform/errors.ts";
import { type PaymentMethod, SANDBOX_SCENARIOS, type SandboxScenario } from "../model.ts";
import type {
  ChargeOutcome,
  ChargeRequest,
  Interaction,
  PaymentMethodInput,
  PaymentProvider,
  ProviderAnswer,
  RefundAnswer,
  RefundRequest,
  RefundStatus,
  ResolveContext,
  ResolvedMethod,
  SyncRequest,
} from "../provider.ts";

export const SANDBOX_PIN = "1234";

const Scenario = Type.Unsafe<SandboxScenario>({ type: "string", enum: [...SANDBOX_SCENARIOS] });

const PaymentSchema = Type.Object(
  { type: Type.Literal("sandbox"), scenario: Scenario },
  { additionalProperties: false, description: "Test mode only: drives the built-in simulated provider." },
);

const SubscriptionSchema = Type.Object(
  {
    type: Type.Literal("sandbox"),
    scenario: Scenario,
    operator: Type.Optional(Type.String({ pattern: "^[0-9]{5,6}$", description: "MCC+MNC, e.g. 20801" })),
    msisdn: Type.Optional(
      Type.String({ pattern: "^\\+[1-9][0-9]{6,14}$", description: "E.164, e.g. +33612345678" }),
    ),
    balance: Type.Optional(Type.Integer({ minimum: 0, maximum: 999_999_999_999 })),
  },
  {
    additionalProperties: false,
    description:
      "Test mode only: the scenario drives every renewal; `operator` borrows a real operator's rules, `balance` simulates a prepaid balance check.",
  },
);

function refundFirstAnswer(scenario: SandboxScenario): RefundStatus {
  switch (scenario) {
    case "refund_declined":
      return { status: "failed", code: "refund_declined" };
    case "refund_pending_then_succeeded":
    case "refund_pending_then_failed":
      return { status: "pending" };
    default:
      return { status: "succeeded" };
  }
}

const INSUFFICIENT: ChargeOutcome = {
  status: "declined",
  code: "insufficient_funds",
  message: "The payer's balance is too low.",
  retryable: true,
};

/**
 * The built-in test provider. Its behaviour is a pure function of the scenario, the attempt and
 * the time, so it needs no storage of its own: asking it later about an attempt (sync) gives the
 * answer a real provider would keep on record.
 */
export class SandboxProvider implements PaymentProvider {
  readonly name = "sandbox";
  readonly inProcess = true;
  readonly supportsManualCapture = true;
  readonly paymentSchema = PaymentSchema;
  readonly subscriptionSchema = SubscriptionSchema;

  constructor(private readonly asyncDelayMs: number) {}

  async resolve(input: PaymentMethodInput, context: ResolveContext): Promise<ResolvedMethod> {
    if (context.mode !== "test") {
      throw new ApiError(
        "payment_method_unavailable",
        "payment_method.type",
        "The sandbox payment method is only available in test mode.",
      );
    }
    // The schema checked the shape; only the fields of the type are kept.
    const { scenario, operator, msisdn, balance } = input as Extract<PaymentMethod, { type: "sandbox" }>;
    return {
      stored: {
        type: "sandbox",
        scenario,
        ...(operator === undefined ? {} : { operator }),
        ...(msisdn === undefined ? {} : { msisdn }),
        ...(balance === undefined ? {} : { balance }),
      },
    };
  }

  /** In test mode a PIN step is the `require_pin` scenario (PIN 1234, then approved). */
  requirePin(method: PaymentMethod): PaymentMethod | undefined {
    if (method.type !== "sandbox") return undefined;
    return method.scenario === "require_pin" ? method : { ...method, scenario: "require_pin" };
  }

  /** A subscription's sandbox method may carry the balance a balance check sees. */
  async balance(request: { paymentMethod: PaymentMethod }): Promise<bigint | undefined> {
    const method = request.paymentMethod;
    return method.type === "sandbox" && method.balance !== undefined ? BigInt(method.balance) : undefined;
  }

  async charge(request: ChargeRequest): Promise<ProviderAnswer> {
    const scenario = scenarioOf(request);
    const outcome = this.firstAnswer(scenario, request);
    return { outcome, interactions: [this.interaction("charge", request, scenario, outcome)] };
  }

  private firstAnswer(
    scenario: SandboxScenario,
    request: Pick<ChargeRequest, "attemptId" | "capture" | "pin" | "recurring" | "paymentMethod" | "amount">,
  ): ChargeOutcome {
    const reference = `sbx_${request.attemptId}`;
    const approved: ChargeOutcome =
      request.capture === "automatic"
        ? { status: "succeeded", reference }
        : { status: "authorized", reference };
    const method = request.paymentMethod;
    if (method.type === "sandbox" && method.balance !== undefined && BigInt(method.balance) < request.amount)
      return INSUFFICIENT;
    switch (scenario) {
      case "approve":
      case "refund_declined":
      case "refund_pending_then_succeeded":
      case "refund_pending_then_failed":
        return approved;
      case "decline_insufficient_funds":
        return INSUFFICIENT;
      case "decline_generic":
        return GENERIC_DECLINE;
      case "decline_blocked":
        return {
          status: "declined",
          code: "blocked",
          message: "The payer is blocked from this kind of payment.",
          retryable: false,
        };
      case "pending_then_approve":
      case "pending_then_decline":
        return { status: "pending" };
      case "timeout_then_approve":
        // The provider applies the charge, but its answer never reaches us.
        return { status: "unknown", reason: "timeout" };
      case "require_pin":
        // A renewal charges under the PIN the subscriber entered when signing up.
        if (request.recurring) return approved;
        if (request.pin === undefined) return { status: "requires_pin" };
        return request.pin === SANDBOX_PIN ? approved : { status: "requires_pin" };
    }
  }

  async sync(request: SyncRequest): Promise<ProviderAnswer> {
    const scenario = scenarioOf(request);
    const reference = `sbx_${request.attemptId}`;
    const approved: ChargeOutcome =
      request.capture === "automatic"
        ? { status: "succeeded", reference }
        : { status: "authorized", reference };
    let outcome: ChargeOutcome;
    const settled = request.nowMs >= request.createdMs + this.asyncDelayMs;
    switch (scenario) {
      case "pending_then_approve":
        outcome = settled ? approved : { status: "pending" };
        break;
      case "pending_then_decline":
        outcome = settled ? GENERIC_DECLINE : { status: "pending" };
        break;
      case "timeout_then_approve":
        outcome = approved;
        break;
      default:
        outcome = this.firstAnswer(scenario, request);
    }
    return { outcome, interactions: [this.interaction("sync", request, scenario, outcome)] };
  }

  async capture(request: { attemptId: string; amount: bigint; currency: string }) {
    return { ok: true, interactions: [this.simple("capture", request)] };
  }

  async cancel(request: { attemptId: string }) {
    return { ok: true, interactions: [this.simple("cancel", request)] };
  }

  /** Refunds succeed at once, unless the payment's scenario names another path for them. */
  async refund(request: RefundRequest): Promise<RefundAnswer> {
    const scenario = scenarioOf(request);
    const answer = refundFirstAnswer(scenario);
    return {
      ...answer,
      reference: `sbx_${request.refundId}`,
      interactions: [
        this.simple("refund", {
          refundId: request.refundId,
          attemptId: request.paymentAttemptId,
          amount: request.amount,
          currency: request.currency,
          status: answer.status,
        }),
      ],
    };
  }

  /** Asked later, a pending refund has reached the end its scenario names. */
  async syncRefund(request: RefundRequest): Promise<RefundAnswer> {
    const scenario = scenarioOf(request);
    const answer: RefundStatus =
      scenario === "refund_pending_then_failed"
        ? { status: "failed", code: "refund_declined" }
        : scenario === "refund_declined"
          ? refundFirstAnswer(scenario)
          : { status: "succeeded" };
    return {
      ...answer,
      reference: `sbx_${request.refundId}`,
      interactions: [this.simple("refund_status", { refundId: request.refundId, status: answer.status })],
    };
  }

  private interaction(
    operation: string,
    request: Pick<ChargeRequest, "attemptId" | "amount" | "currency" | "capture" | "pin">,
    scenario: SandboxScenario,
    outcome: ChargeOutcome,
  ): Interaction {
    return {
      operation,
      request: {
        attempt_id: request.attemptId,
        amount: Number(request.amount),
        currency: request.currency,
        capture: request.capture,
        scenario,
        ...(request.pin === undefined ? {} : { pin: "[redacted]" }),
      },
      // A timeout has no response to show.
      response: outcome.status === "unknown" ? null : { ...outcome },
      outcome: outcome.status === "unknown" ? `unknown:${outcome.reason}` : outcome.status,
      latencyMs: 0,
    };
  }

  private simple(operation: string, request: Record<string, unknown>): Interaction {
    const shown = Object.fromEntries(
      Object.entries(request).map(([k, v]) => [
        k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`),
        typeof v === "bigint" ? Number(v) : v,
      ]),
    );
    return {
      operation,
      request: shown,
      response: { status: "succeeded" },
      outcome: "succeeded",
      latencyMs: 0,
    };
  }
}

const GENERIC_DECLINE: ChargeOutcome = {
  status: "declined",
  code: "generic_decline",
  message: "The provider declined the payment.",
  retryable: true,
};

function scenarioOf(request: Pick<ChargeRequest, "paymentMethod">): SandboxScenario {
  if (request.paymentMethod.type !== "sandbox")
    throw new Error("the sandbox only takes sandbox payment methods");
  return request.paymentMethod.scenario;
}
