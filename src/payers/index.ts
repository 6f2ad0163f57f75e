/**
 * Payers: the people who pay, across every merchant. Accounts (e-mail and password, or a one-time
 * code to a number or an address), short-lived signed tokens with rotated refresh, their own
 * payments and subscriptions only, cancel, refund requests answered by the merchant's policy or
 * the merchant, spending caps and merchant blocks. docs/payers.md.
 */
import type { Db } from "../db/db.ts";
import type { IdempotencyGate } from "../idempotency/index.ts";
import { type Notifier, runNotices } from "../notifications/index.ts";
import type { Clock } from "../platform/clock.ts";
import type { Logger } from "../platform/log.ts";
import { deleteExpiredCodes } from "./codes.ts";
import type { PayersContext } from "./context.ts";
import { settleRefundedRequests } from "./refund-requests.ts";
import { PayerThrottle } from "./throttle.ts";
import { deriveKey } from "./tokens.ts";

export type { FlowResult, PayerAuth, PayersContext } from "./context.ts";
export { PAYER_THROTTLE_LIMITS, PayerThrottle, type RateLimitField } from "./throttle.ts";

export interface Payers {
  ctx: PayersContext;
  gate: IdempotencyGate;
  /** Where payers manage what they pay (in messages to them). */
  portalUrl: string;
}

export function createPayers(options: {
  db: Db;
  clock: Clock;
  logger?: Logger;
  notifier: Notifier;
  gate: IdempotencyGate;
  /** The installation's session secret: the token and code keys are derived from it. */
  secret: string;
  portalUrl: string;
  refund: PayersContext["refund"];
  cancelSubscription: PayersContext["cancelSubscription"];
}): Payers {
  return {
    gate: options.gate,
    portalUrl: options.portalUrl,
    ctx: {
      db: options.db,
      clock: options.clock,
      notifier: options.notifier,
      ...(options.logger ? { logger: options.logger } : {}),
      tokenKey: deriveKey(options.secret, "payer-access-tokens"),
      codeKey: deriveKey(options.secret, "payer-codes"),
      throttle: new PayerThrottle(),
      refund: options.refund,
      cancelSubscription: options.cancelSubscription,
    },
  };
}

export {
  authenticatePayer,
  edgeThrottleFields,
  identityOf,
  loadPayer,
  maskIdentity,
  presentPayer,
  refreshSession,
  requestCode,
  signInWithCode,
} from "./accounts.ts";
export { consentEvidence } from "./evidence.ts";
export { linkIdentity, requestLinkCode } from "./identities.ts";
export {
  declineRefundRequest,
  executeRefund,
  listPayerRefundRequests,
  listRefundRequests,
  markRefundRequestApproved,
  presentRefundRequest,
  type RefundRequestRow,
  requestRefund,
  settleRefundedRequests,
} from "./refund-requests.ts";
export { blockMerchant, cancelOwnSubscription, unblockMerchant, updateSettings } from "./self-care.ts";
export { verifyAccessToken } from "./tokens.ts";
export {
  HISTORY_DAYS_DEFAULT,
  listPayerPayments,
  listPayerSubscriptions,
  presentPayerPayment,
  presentPayerSubscription,
} from "./views.ts";

/** A worker job, as src/jobs/runner.ts runs it (written out: jobs/ has no public entry). */
export interface PayerJob {
  name: string;
  intervalMs: number;
  busyThreshold?: number;
  run(): Promise<number>;
}

/** The worker's payer jobs: notices that country rules require, and expired codes swept. */
export function payerJobs(payers: Payers): PayerJob[] {
  const { ctx } = payers;
  return [
    {
      name: "payer_notices",
      intervalMs: 1_000,
      busyThreshold: 50,
      run: () =>
        runNotices({ db: ctx.db, notifier: ctx.notifier, clock: ctx.clock, portalUrl: payers.portalUrl }),
    },
    {
      name: "refund_requests_settled",
      intervalMs: 10_000,
      busyThreshold: 100,
      run: () => settleRefundedRequests(ctx.db, ctx.clock.nowMs()),
    },
    {
      name: "payer_codes_sweep",
      intervalMs: 60_000,
      busyThreshold: 1000,
      run: () => deleteExpiredCodes(ctx.db, ctx.clock.nowMs()),
    },
  ];
}
export { checkPayerLimits, PayerLimits, type PayerLimitVerdict } from "./limits.ts";
