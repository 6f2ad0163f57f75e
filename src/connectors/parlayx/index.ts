import { basicAuth, huaweiRequestSoapHeader, resolveSecret, wsseUsernameToken } from "../sdk/auth.ts";
import { ConnectorBase, type ConnectorOptions, resolveAuth } from "../sdk/base.ts";
import { httpCall, moneyFailure, moneyUnreadable } from "../sdk/exchange.ts";
import type { HttpRequest, HttpResponse } from "../sdk/http.ts";
import { parseSoap } from "../sdk/soap.ts";
import type {
  Capability,
  CaptureInput,
  ChargeInput,
  Connector,
  Outcome,
  RefundInput,
  ReleaseInput,
  ReserveInput,
  SyncInput,
} from "../sdk/types.ts";
import {
  amountChargingNs,
  chargingInformation,
  DEFAULT_ORDER,
  endUser,
  envelope,
  operation,
  REFERENCE_CODE_LENGTH_MAX,
  replyOutcome,
  reserveChargingNs,
} from "./transformers.ts";

/**
 * Parlay X 2.1 Amount Charging and Reserve Amount Charging over SOAP 1.1. Our attempt id is the
 * `referenceCode` (1–30 characters). Parlay X has no status query: a lost reply is settled by
 * replaying the same request with the same referenceCode, which the operator answers with the
 * original result without charging again.
 */
export class ParlayXConnector extends ConnectorBase implements Connector {
  readonly protocol = "parlayx";
  readonly capabilities: ReadonlySet<Capability> = new Set<Capability>([
    "charge",
    "refund",
    "reserve",
    "capture",
    "release",
  ]);

  constructor(options: ConnectorOptions) {
    super(options, "parlayx");
  }

  private get quirks() {
    return this.options.operator.quirks;
  }

  private url(service: "AmountCharging" | "ReserveAmountCharging"): string {
    return `${this.options.http_url}/${this.operator}/parlayx/${service}Service/services/${service}`;
  }

  /** SOAP-header authentication (WS-Security or Huawei), or HTTP Basic. One clock read per request. */
  private async build(
    service: "AmountCharging" | "ReserveAmountCharging",
    msisdn: string,
    body: string,
  ): Promise<HttpRequest> {
    const auth = resolveAuth(this.options.operator.auth, this.options.http_url);
    const username = auth.type === "basic" ? auth.username : "centime";
    const password =
      auth.type === "basic" ? auth.password : resolveSecret("env:CENTIME_CARRIER_PASSWORD|sandbox");
    const nowMs = Date.now();
    let header = "";
    if (this.quirks.soap_auth === "wsse") header = wsseUsernameToken({ username, password, nowMs });
    if (this.quirks.soap_auth === "huawei") {
      header = huaweiRequestSoapHeader({
        spId: this.quirks.sp_id ?? "",
        password,
        serviceId: this.quirks.service_id ?? "",
        msisdn: endUser(msisdn, false),
        nowMs,
      });
    }
    const ns =
      service === "AmountCharging"
        ? amountChargingNs(this.quirks.namespace_version)
        : reserveChargingNs(this.quirks.namespace_version);
    const request: HttpRequest = {
      method: "POST",
      url: this.url(service),
      headers: { "content-type": "text/xml; charset=utf-8", soapaction: '""' },
      body: envelope(ns, header, body),
    };
    return this.quirks.soap_auth === "basic" ? basicAuth(username, password).apply(request) : request;
  }

  private call(args: {
    operation: string;
    attempt_id: string;
    service: "AmountCharging" | "ReserveAmountCharging";
    msisdn: string;
    body: string;
    expect: string;
    deadline_ms: number | undefined;
    onOk: (result: string | undefined) => Outcome;
  }): Promise<Outcome> {
    return httpCall(this.ctx, {
      operation: args.operation,
      attempt_id: args.attempt_id,
      ...(args.deadline_ms !== undefined ? { deadline_ms: args.deadline_ms } : {}),
      build: () => this.build(args.service, args.msisdn, args.body),
      interpret: (r: HttpResponse) => {
        if (r.status !== 200 && r.status !== 500) return { status: "unknown", reason: `http_${r.status}` };
        const o = replyOutcome(parseSoap(r.body), args.expect, this.options.operator.decline_codes);
        if (o.status === "ok")
          return r.status === 200
            ? args.onOk(o.result)
            : { status: "unknown", reason: "http_500_without_fault" };
        return o;
      },
      onFailure: moneyFailure,
      onUnreadable: moneyUnreadable,
    });
  }

  private charging(amount: bigint, currency: string, description: string, code?: string) {
    const c = {
      description,
      currency: this.quirks.currency_spelling ?? currency,
      amount,
      iso_currency: currency,
      ...(code ? { code } : {}),
    };
    return chargingInformation(c);
  }

  private amountOperation(
    name: "chargeAmount" | "refundAmount",
    input: {
      attempt_id: string;
      msisdn: string;
      amount: bigint;
      currency: string;
      description: string;
      deadline_ms?: number;
    },
  ): Promise<Outcome> {
    if (input.attempt_id.length > REFERENCE_CODE_LENGTH_MAX)
      return Promise.resolve({ status: "not_sent", reason: "invalid_input" });
    const body = operation({
      name,
      order: this.quirks.element_order ?? DEFAULT_ORDER,
      parts: {
        endUserIdentifier: endUser(input.msisdn, this.quirks.tel_prefix),
        charge: this.charging(input.amount, input.currency, input.description),
        referenceCode: input.attempt_id,
      },
    });
    return this.call({
      operation: name === "chargeAmount" ? "charge" : "refund",
      attempt_id: input.attempt_id,
      service: "AmountCharging",
      msisdn: input.msisdn,
      body,
      expect: `${name}Response`,
      deadline_ms: input.deadline_ms,
      // The response is empty: our referenceCode is the only reference, the asked amount is what was charged.
      onOk: () => ({
        status: "succeeded",
        provider_reference: input.attempt_id,
        amount: input.amount,
        currency: input.currency,
      }),
    });
  }

  charge(input: ChargeInput): Promise<Outcome> {
    if (!input.msisdn) return Promise.resolve({ status: "not_sent", reason: "invalid_input" });
    this.memory.remember(input.attempt_id, {
      msisdn: input.msisdn,
      amount: input.amount,
      currency: input.currency,
      operation: "charge",
    });
    const description = input.description;
    this.descriptions.set(input.attempt_id, description);
    return this.amountOperation("chargeAmount", { ...input, msisdn: input.msisdn });
  }

  refund(input: RefundInput): Promise<Outcome> {
    if (!input.msisdn) return Promise.resolve({ status: "not_sent", reason: "invalid_input" });
    this.memory.remember(input.attempt_id, {
      msisdn: input.msisdn,
      amount: input.amount,
      currency: input.currency,
      operation: "refund",
    });
    this.descriptions.set(input.attempt_id, input.description);
    return this.amountOperation("refundAmount", { ...input, msisdn: input.msisdn });
  }

  /** Descriptions of recent attempts, so a replay sends the identical request. Bounded by memory's LRU. */
  private readonly descriptions = new Map<string, string>();

  /** Replays the original request under the same referenceCode: the operator answers its first result. */
  async sync(raw: SyncInput): Promise<Outcome> {
    const input = this.memory.complete(raw);
    if (!input.msisdn || input.amount === undefined || !input.currency)
      return { status: "unknown", reason: "sync_needs_original_request" };
    if (input.operation !== undefined && input.operation !== "charge" && input.operation !== "refund")
      return { status: "unknown", reason: "sync_unsupported_for_operation" };
    const description = this.descriptions.get(input.attempt_id) ?? "replay";
    const o = await this.amountOperation(input.operation === "refund" ? "refundAmount" : "chargeAmount", {
      attempt_id: input.attempt_id,
      msisdn: input.msisdn,
      amount: input.amount,
      currency: input.currency,
      description,
      ...(input.deadline_ms ? { deadline_ms: input.deadline_ms } : {}),
    });
    if (this.descriptions.size > 50_000) this.descriptions.clear();
    return o;
  }

  async reserve(input: ReserveInput): Promise<Outcome & { reservation_id?: string }> {
    // reserveAmount has no referenceCode in 2.1: the attempt id travels in `charge/code`.
    const body = operation({
      name: "reserveAmount",
      order: ["endUserIdentifier", "charge"],
      parts: {
        endUserIdentifier: endUser(input.msisdn, this.quirks.tel_prefix),
        charge: this.charging(input.amount, input.currency, input.description, input.attempt_id),
      },
    });
    const o = await this.call({
      operation: "reserve",
      attempt_id: input.attempt_id,
      service: "ReserveAmountCharging",
      msisdn: input.msisdn,
      body,
      expect: "reserveAmountResponse",
      deadline_ms: input.deadline_ms,
      onOk: (result) =>
        result
          ? {
              status: "succeeded",
              provider_reference: result,
              amount: input.amount,
              currency: input.currency,
            }
          : { status: "unknown", reason: "reservation_without_id" },
    });
    return o.status === "succeeded" ? { ...o, reservation_id: o.provider_reference } : o;
  }

  capture(input: CaptureInput): Promise<Outcome> {
    const body = operation({
      name: "chargeReservation",
      order: ["reservationIdentifier", "charge", "referenceCode"],
      parts: {
        reservationIdentifier: input.reservation_id,
        charge: this.charging(input.amount, input.currency, input.description),
        referenceCode: input.attempt_id,
      },
    });
    return this.call({
      operation: "capture",
      attempt_id: input.attempt_id,
      service: "ReserveAmountCharging",
      msisdn: input.msisdn,
      body,
      expect: "chargeReservationResponse",
      deadline_ms: input.deadline_ms,
      onOk: () => ({
        status: "succeeded",
        provider_reference: input.attempt_id,
        amount: input.amount,
        currency: input.currency,
      }),
    });
  }

  release(input: ReleaseInput): Promise<Outcome> {
    const body = operation({
      name: "releaseReservation",
      order: ["reservationIdentifier"],
      parts: { reservationIdentifier: input.reservation_id },
    });
    return this.call({
      operation: "release",
      attempt_id: input.attempt_id,
      service: "ReserveAmountCharging",
      msisdn: input.msisdn,
      body,
      expect: "releaseReservationResponse",
      deadline_ms: input.deadline_ms,
      onOk: () => ({
        status: "succeeded",
        provider_reference: input.reservation_id,
        amount: 0n,
        currency: this.options.operator.currency,
      }),
    });
  }
}
