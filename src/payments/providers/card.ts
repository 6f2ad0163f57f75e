import { Type } from "@sinclair/typebox";
import { cardPspConnector } from "../../connectors/operators/index.ts";
import type { CancelOutput, CardDetails, Connector, ConnectorEvent } from "../../connectors/sdk/types.ts";
import { ApiError } from "../../platform/errors.ts";
import type { InteractionRecorder } from "../interaction-log.ts";
import type {
  ChargeRequest,
  Interaction,
  PaymentMethodInput,
  ProviderAnswer,
  RefundAnswer,
  RefundRequest,
  ResolveContext,
  ResolvedMethod,
} from "../provider.ts";
import { ConnectorProvider } from "./connector-provider.ts";
import { chargeOutcome } from "./outcomes.ts";

const PaymentSchema = Type.Object(
  {
    type: Type.Literal("card"),
    number: Type.String({ minLength: 12, maxLength: 23 }),
    exp_month: Type.Integer({ minimum: 1, maximum: 12 }),
    exp_year: Type.Integer({ minimum: 2000, maximum: 2100 }),
    cvc: Type.String({ pattern: "^[0-9]{3,4}$" }),
  },
  { additionalProperties: false, description: "A card, through the card PSP; never stored." },
);

type CardInput = {
  type: "card";
  number: string;
  exp_month: number;
  exp_year: number;
  cvc: string;
};

function luhnValid(number: string): boolean {
  let sum = 0;
  for (let i = 0; i < number.length; i++) {
    let digit = number.charCodeAt(number.length - 1 - i) - 48;
    if (i % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return sum % 10 === 0;
}

function brandOf(number: string): string {
  if (number.startsWith("4")) return "visa";
  if (/^(5[1-5]|2[2-7])/.test(number)) return "mastercard";
  if (/^3[47]/.test(number)) return "amex";
  return "unknown";
}

/**
 * Card payments through the card PSP sandbox (HMAC-signed REST, signed notifications, a 3-D
 * Secure-like redirect). The card number reaches the PSP once and is never stored or logged.
 */
export class CardProvider extends ConnectorProvider {
  readonly name = "card";
  /** Card payments only: renewals need stored cards (network tokens), which Centime does not keep. */
  readonly paymentSchema = PaymentSchema;
  private connectorInstance: Connector | null = null;

  constructor(
    recorder: InteractionRecorder,
    private readonly onEvent: (event: ConnectorEvent) => void,
    private settings: { callbackUrl?: string; returnUrl?: string },
  ) {
    super(recorder);
  }

  async resolve(input: PaymentMethodInput, context: ResolveContext): Promise<ResolvedMethod> {
    const card = input as CardInput;
    if (context.mode !== "test") {
      // A card number through the merchant's server is for the simulator only: live cards are
      // collected by the provider (its hosted or embedded form, or a token it issued).
      throw new ApiError(
        "payment_method_invalid",
        "payment_method.number",
        "Raw card numbers are accepted in test mode only (for the simulator). In live mode the card provider collects the card: use its hosted or embedded card form or a token it issued.",
      );
    }
    const number = card.number.replace(/[\s-]/g, "");
    if (!/^\d{12,19}$/.test(number) || !luhnValid(number)) {
      throw new ApiError("payment_method_invalid", "payment_method.number", "The card number is not valid.");
    }
    const now = new Date(context.nowMs);
    const expired =
      card.exp_year < now.getUTCFullYear() ||
      (card.exp_year === now.getUTCFullYear() && card.exp_month < now.getUTCMonth() + 1);
    if (expired)
      throw new ApiError("payment_method_invalid", "payment_method.exp_year", "The card has expired.");
    return {
      stored: {
        type: "card",
        brand: brandOf(number),
        last4: number.slice(-4),
        exp_month: card.exp_month,
        exp_year: card.exp_year,
      },
      secretDetails: { number, exp_month: card.exp_month, exp_year: card.exp_year, cvc: card.cvc },
    };
  }

  /** Where the PSP sends its signed notifications; known once the API listens. */
  setCallbackUrl(callbackUrl: string): void {
    this.settings = { ...this.settings, callbackUrl };
    this.connectorInstance = null;
  }

  /** Whether a card payment has been made yet (the metrics do not create a connector). */
  hasConnector(): boolean {
    return this.connectorInstance !== null;
  }

  connector(): Connector {
    if (!this.connectorInstance) {
      this.connectorInstance = cardPspConnector({
        log: this.recorder,
        ...(this.settings.callbackUrl ? { callback_url: this.settings.callbackUrl } : {}),
      });
      this.connectorInstance.onEvent(this.onEvent);
    }
    return this.connectorInstance;
  }

  protected connectorOf(): Connector {
    return this.connector();
  }

  protected msisdnOf(): Record<string, never> {
    return {};
  }

  async charge(request: ChargeRequest): Promise<ProviderAnswer> {
    const card = request.secretDetails as unknown as CardDetails | undefined;
    const { value, interactions } = await this.collect(request.attemptId, () =>
      this.connector().charge({
        attempt_id: request.attemptId,
        amount: request.amount,
        currency: request.currency,
        description: request.description ?? "Digital content",
        ...(card ? { card } : {}),
        ...(this.settings.returnUrl ? { return_url: this.settings.returnUrl } : {}),
      }),
    );
    return { outcome: chargeOutcome(value, "charge", request.capture), interactions };
  }

  /**
   * A cancel is a void at the PSP: a payer still at the 3-D Secure step can no longer approve, and
   * an authorisation already given is handed back. Only the PSP's confirmation cancels the payment.
   */
  override async cancel(request: {
    attemptId: string;
  }): Promise<{ ok: boolean; interactions: Interaction[] }> {
    const value = await this.collect(request.attemptId, () => this.voidAt(request.attemptId));
    return { ok: value.value.status === "canceled", interactions: value.interactions };
  }

  /** A success after the cancel: voided when the PSP still can, refunded otherwise. */
  async reverse(request: RefundRequest): Promise<RefundAnswer> {
    const { value, interactions } = await this.collect(request.paymentAttemptId, () =>
      this.voidAt(request.paymentAttemptId),
    );
    if (value.status === "canceled") return { status: "succeeded", reference: "void", interactions };
    if (value.status === "unknown") return { status: "unknown", interactions };
    const refund = await this.refund(request);
    return { ...refund, interactions: [...interactions, ...refund.interactions] };
  }

  private voidAt(attemptId: string): Promise<CancelOutput> {
    const connector = this.connector();
    if (!connector.cancel) return Promise.resolve({ status: "refused", reason: "cancel_not_supported" });
    return connector.cancel({ attempt_id: attemptId });
  }
}
