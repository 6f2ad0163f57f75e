import {
  AuditHeadMoved,
  AuditLanes,
  auditChainSql,
  type ChainedAudit,
  chainBatch,
  chainKnown,
  currentAudit,
  draftFor,
  type LaneClaim,
  noAuditParams,
  type RequestAudit,
} from "../audit/index.ts";
import type { Db, Queryable } from "../db/db.ts";
import { isRetryableTransactionError } from "../db/db.ts";
import { isDatabaseUnavailable } from "../db/faults.ts";
import {
  APPEND_TABLES,
  type AppendTable,
  type DbRow,
  insertRowsSql,
  rowsToJson,
  stageInteractionBodies,
} from "../db/rows.ts";
import type { IdempotencyRecord } from "../idempotency/index.ts";
import { claimKeysSql, idempotencyRowJson } from "../idempotency/index.ts";
import type { TransferInput, TransferResult } from "../ledger/index.ts";
import { BALANCE_SLOT_COUNT, insertTransfersSql, type Ledger, upsertBalancesSql } from "../ledger/index.ts";
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
  /** The request this unit writes for: its audit record joins the same commit. */
  audit: RequestAudit | undefined;
  resolve: (outcome: CommitOutcome) => void;
  reject: (error: unknown) => void;
}

export interface GroupCommitOptions {
  batchSizeMax: number;
  /** Transactions in flight at once: one on the embedded engine, a few on a server. */
  concurrencyMax: number;
  /** The lanes its audit records go to (tests give two committers the same, as if two processes). */
  lanes?: AuditLanes;
}

const RETRY_COUNT_MAX = 5;

export class GroupCommitter {
  private queue: Waiting[] = [];
  private running = 0;
  private slot = 0;
  private closed = false;
  private pumpScheduled = false;
  private idle: Array<() => void> = [];
  private readonly lanes: AuditLanes;

  constructor(
    private readonly db: Db,
    private readonly ledger: Ledger,
    private readonly options: GroupCommitOptions,
    private readonly metrics?: Metrics,
  ) {
    this.lanes = options.lanes ?? new AuditLanes();
  }

  submit(unit: CommitUnit): Promise<CommitOutcome> {
    if (this.closed) return Promise.reject(new Error("the group committer is closed"));
    if (unit.transfers.length > 0) {
      const journal = unit.transfers[0]!.journalId;
      assert(
        unit.transfers.every((t) => t.journalId === journal),
        "a commit unit's transfers form one journal",
      );
    }
    const context = currentAudit();
    const audit = context && !context.recorded ? context : undefined;
    return new Promise((resolve, reject) => {
      this.queue.push({ unit, audit, resolve, reject });
      this.schedulePump();
    });
  }

  /** Waits for everything submitted so far to be committed, then refuses new work. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.running === 0 && this.queue.length === 0) return;
    await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  /**
   * Batches start after the event loop has taken in the I/O that is ready (setImmediate), so every
   * request parsed in this turn joins the same transaction. This matters most on the embedded
   * engine, whose queries run on this thread: without it each batch would hold one request.
   */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (this.running < this.options.concurrencyMax && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.options.batchSizeMax);
      this.running++;
      this.slot = (this.slot + 1) % BALANCE_SLOT_COUNT;
      void this.runBatch(batch, this.slot).finally(() => {
        this.running--;
        if (this.queue.length > 0) this.schedulePump();
        else if (this.running === 0) for (const done of this.idle.splice(0)) done();
      });
    }
  }

  private async runBatch(batch: Waiting[], slot: number): Promise<void> {
    const started = performance.now();
    const lost = new Set<number>();
    try {
      let outcomes: CommitOutcome[] | null = null;
      // A request whose key another writer holds rolls the batch back; it runs again without it.
      while (outcomes === null) {
        try {
          outcomes = await this.withRetries(() => this.transact(batch, slot, lost));
        } catch (error) {
          if (!(error instanceof KeysTaken)) throw error;
          for (const i of error.indices) lost.add(i);
        }
      }
      const settled = outcomes;
      batch.forEach((w, i) => {
        if (w.audit && settled[i]!.ok) w.audit.recorded = true;
        w.resolve(settled[i]!);
      });
      this.metrics?.commitBatchSize.observe(batch.length);
      this.metrics?.commitDuration.observe((performance.now() - started) / 1000);
    } catch (error) {
      // A lost or frozen database fails every request alike: retrying one by one only multiplies
      // the wait past the callers' deadline.
      if (batch.length === 1 || isDatabaseUnavailable(error)) {
        for (const waiting of batch) waiting.reject(error);
        return;
      }
      // One bad request must not fail its neighbours: commit each on its own.
      for (const waiting of batch) {
        try {
          const [outcome] = await this.withRetries(() => this.transact([waiting], slot, new Set()));
          if (waiting.audit && outcome!.ok) waiting.audit.recorded = true;
          waiting.resolve(outcome!);
        } catch (singleError) {
          if (singleError instanceof KeysTaken)
            waiting.resolve({ ok: false, reason: "idempotency_conflict" });
          else waiting.reject(singleError);
        }
      }
    }
  }

  /**
   * Writes the batch with its audit records chained in a lane of this process (see AuditLanes).
   * Usually in one statement and one round trip, its own transaction (`prepare` finds it needs no
   * read); a batch that needs reads, or whose statement refused because a key was taken or the
   * lane moved, runs in a transaction, which finds out which and reads the head under lock.
   */
  private async transact(
    batch: readonly Waiting[],
    slot: number,
    lost: ReadonlySet<number>,
  ): Promise<CommitOutcome[]> {
    let oneStatement = true;
    for (;;) {
      const claim = this.lanes.claim();
      const written: { chained: ChainedAudit | null } = { chained: null };
      try {
        const prepared = oneStatement ? await this.prepare(null, batch, slot, lost, claim) : null;
        let outcomes: CommitOutcome[] | null = null;
        if (prepared && (await this.writeInOneStatement(prepared))) {
          written.chained = prepared.chained;
          outcomes = prepared.outcomes;
        } else if (prepared) {
          // A key was taken: nothing was written; the transaction finds out which.
          this.metrics?.commitOneStatementRefused.inc();
          this.lanes.release(claim, claim.head);
          oneStatement = false;
          continue;
        } else {
          outcomes = await this.db.transaction(async (tx) => {
            const result = await this.write(tx, batch, slot, lost, claim);
            written.chained = result.chained;
            return result.outcomes;
          });
        }
        this.lanes.release(claim, written.chained ? written.chained.to : claim.head);
        return outcomes;
      } catch (error) {
        const moved = error instanceof AuditHeadMoved;
        this.lanes.release(claim, undefined, moved);
        if (!moved) throw error;
        this.metrics?.auditLaneMoved.inc();
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

  /**
   * Decides what a batch writes: every remaining request's journal, decided together, its key
   * claim, rows and audit record. The common payment needs no read. Without `tx` (the one-statement
   * path) a batch that does (a journal that must read balances or take locks, a lane whose head
   * this process does not know) answers null.
   */
  private async prepare(
    tx: Queryable | null,
    batch: readonly Waiting[],
    slot: number,
    lost: ReadonlySet<number>,
    lane: LaneClaim,
  ): Promise<Prepared | null> {
    const outcomes: CommitOutcome[] = batch.map((_, i) =>
      lost.has(i) ? { ok: false, reason: "idempotency_conflict" } : { ok: true },
    );

    // 1. Money: every remaining request's journal, decided together.
    const transfers: TransferInput[] = [];
    const owner: number[] = [];
    batch.forEach((w, i) => {
      if (!outcomes[i]!.ok) return;
      for (const t of w.unit.transfers) {
        transfers.push(t);
        owner.push(i);
      }
    });
    let transfersJson = "[]";
    let balancesJson = "[]";
    if (transfers.length > 0) {
      const nowMs = Math.max(...batch.map((w) => w.unit.nowMs));
      const plan = this.ledger.planAppend(transfers, { nowMs, slot });
      if (!plan && !tx) return null;
      const results = plan ? plan.results : await this.ledger.apply(tx!, transfers, { nowMs, slot });
      if (plan) {
        transfersJson = plan.transfersJson;
        balancesJson = plan.balancesJson;
      }
      results.forEach((result, j) => {
        const i = owner[j]!;
        if (result === "ok" || result === "exists" || !outcomes[i]!.ok) return;
        outcomes[i] = { ok: false, reason: "ledger_rejected", result };
      });
    }

    // 2. Keys and rows of the requests that remain, with the planned ledger writes, in one statement.
    const claims: Array<{ i: number; record: IdempotencyRecord }> = [];
    const byTable = new Map<AppendTable, DbRow[]>(APPEND_TABLES.map((t) => [t, []]));
    batch.forEach((w, i) => {
      if (!outcomes[i]!.ok) return;
      if (w.unit.idempotency) claims.push({ i, record: w.unit.idempotency });
      for (const { table, row } of w.unit.rows) byTable.get(table)!.push(row);
    });
    const staged = stageInteractionBodies(byTable.get("provider_interactions")!);
    byTable.set("provider_interactions", staged.interactions);
    byTable.get("provider_interaction_bodies")!.push(...staged.bodies);
    // 3. The audit records of the requests that remain, chained in the batch's lane: they go in
    // the same statement, which moves the lane's head only if it is still the one remembered.
    const audits = batch.flatMap((w, i) =>
      w.audit && outcomes[i]!.ok
        ? [
            draftFor(
              w.audit,
              {
                statusCode: w.unit.idempotency?.statusCode ?? 201,
                object: (w.unit.rows[0]?.row.id as string | undefined) ?? null,
              },
              w.unit.nowMs,
            ),
          ]
        : [],
    );
    let chained: ChainedAudit | null;
    if (tx) chained = await chainBatch(tx, lane, audits);
    else {
      const known = chainKnown(lane, audits);
      if (known === "unknown") return null;
      chained = known;
    }
    return {
      outcomes,
      claims,
      chained,
      params: [
        JSON.stringify(claims.map((c) => idempotencyRowJson(c.record))),
        transfersJson,
        balancesJson,
        ...APPEND_TABLES.map((t) => rowsToJson(byTable.get(t)!)),
        ...(chained?.params ?? noAuditParams()),
      ],
    };
  }

  /**
   * The batch's statement on its own: PostgreSQL runs it as its own transaction, all or nothing.
   * Where the transaction's statement reports a taken key or a moved lane for the caller to roll
   * back, this one fails itself (`group_commit_check`, migration 0340), so nothing is written: a
   * moved lane throws AuditHeadMoved as the transaction does, a taken key answers false.
   */
  private async writeInOneStatement(prepared: Prepared): Promise<boolean> {
    try {
      await this.db.query(ONE_STATEMENT_SQL, [
        ...prepared.params,
        prepared.claims.length,
        prepared.chained ? 1 : 0,
      ]);
      return true;
    } catch (error) {
      const code = (error as { code?: string } | null)?.code;
      if (code === LANE_MOVED && prepared.chained) throw new AuditHeadMoved(prepared.chained.lane);
      if (code === KEYS_TAKEN) return false;
      throw error;
    }
  }

  /** Writes a batch in a transaction: reads first when it must, then the same statement. */
  private async write(
    tx: Queryable,
    batch: readonly Waiting[],
    slot: number,
    lost: ReadonlySet<number>,
    lane: LaneClaim,
  ): Promise<{ outcomes: CommitOutcome[]; chained: ChainedAudit | null }> {
    const { outcomes, claims, chained, params } = (await this.prepare(tx, batch, slot, lost, lane))!;
    const { rows } = await tx.query<{ merchant_id: string; mode: string; key: string | null }>(
      WRITE_BATCH_SQL,
      params,
    );
    const claimed = rows.filter((r) => r.key !== null);
    if (chained && claimed.length === rows.length) throw new AuditHeadMoved(chained.lane);
    if (claimed.length < claims.length) {
      const won = new Set(claimed.map((r) => `${r.merchant_id}\u0000${r.mode}\u0000${r.key}`));
      throw new KeysTaken(
        claims
          .filter((c) => !won.has(`${c.record.merchantId}\u0000${c.record.mode}\u0000${c.record.key}`))
          .map((c) => c.i),
      );
    }

    return { outcomes, chained };
  }
}

interface Prepared {
  outcomes: CommitOutcome[];
  claims: Array<{ i: number; record: IdempotencyRecord }>;
  chained: ChainedAudit | null;
  params: unknown[];
}

/** Some keys of a batch were already taken: the batch rolls back and runs without those requests. */
class KeysTaken extends Error {
  constructor(readonly indices: number[]) {
    super("idempotency keys taken by other writers");
  }
}

const BATCH_CTES = `with claimed as (
    ${claimKeysSql(1)}
    returning merchant_id, mode, key),
  transfers as (${insertTransfersSql(2)}),
  balances as (${upsertBalancesSql(3)}),
  ${APPEND_TABLES.map((table, n) => `${table}_rows as (${insertRowsSql(table, n + 4)})`).join(",\n  ")},
  ${auditChainSql(APPEND_TABLES.length + 4)}`;

/** In a transaction: the keys claimed, and a row for the lane's head when it moved as expected. */
const WRITE_BATCH_SQL = `${BATCH_CTES}
  select merchant_id, mode, key from claimed
  union all select null, null, null from audit_head`;

/** The SQLSTATEs of group_commit_check's refusals (migration 0340). */
const KEYS_TAKEN = "CG409";
const LANE_MOVED = "CG412";
const CHECK_PARAM = APPEND_TABLES.length + 10;

/** On its own: fails whole unless every key was claimed and the lane's head moved when expected. */
const ONE_STATEMENT_SQL = `${BATCH_CTES}
  select group_commit_check((select count(*) from claimed), $${CHECK_PARAM}::integer,
    (select count(*) from audit_head), $${CHECK_PARAM + 1}::integer)`;
