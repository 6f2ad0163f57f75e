import { ConnectorBase, type ConnectorOptions } from "../sdk/base.ts";
import { httpCall, moneyFailure, moneyUnreadable } from "../sdk/exchange.ts";
import type { HttpRequest } from "../sdk/http.ts";
import type { Capability, ChargeInput, Connector, Outcome, SyncInput } from "../sdk/types.ts";
import { chargeBody, chargeOutcome } from "./transformers.ts";

/**
 * TEMPLATE for a new protocol connector: the wire plumbing (URLs, headers, the call) lives here,
 * the mapping lives in `transformers.ts`. `ConnectorBase` gives you the per-operator context
 * (deadline, circuit breaker, rate limit, interaction log), configured auth, attempt memory,
 * events and callback tokens; `httpCall` wraps one exchange so a hostile reply never throws.
 *
 * To make it real: add the protocol name to `ProtocolName` and `FACTORIES` in
 * `operators/`, serve it in `src/simulator/`, and run the conformance suite against it.
 */
export class AcmeConnector extends ConnectorBase implements Connector {
  readonly protocol = "acme";
  /** Declare only what you implement: the core chooses flows by capability. */
  readonly capabilities: ReadonlySet<Capability> = new Set<Capability>(["charge"]);

  constructor(options: ConnectorOptions) {
    super(options, "acme");
  }

  private url(path: string): string {
    return `${this.options.http_url}/${this.operator}/acme/v1${path}`;
  }

  charge(input: ChargeInput): Promise<Outcome> {
    const msisdn = input.msisdn;
    if (!msisdn) return Promise.resolve({ status: "not_sent", reason: "invalid_input" });
    // Remember what was asked so callbacks and `sync` can check the provider's answer.
    this.memory.remember(input.attempt_id, {
      msisdn,
      amount: input.amount,
      currency: input.currency,
      operation: "charge",
    });
    return httpCall(this.ctx, {
      operation: "charge",
      attempt_id: input.attempt_id,
      ...(input.deadline_ms !== undefined ? { deadline_ms: input.deadline_ms } : {}),
      build: () => {
        const body = chargeBody({
          msisdn,
          amount: input.amount,
          currency: input.currency,
          description: input.description,
          idempotency_key: input.attempt_id,
        });
        const request: HttpRequest = {
          method: "POST",
          url: this.url("/charges"),
          headers: { "content-type": "application/json" },
          body,
        };
        return this.auth.apply(request);
      },
      interpret: (r) =>
        chargeOutcome(
          r.status,
          r.body ? JSON.parse(r.body) : undefined,
          { amount: input.amount, currency: input.currency },
          this.options.operator.decline_codes,
        ),
      onFailure: moneyFailure,
      onUnreadable: moneyUnreadable,
    });
  }

  /** Ask the provider what became of our idempotency key; never re-send blindly. */
  sync(raw: SyncInput): Promise<Outcome> {
    const input = this.memory.complete(raw);
    return httpCall(this.ctx, {
      operation: "sync",
      attempt_id: input.attempt_id,
      build: () =>
        this.auth.apply({
          method: "GET",
          url: this.url(`/charges?idempotencyKey=${encodeURIComponent(input.attempt_id)}`),
          headers: {},
        }),
      interpret: (r): Outcome =>
        r.status === 404
          ? { status: "not_sent", reason: "not_found" }
          : chargeOutcome(
              r.status,
              JSON.parse(r.body),
              { amount: input.amount ?? -1n, currency: input.currency ?? "" },
              this.options.operator.decline_codes,
            ),
      onFailure: (f): Outcome => ({
        status: "unknown",
        reason: f.kind === "lost" ? f.reason : "sync_not_sent",
      }),
      onUnreadable: moneyUnreadable,
    });
  }
}
