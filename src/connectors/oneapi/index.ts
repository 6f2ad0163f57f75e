import { ConnectorBase, type ConnectorOptions, pendingVia } from "../sdk/base.ts";
import { Correlator, callbackThenPoll } from "../sdk/callbacks.ts";
import { httpCall, moneyFailure, moneyUnreadable } from "../sdk/exchange.ts";
import type { HttpRequest, HttpResponse } from "../sdk/http.ts";
import { identifyFromHeaders } from "../sdk/identify.ts";
import { fromDecimal, toDecimal } from "../sdk/money.ts";
import { codeFor, codeMatches, issueConsent, readConsent } from "../sdk/otp.ts";
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
import { SmppConnector } from "../smpp/index.ts";
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
  readonly capabilities: ReadonlySet<Capability>;
  readonly correlator = new Correlator();
  private smsOverSmpp: SmppConnector | undefined;

  constructor(options: ConnectorOptions) {
    super(options, "oneapi");
    const caps: Capability[] = [
      "charge",
      "refund",
      "reserve",
      "capture",
      "release",
      "balance",
      "identify",
      "send_sms",
    ];
    // OneAPI Payment has no PIN resource: the code is Centime's own, texted with the SMS API.
    if (options.operator.consent.type === "centime_otp") caps.push("consent");
    this.capabilities = new Set(caps);
  }

  /** `{serverRoot}`: the operator's OneAPI root; `{apiVersion}` follows it in every path. */
  private base(): string {
    return `${this.options.http_url}/${this.operator}/oneapi`;
  }

  private version(): string {
    return this.options.operator.protocol_version || "v1";
  }

  private paymentUrl(msisdn: string, resource: string): string {
    return `${this.base()}/${this.version()}/payment/${encodeURIComponent(endUserId(msisdn, true))}/transactions/${resource}`;
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
      if (response.status === 200 || response.status === 201 || response.status === 202)
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
        callback: fields.callback_url !== undefined,
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
    const consent = this.options.operator.consent;
    if (consent.type === "centime_otp" && input.consent_id !== undefined) {
      // The code was checked by `verifyConsent`; the consent must be for exactly this charge.
      const claims = readConsent(this.secret, input.consent_id);
      if (
        !claims ||
        claims.m !== input.msisdn ||
        claims.x !== input.amount.toString() ||
        claims.c !== input.currency
      )
        return { status: "not_sent", reason: "invalid_input" };
    }
    // A payer present (a return URL to come back to) agrees on the operator's page; a merchant's
    // renewal, with no payer there, is charged through the API as any OneAPI charge.
    if (consent.type === "operator_page" && input.return_url)
      return this.operatorPage(input, input.msisdn, consent.url);
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
    if (notify) fields.callback_url = notify;
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

  async sendSms(input: SendSmsInput, secret = false): Promise<SendSmsOutput> {
    const sender = this.options.operator.smpp.shortcode;
    const url = `${this.base()}/${this.version()}/smsmessaging/outbound/${encodeURIComponent(`tel:${sender}`)}/requests`;
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
      // A text carrying a one-time code is a secret: the log keeps its shape, not its words.
      ...(secret ? { redact: ["message"] } : {}),
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

  /**
   * Centime's one-time code: a signed consent id is issued for this number, amount and currency;
   * its code is texted with the operator's SMS API (OneAPI SMS outbound, or SMPP `submit_sm`).
   */
  async startConsent(input: StartConsentInput): Promise<StartConsentOutput> {
    const consent = this.options.operator.consent;
    if (consent.type !== "centime_otp") return { status: "failed", reason: "no_code_step" };
    const consent_id = issueConsent(this.secret, input);
    const code = codeFor(this.secret, consent_id, this.options.otp_fixed_code);
    const what = `${toDecimal(input.amount, input.currency)} ${input.currency}`;
    const text = `Your code is ${code} to pay ${what} (${input.description.slice(0, 60)}). It expires in 10 minutes.`;
    const sms = { attempt_id: input.attempt_id, msisdn: input.msisdn, text };
    const sent = consent.sms === "smpp" ? await this.smpp().sendSms(sms) : await this.sendSms(sms, true);
    if (sent.status !== "sent") return { status: "failed", reason: `sms_${sent.reason}` };
    return { status: "pin_sent", consent_id, next_action: { type: "enter_pin", consent_id } };
  }

  async verifyConsent(input: VerifyConsentInput): Promise<VerifyConsentOutput> {
    if (!readConsent(this.secret, input.consent_id)) return { status: "rejected", reason: "consent_expired" };
    return codeMatches(this.secret, input.consent_id, input.pin, this.options.otp_fixed_code)
      ? { status: "verified", consent_id: input.consent_id }
      : { status: "rejected", reason: "wrong_code" };
  }

  private smpp(): SmppConnector {
    this.smsOverSmpp ??= new SmppConnector(this.options);
    return this.smsOverSmpp;
  }

  /**
   * The operator's own consent page charges once the payer agrees there: the payer is sent to it
   * with what to charge; the result arrives at our callback, or by asking (`sync`).
   */
  private operatorPage(input: ChargeInput, msisdn: string, url: string): Outcome {
    this.memory.remember(input.attempt_id, {
      msisdn,
      amount: input.amount,
      currency: input.currency,
      operation: "charge",
    });
    const page = new URL(url.replace("{http_url}", this.options.http_url));
    page.searchParams.set("endUserId", endUserId(msisdn, true));
    page.searchParams.set("amount", toDecimal(input.amount, input.currency));
    page.searchParams.set("currency", input.currency);
    page.searchParams.set("description", input.description);
    page.searchParams.set("clientCorrelator", input.attempt_id);
    page.searchParams.set("referenceCode", input.attempt_id);
    const notify = this.callbackUrl(input.attempt_id);
    if (notify) page.searchParams.set("callbackURL", notify);
    page.searchParams.set("returnURL", input.return_url ?? "");
    return pendingVia("redirect", undefined, { type: "redirect", url: page.toString() });
  }

  override async close(): Promise<void> {
    await this.smsOverSmpp?.close();
  }
}

export { pendingVia };
