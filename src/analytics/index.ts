/** Analytics: rollups fed from the outbox, metrics, operator health and the live dashboard. */
export { INGEST_CURSOR, ingestAll, ingestBatch, ROLLUP_TABLES, rebuildRollups } from "./ingest.ts";
export { type Cursor, readAfter, readCursor } from "./outbox.ts";
