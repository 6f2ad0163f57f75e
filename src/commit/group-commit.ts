import type { Db, Queryable } from "../db/db.ts";
import { isRetryableTransactionError } from "../db/db.ts";
import { type AppendTable, type DbRow, insertRowsSql, rowsToJson } from "../db/rows.ts";
import type { IdempotencyRecord } from "../idempotency/store.ts";
import { idempotencyRowJson } from "../idempotency/store.ts";
import { BALANCE_SLOT_COUNT, type Ledger } from "../ledger/ledger.ts";
import type { TransferInput, TransferResult } from "../ledger/types.ts";
import { assert } from "../platform/errors.ts";
import type { Metrics } from "../platform/metrics.ts";

/**
 * Group commit: many requests, one database transaction. Each request hands over everything it
 * wants written (its idempotency record with the response, rows to append, one journal of ledger
 * transfers) and waits. While one transaction commits, the next batch gathers, so under load a
 * commit carries many requests and at low load a request waits for nobody.
 *
 * Atomicity stays per request: a request whose idempotency key was taken by another writer, or
 * whose journal the ledger rejects, is dropped from the batch entirely; the others commit.
 */
export interface CommitUnit {
  idempotency?: IdempotencyRecord;
  rows: ReadonlyArray<{ table: AppendTable; row: DbRow }>;
  transfers: readonly TransferInput[];
  nowMs: number;
}

export type CommitOutcome =
  | { ok: true }
  | { ok: false; reason: "idempotency_conflict" }
  | { ok: false; reason: "ledger_rejected"; result: TransferResult };

interface Waiting {
  unit: CommitUnit;
  resolve: (outcome: CommitOutcome) => void;
  reject: (error: unknown) => void;
}

export interface GroupCommitOptions {
  batchSizeMax: number;
  /** Transactions in flight at once: one on the embedded engine, a few on a server. */
  concurrencyMax: number;
}

const RETRY_COUNT_MAX = 5;

export class GroupCommitter {
  private queue: Waiting[] = [];
  private running = 0;
  private slot = 0;
  private closed = false;
  private idle: Array<() => void> = [];

  constructor(
    private readonly db: Db,
    private readonly ledger: Ledger,
    private readonly options: GroupCommitOptions,
    private readonly metrics?: Metrics,
  ) {}

  submit(unit: CommitUnit): Promise<CommitOutcome> {
    if (this.closed) return Promise.reject(new Error("the group committer is closed"));
    if (unit.transfers.length > 0) {
      const journal = unit.transfers[0]!.journalId;
      assert(
        unit.transfers.every((t) => t.journalId === journal),
        "a commit unit's transfers form one journal",
      );
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ unit, resolve, reject });
      this.pump();
    });
  }

  /** Waits for everything submitted so far to be committed, then refuses new work. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.running === 0 && this.queue.length === 0) return;
    await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  private pump(): void {
    while (this.running < this.options.concurrencyMax && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.options.batchSizeMax);
      this.running++;
      this.slot = (this.slot + 1) % BALANCE_SLOT_COUNT;
      void this.runBatch(batch, this.slot).finally(() => {
        this.running--;
        if (this.queue.length > 0) this.pump();
        else if (this.running === 0) for (const done of this.idle.splice(0)) done();
      });
    }
  }

  private async runBatch(batch: Waiting[], slot: number): Promise<void> {
    const started = performance.now();
    try {
      const outcomes = await this.withRetries(() => this.db.transaction((tx) => this.write(tx, batch, slot)));
      batch.forEach((w, i) => {
        w.resolve(outcomes[i]!);
      });
      this.metrics?.commitBatchSize.observe(batch.length);
      this.metrics?.commitDuration.observe((performance.now() - started) / 1000);
    } catch (error) {
      if (batch.length === 1) {
        batch[0]!.reject(error);
        return;
      }
      // One bad request must not fail its neighbours: commit each on its own.
      for (const waiting of batch) {
        try {
          const [outcome] = await this.withRetries(() =>
            this.db.transaction((tx) => this.write(tx, [waiting], slot)),
          );
          waiting.resolve(outcome!);
        } catch (singleError) {
          waiting.reject(singleError);
        }
      }
    }
  }

  private async withRetries<T>(work: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await work();
      } catch (error) {
        if (!isRetryableTransactionError(error) || attempt >= RETRY_COUNT_MAX) throw error;
      }
    }
  }

  private async write(tx: Queryable, batch: readonly Waiting[], slot: number): Promise<CommitOutcome[]> {
    const outcomes: CommitOutcome[] = batch.map(() => ({ ok: true }));

    // 1. Claim idempotency keys; a key another writer holds drops its request.
    const claims = batch.flatMap((w, i) => (w.unit.idempotency ? [{ i, record: w.unit.idempotency }] : []));
    if (claims.length > 0) {
      const { rows } = await tx.query<{ merchant_id: string; mode: string; key: string }>(
        `insert into idempotency_keys select * from json_populate_recordset(null::idempotency_keys, $1::json)
         on conflict do nothing returning merchant_id, mode, key`,
        [JSON.stringify(claims.map((c) => idempotencyRowJson(c.record)))],
      );
      const won = new Set(rows.map((r) => `${r.merchant_id}\u0000${r.mode}\u0000${r.key}`));
      for (const { i, record } of claims) {
        if (!won.has(`${record.merchantId}\u0000${record.mode}\u0000${record.key}`)) {
          outcomes[i] = { ok: false, reason: "idempotency_conflict" };
        }
      }
    }

    // 2. Money: every surviving request's journal, decided and written together.
    const transfers: TransferInput[] = [];
    const owner: number[] = [];
    batch.forEach((w, i) => {
      if (!outcomes[i]!.ok) return;
      for (const t of w.unit.transfers) {
        transfers.push(t);
        owner.push(i);
      }
    });
    if (transfers.length > 0) {
      const nowMs = Math.max(...batch.map((w) => w.unit.nowMs));
      const results = await this.ledger.apply(tx, transfers, { nowMs, slot });
      const rejectedKeys: IdempotencyRecord[] = [];
      results.forEach((result, j) => {
        const i = owner[j]!;
        if (result === "ok" || result === "exists" || !outcomes[i]!.ok) return;
        outcomes[i] = { ok: false, reason: "ledger_rejected", result };
        const record = batch[i]!.unit.idempotency;
        if (record) rejectedKeys.push(record);
      });
      for (const record of rejectedKeys) {
        await tx.query("delete from idempotency_keys where merchant_id = $1 and mode = $2 and key = $3", [
          record.merchantId,
          record.mode,
          record.key,
        ]);
      }
    }

    // 3. Rows, one statement per table.
    const byTable = new Map<AppendTable, DbRow[]>();
    batch.forEach((w, i) => {
      if (!outcomes[i]!.ok) return;
      for (const { table, row } of w.unit.rows) {
        const list = byTable.get(table) ?? [];
        list.push(row);
        byTable.set(table, list);
      }
    });
    for (const [table, rows] of byTable) await tx.query(insertRowsSql(table), [rowsToJson(rows)]);
    return outcomes;
  }
}
