import type { Queryable } from "../db/db.ts";
import { partitionsFrom } from "../db/partitions.ts";
import { idTimeMs } from "../platform/ids.ts";

/**
 * The provider calls of decided payments ($1) and refunds ($2), read from the given tables (the
 * wire log or some of its partitions). Two branches a table, each on its own index (migration
 * 0354 for refund_id). A branch first asks whether its table has a row at all (`exists`, run once
 * a statement): the seven day partitions made ahead are empty, and an index scan probes its index
 * once per id even when the index is empty (1,200 ids, nine partitions: 10.6-16 ms a batch
 * without the test, 2.5-6 ms with it).
 */
export function decidedCallsSql(tables: readonly string[]): string {
  const columns = "payment_id, refund_id, provider, outcome, latency_ms";
  const branch = (t: string, where: string) =>
    `select ${columns} from "${t}" where exists (select from "${t}") and ${where}`;
  return [
    ...tables.map((t) => branch(t, "payment_id = any($1::text[]) and refund_id is null")),
    ...tables.map((t) => branch(t, "refund_id = any($2::text[])")),
  ].join("\n  union all\n  ");
}

/** The look-up over the whole wire log: what the partitions it reads are chosen from. */
export const DECIDED_CALLS_SQL = decidedCallsSql(["provider_interactions"]);

export interface DecidedCall {
  payment_id: string | null;
  refund_id: string | null;
  provider: string;
  outcome: string;
  latency_ms: number;
}

/**
 * How long before its payment's (or refund's) id a call's id may have been minted: the two may
 * come from the clocks of two processes (a payment made by the API, its callback by a worker).
 */
const CALL_CLOCK_SKEW_MS = 86_400_000;

/**
 * From when the objects' calls can date: a call is made once its payment or refund exists, and
 * ids carry the time they were minted. An id that is not ours bounds nothing (0). Never later
 * than now: a payment of a test clock ahead of time carries the clock's time in its id, while its
 * calls are logged on the platform's clock.
 */
export function callsFromMs(objectIds: readonly string[], nowMs: number): number {
  let earliestMs = nowMs;
  for (const id of objectIds) {
    const timeMs = idTimeMs(id);
    if (timeMs === null) return 0;
    if (timeMs < earliestMs) earliestMs = timeMs;
  }
  return Math.max(0, earliestMs - CALL_CLOCK_SKEW_MS);
}

/**
 * The plan the look-up runs on, set for the look-up alone (then restored). Index scans only: a
 * plan made while the day's partition was nearly empty chose a sequential scan, which then
 * tested every row of the day against every id for as long as the connection kept the plan
 * (at 23,000 calls in the partition, 56 ms a batch of 800 decided payments, growing with the day).
 * Generic: the statement is one of few texts (the partitions it reads change once a day).
 */
export const INDEX_PLAN_SQL = `select current_setting('plan_cache_mode') as plan_cache_mode,
  current_setting('enable_seqscan') as enable_seqscan,
  set_config('plan_cache_mode', 'force_generic_plan', true),
  set_config('enable_seqscan', 'off', true)`;
const RESTORE_PLAN_SQL =
  "select set_config('plan_cache_mode', $1, true), set_config('enable_seqscan', $2, true)";

/**
 * The calls of decided payments and refunds. Only the day partitions from the oldest object's
 * day on are read: ids prune none, and an index probe per id in each of the 400 day partitions
 * the wire log keeps took 155 ms a batch of 2,000 (bench/decided-calls.ts).
 */
export async function decidedCalls(
  tx: Queryable,
  nowMs: number,
  paymentIds: readonly string[],
  refundIds: readonly string[],
): Promise<DecidedCall[]> {
  const partitions = await partitionsFrom(
    tx,
    "provider_interactions",
    callsFromMs([...paymentIds, ...refundIds], nowMs),
  );
  const { rows: saved } = await tx.query<{ plan_cache_mode: string; enable_seqscan: string }>(INDEX_PLAN_SQL);
  const { rows } = await tx.query<DecidedCall>(decidedCallsSql(partitions), [paymentIds, refundIds]);
  await tx.query(RESTORE_PLAN_SQL, [saved[0]!.plan_cache_mode, saved[0]!.enable_seqscan]);
  return rows;
}
