import { timingSafeEqual } from "node:crypto";
import { type AskedAttempt, ConnectorBase, type ConnectorOptions } from "../sdk/base.ts";
import { httpCall, moneyFailure, moneyUnreadable } from "../sdk/exchange.ts";
import type { HttpRequest, HttpResponse } from "../sdk/http.ts";
import type {
  CallbackReply,
  CallbackRequest,
  Capability,
  CaptureInput,
  ChargeInput,
  Connector,
  Outcome,
  RefundInput,
  ReleaseInput,
  ReserveInput,
  StartConsentInput,
  StartConsentOutput,
  SyncInput,
  VerifyConsentInput,
  VerifyConsentOutput,
} from "../sdk/types.ts";
import {
  type Asked,
  errorCode,
  errorOutcome,
  paymentBody,
  paymentOutcome,
  paymentView,
  phoneNumber,
  readCloudEvent,
  refundBody,
  refundOutcome,
} from "./transformers.ts";
import { CAMARA_VERSIONS, type CamaraVersion } from "./versions.ts";

/** A lookup by creation date reads at most this many pages before it says it cannot tell. */
export const LOOKUP_PAGES_MAX = 10;
export const LOOKUP_PAGE_SIZE = 100;
/** Without a remembered send time, a lookup searches payments created this far back. */
export const LOOKUP_WINDOW_MS = 2 * 86_400_000;
/** How long the `sinkCredential` token we hand out stays valid. */
export const SINK_TOKEN_TTL_MS = 30 * 86_400_000;

type Lookup = { found: Outcome } | { page_size: number } | { failed: Outcome };

/**
 * CAMARA Carrier Billing v0.5.0 (one step, or prepare → validate? → confirm | cancel) and Carrier
 * Billing Refund v0.3.0, with a bearer token from the operator's OAuth2 token endpoint.
 * `clientCorrelator` = `referenceCode` = our attempt id. The spec has no lookup by
 * `clientCorrelator`: a lost reply is settled by the payment id when we have it, else by listing
 * our payments created since the attempt was sent and matching both fields exactly.
 */
export class CamaraConnector extends ConnectorBase implements Connector {
  readonly protocol = "camara";
  readonly capabilities: ReadonlySet<Capability>;
  private readonly version: CamaraVersion | undefined;

  constructor(options: ConnectorOptions) {
    super(options, "camara");
    this.version = CAMARA_VERSIONS[options.operator.protocol_version];
    const caps: Capability[] = ["charge", "refund", "reserve", "capture", "release"];
    if (options.operator.consent.type === "operator_otp") caps.push("consent");
    this.capabilities = new Set(caps);
  }

  private root(): string {
    return `${this.options.http_url}/${this.operator}/camara`;
  }
  private payments(path = ""): string {
    return `${this.root()}/${this.version?.payments}/payments${path}`;
  }
  private refunds(paymentId: string, path = ""): string {
    return `${this.root()}/${this.version?.refunds}/payments/${encodeURIComponent(paymentId)}/refunds${path}`;
  }

  private req(method: "GET" | "POST", url: string, body?: string): () => Promise<HttpRequest> {
    return () => {
      if (!this.version) throw new Error(`CAMARA ${this.options.operator.protocol_version} is not supported`);
      const r: HttpRequest = { method, url, headers: { accept: "application/json" } };
      if (body !== undefined) {
        r.headers["content-type"] = "application/json";
        r.body = body;
      }
      return this.auth.apply(r);
    };
  }

  private json(r: HttpResponse): unknown {
    if (r.status === 401) this.authRejected();
    return r.body ? JSON.parse(r.body) : undefined;
  }

  private asked(
    input: { amount?: bigint; currency?: string },
    expect: Asked["expect"],
    callback = false,
  ): Asked {
    const a: Asked = { callback, expect };
    if (input.amount !== undefined) a.amount = input.amount;
    if (input.currency !== undefined) a.currency = input.currency;
    return a;
  }

  /** POST /payments or /payments/prepare; a possible duplicate is settled by looking it up. */
  private async create(
    operation: "charge" | "reserve",
    input: {
      attempt_id: string;
      msisdn: string;
      amount: bigint;
      currency: string;
      description: string;
      deadline_ms?: number;
    },
  ): Promise<Outcome> {
    this.memory.remember(input.attempt_id, {
      msisdn: input.msisdn,
      amount: input.amount,
      currency: input.currency,
      operation,
      sent_ms: Date.now(),
    });
    const sink = this.sink(input.attempt_id);
    const withSink = sink.sink !== undefined;
    const body = paymentBody({
      ...input,
      merchant_identifier: this.options.operator.merchant_identifier,
      ...sink,
    });
    const asked = this.asked(input, operation === "charge" ? "succeeded" : "reserved", withSink);
    const outcome = await httpCall(this.ctx, {
      operation,
      attempt_id: input.attempt_id,
      ...(input.deadline_ms !== undefined ? { deadline_ms: input.deadline_ms } : {}),
      build: this.req("POST", this.payments(operation === "charge" ? "" : "/prepare"), body),
      interpret: (r) => {
        const b = this.json(r);
        if (r.status !== 201) return errorOutcome(r.status, b, this.options.operator.decline_codes);
        const view = paymentView(b);
        if (view.id) this.memory.remember(input.attempt_id, { provider_reference: view.id });
        this.keepValidation(view);
        return paymentOutcome(view, asked);
      },
      onFailure: moneyFailure,
      onUnreadable: moneyUnreadable,
    });
    if (outcome.status === "unknown" && outcome.reason === "maybe_duplicate_correlator") {
      const found = await this.sync({ attempt_id: input.attempt_id, operation });
      // Nothing of ours under that correlator: the request itself was refused as invalid.
      return found.status === "not_sent"
        ? { status: "declined", category: "invalid", code: "INVALID_ARGUMENT", retryable: false }
        : found;
    }
    return outcome;
  }

  /** Our sink for an attempt's CloudEvents, with the bearer token the operator must present. */
  private sink(attempt_id: string): { sink?: string; sink_token?: string; sink_token_expires?: string } {
    const sink = this.sinkUrl(attempt_id);
    if (!sink?.startsWith("https://")) return {};
    return {
      sink,
      sink_token: this.callbackToken(attempt_id),
      sink_token_expires: new Date(Date.now() + SINK_TOKEN_TTL_MS).toISOString(),
    };
  }

  charge(input: ChargeInput): Promise<Outcome> {
    if (!input.msisdn) return Promise.resolve({ status: "not_sent", reason: "invalid_input" });
    // After the operator's code was validated, the charge is the confirmation of that reservation.
    if (input.consent_id) {
      const { payment_id } = decodeConsent(input.consent_id);
      return this.capture({ ...input, msisdn: input.msisdn, reservation_id: payment_id });
    }
    return this.create("charge", { ...input, msisdn: input.msisdn });
  }

  async reserve(input: ReserveInput): Promise<Outcome & { reservation_id?: string }> {
    const o = await this.create("reserve", input);
    return o.status === "succeeded" ? { ...o, reservation_id: o.provider_reference } : o;
  }

  /** GET /payments/{paymentId}: the payment as the operator has it, checked to be ours. */
  private retrieve(
    attempt_id: string,
    paymentId: string,
    asked: Asked,
    operation = "retrieve",
  ): Promise<Outcome> {
    return httpCall(this.ctx, {
      operation,
      attempt_id,
      build: this.req("GET", this.payments(`/${encodeURIComponent(paymentId)}`)),
      interpret: (r) => {
        const b = this.json(r);
        if (r.status === 404) return { status: "not_sent", reason: "not_found" };
        if (r.status !== 200) return errorOutcome(r.status, b, this.options.operator.decline_codes);
        const view = paymentView(b);
        if (view.id !== paymentId) return { status: "unknown", reason: "not_our_payment" };
        return paymentOutcome(view, asked);
      },
      onFailure: (f): Outcome => ({
        status: "unknown",
        reason: f.kind === "lost" ? f.reason : "sync_not_sent",
      }),
      onUnreadable: moneyUnreadable,
    });
  }

  /** confirm or cancel (202, no body), then the payment is read back for its status and amount. */
  private async secondStep(
    action: "confirm" | "cancel",
    input: {
      attempt_id: string;
      reservation_id: string;
      msisdn: string;
      amount?: bigint;
      currency?: string;
      deadline_ms?: number;
    },
  ): Promise<Outcome> {
    const operation = action === "confirm" ? "capture" : "release";
    this.memory.remember(input.attempt_id, {
      msisdn: input.msisdn,
      operation,
      provider_reference: input.reservation_id,
      ...(input.amount !== undefined ? { amount: input.amount } : {}),
      ...(input.currency !== undefined ? { currency: input.currency } : {}),
    });
    const already =
      action === "confirm" ? "CARRIER_BILLING.PAYMENT_CONFIRMED" : "CARRIER_BILLING.PAYMENT_CANCELLED";
    const first = await httpCall<Outcome | "accepted">(this.ctx, {
      operation,
      attempt_id: input.attempt_id,
      ...(input.deadline_ms !== undefined ? { deadline_ms: input.deadline_ms } : {}),
      build: this.req(
        "POST",
        this.payments(`/${encodeURIComponent(input.reservation_id)}/${action}`),
        JSON.stringify({ phoneNumber: phoneNumber(input.msisdn) }),
      ),
      interpret: (r) => {
        if (r.status === 202) return "accepted";
        const b = this.json(r);
        // Confirming (or cancelling) twice is answered 409 with the state it is already in.
        if (r.status === 409 && errorCode(b)?.code === already) return "accepted";
        return errorOutcome(r.status, b, this.options.operator.decline_codes);
      },
      onFailure: moneyFailure,
      onUnreadable: moneyUnreadable,
    });
    // Accepted, or the reply was lost: read the payment back (reading never moves money).
    if (first !== "accepted" && first.status !== "unknown") return first;
    return this.retrieve(
      input.attempt_id,
      input.reservation_id,
      this.asked(input, action === "confirm" ? "succeeded" : "cancelled"),
    );
  }

  capture(input: CaptureInput): Promise<Outcome> {
    return this.secondStep("confirm", input);
  }

  release(input: ReleaseInput): Promise<Outcome> {
    return this.secondStep("cancel", input);
  }

  /** POST …/refunds: `total` when the whole charge goes back, else `partial` with its amount. */
  async refund(input: RefundInput): Promise<Outcome> {
    this.memory.remember(input.attempt_id, {
      amount: input.amount,
      currency: input.currency,
      operation: "refund",
      original_reference: input.original_reference,
      ...(input.msisdn ? { msisdn: input.msisdn } : {}),
    });
    const charged = this.memoryOfPayment(input.original_reference)?.amount;
    const total = input.original_amount === input.amount || charged === input.amount;
    const asked = { amount: input.amount, currency: input.currency };
    return httpCall(this.ctx, {
      operation: "refund",
      attempt_id: input.attempt_id,
      ...(input.deadline_ms !== undefined ? { deadline_ms: input.deadline_ms } : {}),
      build: this.req(
        "POST",
        this.refunds(input.original_reference),
        refundBody({
          attempt_id: input.attempt_id,
          total,
          amount: input.amount,
          currency: input.currency,
          description: input.description,
          merchant_identifier: this.options.operator.merchant_identifier,
          ...this.sink(input.attempt_id),
        }),
      ),
      interpret: (r) => {
        const b = this.json(r);
        if (r.status === 201) return refundOutcome(b, asked);
        const o = errorOutcome(r.status, b, this.options.operator.decline_codes);
        // A refund above what is left, or of a payment that is not ours: refused, not unknown.
        return o.status === "unknown" && o.reason === "maybe_duplicate_correlator"
          ? { status: "declined", category: "invalid", code: "INVALID_ARGUMENT", retryable: false }
          : o;
      },
      onFailure: moneyFailure,
      onUnreadable: moneyUnreadable,
    });
  }

  private memoryOfPayment(paymentId: string): AskedAttempt | undefined {
    return this.memory.byReference(paymentId);
  }

  /** Asks the operator what became of an attempt: by payment id when known, else by listing. */
  async sync(raw: SyncInput): Promise<Outcome> {
    const input = this.memory.complete(raw);
    if (input.operation === "refund") return this.syncRefund(input);
    const expect =
      input.operation === "reserve" ? "reserved" : input.operation === "release" ? "cancelled" : "succeeded";
    const asked = this.asked(input, expect);
    if (input.provider_reference)
      return this.retrieve(input.attempt_id, input.provider_reference, asked, "sync");
    const since = new Date((input.sent_ms ?? Date.now() - LOOKUP_WINDOW_MS) - 10 * 60_000).toISOString();
    for (let page = 1; page <= LOOKUP_PAGES_MAX; page++) {
      const query = new URLSearchParams({
        "paymentCreationDate.gte": since,
        merchantIdentifier: this.options.operator.merchant_identifier,
        order: "desc",
        page: String(page),
        perPage: String(LOOKUP_PAGE_SIZE),
      });
      const step = await httpCall<Lookup>(this.ctx, {
        operation: "sync",
        attempt_id: input.attempt_id,
        build: this.req("GET", `${this.payments()}?${query}`),
        interpret: (r) => {
          const b = this.json(r);
          if (r.status !== 200 || !Array.isArray(b))
            return { failed: { status: "unknown", reason: `lookup_http_${r.status}` } };
          // Ours only when both our correlator and our reference match (and the number, when known).
          const mine = b
            .map(paymentView)
            .find(
              (p) =>
                p.client_correlator === input.attempt_id &&
                p.reference_code === input.attempt_id &&
                (!input.msisdn || !p.phone_number || p.phone_number === phoneNumber(input.msisdn)),
            );
          if (!mine) return { page_size: b.length };
          if (mine.id) this.memory.remember(input.attempt_id, { provider_reference: mine.id });
          return { found: paymentOutcome(mine, asked) };
        },
        onFailure: (f) => ({
          failed: { status: "unknown", reason: f.kind === "lost" ? f.reason : "sync_not_sent" },
        }),
        onUnreadable: (reason) => ({ failed: { status: "unknown", reason } }),
      });
      if ("found" in step) return step.found;
      if ("failed" in step) return step.failed;
      if (step.page_size < LOOKUP_PAGE_SIZE) return { status: "not_sent", reason: "not_found" };
    }
    return { status: "unknown", reason: "lookup_incomplete" };
  }

  private syncRefund(input: SyncInput & AskedAttempt): Promise<Outcome> {
    const payment = input.original_reference;
    if (!payment) return Promise.resolve({ status: "unknown", reason: "sync_needs_payment_id" });
    const asked = { amount: input.amount ?? -1n, currency: input.currency ?? "" };
    return httpCall(this.ctx, {
      operation: "sync",
      attempt_id: input.attempt_id,
      build: this.req("GET", this.refunds(payment)),
      interpret: (r): Outcome => {
        const b = this.json(r);
        if (r.status !== 200 || !Array.isArray(b))
          return { status: "unknown", reason: `lookup_http_${r.status}` };
        const mine = b.find((x) => {
          const tx = (x as { amountTransaction?: { clientCorrelator?: unknown; referenceCode?: unknown } })
            .amountTransaction;
          return tx?.clientCorrelator === input.attempt_id && tx.referenceCode === input.attempt_id;
        });
        return mine ? refundOutcome(mine, asked) : { status: "not_sent", reason: "not_found" };
      },
      onFailure: (f): Outcome => ({
        status: "unknown",
        reason: f.kind === "lost" ? f.reason : "sync_not_sent",
      }),
      onUnreadable: moneyUnreadable,
    });
  }

  /** The operator's OTP step: prepare the payment; it answers `pending_validation` with how to validate. */
  async startConsent(input: StartConsentInput): Promise<StartConsentOutput> {
    const o = await this.create("reserve", input);
    const paymentId = this.memory.get(input.attempt_id)?.provider_reference;
    if (!paymentId || (o.status !== "pending" && o.status !== "succeeded"))
      return { status: "failed", reason: o.status === "declined" ? o.code : `prepare_${o.status}` };
    const validation = this.validations.get(paymentId);
    const consent_id = encodeConsent(
      paymentId,
      validation?.action === "validate" ? validation.authorization_id : "",
    );
    if (validation?.action === "open")
      return { status: "pin_sent", consent_id, next_action: { type: "redirect", url: validation.url } };
    return { status: "pin_sent", consent_id, next_action: { type: "enter_pin", consent_id } };
  }

  /** POST /payments/{paymentId}/validate {authorizationId, code}: 204 when the code is right. */
  async verifyConsent(input: VerifyConsentInput): Promise<VerifyConsentOutput> {
    const { payment_id, authorization_id } = decodeConsent(input.consent_id);
    // The operator reserved without asking for a code: its consent is already given.
    if (!authorization_id) return { status: "verified", consent_id: input.consent_id };
    return httpCall<VerifyConsentOutput>(this.ctx, {
      operation: "validate",
      attempt_id: undefined,
      redact: ["code"],
      build: this.req(
        "POST",
        this.payments(`/${encodeURIComponent(payment_id)}/validate`),
        JSON.stringify({ authorizationId: authorization_id, code: input.pin }),
      ),
      interpret: (r) => {
        if (r.status === 204) return { status: "verified", consent_id: input.consent_id };
        const code = errorCode(this.json(r))?.code;
        if (r.status === 409 && code === "ALREADY_EXISTS")
          return { status: "verified", consent_id: input.consent_id };
        return { status: "rejected", reason: code ?? `http_${r.status}` };
      },
      onFailure: () => ({ status: "rejected", reason: "unreachable" }),
      onUnreadable: (reason) => ({ status: "rejected", reason }),
    });
  }

  /** How the operator asked for validation, per prepared payment (kept from the prepare reply). */
  private readonly validations = new Map<string, NonNullable<ReturnType<typeof paymentView>["validation"]>>();

  private keepValidation(view: ReturnType<typeof paymentView>): void {
    if (!view.id || !view.validation) return;
    this.validations.set(view.id, view.validation);
    if (this.validations.size > 10_000) this.validations.delete(this.validations.keys().next().value ?? "");
  }

  /**
   * A CloudEvent at our sink, authenticated by the bearer token we gave as `sinkCredential`. It is
   * a hint: the payment is then read from the operator, and what the operator says is emitted.
   */
  override async handleCallback(request: CallbackRequest): Promise<CallbackReply> {
    const header = request.headers.authorization ?? "";
    const given = Buffer.from(header.startsWith("Bearer ") ? header.slice(7) : "");
    const expected = Buffer.from(this.callbackToken(request.attempt_id));
    const valid = given.length === expected.length && timingSafeEqual(given, expected);
    const event = valid ? readCloudEvent(request.body) : undefined;
    if (!valid || !event) {
      this.events.emit({ type: "rejected_callback", reason: valid ? "not_a_cloudevent" : "bad_token" });
      this.logCallback(request, valid ? 400 : 401, "rejected_callback");
      return { status: valid ? 400 : 401, body: "" };
    }
    const known = this.memory.get(request.attempt_id);
    const operation = event.type.includes("refund") ? "refund" : known?.operation;
    const outcome = await this.sync({
      attempt_id: request.attempt_id,
      ...(operation ? { operation } : {}),
    });
    this.events.emit({ type: "outcome", attempt_id: request.attempt_id, outcome });
    this.logCallback(request, 204, outcome.status);
    return { status: 204, body: "" };
  }
}

/** A consent id carries the prepared payment and the operator's authorization id. */
function encodeConsent(paymentId: string, authorizationId: string): string {
  return `${encodeURIComponent(paymentId)}~${encodeURIComponent(authorizationId)}`;
}
function decodeConsent(consentId: string): { payment_id: string; authorization_id: string } {
  const [p = "", a = ""] = consentId.split("~", 2);
  return { payment_id: decodeURIComponent(p), authorization_id: decodeURIComponent(a) };
}
