import { cardPspConnector } from "../../connectors/operators/index.ts";
import type { CardDetails, Connector, ConnectorEvent } from "../../connectors/sdk/types.ts";
import type { InteractionRecorder } from "../interaction-log.ts";
import type { ChargeRequest, ProviderAnswer } from "../provider.ts";
import { ConnectorProvider } from "./connector-provider.ts";
import { chargeOutcome } from "./outcomes.ts";

/**
 * Card payments through the card PSP sandbox (HMAC-signed REST, signed notifications, a 3-D
 * Secure-like redirect). The card number reaches the PSP once and is never stored or logged.
 */
export class CardProvider extends ConnectorProvider {
  readonly name = "card";
  private connectorInstance: Connector | null = null;

  constructor(
    recorder: InteractionRecorder,
    private readonly onEvent: (event: ConnectorEvent) => void,
    private settings: { callbackUrl?: string; returnUrl?: string },
  ) {
    super(recorder);
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
}
