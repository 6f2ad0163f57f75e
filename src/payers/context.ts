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
  refund(
    scope: AuthScope,
    input: { payment: string; reason?: string; metadata?: Record<string, string> },
    idempotency: IdempotencyContext | undefined,
  ): Promise<FlowResult>;
  cancelSubscription(scope: AuthScope, id: string): Promise<FlowResult>;
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
