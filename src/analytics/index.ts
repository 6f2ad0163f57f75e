/** Analytics: rollups fed from the outbox, metrics, operator health and the live dashboard. */

export { convertMinor, parseRate } from "./convert.ts";
export { dashboardCatalogues, dashboardPages, tilesOf } from "./dashboard.ts";
export { dashboardView } from "./dashboard-view.ts";
export { FUNNEL_STEPS, JOURNEY_TABLE, queryFunnel } from "./funnel.ts";
export {
  BASELINE_OFFSET_MS,
  checkOperatorHealth,
  DECIDED_MIN,
  DROP_DEGRADED,
  HEALTH_WINDOW_MS,
  listOperatorHealth,
} from "./health.ts";
export { catchUp, INGEST_CURSOR, ingestAll, ingestBatch, ROLLUP_TABLES, rebuildRollups } from "./ingest.ts";
export { analyticsJobs, pruneAnalytics } from "./jobs.ts";
export type { OutboxEvent } from "./model.ts";
export { type Cursor, ensureCursor, lockCursor, readAfter, readCursor } from "./outbox.ts";
export { analyticsRoutes } from "./routes.ts";
export { querySeries } from "./series.ts";
export { ingestLag, querySummary } from "./summary.ts";
