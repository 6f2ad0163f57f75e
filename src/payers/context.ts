import type { Db } from "../db/db.ts";
import type { IdempotencyContext } from "../idempotency/index.ts";
import type { Notifier } from "../notifications/index.ts";
import type { Clock } from "../platform/clock.ts";
import type { Logger } from "../platform/log.ts";
import type { AuthScope } from "../platform/scope.ts";
import type { PayerThrottle } from "./throttle.ts";

/** A result as the payments and billing flows answer it: the status and the JSON text. */
export interface FlowResult {
  statusCode: number;
  body: string;
}

/**
 * What payers need from the rest of the platform. Refunds and cancellations go through the same
 * flows as the merchants' API (wired in src/services.ts), so the ledger and events stay one path.
 */
export interface PayersContext {
  db: Db;
  clock: Clock;
  notifier: Notifier;
  logger?: Logger;
  /** Signs access tokens. */
  tokenKey: Uint8Array;
  /** Keys the hashes of one-time codes. */
  codeKey: Uint8Array;
  throttle: PayerThrottle;
  /** Sign-ins and code requests are evaluated by the risk engine (src/risk/signin.ts) when set. */
  risk?: SignInRiskHook;
  /** The trusted proxy's country header (CENTIME_IP_COUNTRY_HEADER): the attempts' ip_country. */
  ipCountryHeader?: string;
  refund(
    scope: AuthScope,
    input: { payment: string; reason?: string; metadata?: Record<string, string> },
    idempotency: IdempotencyContext | undefined,
  ): Promise<FlowResult>;
  cancelSubscription(scope: AuthScope, id: string): Promise<FlowResult>;
}

/** Who attempts a sign-in, as the risk engine reads it. */
export interface SignInAttempt {
  ip: string;
  ipCountry?: string;
  msisdn?: string;
}

export interface SignInRiskHook {
  assess(attempt: SignInAttempt, nowMs: number): Promise<{ blocked: boolean; rule: string | null }>;
  failed(attempt: SignInAttempt, nowMs: number): Promise<void>;
  throttled(attempt: SignInAttempt, limit: string, nowMs: number): Promise<void>;
}

/** The payer a request acts for, from a verified access token. */
export interface PayerAuth {
  payerId: string;
  /** Live-mode data is shown only to a sign-in proven through a real channel. */
  live: boolean;
}

export function modesOf(auth: PayerAuth): string[] {
  return auth.live ? ["test", "live"] : ["test"];
}
