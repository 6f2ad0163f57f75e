import { connectorFor, getOperator } from "../../connectors/operators/index.ts";
import type { Connector, ConnectorEvent } from "../../connectors/sdk/types.ts";
import { SettlementConnector } from "../../connectors/settlement/index.ts";
import { assert } from "../../platform/errors.ts";
import type { InteractionRecorder } from "../interaction-log.ts";
import type { PaymentMethod } from "../model.ts";
import type { ChargeOutcome, ChargeRequest, ProviderAnswer } from "../provider.ts";
import { ConnectorProvider } from "./connector-provider.ts";
import { chargeOutcome } from "./outcomes.ts";

type CarrierMethod = Extract<PaymentMethod, { type: "carrier" }>;

function carrierMethod(method: PaymentMethod): CarrierMethod {
  assert(method.type === "carrier", "a carrier payment has a carrier payment method");
  return method;
}

/**
 * Payments charged to the payer's phone bill through the operator's own protocol (OneAPI,
 * CAMARA, Parlay X, SMPP, settlement files): one adapter over the connector SDK.
 */
export class CarrierProvider extends ConnectorProvider {
  readonly name = "carrier";
  private readonly subscribed = new Set<Connector>();

  constructor(
    recorder: InteractionRecorder,
    private readonly onEvent: (event: ConnectorEvent) => void,
  ) {
    super(recorder);
  }

  /** The shared connector of an operator, listened to once for its callbacks and receipts. */
  connector(operator: string): Connector {
    const connector = connectorFor(operator);
    assert(connector, `operator ${operator} is in the registry`);
    if (!this.subscribed.has(connector)) {
      this.subscribed.add(connector);
      connector.onEvent(this.onEvent);
    }
    return connector;
  }

  protected connectorOf(method: PaymentMethod): Connector {
    return this.connector(carrierMethod(method).operator);
  }

  protected msisdnOf(method: PaymentMethod): { msisdn: string } {
    return { msisdn: carrierMethod(method).msisdn };
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

  /**
   * With the operator's PIN flow, the first call asks the operator to text the payer a PIN (the
   * payment then waits for it) and the second verifies the PIN and charges. With the MO flow, the
   * first call asks the payer to text a keyword; the charge follows the MO. Otherwise one charge.
   */
  async charge(request: ChargeRequest): Promise<ProviderAnswer> {
    const method = carrierMethod(request.paymentMethod);
    const connector = this.connector(method.operator);
    const asked = {
      attempt_id: request.attemptId,
      msisdn: method.msisdn,
      amount: request.amount,
      currency: request.currency,
      description: request.description ?? "Digital content",
    };
    const { value, interactions } = await this.collect(
      request.attemptId,
      async (): Promise<{ outcome: ChargeOutcome; state?: Record<string, unknown> }> => {
        if (method.flow === "mo" && !request.state?.mo_received) {
          // The payer's text to the shortcode is the consent: wait for it, listening from now on.
          await (connector as Partial<{ listen(): Promise<void> }>).listen?.();
          const code = request.attemptId.slice(-6).toUpperCase();
          const shortcode = getOperator(method.operator)?.smpp.shortcode ?? "";
          return {
            outcome: { status: "requires_mo", shortcode, keyword: `PAY ${code}` },
            state: { mo_code: code },
          };
        }
        if (method.flow !== "pin")
          return { outcome: chargeOutcome(await connector.charge(asked), "charge", request.capture) };
        if (request.pin === undefined) {
          const consent = await connector.startConsent!(asked);
          return consent.status === "pin_sent"
            ? { outcome: { status: "requires_pin" }, state: { consent_id: consent.consent_id } }
            : { outcome: { status: "declined", code: "consent_failed", message: consent.reason } };
        }
        const consentId = String(request.state?.consent_id ?? "");
        const verified = await connector.verifyConsent!({ consent_id: consentId, pin: request.pin });
        if (verified.status !== "verified") return { outcome: { status: "requires_pin" } };
        return {
          outcome: chargeOutcome(
            await connector.charge({ ...asked, consent_id: consentId }),
            "charge",
            request.capture,
          ),
        };
      },
    );
    return { ...value, interactions };
  }
}
