import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Operator } from "../operators/types.ts";
import { authFrom, type HttpAuth, OAuth2ClientCredentials } from "./auth.ts";
import { Listeners } from "./callbacks.ts";
import { type ConnectorContext, createContext, recordTokenExchange } from "./exchange.ts";
import type { TlsOptions } from "./http.ts";
import type {
  CallbackReply,
  CallbackRequest,
  Capability,
  ConnectorEvent,
  InteractionLog,
  NextAction,
  Outcome,
  SyncInput,
} from "./types.ts";

export type { CallbackReply, CallbackRequest } from "./types.ts";

import type { AuthConfig } from "./auth.ts";
import { resolveSecret } from "./auth.ts";
import { redactHeaders, redactText } from "./redact.ts";

/** What every connector is built from: the operator's configuration and the core's sinks. */
export interface ConnectorOptions {
  operator: Operator;
  log: InteractionLog;
  /** Base URL of the operator (the simulator by default), e.g. http://127.0.0.1:8790. */
  http_url: string;
  smpp_host?: string;
  smpp_port?: number;
  settlement_dir?: string;
  /** Where operators post asynchronous results: `{callback_url}/{attempt_id}?token=…`. */
  callback_url?: string;
  /** Secret for the per-attempt callback token (operators' callbacks are usually unsigned). */
  callback_secret?: string;
  deadline_ms?: number;
  /** How long `charge` waits for a callback or receipt before answering `pending`. */
  callback_wait_ms?: number;
  /** Mutual TLS to the operator (client certificate and key, pinned CA), for https endpoints. */
  tls?: TlsOptions;
  /** On a test network only: the one-time code every payer receives (documented as 1234). */
  otp_fixed_code?: string;
}

/** Remembers what recent attempts asked for, so callbacks and syncs can be checked. Bounded. */
export const ATTEMPT_MEMORY_MAX = 50_000;

export interface AskedAttempt {
  msisdn?: string;
  amount?: bigint;
  currency?: string;
  operation?: SyncInput["operation"];
  provider_reference?: string;
  /** The charge a refund gives money back from (its provider reference). */
  original_reference?: string;
  /** When the request was first sent: bounds a lookup by creation date. */
  sent_ms?: number;
}

export class AttemptMemory {
  private readonly map = new Map<string, AskedAttempt>();
  private readonly byRef = new Map<string, string>();
  remember(attempt_id: string, asked: AskedAttempt): void {
    const merged = { ...this.map.get(attempt_id), ...asked };
    this.map.delete(attempt_id);
    this.map.set(attempt_id, merged);
    if (asked.provider_reference && asked.operation !== "capture" && asked.operation !== "release")
      this.byRef.set(asked.provider_reference, attempt_id);
    if (this.map.size > ATTEMPT_MEMORY_MAX) {
      const oldest = this.map.keys().next().value;
      if (oldest !== undefined) this.map.delete(oldest);
    }
    if (this.byRef.size > ATTEMPT_MEMORY_MAX) {
      const oldest = this.byRef.keys().next().value;
      if (oldest !== undefined) this.byRef.delete(oldest);
    }
  }
  get(attempt_id: string): AskedAttempt | undefined {
    return this.map.get(attempt_id);
  }
  /** What the attempt that the provider calls `reference` asked for. */
  byReference(reference: string): AskedAttempt | undefined {
    const attempt = this.byRef.get(reference);
    return attempt === undefined ? undefined : this.map.get(attempt);
  }
  /** The sync input completed from memory. */
  complete(input: SyncInput): SyncInput & AskedAttempt {
    return { ...this.map.get(input.attempt_id), ...stripUndefined(input) };
  }
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** Secrets in the configuration may be `env:NAME|fallback`. */
export function resolveAuth(auth: AuthConfig, http_url: string): AuthConfig {
  const s = (v: string) => resolveSecret(v).replace("{http_url}", http_url);
  switch (auth.type) {
    case "basic":
      return { ...auth, username: s(auth.username), password: s(auth.password) };
    case "api_key":
      return { ...auth, value: s(auth.value) };
    case "oauth2_client_credentials":
      return { ...auth, token_url: s(auth.token_url), client_secret: s(auth.client_secret) };
    case "hmac":
      return { ...auth, secret: s(auth.secret) };
    default:
      return auth;
  }
}

/** The common part of a connector: context, auth, events, attempt memory, callback tokens. */
export abstract class ConnectorBase {
  abstract readonly protocol: string;
  abstract readonly capabilities: ReadonlySet<Capability>;
  readonly ctx: ConnectorContext;
  readonly auth: HttpAuth;
  readonly events = new Listeners<ConnectorEvent>();
  readonly memory = new AttemptMemory();
  /** Signs callback tokens and one-time-code consents; random per process when none is configured. */
  protected readonly secret: string;

  constructor(
    readonly options: ConnectorOptions,
    protocol: string,
  ) {
    this.ctx = createContext({
      operator: options.operator.id,
      protocol,
      log: options.log,
      tps_max: options.operator.tps_max,
      deadline_ms: options.deadline_ms ?? options.operator.deadline_ms,
      ...(options.tls ? { tls: options.tls } : {}),
    });
    this.secret = options.callback_secret ?? randomBytes(32).toString("hex");
    this.auth = authFrom(resolveAuth(options.operator.auth, options.http_url));
    // The token request is part of the wire: it goes to the interaction log, secrets redacted.
    if (this.auth instanceof OAuth2ClientCredentials)
      this.auth.onExchange = (e) => recordTokenExchange(this.ctx, e);
  }

  get operator(): string {
    return this.options.operator.id;
  }

  onEvent(listener: (event: ConnectorEvent) => void): () => void {
    return this.events.add(listener);
  }

  /** Clears a cached OAuth2 token after the operator answered 401. */
  protected authRejected(): void {
    if (this.auth instanceof OAuth2ClientCredentials) this.auth.invalidate();
  }

  callbackToken(attempt_id: string): string {
    return createHmac("sha256", this.secret)
      .update(`${this.operator}:${attempt_id}`)
      .digest("hex")
      .slice(0, 32);
  }

  /** The callback URL without a token, for protocols that carry the token in a header (CAMARA `sinkCredential`). */
  sinkUrl(attempt_id: string): string | undefined {
    if (!this.options.callback_url) return undefined;
    return `${this.options.callback_url}/${encodeURIComponent(attempt_id)}`;
  }

  callbackUrl(attempt_id: string): string | undefined {
    if (!this.options.callback_url) return undefined;
    return `${this.options.callback_url}/${encodeURIComponent(attempt_id)}?token=${this.callbackToken(attempt_id)}`;
  }

  protected callbackTokenValid(attempt_id: string, token: string | undefined): boolean {
    const expected = Buffer.from(this.callbackToken(attempt_id));
    const given = Buffer.from(token ?? "");
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  /**
   * An operator callback is a hint, never proof: after its token checks out, the connector asks
   * the operator (`sync`) and emits what the operator answers. A forged body cannot mark success.
   */
  async handleCallback(request: CallbackRequest): Promise<CallbackReply> {
    const started = performance.now();
    const valid = this.callbackTokenValid(request.attempt_id, request.query.token);
    let outcome: Outcome | undefined;
    if (valid) {
      outcome = await this.sync({ attempt_id: request.attempt_id });
      this.events.emit({ type: "outcome", attempt_id: request.attempt_id, outcome });
    } else {
      this.events.emit({ type: "rejected_callback", reason: "bad_token" });
    }
    this.logCallback(
      request,
      valid ? 200 : 401,
      valid && outcome ? outcome.status : "rejected_callback",
      started,
    );
    return valid ? { status: 200, body: "" } : { status: 401, body: "" };
  }

  /** A notification as it arrived (secrets redacted), with what we answered. */
  protected logCallback(
    request: CallbackRequest,
    status: number,
    outcome: string,
    started = performance.now(),
  ): void {
    try {
      this.options.log.record({
        operator: this.operator,
        protocol: this.protocol,
        operation: "callback",
        attempt_id: request.attempt_id,
        request: {
          headers: redactHeaders(definedHeaders(request.headers)),
          body: redactText(request.body.slice(0, 64 * 1024)),
        },
        response: { status },
        outcome,
        latency_ms: Math.round(performance.now() - started),
      });
    } catch {}
  }

  abstract sync(input: SyncInput): Promise<Outcome>;

  async close(): Promise<void> {}
}

function definedHeaders(headers: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(headers).filter((e): e is [string, string] => typeof e[1] === "string"),
  );
}

export function pendingVia(
  via: "callback" | "poll" | "file" | "receipt" | "redirect",
  provider_reference?: string,
  next_action?: NextAction,
): Outcome {
  const out: Outcome = { status: "pending", via };
  if (provider_reference) out.provider_reference = provider_reference;
  if (next_action) out.next_action = next_action;
  return out;
}
