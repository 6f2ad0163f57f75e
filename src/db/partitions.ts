import { DAY_MS } from "../platform/clock.ts";
import { DEFAULT_RETENTION_DAYS } from "../platform/config.ts";
import type { IdPrefix } from "../platform/ids.ts";
import { idFloor, sequenceIdFloor } from "../platform/ids.ts";
import type { Db, Queryable } from "./db.ts";

/** Days of partitions kept ready ahead of today: a job that stops for a week still loses nothing (the default partition takes the rest). */
export const PARTITION_DAYS_AHEAD = 7;
/** A partition job never waits long for a lock: busy, it tries again at its next run. */
const LOCK_TIMEOUT = "2s";
/** One worker changes partitions at a time; the others skip that change (it is being made). */
const PARTITION_LOCK_KEY = 4_242_017;

async function ddl(db: Db, work: (tx: Queryable) => Promise<unknown>): Promise<boolean> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<{ locked: boolean }>("select pg_try_advisory_xact_lock($1) as locked", [
      PARTITION_LOCK_KEY,
    ]);
    if (!rows[0]?.locked) return false;
    await tx.query(`set local lock_timeout = '${LOCK_TIMEOUT}'`);
    await work(tx);
    return true;
  });
}

export interface PartitionedTable {
  name: string;
  prefix: IdPrefix;
  cutoverAtMs: number;
  /**
   * `text`: prefixed ids (src/platform/ids.ts newId); `bigint`: time-ordered bigint keys
   * (sequenceIdFloor); `timestamptz`: a time column (`created`, idempotency keys).
   */
  keyType: "text" | "bigint" | "timestamptz";
}

/**
 * Indexes each new day partition gets of its own (not through the parent): idempotency keys are
 * unique per partition, and across partitions through their claim trigger (migration 0325).
 */
const PARTITION_OWN_INDEXES: Readonly<Record<string, (partition: string) => string>> = {
  idempotency_keys: (partition) =>
    `create unique index if not exists ${partition}_key on ${partition} (merchant_id, mode, key)`,
};

/**
 * What must hold before a partition past its retention is dropped (a query answering `ok`, run in
 * the drop's transaction): the analytics feed keeps a day until the rollups' reader has counted
 * all of it, so an ingest stopped for longer than the retention loses nothing (the day goes at the
 * first run after it catches up). The cursor's name is the rollups' (src/analytics/rollups.ts).
 */
const PARTITION_DROP_GUARDS: Readonly<Record<string, (partition: string) => string>> = {
  analytics_feed: (partition) =>
    `select not exists (
       select from ${partition} f, analytics_cursors c
        where c.name = 'rollups' and (f.xid, f.seq) > (c.xid, c.seq)) as ok`,
};

/** The smallest key of a table at an instant: where a day partition starts. */
export function keyFloor(table: PartitionedTable, atMs: number): string {
  if (table.keyType === "bigint") return sequenceIdFloor(atMs).toString();
  if (table.keyType === "timestamptz") return new Date(atMs).toISOString();
  return idFloor(table.prefix, atMs);
}

export interface PartitionReport {
  created: string[];
  dropped: string[];
  /** Days that could not get their partition (rows of that day already in the default one). */
  skipped: string[];
  /** Partitions past their retention kept because a reader has not consumed all of them yet. */
  kept: string[];
}

export function dayStartMs(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

function dayName(table: string, dayMs: number): string {
  return `${table}_p${new Date(dayMs).toISOString().slice(0, 10).replaceAll("-", "")}`;
}

export async function partitionedTables(q: Queryable): Promise<PartitionedTable[]> {
  const { rows } = await q.query<{
    name: string;
    prefix: string;
    cutover_at: Date;
    key_type: PartitionedTable["keyType"];
  }>("select name, prefix, cutover_at, key_type from partitioned_tables order by name");
  return rows.map((r) => ({
    name: r.name,
    prefix: r.prefix as IdPrefix,
    cutoverAtMs: r.cutover_at.getTime(),
    keyType: r.key_type,
  }));
}

/** The day a day partition holds (`<table>_pYYYYMMDD`), else null. */
function dayOfPartition(name: string): number | null {
  const match = /_p(\d{4})(\d{2})(\d{2})$/.exec(name);
  return match ? Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) : null;
}

/**
 * The partitions of a table that may hold keys minted from `fromMs` on: its day partitions from
 * that day, the legacy one while the table's history reaches that far, the default one, and any
 * partition of another name (its bounds are not ours to know). The table itself if it has none.
 */
export async function partitionsFrom(q: Queryable, table: string, fromMs: number): Promise<string[]> {
  // One round trip: the partitions, each with the table's cutover (null when not registered).
  const { rows } = await q.query<{ name: string; cutover_at: Date | null }>(
    `select c.relname as name, t.cutover_at
       from pg_inherits i join pg_class c on c.oid = i.inhrelid
       left join partitioned_tables t on t.name = $2
      where i.inhparent = $1::regclass`,
    [table, table],
  );
  if (rows.length === 0) return [table];
  const cutoverAtMs = rows[0]!.cutover_at?.getTime();
  const partitions = rows.map((r) => ({ name: r.name, dayMs: dayOfPartition(r.name) }));
  const fromDayMs = dayStartMs(fromMs);
  return partitions
    .filter(({ name, dayMs }) => {
      if (dayMs !== null) return dayMs >= fromDayMs;
      if (name === `${table}_legacy`) return cutoverAtMs === undefined || fromMs < cutoverAtMs;
      return true;
    })
    .map(({ name }) => name)
    .sort();
}

/** The partitions of a table and, for day partitions, their day. */
async function partitionsOf(
  q: Queryable,
  table: string,
): Promise<Array<{ name: string; dayMs: number | null }>> {
  const { rows } = await q.query<{ name: string }>(
    `select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
     where i.inhparent = $1::regclass`,
    [table],
  );
  return rows.map((r) => ({ name: r.name, dayMs: dayOfPartition(r.name) }));
}

/**
 * Creates the day partitions of the coming days and drops those past their table's retention
 * (whole days only: a day goes once all of it is older than the retention), and the legacy
 * partition (the table's history from before partitioning) once all of it is. Each change is its
 * own short transaction with a lock timeout, so a busy table is retried at the next run rather
 * than queued behind. Safe with any number of workers: creating or dropping twice is a no-op.
 */
export async function maintainPartitions(
  db: Db,
  nowMs: number,
  retentionDays: Readonly<Record<string, number>> = DEFAULT_RETENTION_DAYS,
  /** Runs in each drop's transaction (the caller's audit record of the data removed). */
  onDrop?: (
    tx: Queryable,
    dropped: { table: string; partition: string; retentionDays: number },
  ) => Promise<void>,
): Promise<PartitionReport> {
  const report: PartitionReport = { created: [], dropped: [], skipped: [], kept: [] };
  const today = dayStartMs(nowMs);
  for (const table of await partitionedTables(db)) {
    const existing = await partitionsOf(db, table.name);
    const names = new Set(existing.map((p) => p.name));
    for (
      let day = Math.max(today, table.cutoverAtMs);
      day <= today + PARTITION_DAYS_AHEAD * DAY_MS;
      day += DAY_MS
    ) {
      const name = dayName(table.name, day);
      if (names.has(name)) continue;
      try {
        const ownIndex = PARTITION_OWN_INDEXES[table.name];
        const made = await ddl(db, async (tx) => {
          await tx.query(
            `create table if not exists ${name} partition of ${table.name}
             for values from ('${keyFloor(table, day)}') to ('${keyFloor(table, day + DAY_MS)}')`,
          );
          if (ownIndex) await tx.query(ownIndex(name));
        });
        if (made) report.created.push(name);
      } catch (error) {
        // 23514: the default partition holds rows of that day already; they stay there.
        if ((error as { code?: string }).code !== "23514") throw error;
        report.skipped.push(name);
      }
    }
    const days = retentionDays[table.name] ?? 0;
    if (days <= 0) continue;
    const expiredBefore = today - days * DAY_MS;
    for (const partition of existing) {
      const endMs =
        partition.dayMs !== null
          ? partition.dayMs + DAY_MS
          : partition.name === `${table.name}_legacy`
            ? table.cutoverAtMs
            : null;
      if (endMs === null || endMs > expiredBefore) continue;
      const guard = PARTITION_DROP_GUARDS[table.name];
      let held = false;
      const made = await ddl(db, async (tx) => {
        if (guard) {
          const { rows } = await tx.query<{ ok: boolean }>(guard(partition.name));
          held = !rows[0]?.ok;
          if (held) return;
        }
        await tx.query(`drop table if exists ${partition.name}`);
        if (table.name === "provider_interactions") {
          // The archive blocks of those days go with them (their files are removed by the archive).
          await tx.query("delete from provider_interaction_archive where last_id < $1", [
            idFloor(table.prefix, endMs),
          ]);
        }
        await onDrop?.(tx, { table: table.name, partition: partition.name, retentionDays: days });
      });
      if (held) report.kept.push(partition.name);
      else if (made) report.dropped.push(partition.name);
    }
  }
  return report;
}

/**
 * The partitions whose rows a row-by-row prune may still delete: the legacy one and the default
 * one. Day partitions go whole, by maintainPartitions.
 */
export async function prunablePartitions(q: Queryable, table: string): Promise<string[]> {
  const { rows } = await q.query<{ name: string }>(
    `select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
     where i.inhparent = $1::regclass and (c.relname = $2 or c.relname = $3)`,
    [table, `${table}_legacy`, `${table}_default`],
  );
  return rows.map((r) => r.name).sort();
}
