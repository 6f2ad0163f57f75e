import { ConnectorBase, type ConnectorOptions } from "../sdk/base.ts";
import { httpCall, moneyFailure, moneyUnreadable } from "../sdk/exchange.ts";
import type { HttpRequest, HttpResponse } from "../sdk/http.ts";
import type {
  Capability,
  CaptureInput,
  ChargeInput,
  Connector,
  Outcome,
  ReleaseInput,
  ReserveInput,
  SyncInput,
} from "../sdk/types.ts";
import { errorOutcome, paymentBody, paymentOutcome } from "./transformers.ts";

/**
 * CAMARA Carrier Billing: one-step `POST /payments`, or `prepare` then `confirm` / `cancel`.
 * `clientCorrelator` = our attempt id; a repeat answers 409, resolved by looking the payment up.
 * Refunds are a separate CAMARA API, not offered here.
 */
export class CamaraConnector extends ConnectorBase implements Connector {
  readonly protocol = "camara";
  readonly capabilities: ReadonlySet<Capability> = new Set<Capability>([
    "charge",
    "reserve",
    "capture",
    "release",
  ]);

  constructor(options: ConnectorOptions) {
    super(options, "camara");
  }

  private url(path: string): string {
    return `${this.options.http_url}/${this.operator}/camara/payment/v0/payments${path}`;
  }

  private req(method: "GET" | "POST", url: string, body?: string): () => Promise<HttpRequest> {
    return () => {
      const r: HttpRequest = { method, url, headers: { accept: "application/json" } };
      if (body !== undefined) {
        r.headers["content-type"] = "application/json";
        r.body = body;
      }
      return this.auth.apply(r);
    };
  }

  private interpret(asked: {
    amount?: bigint;
    currency?: string;
    callback: boolean;
    expect: "Succeeded" | "Reserved" | "Cancelled";
  }) {
    return (r: HttpResponse): Outcome => {
      const body: unknown = r.body ? JSON.parse(r.body) : undefined;
      if (r.status === 200 || r.status === 201) {
        // A lookup by correlator answers a list.
        if (Array.isArray(body)) {
          if (body.length === 0) return { status: "not_sent", reason: "not_found" };
          return paymentOutcome(body[0], asked, this.options.operator.decline_codes);
        }
        return paymentOutcome(body, asked, this.options.operator.decline_codes);
      }
      if (r.status === 401) this.authRejected();
      return errorOutcome(r.status, body, this.options.operator.decline_codes);
    };
  }

  private async create(
    operation: "charge" | "reserve",
    path: string,
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
    });
    const notification_url = operation === "charge" ? this.callbackUrl(input.attempt_id) : undefined;
    const body = paymentBody({
      msisdn: input.msisdn,
      amount: input.amount,
      currency: input.currency,
      description: input.description,
      client_correlator: input.attempt_id,
      ...(notification_url ? { notification_url } : {}),
    });
    const outcome = await httpCall(this.ctx, {
      operation,
      attempt_id: input.attempt_id,
      ...(input.deadline_ms !== undefined ? { deadline_ms: input.deadline_ms } : {}),
      build: this.req("POST", this.url(path), body),
      interpret: this.interpret({
        amount: input.amount,
        currency: input.currency,
        callback: notification_url !== undefined,
        expect: operation === "charge" ? "Succeeded" : "Reserved",
      }),
      onFailure: moneyFailure,
      onUnreadable: moneyUnreadable,
    });
    if (outcome.status === "unknown" && outcome.reason === "duplicate_correlator")
      return this.sync({ attempt_id: input.attempt_id, operation });
    return outcome;
  }

  charge(input: ChargeInput): Promise<Outcome> {
    if (!input.msisdn) return Promise.resolve({ status: "not_sent", reason: "invalid_input" });
    return this.create("charge", "", { ...input, msisdn: input.msisdn });
  }

  async reserve(input: ReserveInput): Promise<Outcome & { reservation_id?: string }> {
    const o = await this.create("reserve", "/prepare", input);
    return o.status === "succeeded" ? { ...o, reservation_id: o.provider_reference } : o;
  }

  private action(
    operation: "capture" | "release",
    input: { attempt_id: string; reservation_id: string; deadline_ms?: number },
    asked: { amount?: bigint; currency?: string },
  ): Promise<Outcome> {
    const path = `/${encodeURIComponent(input.reservation_id)}/${operation === "capture" ? "confirm" : "cancel"}`;
    return httpCall(this.ctx, {
      operation,
      attempt_id: input.attempt_id,
      ...(input.deadline_ms !== undefined ? { deadline_ms: input.deadline_ms } : {}),
      build: this.req("POST", this.url(path), JSON.stringify({ clientCorrelator: input.attempt_id })),
      interpret: this.interpret({
        ...asked,
        callback: false,
        expect: operation === "capture" ? "Succeeded" : "Cancelled",
      }),
      onFailure: moneyFailure,
      onUnreadable: moneyUnreadable,
    });
  }

  /** Confirming is idempotent per payment: a lost confirm is settled by confirming again. */
  capture(input: CaptureInput): Promise<Outcome> {
    return this.action("capture", input, { amount: input.amount, currency: input.currency });
  }

  release(input: ReleaseInput): Promise<Outcome> {
    return this.action("release", input, {});
  }

  async sync(raw: SyncInput): Promise<Outcome> {
    const input = this.memory.complete(raw);
    const asked: { amount?: bigint; currency?: string; callback: boolean; expect: "Succeeded" | "Reserved" } =
      { callback: false, expect: input.operation === "reserve" ? "Reserved" : "Succeeded" };
    if (input.amount !== undefined) asked.amount = input.amount;
    if (input.currency !== undefined) asked.currency = input.currency;
    return httpCall(this.ctx, {
      operation: "sync",
      attempt_id: input.attempt_id,
      build: this.req("GET", `${this.url("")}?clientCorrelator=${encodeURIComponent(input.attempt_id)}`),
      interpret: this.interpret(asked),
      onFailure: (f): Outcome => ({
        status: "unknown",
        reason: f.kind === "lost" ? f.reason : "sync_not_sent",
      }),
      onUnreadable: moneyUnreadable,
    });
  }
}
