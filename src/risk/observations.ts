import type { Db } from "../db/db.ts";
import { rowJson } from "../db/rows.ts";

/** One row of `risk_observations`: what a velocity counter counts. */
export interface ObservationRow {
  created: Date;
  merchant_id: string;
  mode: string;
  kind: string;
  subject: string;
  value: string | null;
}

/** Observations wait at most this long before they are written (what a crash may lose). */
export const OBSERVATION_FLUSH_MS = 100;
/** A buffer this full is written at once, in one statement. */
export const OBSERVATION_BATCH_MAX = 1000;
/** While the database refuses the writes, at most this many wait; the oldest go first. */
export const OBSERVATION_BUFFER_MAX = 100_000;

/** The append-only tables the risk engine writes off the flows' commits. */
export type BufferedTable = "risk_observations" | "risk_decisions";

/**
 * Appends rows off the payments' commits (docs/risk.md, "Observations" and "Decisions"): velocity
 * observations (counted in memory when they happen, counters.ts; only a process that starts reads
 * them back) and the decisions of rules that decided nothing. They are written every
 * OBSERVATION_FLUSH_MS or OBSERVATION_BATCH_MAX rows in one statement. A crash loses what was not
 * yet written (at most the last OBSERVATION_FLUSH_MS and a write in flight); `close()` writes what
 * is left, and a reader that must see this process's rows calls `flush()` first.
 */
export class RowBuffer<Row extends object> {
  /** Each row's JSON (rowJson), in order. */
  private buffer: string[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private writing: Promise<boolean> | null = null;
  /** Rows dropped because the database refused them for too long (a metric for operators). */
  dropped = 0;

  private readonly insertSql: string;

  constructor(
    private readonly db: Db,
    table: BufferedTable,
    private readonly flushMs = OBSERVATION_FLUSH_MS,
  ) {
    this.insertSql = `insert into ${table} select * from json_populate_recordset(null::${table}, $1::json)`;
  }

  add(rows: readonly Row[]): void {
    if (rows.length === 0) return;
    for (const row of rows) this.buffer.push(rowJson(row));
    if (this.buffer.length >= OBSERVATION_BATCH_MAX) void this.flush();
    else this.schedule();
  }

  /** Rows waiting to be written. */
  get pending(): number {
    return this.buffer.length;
  }

  /** Writes everything buffered so far; resolves false when the database refused (rows kept). */
  async flush(): Promise<boolean> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    for (;;) {
      this.writing ??= this.drain().finally(() => {
        this.writing = null;
      });
      const ok = await this.writing;
      if (!ok) return false;
      if (this.buffer.length === 0) return true;
    }
  }

  /** Stops the timer and writes what is left (shutdown). */
  async close(): Promise<void> {
    await this.flush();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.flushMs);
    this.timer.unref?.();
  }

  private async drain(): Promise<boolean> {
    while (this.buffer.length > 0) {
      const rows = this.buffer.splice(0, OBSERVATION_BATCH_MAX);
      try {
        await this.db.query(this.insertSql, [`[${rows.join(",")}]`]);
      } catch {
        // Kept for the next attempt, in order; past the bound the oldest go (counts in memory
        // are not affected, only what a process that starts reads back).
        this.buffer = rows.concat(this.buffer);
        const excess = this.buffer.length - OBSERVATION_BUFFER_MAX;
        if (excess > 0) {
          this.buffer.splice(0, excess);
          this.dropped += excess;
        }
        this.schedule();
        return false;
      }
    }
    return true;
  }
}
