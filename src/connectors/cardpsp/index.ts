import { signatureHeader, verifySignature } from "../sdk/auth.ts";
import {
  type CallbackReply,
  type CallbackRequest,
  ConnectorBase,
  type ConnectorOptions,
} from "../sdk/base.ts";
import { httpCall, moneyFailure, moneyUnreadable } from "../sdk/exchange.ts";
import type { HttpRequest, HttpResponse } from "../sdk/http.ts";
import { redactText } from "../sdk/redact.ts";
import type {
  CancelInput,
  CancelOutput,
  Capability,
  CardTokenInfo,
  ChargeInput,
  Connector,
  Outcome,
  RefundInput,
  SyncInput,
} from "../sdk/types.ts";
import { errorOutcome, paymentBody, paymentOutcome } from "./transformers.ts";

/**
 * The card PSP sandbox: HMAC-signed REST both ways (an unsigned or badly signed reply is
 * `unknown`, never success), signed asynchronous notifications, and a redirect `next_action`
 * for the 3-D Secure-like step. Our attempt id is the PSP's idempotent `reference`.
 */

export interface CardPspOptions extends ConnectorOptions {
  psp_secret: string;
  psp_key_id?: string;
}

export class CardPspConnector extends ConnectorBase implements Connector {
  readonly protocol = "cardpsp";
  readonly capabilities: ReadonlySet<Capability> = new Set<Capability>(["charge", "refund"]);

  constructor(private readonly psp: CardPspOptions) {
    super(psp, "cardpsp");
  }

  private signed(method: "GET" | "POST", path: string, body?: string): () => HttpRequest {
    return () => {
      const url = new URL(`${this.options.http_url}/cardpsp/v1/${path}`);
      // GET requests sign their query string; POSTs sign the raw body.
      const signedText = method === "GET" ? url.search : (body ?? "");
      const r: HttpRequest = {
        method,
        url: url.toString(),
        headers: {
          accept: "application/json",
          "x-key-id": this.psp.psp_key_id ?? "centime",
          "x-signature": signatureHeader(this.psp.psp_secret, signedText),
        },
      };
      if (body !== undefined) {
        r.headers["content-type"] = "application/json";
        r.body = body;
      }
      return r;
    };
  }

  private interpret(asked: { amount?: bigint; currency?: string; expect: "succeeded" | "refunded" }) {
    return (r: HttpResponse): Outcome => {
      const check = verifySignature(this.psp.psp_secret, r.headers["x-signature"], r.body);
      if (check !== "valid") return { status: "unknown", reason: `reply_signature_${check}` };
      const body: unknown = JSON.parse(r.body);
      if (r.status === 200 || r.status === 201)
        return paymentOutcome(body, asked, this.options.operator.decline_codes);
      if (r.status === 404 && asked.expect === "succeeded")
        return { status: "not_sent", reason: "not_found" };
      return errorOutcome(r.status, body, this.options.operator.decline_codes);
    };
  }

  charge(input: ChargeInput): Promise<Outcome> {
    const card = input.card;
    if (!card) return Promise.resolve({ status: "not_sent", reason: "invalid_input" });
    this.memory.remember(input.attempt_id, {
      amount: input.amount,
      currency: input.currency,
      operation: "charge",
    });
    const notify_url = this.callbackUrl(input.attempt_id);
    return httpCall(this.ctx, {
      operation: "charge",
      attempt_id: input.attempt_id,
      ...(input.deadline_ms !== undefined ? { deadline_ms: input.deadline_ms } : {}),
      build: () =>
        this.signed(
          "POST",
          "payments",
          paymentBody({
            reference: input.attempt_id,
            amount: input.amount,
            currency: input.currency,
            description: input.description,
            card,
            ...(input.return_url ? { return_url: input.return_url } : {}),
            ...(notify_url ? { notify_url } : {}),
          }),
        )(),
      interpret: this.interpret({ amount: input.amount, currency: input.currency, expect: "succeeded" }),
      onFailure: moneyFailure,
      onUnreadable: moneyUnreadable,
    });
  }

  /**
   * What a token from the PSP's card form stands for (brand, last 4, expiry), or null when the
   * PSP does not know it. A reply without a valid signature is an error, never a card.
   */
  async lookupToken(token: string): Promise<CardTokenInfo | null> {
    const request = this.signed("GET", `tokens?token=${encodeURIComponent(token)}`)();
    const response = await fetch(request.url, {
      headers: request.headers,
      signal: AbortSignal.timeout(this.options.deadline_ms ?? 10_000),
    });
    const body = await response.text();
    const signature = response.headers.get("x-signature") ?? undefined;
    if (verifySignature(this.psp.psp_secret, signature, body) !== "valid")
      throw new Error("the card PSP's token answer is not signed");
    if (response.status === 404) return null;
    if (response.status !== 200) throw new Error(`the card PSP answered ${response.status} for a token`);
    const card = (JSON.parse(body) as { card?: Partial<CardTokenInfo> }).card;
    if (
      typeof card?.brand !== "string" ||
      typeof card.last4 !== "string" ||
      !/^\d{4}$/.test(card.last4) ||
      !Number.isInteger(card.exp_month) ||
      !Number.isInteger(card.exp_year)
    )
      throw new Error("the card PSP's token answer is unreadable");
    return {
      brand: card.brand.slice(0, 20),
      last4: card.last4,
      exp_month: card.exp_month as number,
      exp_year: card.exp_year as number,
    };
  }

  refund(input: RefundInput): Promise<Outcome> {
    this.memory.remember(input.attempt_id, {
      amount: input.amount,
      currency: input.currency,
      operation: "refund",
    });
    const body = JSON.stringify({
      reference: input.attempt_id,
      payment_id: input.original_reference,
      amount: Number(input.amount),
      currency: input.currency,
    });
    return httpCall(this.ctx, {
      operation: "refund",
      attempt_id: input.attempt_id,
      build: this.signed("POST", "refunds", body),
      interpret: this.interpret({ amount: input.amount, currency: input.currency, expect: "refunded" }),
      onFailure: moneyFailure,
      onUnreadable: moneyUnreadable,
    });
  }

  /** Voids a payment the PSP has not settled: a 3-D Secure step never completes after this. */
  cancel(input: CancelInput): Promise<CancelOutput> {
    const body = JSON.stringify({ reference: input.attempt_id });
    return httpCall<CancelOutput>(this.ctx, {
      operation: "cancel",
      attempt_id: input.attempt_id,
      ...(input.deadline_ms !== undefined ? { deadline_ms: input.deadline_ms } : {}),
      build: this.signed("POST", "payments/cancel", body),
      interpret: (r) => {
        const check = verifySignature(this.psp.psp_secret, r.headers["x-signature"], r.body);
        if (check !== "valid") return { status: "unknown", reason: `reply_signature_${check}` };
        const p = JSON.parse(r.body) as { id?: unknown; status?: unknown; error?: { code?: unknown } };
        if (r.status === 200 && (p.status === "canceled" || p.status === "failed"))
          return { status: "canceled", ...(typeof p.id === "string" ? { provider_reference: p.id } : {}) };
        if (r.status === 404 || r.status === 409)
          return { status: "refused", reason: String(p.error?.code ?? r.status).slice(0, 40) };
        return { status: "unknown", reason: `http_${r.status}` };
      },
      onFailure: (f) => ({ status: "unknown", reason: f.kind === "lost" ? f.reason : "not_sent" }),
      onUnreadable: (reason) => ({ status: "unknown", reason }),
    });
  }

  sync(raw: SyncInput): Promise<Outcome> {
    const input = this.memory.complete(raw);
    const asked: { amount?: bigint; currency?: string; expect: "succeeded" } = { expect: "succeeded" };
    if (input.amount !== undefined) asked.amount = input.amount;
    if (input.currency !== undefined) asked.currency = input.currency;
    return httpCall(this.ctx, {
      operation: "sync",
      attempt_id: input.attempt_id,
      build: this.signed("GET", `payments?reference=${encodeURIComponent(input.attempt_id)}`),
      interpret: this.interpret(asked),
      onFailure: (f): Outcome => ({
        status: "unknown",
        reason: f.kind === "lost" ? f.reason : "sync_not_sent",
      }),
      onUnreadable: moneyUnreadable,
    });
  }

  /** Signed notifications: a missing or bad signature is refused and logged, never applied. */
  override async handleCallback(request: CallbackRequest): Promise<CallbackReply> {
    const started = performance.now();
    const check = verifySignature(this.psp.psp_secret, request.headers["x-signature"], request.body);
    let outcome: Outcome | undefined;
    let attempt_id: string | undefined;
    if (check === "valid") {
      try {
        const doc = JSON.parse(request.body) as { data?: { reference?: unknown } };
        const data = doc.data;
        attempt_id = typeof data?.reference === "string" ? data.reference : undefined;
        if (attempt_id) {
          const asked = this.memory.get(attempt_id) ?? {};
          outcome = paymentOutcome(
            data,
            {
              ...(asked.amount !== undefined ? { amount: asked.amount } : {}),
              ...(asked.currency ? { currency: asked.currency } : {}),
              expect: "succeeded",
            },
            this.options.operator.decline_codes,
          );
        }
      } catch {
        outcome = undefined;
      }
    }
    if (attempt_id && outcome) this.events.emit({ type: "outcome", attempt_id, outcome });
    else
      this.events.emit({
        type: "rejected_callback",
        reason: check === "valid" ? "unreadable" : `signature_${check}`,
      });
    try {
      this.options.log.record({
        operator: this.operator,
        protocol: "cardpsp",
        operation: "notification",
        attempt_id,
        request: {
          headers: { "x-signature": "[redacted]" },
          body: redactText(request.body.slice(0, 64 * 1024)),
        },
        response: { status: outcome ? 200 : 401 },
        outcome: outcome?.status ?? "rejected_callback",
        latency_ms: Math.round(performance.now() - started),
      });
    } catch {}
    return outcome ? { status: 200, body: "" } : { status: 401, body: "" };
  }
}
