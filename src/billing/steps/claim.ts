import type { Queryable } from "../../db/db.ts";
import { type BillingContext, policyFor, rulesOf } from "../context.ts";
import type { JobRow, SubscriptionRow } from "../model.ts";
import { localDayKey, localMonthKey } from "../time.ts";
import type { Item, SubscriptionPayment } from "./types.ts";

export const BILLING_BATCH_SIZE_MAX = 500;

export interface Claim {
  items: Item[];
  /** Jobs whose subscription is gone: deleted. */
  orphans: string[];
  /** Attempts the claimed jobs wait for (their answer is asked for), locked. */
  pending: Map<string, SubscriptionPayment>;
}

/**
 * Step 1: claims due jobs with FOR UPDATE SKIP LOCKED (any number of workers share the due set
 * without waiting for each other; the job row lock is the subscription's mutex), then loads their
 * subscriptions, the merchants' dunning policies and the attempts they wait for.
 */
export async function claimDueJobs(
  ctx: BillingContext,
  tx: Queryable,
  options: { nowMs: number; clockKey?: string; batchSize?: number },
): Promise<Claim> {
  const { nowMs } = options;
  const { rows: jobs } = await tx.query<JobRow>(
    `select * from billing_jobs where clock_key = $1 and run_at <= $2
     order by run_at limit $3 for update skip locked`,
    [
      options.clockKey ?? "",
      new Date(nowMs),
      Math.min(options.batchSize ?? BILLING_BATCH_SIZE_MAX, BILLING_BATCH_SIZE_MAX),
    ],
  );
  const claim: Claim = { items: [], orphans: [], pending: new Map() };
  if (jobs.length === 0) return claim;
  const { rows: subs } = await tx.query<SubscriptionRow>(
    "select * from subscriptions where id = any($1::text[])",
    [jobs.map((j) => j.subscription_id)],
  );
  const subById = new Map(subs.map((s) => [s.id, s]));
  const policies = await ctx.caches.loadPolicies(tx, [...new Set(jobs.map((j) => j.merchant_id))], nowMs);
  for (const job of jobs) {
    const sub = subById.get(job.subscription_id);
    if (!sub) {
      claim.orphans.push(job.subscription_id);
      continue;
    }
    const rules = rulesOf(ctx, sub);
    claim.items.push({
      job,
      sub,
      rules,
      policy: policyFor(policies, sub),
      provider: ctx.providers.require(sub.payment_method.type),
      capped: rules.caps !== null && rules.caps.currency === sub.currency,
      dayKey: localDayKey(sub.time_zone, nowMs),
      monthKey: localMonthKey(sub.time_zone, nowMs),
    });
  }
  const pendingIds = claim.items.flatMap((i) => (i.job.pending_payment_id ? [i.job.pending_payment_id] : []));
  if (pendingIds.length > 0) {
    const { rows } = await tx.query<SubscriptionPayment>(
      "select * from payments where id = any($1::text[]) order by id for update",
      [pendingIds],
    );
    for (const p of rows) claim.pending.set(p.id, p);
  }
  return claim;
}
