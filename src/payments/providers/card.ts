import { Type } from "@sinclair/typebox";
import type {
  CancelOutput,
  CardDetails,
  CardPspConnector,
  Connector,
  ConnectorEvent,
} from "../../connectors/index.ts";
import { cardPspConnector } from "../../connectors/index.ts";
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

const ReturnUrl = Type.Optional(
  Type.String({
    pattern: "^https?://",
    maxLength: 2048,
    description: "Where the card provider sends the payer back after a 3-D Secure step.",
  }),
);

// One object (the payment_method union is discriminated by `type`): a number with its expiry and
// CVC (test mode, the simulator), or a token the PSP issued; resolve() checks which.
const PaymentSchema = Type.Object(
  {
    type: Type.Literal("card"),
    number: Type.Optional(Type.String({ minLength: 12, maxLength: 23 })),
    exp_month: Type.Optional(Type.Integer({ minimum: 1, maximum: 12 })),
    exp_year: Type.Optional(Type.Integer({ minimum: 2000, maximum: 2100 })),
    cvc: Type.Optional(Type.String({ pattern: "^[0-9]{3,4}$" })),
    token: Type.Optional(
      Type.String({
        pattern: "^tok_[A-Za-z0-9_-]{8,64}$",
        description:
          "A token the card PSP issued from its own card form (the hosted page's card method): the number never reaches Centime. Instead of number, exp_month, exp_year and cvc.",
      }),
    ),
    return_url: ReturnUrl,
  },
  {
    additionalProperties: false,
    description: "A card through the card PSP: its number (test mode; never stored) or the PSP's token.",
  },
);

type CardInput =
  | {
      type: "card";
      number: string;
      exp_month: number;
      exp_year: number;
      cvc: string;
      return_url?: string;
    }
  | { type: "card"; token: string; return_url?: string };

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
  private connectorInstance: CardPspConnector | null = null;

  constructor(
    recorder: InteractionRecorder,
    private readonly onEvent: (event: ConnectorEvent) => void,
    private settings: { callbackUrl?: string; returnUrl?: string },
  ) {
    super(recorder);
  }

  async resolve(input: PaymentMethodInput, context: ResolveContext): Promise<ResolvedMethod> {
    const card = input as CardInput;
    const returnUrl = card.return_url ? { return_url: card.return_url } : {};
    const raw = card as { number?: string; exp_month?: number; exp_year?: number; cvc?: string };
    const given = (["number", "exp_month", "exp_year", "cvc"] as const).filter((f) => raw[f] !== undefined);
    if ("token" in card && card.token !== undefined) {
      if (given.length > 0)
        throw new ApiError(
          "parameter_invalid",
          `payment_method.${given[0]}`,
          "Give either a token or the card's details, not both.",
        );
      // The PSP collected the card on its own form; it tells what the token stands for.
      let info: Awaited<ReturnType<CardPspConnector["lookupToken"]>>;
      try {
        info = await this.connector().lookupToken(card.token);
      } catch {
        throw new ApiError(
          "service_unavailable",
          "payment_method.token",
          "The card provider could not be asked about this token; try again.",
        );
      }
      if (!info)
        throw new ApiError(
          "payment_method_invalid",
          "payment_method.token",
          "The card provider does not know this token (unknown or expired).",
        );
      return {
        stored: {
          type: "card",
          brand: info.brand,
          last4: info.last4,
          exp_month: info.exp_month,
          exp_year: info.exp_year,
        },
        secretDetails: { token: card.token, ...returnUrl },
      };
    }
    const missing = (["number", "exp_month", "exp_year", "cvc"] as const).find((f) => raw[f] === undefined);
    if (missing)
      throw new ApiError(
        "parameter_missing",
        `payment_method.${missing}`,
        "A card needs a token, or its number, expiry and CVC.",
      );
    if (context.mode !== "test") {
      // A card number through the merchant's server is for the simulator only: live cards are
      // collected by the provider (its hosted or embedded form, or a token it issued).
      throw new ApiError(
        "payment_method_invalid",
        "payment_method.number",
        "Raw card numbers are accepted in test mode only (for the simulator). In live mode the card provider collects the card: use its hosted or embedded card form or a token it issued.",
      );
    }
    const full = raw as Required<typeof raw>;
    const number = full.number.replace(/[\s-]/g, "");
    if (!/^\d{12,19}$/.test(number) || !luhnValid(number)) {
      throw new ApiError("payment_method_invalid", "payment_method.number", "The card number is not valid.");
    }
    const now = new Date(context.nowMs);
    const expired =
      full.exp_year < now.getUTCFullYear() ||
      (full.exp_year === now.getUTCFullYear() && full.exp_month < now.getUTCMonth() + 1);
    if (expired)
      throw new ApiError("payment_method_invalid", "payment_method.exp_year", "The card has expired.");
    return {
      stored: {
        type: "card",
        brand: brandOf(number),
        last4: number.slice(-4),
        exp_month: full.exp_month,
        exp_year: full.exp_year,
      },
      secretDetails: {
        number,
        exp_month: full.exp_month,
        exp_year: full.exp_year,
        cvc: full.cvc,
        ...returnUrl,
      },
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

  connector(): CardPspConnector {
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
    const details = request.secretDetails as
      | (Record<string, unknown> & { return_url?: string; token?: string })
      | undefined;
    const { return_url: returnUrl, ...rest } = details ?? {};
    const card = details ? (rest as unknown as CardDetails) : undefined;
    const back = returnUrl ?? this.settings.returnUrl;
    const { value, interactions } = await this.collect(request.attemptId, () =>
      this.connector().charge({
        attempt_id: request.attemptId,
        amount: request.amount,
        currency: request.currency,
        description: request.description ?? "Digital content",
        ...(card ? { card } : {}),
        ...(back ? { return_url: back } : {}),
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
