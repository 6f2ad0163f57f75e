import type { BillingContext } from "./context.ts";
import { ask, settleAttempt } from "./steps/attempts.ts";
import { CapUsage } from "./steps/caps.ts";
import { BILLING_BATCH_SIZE_MAX, claimDueJobs } from "./steps/claim.ts";
import { checkBalances, decide } from "./steps/decide.ts";
import { enact, recordRemote } from "./steps/enact.ts";
import { sendRemote } from "./steps/remote.ts";
import { allocateOperatorSeconds } from "./steps/tps.ts";
import { type Attempt, type BatchReport, emptyReport } from "./steps/types.ts";
import { BatchWrites } from "./steps/writes.ts";

export type { BillingContext } from "./context.ts";
export { BILLING_BATCH_SIZE_MAX } from "./steps/claim.ts";
export type { BatchReport } from "./steps/types.ts";

/**
 * The charging scheduler: one batch, step by step as docs/billing.md numbers them. Everything a
 * batch decides is written with one statement per table, in the transaction that holds the
 * claims. In-process providers (the sandbox) are asked inside it, so a crash before commit leaves
 * no trace; remote ones after it, with the attempt already recorded and the job pointing at it,
 * so a crash leads the next run to ask the operator (`sync`), never to charge again.
 */
export async function runBillingBatch(
  ctx: BillingContext,
  options: { nowMs: number; clockKey?: string; batchSize?: number },
): Promise<BatchReport> {
  const { nowMs } = options;
  const report = emptyReport();
  let remote: Attempt[] = [];
  await ctx.db.transaction(async (tx) => {
    // 1. Claim due jobs (SKIP LOCKED); load subscriptions, policies, awaited attempts.
    const claim = await claimDueJobs(ctx, tx, options);
    report.claimed = claim.items.length + claim.orphans.length;
    if (report.claimed === 0) return;
    // 2. Lock the subscribers' cap counters and decide each job; charges reserve under the caps.
    const usage = await CapUsage.lock(tx, claim.items, claim.pending);
    let planned = decide(claim.items, usage, nowMs);
    // 3. Balance checks where an in-process provider can tell.
    planned = await checkBalances(planned, usage, nowMs);
    // 4. The operators' budgets for this second.
    planned = await allocateOperatorSeconds(ctx, tx, planned, usage, nowMs);
    // 5. Plans become job moves, settlements and attempts; in-process providers answer now.
    const writes = new BatchWrites(nowMs);
    const attempts = enact(planned, claim, writes, report, nowMs);
    for (const a of attempts.filter((x) => x.item.provider.inProcess)) {
      const answered: Attempt = { ...a, answer: await ask(a, nowMs) };
      const settled = settleAttempt(answered, nowMs);
      if (settled.succeeded) report.succeeded++;
      writes.settledAttempt(answered, settled, usage);
    }
    remote = attempts.filter((a) => !a.item.provider.inProcess);
    recordRemote(remote, writes, nowMs);
    // 6. Everything in bulk, one statement per table, with the claims.
    await writes.flush(ctx, tx, usage);
  });
  // 7. Remote providers, after commit; their answers settled under the job locks.
  if (remote.length > 0) await sendRemote(ctx, remote, report, nowMs);
  return report;
}

/** Runs batches until nothing is due at `nowMs`. */
export async function runDueBilling(
  ctx: BillingContext,
  options: { nowMs: number; clockKey?: string; batchSize?: number },
): Promise<BatchReport> {
  const total = emptyReport();
  for (;;) {
    const r = await runBillingBatch(ctx, options);
    total.claimed += r.claimed;
    total.charged += r.charged;
    total.succeeded += r.succeeded;
    total.deferred += r.deferred;
    total.synced += r.synced;
    for (const [reason, n] of Object.entries(r.deferredBy))
      total.deferredBy[reason] = (total.deferredBy[reason] ?? 0) + n;
    // A short batch means the due set is drained (or held by other workers, which finish it).
    if (r.claimed < Math.min(options.batchSize ?? BILLING_BATCH_SIZE_MAX, BILLING_BATCH_SIZE_MAX))
      return total;
  }
}
