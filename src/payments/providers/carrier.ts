import { type Static, Type } from "@sinclair/typebox";
import type { Connector, ConnectorEvent } from "../../connectors/index.ts";
import {
  connectorFor,
  getOperator,
  hasPinStep,
  moReceiverFor,
  resolveOperator,
  SettlementConnector,
} from "../../connectors/index.ts";
import type { Queryable } from "../../db/db.ts";
import { ApiError, assert } from "../../platform/errors.ts";
import type { InteractionRecorder } from "../interaction-log.ts";
import type { PaymentMethod } from "../model.ts";
import type {
  ChargeOutcome,
  ChargeRequest,
  PaymentMethodInput,
  ProviderAnswer,
  ResolveContext,
  ResolvedMethod,
} from "../provider.ts";
import { ConnectorProvider } from "./connector-provider.ts";
import { chargeOutcome } from "./outcomes.ts";

type CarrierMethod = Extract<PaymentMethod, { type: "carrier" }>;

const Msisdn = Type.String({ pattern: "^\\+[1-9][0-9]{6,14}$", description: "The payer's number in E.164." });
const Operator = Type.String({
  pattern: "^[0-9]{5,6}$",
  description: "MCC+MNC; found by lookup when absent.",
});

const PaymentSchema = Type.Object(
  {
    type: Type.Literal("carrier"),
    msisdn: Msisdn,
    operator: Type.Optional(Operator),
    flow: Type.Optional(
      Type.Literal("mo", {
        description: "The payer texts a keyword to the operator's shortcode (next_action send_mo).",
      }),
    ),
  },
  {
    additionalProperties: false,
    description: "Charged to the payer's phone bill or prepaid balance through the operator.",
  },
);

const SubscriptionSchema = Type.Object(
  { type: Type.Literal("carrier"), msisdn: Msisdn, operator: Type.Optional(Operator) },
  { additionalProperties: false, description: "Direct carrier billing on the subscriber's phone bill." },
);

const RESOLVE_FAILURES: Record<string, { param: string; message: string }> = {
  invalid_msisdn: {
    param: "payment_method.msisdn",
    message: "The MSISDN is not a valid international number (E.164, e.g. +33612345678).",
  },
  unknown_operator: {
    param: "payment_method.operator",
    message: "No operator with this MCC+MNC is in the registry.",
  },
  operator_country_mismatch: {
    param: "payment_method.operator",
    message: "This operator does not serve the MSISDN's country.",
  },
  no_operator_in_country: {
    param: "payment_method.msisdn",
    message: "No operator in the registry serves this number's country.",
  },
  lookup_failed: {
    param: "payment_method.operator",
    message: "The operator of this number could not be found; name it in payment_method.operator.",
  },
};

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
  readonly paymentSchema = PaymentSchema;
  readonly subscriptionSchema = SubscriptionSchema;
  private readonly subscribed = new Set<Connector>();

  constructor(
    recorder: InteractionRecorder,
    private readonly onEvent: (event: ConnectorEvent) => void,
  ) {
    super(recorder);
  }

  /**
   * Routes the number to its operator (the payer's choice, header enrichment, or a lookup), the
   * same way for payments and subscriptions. A subscription renews with direct charges: its
   * consent (double opt-in) was taken when it was created.
   */
  async resolve(input: PaymentMethodInput, context: ResolveContext): Promise<ResolvedMethod> {
    const asked = input as Static<typeof PaymentSchema>;
    const resolved = await resolveOperator({
      test_numbers: context.mode === "test",
      msisdn: asked.msisdn,
      ...(asked.operator ? { operator: asked.operator } : {}),
      ...(context.headers ? { headers: context.headers } : {}),
    });
    if (resolved.status === "failed") {
      const failure = RESOLVE_FAILURES[resolved.reason]!;
      throw new ApiError("payment_method_invalid", failure.param, failure.message);
    }
    const operator = resolved.operator;
    if (operator.currency && operator.currency !== context.currency) {
      throw new ApiError(
        "currency_invalid",
        context.usage === "subscription" ? "price" : "currency",
        `${operator.name} (${operator.id}) charges in ${operator.currency}.`,
      );
    }
    if (asked.flow === "mo" && !operator.smpp.shortcode) {
      throw new ApiError(
        "payment_method_invalid",
        "payment_method.flow",
        `${operator.name} (${operator.id}) takes no MO messages.`,
      );
    }
    const flow =
      context.usage === "subscription" ? "direct" : (asked.flow ?? (hasPinStep(operator) ? "pin" : "direct"));
    return { stored: { type: "carrier", msisdn: resolved.msisdn, operator: operator.id, flow } };
  }

  /** The operator's PIN flow, when it has one (an MO payment is confirmed by the payer already). */
  requirePin(method: PaymentMethod): PaymentMethod | undefined {
    if (method.type !== "carrier") return undefined;
    if (method.flow !== "direct") return method;
    const operator = getOperator(method.operator);
    return operator && hasPinStep(operator) ? { ...method, flow: "pin" } : undefined;
  }

  /** A prepaid balance, where the operator's protocol can tell and in the charge's currency. */
  async balance(request: { paymentMethod: PaymentMethod; currency: string }): Promise<bigint | undefined> {
    const method = request.paymentMethod;
    if (method.type !== "carrier") return undefined;
    const connector = this.connector(method.operator);
    if (!connector.balance || !connector.capabilities.has("balance")) return undefined;
    const answer = await connector.balance({ msisdn: method.msisdn });
    if (answer.status !== "ok" || answer.rating !== "prepaid" || answer.balance === undefined)
      return undefined;
    return answer.currency === request.currency ? answer.balance : undefined;
  }

  /** The shared connector of an operator, listened to once for its callbacks and receipts. */
  connector(operator: string): Connector {
    return this.subscribe(operator, connectorFor(operator));
  }

  /** Where the operator's MO texts arrive (its SMPP session), listened to once for them. */
  moReceiver(operator: string): Connector & { listen(): Promise<void> } {
    return this.subscribe(operator, moReceiverFor(operator));
  }

  private subscribe<C extends Connector>(operator: string, connector: C | undefined): C {
    assert(connector, `operator ${operator} is in the registry`);
    if (!this.subscribed.has(connector)) {
      this.subscribed.add(connector);
      connector.onEvent(this.onEvent);
    }
    return connector;
  }

  /**
   * Opens again the SMPP sessions that payments waiting for a payer's text need (after a restart,
   * or once a session dropped): a text sent while nobody listens is lost (a real SMSC keeps it
   * only for a while). Returns how many operators are listened to; one that refuses the bind is
   * tried again at the next run.
   */
  async listenForAwaitedTexts(db: Queryable): Promise<number> {
    const { rows } = await db.query<{ operator: string }>(
      `select distinct payment_method ->> 'operator' as operator from payments
        where status = 'requires_action' and provider_state ->> 'mo_code' is not null`,
    );
    let listening = 0;
    for (const { operator } of rows) {
      if (!getOperator(operator)) continue;
      try {
        await this.moReceiver(operator).listen();
        listening++;
      } catch {
        // Bind refused or timed out: the next run tries again.
      }
    }
    return listening;
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
          // Best effort: the payer is asked to text in any case, and if the operator's SMSC
          // refuses the bind now, the mo_receivers job opens the session again within 30 s.
          await this.moReceiver(method.operator)
            .listen()
            .catch(() => undefined);
          const code = request.attemptId.slice(-6).toUpperCase();
          const shortcode = getOperator(method.operator)?.smpp.shortcode ?? "";
          return {
            outcome: { status: "requires_mo", shortcode, keyword: `PAY ${code}` },
            state: { mo_code: code },
          };
        }
        if (method.flow !== "pin" || request.recurring)
          return { outcome: chargeOutcome(await connector.charge(asked), "charge", request.capture) };
        if (request.pin === undefined) {
          const consent = await connector.startConsent!(asked);
          return consent.status === "pin_sent"
            ? { outcome: { status: "requires_pin" }, state: { consent_id: consent.consent_id } }
            : {
                outcome: {
                  status: "declined",
                  code: "consent_failed",
                  message: consent.reason,
                  retryable: false,
                },
              };
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
