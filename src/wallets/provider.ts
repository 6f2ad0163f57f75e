import { Type } from "@sinclair/typebox";
import type {
  ChargeRequest,
  PaymentMethodInput,
  PaymentProvider,
  ProviderAnswer,
  RefundAnswer,
  ResolvedMethod,
  SyncRequest,
} from "../payments/index.ts";

const WalletMethod = Type.Object(
  { type: Type.Literal("wallet") },
  {
    additionalProperties: false,
    description: "The customer's wallet in the payment's currency (an inner currency, usually).",
  },
);

/**
 * The wallet as a payment provider. It keeps nothing of its own outside our transaction: the
 * money moves when the payment's transition is written (the wallets' payment extension draws on
 * the grants there, and refuses the whole payment when the wallet is short), so every answer here
 * is "yes" and the decision is the ledger's.
 */
export class WalletProvider implements PaymentProvider {
  readonly name = "wallet";
  readonly inProcess = true;
  readonly supportsManualCapture = true;
  /** Payments only: a subscription never renews from a wallet. */
  readonly paymentSchema = WalletMethod;

  /** The customer's wallet in the payment's (inner) currency; the wallets' extension checks both. */
  async resolve(_input: PaymentMethodInput): Promise<ResolvedMethod> {
    return { stored: { type: "wallet" } };
  }

  async charge(request: ChargeRequest): Promise<ProviderAnswer> {
    return this.answer(request.attemptId, request.capture);
  }

  async sync(request: SyncRequest): Promise<ProviderAnswer> {
    return this.answer(request.attemptId, request.capture);
  }

  async refund(): Promise<RefundAnswer> {
    return { status: "succeeded", interactions: [] };
  }

  async syncRefund(): Promise<RefundAnswer> {
    return { status: "succeeded", interactions: [] };
  }

  async capture() {
    return { ok: true, interactions: [] };
  }

  async cancel() {
    return { ok: true, interactions: [] };
  }

  private answer(attemptId: string, capture: "automatic" | "manual"): ProviderAnswer {
    return {
      outcome:
        capture === "manual"
          ? { status: "authorized", reference: attemptId }
          : { status: "succeeded", reference: attemptId },
      interactions: [],
    };
  }
}
