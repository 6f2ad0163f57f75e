import type { TokenExchange } from "./auth.ts";
import { type HttpRequest, type HttpResponse, sendHttp, type TlsOptions, TransportFailure } from "./http.ts";
import { redactHeaders, redactParams, redactText } from "./redact.ts";
import { CircuitBreaker, DEFAULT_DEADLINE_MS, TokenBucket } from "./resilience.ts";
import { type InteractionLog, nullLog, type Outcome } from "./types.ts";

/**
 * What every connector instance carries: its operator, the log sink, and the per-operator
 * breaker and rate limit. One context per operator, shared by all its calls.
 */
export interface ConnectorContext {
  operator: string;
  protocol: string;
  log: InteractionLog;
  breaker: CircuitBreaker;
  bucket: TokenBucket;
  deadline_ms: number;
  body_bytes_max: number;
  tls?: TlsOptions;
}

export interface ContextOptions {
  operator: string;
  protocol: string;
  log: InteractionLog;
  tps_max?: number;
  deadline_ms?: number;
  body_bytes_max?: number;
  breaker_failure_count_max?: number;
  breaker_open_ms?: number;
  tls?: TlsOptions;
}

export function createContext(options: ContextOptions): ConnectorContext {
  const tps = options.tps_max ?? 100;
  const ctx: ConnectorContext = {
    operator: options.operator,
    protocol: options.protocol,
    log: options.log,
    breaker: new CircuitBreaker({
      failure_count_max: options.breaker_failure_count_max ?? 5,
      open_ms: options.breaker_open_ms ?? 30_000,
    }),
    bucket: new TokenBucket({ rate_per_s: tps, burst_max: Math.max(1, tps) }),
    deadline_ms: options.deadline_ms ?? DEFAULT_DEADLINE_MS,
    body_bytes_max: options.body_bytes_max ?? 1024 * 1024,
  };
  if (options.tls) ctx.tls = options.tls;
  return ctx;
}

export type Gate = { ok: true } | { ok: false; outcome: Outcome };

/** Rate limit then breaker: a refused call is `not_sent`, never queued without bound. */
export async function gate(ctx: ConnectorContext, wait_ms_max: number): Promise<Gate> {
  if (!ctx.breaker.tryAcquire()) {
    return {
      ok: false,
      outcome: { status: "not_sent", reason: "circuit_open", retry_after_ms: ctx.breaker.retryAfterMs() },
    };
  }
  if (!(await ctx.bucket.take(wait_ms_max))) {
    return {
      ok: false,
      outcome: { status: "not_sent", reason: "rate_limited", retry_after_ms: ctx.bucket.waitMs() },
    };
  }
  return { ok: true };
}

export function outcomeLabel(value: unknown): string {
  if (value && typeof value === "object" && "status" in value && typeof value.status === "string") {
    const category = "category" in value && typeof value.category === "string" ? `:${value.category}` : "";
    const reason = "reason" in value && typeof value.reason === "string" ? `:${value.reason}` : "";
    return value.status + category + reason;
  }
  return "unlabelled";
}

export function logRequest(request: HttpRequest, redact: readonly string[] = []): unknown {
  const out: Record<string, unknown> = {
    method: request.method,
    url: redactParams(request.url, redact),
    headers: redactHeaders(request.headers),
  };
  if (request.body !== undefined) out.body = redactText(request.body, redact);
  return out;
}

export function logResponse(response: HttpResponse): unknown {
  return {
    status: response.status,
    headers: redactHeaders(response.headers),
    body: redactText(response.body.slice(0, 64 * 1024)),
  };
}

/** The OAuth2 token request and its answer (secrets redacted), attributed to the call that needed it. */
export function recordTokenExchange(ctx: ConnectorContext, e: TokenExchange): void {
  if (ctx.log === nullLog) return;
  try {
    ctx.log.record({
      operator: ctx.operator,
      protocol: ctx.protocol,
      operation: "token",
      attempt_id: undefined,
      request: logRequest(e.request),
      response: e.response ? logResponse(e.response) : { error: e.error ?? "?" },
      outcome: e.response?.status === 200 ? "token_issued" : "token_refused",
      latency_ms: Math.round(e.latency_ms),
    });
  } catch {}
}

/**
 * One HTTP call with everything around it: gate, deadline, transport failure mapping, parsing in
 * a try/catch (a hostile reply never throws out of a connector), and the interaction log.
 */
export async function httpCall<T>(
  ctx: ConnectorContext,
  args: {
    operation: string;
    attempt_id: string | undefined;
    deadline_ms?: number;
    build: () => Promise<HttpRequest> | HttpRequest;
    interpret: (response: HttpResponse) => T;
    /** What to answer when the call was refused or the transport failed. */
    onFailure: (failure: { kind: "not_sent"; outcome: Outcome } | { kind: "lost"; reason: string }) => T;
    onUnreadable: (reason: string) => T;
    /** Extra body keys or parameters to redact in the log (a one-time code's `code`). */
    redact?: readonly string[];
  },
): Promise<T> {
  const deadline = args.deadline_ms ?? ctx.deadline_ms;
  const started = performance.now();
  const g = await gate(ctx, Math.min(deadline, 1_000));
  if (!g.ok) {
    const result = args.onFailure({ kind: "not_sent", outcome: g.outcome });
    record(ctx, args, undefined, { refused: g.outcome }, result, started);
    return result;
  }
  let request: HttpRequest | undefined;
  try {
    request = await args.build();
  } catch (error) {
    ctx.breaker.success();
    const result = args.onFailure({
      kind: "not_sent",
      outcome: { status: "not_sent", reason: "invalid_input" },
    });
    record(ctx, args, undefined, { error: String(error) }, result, started);
    return result;
  }
  let response: HttpResponse;
  try {
    response = await sendHttp(request, {
      timeout_ms: deadline,
      body_bytes_max: ctx.body_bytes_max,
      ...(ctx.tls ? { tls: ctx.tls } : {}),
    });
  } catch (error) {
    const kind = error instanceof TransportFailure ? error.kind : "reset";
    let result: T;
    if (kind === "connect_failed") {
      ctx.breaker.failure();
      result = args.onFailure({
        kind: "not_sent",
        outcome: { status: "not_sent", reason: "connect_failed" },
      });
    } else if (kind === "too_large") {
      ctx.breaker.success();
      result = args.onUnreadable("reply_too_large");
    } else {
      ctx.breaker.failure();
      result = args.onFailure({ kind: "lost", reason: kind });
    }
    record(
      ctx,
      args,
      request,
      { error: error instanceof Error ? error.message : String(error) },
      result,
      started,
    );
    return result;
  }
  if (response.status >= 500 && response.status !== 500) ctx.breaker.failure();
  else ctx.breaker.success();
  let result: T;
  try {
    result = args.interpret(response);
  } catch (error) {
    result = args.onUnreadable(
      `unreadable_reply: ${error instanceof Error ? error.message.slice(0, 120) : "?"}`,
    );
  }
  record(ctx, args, request, () => logResponse(response), result, started);
  return result;
}

function record(
  ctx: ConnectorContext,
  args: { operation: string; attempt_id: string | undefined; redact?: readonly string[] },
  request: HttpRequest | undefined,
  response: unknown,
  result: unknown,
  startedMs: number,
): void {
  // Redacting bodies costs regex passes over them: skip it when nobody listens.
  if (ctx.log === nullLog) return;
  try {
    ctx.log.record({
      operator: ctx.operator,
      protocol: ctx.protocol,
      operation: args.operation,
      attempt_id: args.attempt_id,
      request: request ? logRequest(request, args.redact) : undefined,
      response: typeof response === "function" ? response() : response,
      outcome: outcomeLabel(result),
      latency_ms: Math.round(performance.now() - startedMs),
    });
  } catch {
    // A failing log sink must not change a payment's outcome; the core monitors its own sink.
  }
}

/** The standard mapping for money operations: refused ⇒ not_sent, lost ⇒ unknown. */
export function moneyFailure(
  failure: { kind: "not_sent"; outcome: Outcome } | { kind: "lost"; reason: string },
): Outcome {
  return failure.kind === "not_sent" ? failure.outcome : { status: "unknown", reason: failure.reason };
}
export function moneyUnreadable(reason: string): Outcome {
  return { status: "unknown", reason };
}
