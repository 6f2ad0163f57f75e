import type { BillingContext } from "../context.ts";
import type { JobRow, SubscriptionRow } from "../model.ts";
import { ask, attemptMetadata, BALANCE_TOO_LOW, settleAttempt } from "./attempts.ts";
import { CapUsage } from "./caps.ts";
import { fitToBalance } from "./decide.ts";
import type { Attempt, BatchReport, SubscriptionPayment } from "./types.ts";
import { BatchWrites } from "./writes.ts";

/**
 * Step 7: remote providers are asked after the attempts are committed (never inside a
 * transaction), then their answers are settled in a second transaction under the job locks. A new
 * attempt is first fitted to the payer's balance where the provider can tell (the highest price
 * point covered, or skipped without a charge), as in-process balance checks do before commit.
 */
export async function sendRemote(
  ctx: BillingContext,
  attempts: Attempt[],
  report: BatchReport,
  nowMs: number,
): Promise<void> {
  const asked = await Promise.all(attempts.map((a) => askRemote(a, nowMs)));
  await ctx.db.transaction(async (tx) => {
    const ids = asked.map((a) => a.item.sub.id);
    const { rows: jobs } = await tx.query<JobRow>(
      "select * from billing_jobs where subscription_id = any($1::text[]) order by subscription_id for update",
      [ids],
    );
    const jobById = new Map(jobs.map((j) => [j.subscription_id, j]));
    const { rows: subs } = await tx.query<SubscriptionRow>(
      "select * from subscriptions where id = any($1::text[])",
      [ids],
    );
    const subById = new Map(subs.map((s) => [s.id, s]));
    const usage = await CapUsage.lock(
      tx,
      asked.map((a) => a.item),
      new Map(asked.map((a) => [a.payment.id, a.payment])),
    );
    const { rows: locked } = await tx.query<SubscriptionPayment>(
      "select * from payments where id = any($1::text[]) order by id for update",
      [asked.map((a) => a.payment.id)],
    );
    const paymentById = new Map(locked.map((p) => [p.id, p]));
    const writes = new BatchWrites(nowMs);
    for (const a of asked) {
      const job = jobById.get(a.item.sub.id);
      const sub = subById.get(a.item.sub.id);
      const stored = paymentById.get(a.payment.id);
      // Someone else settled or re-claimed it meanwhile (our lease lapsed): leave it to them.
      if (!job || !sub || job.pending_payment_id !== a.payment.id || stored?.status !== "processing")
        continue;
      const current: Attempt = {
        ...a,
        item: { ...a.item, job, sub },
        // The amount and price point the attempt was finally sent with.
        payment: { ...stored, amount: a.payment.amount, metadata: a.payment.metadata },
        isNew: false,
      };
      const settled = settleAttempt(current, nowMs);
      // The first answer to a new attempt also publishes the payment's status event.
      if (a.isNew) settled.paymentEvents = settled.paymentEvents.filter((e) => e !== "payment.processing");
      if (settled.succeeded) report.succeeded++;
      const skipped = a.answer?.outcome === BALANCE_TOO_LOW;
      writes.settledAttempt(current, settled, usage);
      if (skipped && a.purpose === "period")
        writes.subscriptionEvents(settled.settlement.sub, ["subscription.charge_skipped"]);
    }
    await writes.flush(ctx, tx, usage);
  });
}

/** The balance check (new attempts), then the charge or the question; an error is an unknown. */
async function askRemote(a: Attempt, nowMs: number): Promise<Attempt> {
  try {
    const fitted = a.isNew ? await fitRemote(a, nowMs) : a;
    if (fitted.answer) return fitted;
    return { ...fitted, answer: await ask(fitted, nowMs) };
  } catch (error) {
    // We cannot tell whether the operator charged: unknown, settled by a later sync.
    const reason = error instanceof Error ? error.message.slice(0, 100) : "error";
    return { ...a, answer: { outcome: { status: "unknown", reason }, interactions: [] } };
  }
}

async function fitRemote(a: Attempt, nowMs: number): Promise<Attempt> {
  const provider = a.item.provider;
  if (!provider.balance) return a;
  const balance = await provider.balance({
    paymentMethod: a.payment.payment_method,
    currency: a.payment.currency,
    nowMs,
  });
  if (balance === undefined || balance >= a.payment.amount) return a;
  const planned = {
    kind: "charge" as const,
    purpose: a.purpose,
    amount: a.payment.amount,
    billing_period: a.payment.billing_period,
    percent: Number(a.payment.metadata.price_point_percent ?? 100),
  };
  const fitted = fitToBalance(a.item, planned, balance, nowMs);
  if (fitted.kind === "charge") {
    // A lower price point the balance covers: the attempt is sent (and recorded) at that amount.
    return {
      ...a,
      payment: { ...a.payment, amount: fitted.amount, metadata: attemptMetadata(a.item, fitted) },
    };
  }
  return {
    ...a,
    answer: {
      outcome: BALANCE_TOO_LOW,
      interactions: [
        {
          operation: "balance",
          request: { attempt_id: a.payment.attempt_id },
          response: { balance: Number(balance) },
          outcome: "insufficient",
          latencyMs: 0,
        },
      ],
    },
  };
}
