import type { Db } from "../db/db.ts";
import type { Clock } from "../platform/clock.ts";
import type { Logger } from "../platform/log.ts";
import { checkOperatorHealth } from "./health.ts";
import { ingestBatch } from "./ingest.ts";

/**
 * The analytics worker's jobs, for the platform's job runner: the ingest (a batch every quarter
 * second, at once again while batches come back full), operator health once a minute, and the
 * pruning of minute rollups and payment states past their retention.
 */
export const INGEST_BATCH_SIZE = 2000;
/** Minute rollups are kept long enough to compare a window with the same one a week earlier. */
export const MINUTE_RETENTION_MS = 35 * 86_400_000;
/** Payment states outlive the events (30 days) that could still move them. */
export const STATE_RETENTION_MS = 90 * 86_400_000;

export interface AnalyticsJob {
  name: string;
  intervalMs: number;
  busyThreshold?: number;
  run(): Promise<number>;
}

export function analyticsJobs(deps: { db: Db; clock: Clock; logger?: Logger }): AnalyticsJob[] {
  const { db, clock, logger } = deps;
  return [
    {
      name: "analytics_ingest",
      intervalMs: 250,
      busyThreshold: INGEST_BATCH_SIZE,
      run: async () => (await ingestBatch(db, clock.nowMs(), { batchSize: INGEST_BATCH_SIZE })).events,
    },
    {
      name: "analytics_operator_health",
      intervalMs: 60_000,
      run: async () => {
        const raised = await checkOperatorHealth(db, clock.nowMs());
        for (const alert of raised) logger?.warn(alert, "operator health changed");
        return raised.length;
      },
    },
    {
      name: "analytics_prune",
      intervalMs: 3_600_000,
      run: () => pruneAnalytics(db, clock.nowMs()),
    },
  ];
}

export async function pruneAnalytics(db: Db, nowMs: number): Promise<number> {
  const minutes = await db.query("delete from analytics_minute where bucket < $1", [
    new Date(nowMs - MINUTE_RETENTION_MS),
  ]);
  const states = await db.query("delete from analytics_payment_states where created < $1", [
    new Date(nowMs - STATE_RETENTION_MS),
  ]);
  return minutes.rowCount + states.rowCount;
}
