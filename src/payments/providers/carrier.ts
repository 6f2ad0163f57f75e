import { connectorFor } from "../../connectors/operators/index.ts";
import type { Connector, ConnectorEvent } from "../../connectors/sdk/types.ts";
import { SettlementConnector } from "../../connectors/settlement/index.ts";
import { assert } from "../../platform/errors.ts";
import type { InteractionRecorder } from "../interaction-log.ts";
import type { PaymentMethod } from "../model.ts";
import type {
  ChargeRequest,
  PaymentProvider,
  ProviderAnswer,
  RefundAnswer,
  RefundRequest,
  SyncRequest,
} from "../provider.ts";
import { chargeOutcome, refundStatus } from "./outcomes.ts";

type CarrierMethod = Extract<PaymentMethod, { type: "carrier" }>;

function carrierMethod(method: PaymentMethod): CarrierMethod {
  assert(method.type === "carrier", "a carrier payment has a carrier payment method");
  return method;
}

/**
 * Payments charged to the payer's phone bill through the operator's own protocol (OneAPI,
 * CAMARA, Parlay X, SMPP, settlement files): one adapter over the connector SDK. Our attempt id
 * travels as the protocol's idempotency key, so asking again (`sync`) never charges twice.
 */
export class CarrierProvider implements PaymentProvider {
  readonly name = "carrier";
  readonly inProcess = false;
  readonly supportsManualCapture = false;
  private readonly subscribed = new Set<Connector>();

  constructor(
    private readonly recorder: InteractionRecorder,
    private readonly onEvent: (event: ConnectorEvent) => void,
  ) {}

  connector(operator: string): Connector {
    const connector = connectorFor(operator);
    assert(connector, `operator ${operator} is in the registry`);
    if (!this.subscribed.has(connector)) {
      this.subscribed.add(connector);
      connector.onEvent(this.onEvent);
    }
    return connector;
  }

  /**
   * File-based operators batch requests into files and answer in files: a worker job writes what
   * is queued and reads what came back; each line read settles its attempt as an event.
   */
  async exchangeSettlementFiles(): Promise<number> {
    let read = 0;
    for (const connector of this.subscribed) {
      if (!(connector instanceof SettlementConnector)) continue;
      await connector.flush();
      read += await connector.collect();
    }
    return read;
  }

  async charge(request: ChargeRequest): Promise<ProviderAnswer> {
    const method = carrierMethod(request.paymentMethod);
    const connector = this.connector(method.operator);
    const description = request.description ?? "Digital content";
    return this.recorder.within(request.attemptId, async () => {
      if (method.flow === "pin") {
        if (request.pin === undefined) {
          // The operator texts the payer a PIN; the payment waits for it.
          const consent = await connector.startConsent!({
            attempt_id: request.attemptId,
            msisdn: method.msisdn,
            amount: request.amount,
            currency: request.currency,
            description,
          });
          const outcome =
            consent.status === "pin_sent"
              ? ({ status: "requires_pin" } as const)
              : ({ status: "declined", code: "consent_failed", message: consent.reason } as const);
          return {
            outcome,
            interactions: this.recorder.take(request.attemptId),
            ...(consent.status === "pin_sent" ? { state: { consent_id: consent.consent_id } } : {}),
          };
        }
        const consentId = String(request.state?.consent_id ?? "");
        const verified = await connector.verifyConsent!({ consent_id: consentId, pin: request.pin });
        if (verified.status !== "verified") {
          return { outcome: { status: "requires_pin" }, interactions: this.recorder.take(request.attemptId) };
        }
        const charged = await connector.charge({
          attempt_id: request.attemptId,
          msisdn: method.msisdn,
          amount: request.amount,
          currency: request.currency,
          description,
          consent_id: consentId,
        });
        return {
          outcome: chargeOutcome(charged, "charge", request.capture),
          interactions: this.recorder.take(request.attemptId),
        };
      }
      const charged = await connector.charge({
        attempt_id: request.attemptId,
        msisdn: method.msisdn,
        amount: request.amount,
        currency: request.currency,
        description,
      });
      return {
        outcome: chargeOutcome(charged, "charge", request.capture),
        interactions: this.recorder.take(request.attemptId),
      };
    });
  }

  async sync(request: SyncRequest): Promise<ProviderAnswer> {
    const method = carrierMethod(request.paymentMethod);
    const connector = this.connector(method.operator);
    return this.recorder.within(request.attemptId, async () => {
      const outcome = await connector.sync({
        attempt_id: request.attemptId,
        msisdn: method.msisdn,
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
    const method = carrierMethod(request.paymentMethod);
    const connector = this.connector(method.operator);
    if (!connector.refund) {
      return { status: "failed", code: "refund_not_supported", interactions: [] };
    }
    const refund = connector.refund.bind(connector);
    return this.recorder.within(request.refundId, async () => {
      const outcome = await refund({
        attempt_id: request.refundId,
        original_reference: request.paymentReference ?? request.paymentAttemptId,
        msisdn: method.msisdn,
        amount: request.amount,
        currency: request.currency,
        description: "Refund",
      });
      return { ...refundStatus(outcome, "refund"), interactions: this.recorder.take(request.refundId) };
    });
  }

  async syncRefund(request: RefundRequest): Promise<RefundAnswer> {
    const method = carrierMethod(request.paymentMethod);
    const connector = this.connector(method.operator);
    return this.recorder.within(request.refundId, async () => {
      const outcome = await connector.sync({
        attempt_id: request.refundId,
        msisdn: method.msisdn,
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
    // Nothing was charged while the payment waited for its PIN; the operator's PIN simply expires.
    return { ok: true, interactions: [] };
  }
}
