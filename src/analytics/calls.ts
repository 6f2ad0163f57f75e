import type { Queryable } from "../db/db.ts";

/**
 * The provider calls of decided payments ($1) and refunds ($2). Two branches, each on its own
 * index (migration 0354 for refund_id).
 */
export const DECIDED_CALLS_SQL = `select payment_id, refund_id, provider, outcome, latency_ms from provider_interactions
   where payment_id = any($1::text[]) and refund_id is null
  union all
  select payment_id, refund_id, provider, outcome, latency_ms from provider_interactions
   where refund_id = any($2::text[])`;

export interface DecidedCall {
  payment_id: string | null;
  refund_id: string | null;
  provider: string;
  outcome: string;
  latency_ms: number;
}

/**
 * The plan the look-up runs on, set for the look-up alone (then restored). Generic: ids prune no
 * day partition, so a custom plan would be made over all of them (a wire log keeps 400) for every
 * batch. Index scans only: the generic plan is made once on a connection, often while the day's
 * partition is still nearly empty, and a sequential scan chosen then read the whole partition,
 * testing each row against every id, for as long as the connection lived (56 ms a batch of 800
 * decided payments with 23,000 calls in the partition, and growing with it).
 */
export const INDEX_PLAN_SQL = `select current_setting('plan_cache_mode') as plan_cache_mode,
  current_setting('enable_seqscan') as enable_seqscan,
  set_config('plan_cache_mode', 'force_generic_plan', true),
  set_config('enable_seqscan', 'off', true)`;
const RESTORE_PLAN_SQL =
  "select set_config('plan_cache_mode', $1, true), set_config('enable_seqscan', $2, true)";

export async function decidedCalls(
  tx: Queryable,
  paymentIds: readonly string[],
  refundIds: readonly string[],
): Promise<DecidedCall[]> {
  const { rows: saved } = await tx.query<{ plan_cache_mode: string; enable_seqscan: string }>(INDEX_PLAN_SQL);
  const { rows } = await tx.query<DecidedCall>(DECIDED_CALLS_SQL, [paymentIds, refundIds]);
  await tx.query(RESTORE_PLAN_SQL, [saved[0]!.plan_cache_mode, saved[0]!.enable_seqscan]);
  return rows;
}
