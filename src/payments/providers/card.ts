import { cardPspConnector } from "../../connectors/operators/index.ts";
import type { CardDetails, Connector, ConnectorEvent } from "../../connectors/sdk/types.ts";
import type { InteractionRecorder } from "../interaction-log.ts";
import type {
  ChargeRequest,
  PaymentProvider,
  ProviderAnswer,
  RefundAnswer,
  RefundRequest,
  SyncRequest,
} from "../provider.ts";
import { chargeOutcome, refundStatus } from "./outcomes.ts";

/**
 * Card payments through the card PSP sandbox (HMAC-signed REST, signed notifications, a 3-D
 * Secure-like redirect). The card number reaches the PSP once and is never stored or logged.
 */
export class CardProvider implements PaymentProvider {
  readonly name = "card";
  readonly inProcess = false;
  readonly supportsManualCapture = false;
  private connectorInstance: Connector | null = null;

  constructor(
    private readonly recorder: InteractionRecorder,
    private readonly onEvent: (event: ConnectorEvent) => void,
    private settings: { callbackUrl?: string; returnUrl?: string },
  ) {}

  /** Where the PSP sends its signed notifications; known once the API listens. */
  setCallbackUrl(callbackUrl: string): void {
    this.settings = { ...this.settings, callbackUrl };
    this.connectorInstance = null;
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

  async charge(request: ChargeRequest): Promise<ProviderAnswer> {
    const card = request.secretDetails as unknown as CardDetails | undefined;
    return this.recorder.within(request.attemptId, async () => {
      const outcome = await this.connector().charge({
        attempt_id: request.attemptId,
        amount: request.amount,
        currency: request.currency,
        description: request.description ?? "Digital content",
        ...(card ? { card } : {}),
        ...(this.settings.returnUrl ? { return_url: this.settings.returnUrl } : {}),
      });
      return {
        outcome: chargeOutcome(outcome, "charge", request.capture),
        interactions: this.recorder.take(request.attemptId),
      };
    });
  }

  async sync(request: SyncRequest): Promise<ProviderAnswer> {
    return this.recorder.within(request.attemptId, async () => {
      const outcome = await this.connector().sync({
        attempt_id: request.attemptId,
        amount: request.amount,
        currency: request.currency,
        operation: "charge",
      });
      return {
        outcome: chargeOutcome(outcome, "sync", request.capture),
        interactions: this.recorder.take(request.attemptId),
      };
    });
  }

  async refund(request: RefundRequest): Promise<RefundAnswer> {
    const connector = this.connector();
    return this.recorder.within(request.refundId, async () => {
      const outcome = await connector.refund!({
        attempt_id: request.refundId,
        original_reference: request.paymentReference ?? request.paymentAttemptId,
        amount: request.amount,
        currency: request.currency,
        description: "Refund",
      });
      return { ...refundStatus(outcome, "refund"), interactions: this.recorder.take(request.refundId) };
    });
  }

  async syncRefund(request: RefundRequest): Promise<RefundAnswer> {
    return this.recorder.within(request.refundId, async () => {
      const outcome = await this.connector().sync({
        attempt_id: request.refundId,
        amount: request.amount,
        currency: request.currency,
        operation: "refund",
      });
      return { ...refundStatus(outcome, "sync"), interactions: this.recorder.take(request.refundId) };
    });
  }

  async capture(): Promise<{ ok: boolean; interactions: [] }> {
    return { ok: false, interactions: [] };
  }

  async cancel(): Promise<{ ok: boolean; interactions: [] }> {
    return { ok: true, interactions: [] };
  }
}
