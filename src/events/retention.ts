import type { Db } from "../db/db.ts";
import { prunablePartitions } from "../db/partitions.ts";
import { iso } from "../platform/clock.ts";
import { idFloor } from "../platform/ids.ts";
import { WEBHOOK_LIMITS } from "./limits.ts";

/** Only one worker prunes at a time; the others skip. */
const PRUNE_LOCK_KEY = 4_242_010;

/**
 * Deletes attempts, deliveries and events older than the retention (30 days), in bounded batches so
 * no statement runs long. Deliveries go before their events, so a pending delivery never outlives
 * the event it would send. Returns how many rows were deleted.
 */
export async function pruneEventsData(
  db: Db,
  nowMs: number,
  retentionMs: number = WEBHOOK_LIMITS.retention_ms,
): Promise<number> {
  const cutoff = iso(nowMs - retentionMs);
  const batch = WEBHOOK_LIMITS.prune_batch_size_max;
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<{ locked: boolean }>("select pg_try_advisory_xact_lock($1) as locked", [
      PRUNE_LOCK_KEY,
    ]);
    if (!rows[0]?.locked) return 0;
    let deleted = 0;
    // Deliveries, attempts and events are partitioned by day: whole days are dropped by the
    // partition job; rows are deleted here only from their history from before partitioning and
    // the default partition.
    const attemptTables = [
      ...(await prunablePartitions(tx, "webhook_deliveries")),
      ...(await prunablePartitions(tx, "webhook_attempts")),
    ];
    for (const table of attemptTables) {
      const result = await tx.query(
        `delete from ${table} where id in (select id from ${table} where created < $1::timestamptz limit $2)`,
        [cutoff, batch],
      );
      deleted += result.rowCount;
    }
    // Event ids sort by creation time, so old events are a range of the primary key: no index on
    // `created` (which every payment would have to maintain) is needed.
    for (const table of await prunablePartitions(tx, "events")) {
      const events = await tx.query(
        `delete from ${table} where id in (select id from ${table} where id < $1 order by id limit $2)`,
        [idFloor("evt", nowMs - retentionMs), batch],
      );
      deleted += events.rowCount;
    }
    return deleted;
  });
}
