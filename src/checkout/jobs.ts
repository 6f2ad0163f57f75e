import { CLAIM_LEASE_MS, expireSession, followPayment } from "./attempts.ts";
import type { CheckoutContext } from "./context.ts";
import type { SessionRow } from "./model.ts";

const SWEEP_BATCH_MAX = 100;

/**
 * The sessions' background work, in every worker: sessions past their expiry expire (their
 * waiting payment canceled first); sessions whose payment settled while nobody watched (an MO
 * text, an operator's callback, reconciliation) follow it; a claim left by a crash between
 * claiming and recording a payment is resolved by finding the payment it made, if any.
 * Answers how many sessions it touched.
 */
export async function sweepSessions(ctx: CheckoutContext): Promise<number> {
  const now = new Date(ctx.clock.nowMs());
  let touched = 0;
  const due = await ctx.db.query<SessionRow>(
    "select * from checkout_sessions where status = 'open' and expires_at <= $1 order by expires_at limit $2",
    [now, SWEEP_BATCH_MAX],
  );
  for (const session of due.rows) {
    await expireSession(ctx, session);
    touched++;
  }
  const settled = await ctx.db.query<{ id: string; payment_id: string }>(
    `select s.id, s.payment_id from checkout_sessions s join payments p on p.id = s.payment_id
      where s.status = 'open' and s.payment_id is not null and p.status in ('succeeded', 'failed', 'canceled')
      limit $1`,
    [SWEEP_BATCH_MAX],
  );
  for (const row of settled.rows) {
    await followPayment(ctx, row.id, row.payment_id);
    touched++;
  }
  const orphans = await ctx.db.query<SessionRow>(
    "select * from checkout_sessions where status = 'open' and payment_id like 'claim:%' and updated < $1 limit $2",
    [new Date(now.getTime() - CLAIM_LEASE_MS), SWEEP_BATCH_MAX],
  );
  for (const session of orphans.rows) {
    // The payments core tags every payment with its session (metadata), so a lost claim finds it.
    const { rows } = await ctx.db.query<{ id: string }>(
      `select id from payments where merchant_id = $1 and mode = $2 and id >= $3
          and metadata ->> 'checkout_session' = $4 order by id desc limit 1`,
      [session.merchant_id, session.mode, `pay_${session.id.slice(3, 13)}`, session.id],
    );
    const found = rows[0]?.id ?? null;
    await ctx.db.query("update checkout_sessions set payment_id = $3 where id = $1 and payment_id = $2", [
      session.id,
      session.payment_id,
      found,
    ]);
    if (found) await followPayment(ctx, session.id, found);
    touched++;
  }
  return touched;
}
