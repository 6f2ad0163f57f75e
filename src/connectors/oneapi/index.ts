import { ConnectorBase, type ConnectorOptions, pendingVia } from "../sdk/base.ts";
import { Correlator, callbackThenPoll } from "../sdk/callbacks.ts";
import { httpCall, moneyFailure, moneyUnreadable } from "../sdk/exchange.ts";
import type { HttpRequest, HttpResponse } from "../sdk/http.ts";
import { identifyFromHeaders } from "../sdk/identify.ts";
import { fromDecimal, rawNumber, stringifyWithRawNumbers, toDecimal } from "../sdk/money.ts";
import type {
  BalanceInput,
  BalanceOutput,
  Capability,
  CaptureInput,
  ChargeInput,
  Connector,
  IdentifyInput,
  IdentifyOutput,
  Outcome,
  RefundInput,
  ReleaseInput,
  ReserveInput,
  SendSmsInput,
  SendSmsOutput,
  StartConsentInput,
  StartConsentOutput,
  SyncInput,
  VerifyConsentInput,
  VerifyConsentOutput,
} from "../sdk/types.ts";
import {
  endUserId,
  errorOutcome,
  formBody,
  jsonBody,
  type OperationStatus,
  requestError,
  type TransactionFields,
  transactionOutcome,
} from "./transformers.ts";

/**
 * GSMA OneAPI Payment over HTTP: charge, refund, reserve / charge reservation / release, with
 * `clientCorrelator` = our attempt id. A lost reply is settled by a status query on the
 * correlator; a replay answered SVC0005 (duplicate) is resolved the same way.
 */
export class OneApiConnector extends ConnectorBase implements Connector {
  readonly protocol = "oneapi";
  readonly capabilities: ReadonlySet<Capability> = new Set<Capability>([
    "charge",
    "refund",
    "reserve",
    "capture",
    "release",
    "balance",
    "identify",
    "send_sms",
    "consent",
  ]);
  readonly correlator = new Correlator();

  constructor(options: ConnectorOptions) {
    super(options, "oneapi");
  }

  private base(): string {
    return `${this.options.http_url}/${this.operator}/oneapi`;
  }

  private paymentUrl(msisdn: string, resource: string): string {
    return `${this.base()}/payment/v1/${encodeURIComponent(endUserId(msisdn, true))}/transactions/${resource}`;
  }

  private request(
    method: "GET" | "POST",
    url: string,
    fields?: TransactionFields,
    wrapper: "amountTransaction" | "amountReservationTransaction" = "amountTransaction",
  ): () => Promise<HttpRequest> {
    return () => {
      const form = this.options.operator.quirks.encoding === "form" && wrapper === "amountTransaction";
      const r: HttpRequest = { method, url, headers: { accept: "application/json" } };
      if (fields) {
        r.headers["content-type"] = form ? "application/x-www-form-urlencoded" : "application/json";
        r.body = form ? formBody(fields) : jsonBody(wrapper, fields);
      }
      return this.auth.apply(r);
    };
  }

  private interpret(asked: { amount?: bigint; currency?: string; callback: boolean }) {
    return (response: HttpResponse): Outcome => {
      const body: unknown = response.body ? JSON.parse(response.body) : undefined;
      if (response.status === 200 || response.status === 201)
        return transactionOutcome(body, { ...asked, decline_codes: this.options.operator.decline_codes });
      if (response.status === 401) this.authRejected();
      if (response.status === 404 && requestError(body)?.code === "SVC0004")
        return { status: "not_sent", reason: "not_found" };
      return errorOutcome(response.status, body, this.options.operator.decline_codes);
    };
  }

  private async money(
    operation: string,
    attempt_id: string,
    deadline_ms: number | undefined,
    url: string,
    fields: TransactionFields,
    wrapper: "amountTransaction" | "amountReservationTransaction" = "amountTransaction",
  ): Promise<Outcome> {
    const outcome = await httpCall(this.ctx, {
      operation,
      attempt_id,
      ...(deadline_ms !== undefined ? { deadline_ms } : {}),
      build: this.request("POST", url, fields, wrapper),
      interpret: this.interpret({
        amount: fields.amount,
        currency: fields.currency,
        callback: fields.notify_url !== undefined,
      }),
      onFailure: moneyFailure,
      onUnreadable: moneyUnreadable,
    });
    // The operator already has this correlator: ask what became of the first request.
    if (outcome.status === "unknown" && outcome.reason === "duplicate_correlator") {
      return this.sync({
        attempt_id,
        msisdn: fields.msisdn,
        amount: fields.amount,
        currency: fields.currency,
        operation: wrapper === "amountTransaction" ? "charge" : "reserve",
      });
    }
    return outcome;
  }

  async charge(input: ChargeInput): Promise<Outcome> {
    if (!input.msisdn) return { status: "not_sent", reason: "invalid_input" };
    this.memory.remember(input.attempt_id, {
      msisdn: input.msisdn,
      amount: input.amount,
      currency: input.currency,
      operation: "charge",
    });
    const notify = this.callbackUrl(input.attempt_id);
    const fields: TransactionFields = {
      msisdn: input.msisdn,
      tel_prefix: this.options.operator.quirks.tel_prefix,
      amount: input.amount,
      currency: input.currency,
      description: input.description,
      client_correlator: input.attempt_id,
      status: "Charged",
    };
    if (notify) fields.notify_url = notify;
    const outcome = await this.money(
      "charge",
      input.attempt_id,
      input.deadline_ms,
      this.paymentUrl(input.msisdn, "amount"),
      fields,
    );
    // Result by callback, correlated by our attempt id; when none comes in time, poll once.
    if (outcome.status === "pending" && this.options.callback_wait_ms) {
      return callbackThenPoll({
        correlator: this.correlator,
        key: input.attempt_id,
        callback_wait_ms: this.options.callback_wait_ms,
        poll: () =>
          this.sync({
            attempt_id: input.attempt_id,
            msisdn: input.msisdn,
            amount: input.amount,
            currency: input.currency,
          }),
      });
    }
    return outcome;
  }

  async refund(input: RefundInput): Promise<Outcome> {
    if (!input.msisdn) return { status: "not_sent", reason: "invalid_input" };
    this.memory.remember(input.attempt_id, {
      msisdn: input.msisdn,
      amount: input.amount,
      currency: input.currency,
      operation: "refund",
    });
    return this.money(
      "refund",
      input.attempt_id,
      input.deadline_ms,
      this.paymentUrl(input.msisdn, "amount"),
      {
        msisdn: input.msisdn,
        tel_prefix: this.options.operator.quirks.tel_prefix,
        amount: input.amount,
        currency: input.currency,
        description: input.description,
        client_correlator: input.attempt_id,
        status: "Refunded",
        original_reference: input.original_reference,
      },
    );
  }

  async reserve(input: ReserveInput): Promise<Outcome & { reservation_id?: string }> {
    this.memory.remember(input.attempt_id, {
      msisdn: input.msisdn,
      amount: input.amount,
      currency: input.currency,
      operation: "reserve",
    });
    const o = await this.money(
      "reserve",
      input.attempt_id,
      input.deadline_ms,
      this.paymentUrl(input.msisdn, "amountReservation"),
      {
        msisdn: input.msisdn,
        tel_prefix: this.options.operator.quirks.tel_prefix,
        amount: input.amount,
        currency: input.currency,
        description: input.description,
        client_correlator: input.attempt_id,
        status: "Reserved",
        reference_sequence: 1,
      },
      "amountReservationTransaction",
    );
    return o.status === "succeeded" ? { ...o, reservation_id: o.provider_reference } : o;
  }

  private reservationCall(
    operation: string,
    input: { attempt_id: string; reservation_id: string; msisdn: string; deadline_ms?: number },
    status: OperationStatus,
    amount: bigint,
    currency: string,
    description: string,
  ): Promise<Outcome> {
    return this.money(
      operation,
      input.attempt_id,
      input.deadline_ms,
      `${this.paymentUrl(input.msisdn, "amountReservation")}/${encodeURIComponent(input.reservation_id)}`,
      {
        msisdn: input.msisdn,
        tel_prefix: this.options.operator.quirks.tel_prefix,
        amount,
        currency,
        description,
        client_correlator: input.attempt_id,
        status,
        reference_sequence: 2,
      },
      "amountReservationTransaction",
    );
  }

  capture(input: CaptureInput): Promise<Outcome> {
    this.memory.remember(input.attempt_id, {
      msisdn: input.msisdn,
      amount: input.amount,
      currency: input.currency,
      operation: "capture",
    });
    return this.reservationCall("capture", input, "Charged", input.amount, input.currency, input.description);
  }

  release(input: ReleaseInput): Promise<Outcome> {
    return this.reservationCall("release", input, "Released", 0n, this.options.operator.currency, "release");
  }

  /** Status query on our correlator: the protocol's own way to learn what really happened. */
  async sync(raw: SyncInput): Promise<Outcome> {
    const input = this.memory.complete(raw);
    if (!input.msisdn) return { status: "unknown", reason: "sync_needs_msisdn" };
    const resource =
      input.operation === "reserve" || input.operation === "capture" ? "amountReservation" : "amount";
    const url = `${this.paymentUrl(input.msisdn, resource)}?clientCorrelator=${encodeURIComponent(input.attempt_id)}`;
    const asked: { amount?: bigint; currency?: string; callback: boolean } = { callback: false };
    if (input.amount !== undefined) asked.amount = input.amount;
    if (input.currency !== undefined) asked.currency = input.currency;
    const outcome = await httpCall(this.ctx, {
      operation: "sync",
      attempt_id: input.attempt_id,
      ...(input.deadline_ms !== undefined ? { deadline_ms: input.deadline_ms } : {}),
      build: this.request("GET", url),
      interpret: this.interpret(asked),
      onFailure: (f): Outcome =>
        f.kind === "not_sent"
          ? { status: "unknown", reason: "sync_not_sent" }
          : { status: "unknown", reason: f.reason },
      onUnreadable: moneyUnreadable,
    });
    if (outcome.status !== "pending") this.correlator.resolve(input.attempt_id, outcome);
    return outcome;
  }

  async balance(input: BalanceInput): Promise<BalanceOutput> {
    const url = `${this.base()}/customer/usageConsumption/v1/usageConsumptionReport?publicKey=${encodeURIComponent(input.msisdn)}`;
    const currency = this.options.operator.currency;
    return httpCall<BalanceOutput>(this.ctx, {
      operation: "balance",
      attempt_id: undefined,
      build: this.request("GET", url),
      interpret: (r) => {
        if (r.status !== 200) return { status: "failed", reason: `http_${r.status}` };
        const b = JSON.parse(r.body) as {
          ratingType?: unknown;
          bucket?: { name?: unknown; bucketBalance?: { remainingValue?: unknown }[] }[];
        };
        const main = b.bucket?.find((x) => x.name === "Main Balance");
        const value = fromDecimal(main?.bucketBalance?.[0]?.remainingValue, currency);
        const rating = b.ratingType === "Postpaid" ? "postpaid" : "prepaid";
        return value === undefined
          ? { status: "ok", rating, currency }
          : { status: "ok", rating, balance: value, currency };
      },
      onFailure: () => ({ status: "failed", reason: "unreachable" }),
      onUnreadable: (reason) => ({ status: "failed", reason }),
    });
  }

  async identify(input: IdentifyInput): Promise<IdentifyOutput> {
    return identifyFromHeaders(input.headers);
  }

  async sendSms(input: SendSmsInput): Promise<SendSmsOutput> {
    const sender = this.options.operator.smpp.shortcode;
    const url = `${this.base()}/smsmessaging/v1/outbound/${encodeURIComponent(`tel:${sender}`)}/requests`;
    const body = JSON.stringify({
      outboundSMSMessageRequest: {
        address: [endUserId(input.msisdn, true)],
        senderAddress: `tel:${sender}`,
        outboundSMSTextMessage: { message: input.text },
        clientCorrelator: input.attempt_id,
      },
    });
    return httpCall<SendSmsOutput>(this.ctx, {
      operation: "send_sms",
      attempt_id: input.attempt_id,
      build: async () =>
        this.auth.apply({ method: "POST", url, headers: { "content-type": "application/json" }, body }),
      interpret: (r) => {
        const b = JSON.parse(r.body) as { resourceReference?: { resourceURL?: unknown } };
        const ref = b.resourceReference?.resourceURL;
        return r.status === 201 && typeof ref === "string"
          ? { status: "sent", provider_reference: ref }
          : { status: "failed", reason: `http_${r.status}` };
      },
      onFailure: () => ({ status: "failed", reason: "unreachable" }),
      onUnreadable: (reason) => ({ status: "failed", reason }),
    });
  }

  /** PIN opt-in: the operator texts a PIN; `verifyConsent` checks what the payer typed. */
  async startConsent(input: StartConsentInput): Promise<StartConsentOutput> {
    const body = stringifyWithRawNumbers({
      msisdn: input.msisdn,
      amount: rawNumber(toDecimal(input.amount, input.currency)),
      currency: input.currency,
      description: input.description,
      clientCorrelator: input.attempt_id,
    });
    return httpCall<StartConsentOutput>(this.ctx, {
      operation: "start_consent",
      attempt_id: input.attempt_id,
      build: async () =>
        this.auth.apply({
          method: "POST",
          url: `${this.base()}/consent/v1/pin`,
          headers: { "content-type": "application/json" },
          body,
        }),
      interpret: (r) => {
        const b = JSON.parse(r.body) as { consentId?: unknown };
        if (r.status !== 201 || typeof b.consentId !== "string")
          return { status: "failed", reason: requestError(b)?.code ?? `http_${r.status}` };
        return {
          status: "pin_sent",
          consent_id: b.consentId,
          next_action: { type: "enter_pin", consent_id: b.consentId },
        };
      },
      onFailure: () => ({ status: "failed", reason: "unreachable" }),
      onUnreadable: (reason) => ({ status: "failed", reason }),
    });
  }

  async verifyConsent(input: VerifyConsentInput): Promise<VerifyConsentOutput> {
    return httpCall<VerifyConsentOutput>(this.ctx, {
      operation: "verify_consent",
      attempt_id: undefined,
      build: async () =>
        this.auth.apply({
          method: "POST",
          url: `${this.base()}/consent/v1/pin/${encodeURIComponent(input.consent_id)}/verify`,
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ pin: input.pin }),
        }),
      interpret: (r) => {
        const b: unknown = JSON.parse(r.body);
        if (r.status === 200) return { status: "verified", consent_id: input.consent_id };
        return { status: "rejected", reason: requestError(b)?.code ?? `http_${r.status}` };
      },
      onFailure: () => ({ status: "rejected", reason: "unreachable" }),
      onUnreadable: (reason) => ({ status: "rejected", reason }),
    });
  }
}

export { pendingVia };
