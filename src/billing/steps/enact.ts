import type { EventType } from "../../events/index.ts";
import type { TransferInput } from "../../ledger/index.ts";
import { giveUp, SYNC_AFTER_MS, settle, writeOff } from "../engine.ts";
import { BALANCE_TOO_LOW, newAttempt } from "./attempts.ts";
import { attemptPeriods } from "./caps.ts";
import type { Claim } from "./claim.ts";
import type { Attempt, BatchReport, Planned } from "./types.ts";
import type { BatchWrites } from "./writes.ts";

/**
 * Step 5: each plan becomes what it means: a job moved or deleted, a settlement without a charge
 * (give up, write off, a charge skipped by the balance check), or an attempt to charge or to ask
 * about. Returns the attempts; everything else is handed to `writes`.
 */
export function enact(
  planned: readonly Planned[],
  claim: Claim,
  writes: BatchWrites,
  report: BatchReport,
  nowMs: number,
): Attempt[] {
  for (const orphan of claim.orphans) writes.deleteJob(orphan);
  const attempts: Attempt[] = [];
  for (const { item, plan: p } of planned) {
    switch (p.kind) {
      case "drop":
        writes.deleteJob(item.job.subscription_id);
        break;
      case "defer":
        report.deferred++;
        report.deferredBy[p.reason] = (report.deferredBy[p.reason] ?? 0) + 1;
        writes.moveJob(item.job, p.run_at_ms, item.job.pending_payment_id);
        break;
      case "skip": {
        // The balance check saved a charge that would fail: a failed attempt for dunning.
        const s = settle({
          nowMs,
          sub: item.sub,
          rules: item.rules,
          policy: item.policy,
          purpose: "period",
          amount: item.sub.amount,
          payment_id: "",
          outcome: BALANCE_TOO_LOW,
        });
        writes.settlement(item, s, ["subscription.charge_skipped"]);
        break;
      }
      case "give_up":
        writes.settlement(item, giveUp({ nowMs, policy: item.policy }, { ...item.sub }, p.reason));
        break;
      case "write_off": {
        const sub = { ...item.sub, updated: new Date(nowMs) };
        const events: EventType[] = [];
        const transfers: TransferInput[] = [];
        writeOff(sub, nowMs, events, transfers);
        writes.settlement(item, {
          sub,
          run_at_ms: nowMs,
          pending_payment_id: null,
          events,
          transfers,
          used: 0n,
        });
        break;
      }
      case "sync": {
        const payment = claim.pending.get(p.payment_id);
        if (payment?.status !== "processing") {
          // Settled elsewhere (or lost): the job forgets it and plans afresh next run.
          writes.moveJob(item.job, nowMs, null);
          break;
        }
        report.synced++;
        attempts.push({
          item,
          payment,
          isNew: false,
          purpose: payment.billing_period === null ? "debt" : "period",
          reserved: payment.amount,
          usageKeys: item.capped ? attemptPeriods(item, payment) : null,
          answer: null,
        });
        break;
      }
      case "charge":
        report.charged++;
        attempts.push({
          item,
          payment: newAttempt(item, p, nowMs),
          isNew: true,
          purpose: p.purpose,
          reserved: p.amount,
          usageKeys: item.capped ? [item.dayKey, item.monthKey] : null,
          answer: null,
        });
        break;
    }
  }
  return attempts;
}

/** A remote attempt: recorded now, its job pointing at it (a crash leads to a sync), asked after commit. */
export function recordRemote(attempts: readonly Attempt[], writes: BatchWrites, nowMs: number): void {
  for (const a of attempts) {
    if (a.isNew) writes.sentAttempt(a);
    writes.moveJob(a.item.job, nowMs + SYNC_AFTER_MS, a.payment.id);
  }
}
