import type { Connector } from "../../connectors/index.ts";
import type { InteractionRecorder } from "../interaction-log.ts";
import type { PaymentMethod } from "../model.ts";
import type {
  ChargeRequest,
  Interaction,
  PaymentMethodInput,
  PaymentProvider,
  ProviderAnswer,
  RefundAnswer,
  RefundRequest,
  ResolveContext,
  ResolvedMethod,
  SyncRequest,
} from "../provider.ts";
import { chargeOutcome, refundStatus } from "./outcomes.ts";

/**
 * What every provider built on the connector SDK shares: our attempt (or refund) id is the
 * protocol's idempotency key, every wire exchange made for it is collected, and asking again
 * (`sync`) queries the provider, never charges. Subclasses say which connector serves a payment
 * method and how a first charge is made.
 */
export abstract class ConnectorProvider implements PaymentProvider {
  abstract readonly name: string;
  readonly inProcess = false;
  readonly supportsManualCapture = false;

  constructor(protected readonly recorder: InteractionRecorder) {}

  protected abstract connectorOf(method: PaymentMethod): Connector;
  protected abstract msisdnOf(method: PaymentMethod): { msisdn?: string };
  abstract charge(request: ChargeRequest): Promise<ProviderAnswer>;
  abstract resolve(input: PaymentMethodInput, context: ResolveContext): Promise<ResolvedMethod>;

  /** Runs one call for an attempt and returns it with the exchanges it made. */
  protected async collect<T>(
    attemptId: string,
    call: () => Promise<T>,
  ): Promise<{ value: T; interactions: ProviderAnswer["interactions"] }> {
    const value = await this.recorder.within(attemptId, call);
    return { value, interactions: this.recorder.take(attemptId) };
  }

  async sync(request: SyncRequest): Promise<ProviderAnswer> {
    const connector = this.connectorOf(request.paymentMethod);
    const { value, interactions } = await this.collect(request.attemptId, () =>
      connector.sync({
        attempt_id: request.attemptId,
        ...this.msisdnOf(request.paymentMethod),
        amount: request.amount,
        currency: request.currency,
        operation: "charge",
      }),
    );
    return { outcome: chargeOutcome(value, "sync", request.capture), interactions };
  }

  async refund(request: RefundRequest): Promise<RefundAnswer> {
    const connector = this.connectorOf(request.paymentMethod);
    if (!connector.refund) return { status: "failed", code: "refund_not_supported", interactions: [] };
    const refund = connector.refund.bind(connector);
    const { value, interactions } = await this.collect(request.refundId, () =>
      refund({
        attempt_id: request.refundId,
        original_reference: request.paymentReference ?? request.paymentAttemptId,
        ...this.msisdnOf(request.paymentMethod),
        amount: request.amount,
        currency: request.currency,
        description: "Refund",
      }),
    );
    return { ...refundStatus(value, "refund"), interactions };
  }

  async syncRefund(request: RefundRequest): Promise<RefundAnswer> {
    const connector = this.connectorOf(request.paymentMethod);
    const { value, interactions } = await this.collect(request.refundId, () =>
      connector.sync({
        attempt_id: request.refundId,
        ...this.msisdnOf(request.paymentMethod),
        amount: request.amount,
        currency: request.currency,
        operation: "refund",
      }),
    );
    return { ...refundStatus(value, "sync"), interactions };
  }

  async capture(): Promise<{ ok: boolean; interactions: Interaction[] }> {
    return { ok: false, interactions: [] };
  }

  /**
   * Nothing was charged while the payment waited for the payer; a PIN or a redirect just lapses
   * (a success that arrives anyway is reversed, `settleAttempt`).
   */
  async cancel(_request: { attemptId: string }): Promise<{ ok: boolean; interactions: Interaction[] }> {
    return { ok: true, interactions: [] };
  }
}
