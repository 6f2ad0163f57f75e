import { getOperator } from "../connectors/index.ts";
import type { Db, Queryable } from "../db/db.ts";
import { prunablePartitions } from "../db/partitions.ts";
import type { Clock } from "../platform/clock.ts";
import { ApiError } from "../platform/errors.ts";
import { type DecidedCall, decidedCalls } from "./calls.ts";
import {
  aggregateSamples,
  type DistributionRow,
  distributionKey,
  isErrorOutcome,
  type Sample,
} from "./distributions.ts";
import {
  type Aggregate,
  aggregate,
  counts,
  DIMENSIONS,
  type Fact,
  factsOfEvent,
  GRAIN_MS,
  sessionOf,
  voucherFact,
} from "./facts.ts";
import {
  advanceCursor,
  type FeedRow,
  horizon,
  lastPosition,
  lockCursor,
  readFeed,
  readFeedOfDays,
} from "./feed.ts";

/** The feed reader that builds the rollups. */
export const ROLLUP_CURSOR = "rollups";
/** Events are kept 30 days (docs/webhooks.md): a rebuild can go no further back. */
const EVENTS_KEPT_MS = 30 * GRAIN_MS.day;

export interface RollupDeps {
  db: Db;
  clock: Clock;
}

export interface IngestOptions {
  batchSize?: number;
  /** Tests: runs after the rollups are written and before the cursor moves (a crash there). */
  beforeCursorMoves?: () => void | Promise<void>;
}

const operatorCountry = (operator: string) => getOperator(operator)?.country;

/** Events after which a payment's (or a refund's) calls to its provider are all known. */
const DECIDED_PAYMENT = new Set(["payment.succeeded", "payment.failed", "payment.canceled"]);
const DECIDED_REFUND = new Set(["refund.succeeded", "refund.failed"]);

interface Contributions {
  facts: Fact[];
  samples: Sample[];
}

/**
 * What feed rows add: facts for the rollups and samples for the distributions. Provider calls
 * are counted once, at the event that decides their payment or refund (bucketed at that event, so
 * a rebuild of a day finds them again); webhook attempts and voucher redemptions are feed rows
 * of their own (migration 0210).
 */
async function contributionsOf(
  tx: Queryable,
  rows: readonly FeedRow[],
  nowMs: number,
): Promise<Contributions> {
  const samples: Sample[] = [];
  const facts = await factsOf(tx, rows);
  const decided = rows.filter(
    (r) => r.type !== null && r.data?.object && (DECIDED_PAYMENT.has(r.type) || DECIDED_REFUND.has(r.type)),
  );
  if (decided.length > 0) {
    const calls = await decidedCalls(
      tx,
      nowMs,
      decided.filter((r) => r.type!.startsWith("payment.")).map((r) => r.object_id!),
      decided.filter((r) => r.type!.startsWith("refund.")).map((r) => r.object_id!),
    );
    const byObject = new Map<string, DecidedCall[]>();
    for (const c of calls) {
      const id = c.refund_id ?? c.payment_id!;
      const seen = byObject.get(id);
      if (seen) seen.push(c);
      else byObject.set(id, [c]);
    }
    const operators = await operatorsOfRefunds(tx, decided);
    for (const r of decided) {
      const object = r.data!.object!;
      const method = object.payment_method as Record<string, unknown> | undefined;
      const operator = r.type!.startsWith("refund.")
        ? (operators.get(String(object.payment ?? "")) ?? "")
        : typeof method?.operator === "string"
          ? method.operator
          : "";
      for (const c of byObject.get(r.object_id!) ?? []) {
        samples.push({
          merchant_id: r.merchant_id!,
          mode: r.mode!,
          metric: "provider_latency",
          provider: c.provider,
          operator,
          createdMs: new Date(r.created!).getTime(),
          valueMs: c.latency_ms,
          error: isErrorOutcome(c.outcome),
        });
      }
    }
  }
  const attemptIds = rows
    .filter((r) => r.type === null && r.event_id.startsWith("wha_"))
    .map((r) => r.event_id);
  if (attemptIds.length > 0) {
    // The delivery lag: from the event to the attempt that delivered it (manual resends apart).
    const { rows: attempts } = await tx.query<{
      merchant_id: string;
      mode: string;
      created: Date;
      lag_ms: number;
    }>(
      `select a.merchant_id, a.mode, a.created,
              (extract(epoch from (a.created - e.created)) * 1000)::int8 as lag_ms
         from webhook_attempts a join events e on e.id = a.event_id
        where a.id = any($1::text[]) and a.status = 'succeeded' and not a.manual`,
      [attemptIds],
    );
    for (const a of attempts) {
      samples.push({
        merchant_id: a.merchant_id,
        mode: a.mode,
        metric: "webhook_lag",
        provider: "",
        operator: "",
        createdMs: new Date(a.created).getTime(),
        valueMs: Number(a.lag_ms),
        error: false,
      });
    }
  }
  const redemptionIds = rows
    .filter((r) => r.type === null && r.event_id.startsWith("vr_"))
    .map((r) => r.event_id);
  if (redemptionIds.length > 0) {
    const { rows: redemptions } = await tx.query<{
      merchant_id: string;
      mode: string;
      batch_id: string;
      created: Date;
      granted: Record<string, unknown> | null;
    }>(
      "select merchant_id, mode, batch_id, created, granted from voucher_redemptions where id = any($1::text[])",
      [redemptionIds],
    );
    for (const v of redemptions) facts.push(voucherFact(v));
  }
  return { facts, samples };
}

async function operatorsOfRefunds(tx: Queryable, decided: readonly FeedRow[]): Promise<Map<string, string>> {
  const ids = decided
    .filter((r) => r.type!.startsWith("refund."))
    .map((r) => String(r.data!.object!.payment ?? ""));
  const out = new Map<string, string>();
  if (ids.length === 0) return out;
  const { rows } = await tx.query<{ id: string; operator: string | null }>(
    "select id, payment_method->>'operator' as operator from payments where id = any($1::text[])",
    [ids],
  );
  for (const p of rows) out.set(p.id, p.operator ?? "");
  return out;
}

/** Turns feed rows into facts, looking up what events do not carry (a refund's payment, an app). */
async function factsOf(tx: Queryable, rows: readonly FeedRow[]): Promise<Fact[]> {
  const counted = rows.filter((r) => r.type !== null && counts(r.type) && r.data?.object);
  const refundPayments = [
    ...new Set(
      counted.filter((r) => r.type!.startsWith("refund.")).map((r) => String(r.data!.object!.payment ?? "")),
    ),
  ];
  const paymentOfRefund = new Map<string, Record<string, unknown>>();
  if (refundPayments.length > 0) {
    const { rows: payments } = await tx.query<{
      id: string;
      payment_method: unknown;
      metadata: unknown;
      price: unknown;
    }>(
      "select id, payment_method, metadata, effects->'price' as price from payments where id = any($1::text[])",
      [refundPayments],
    );
    for (const p of payments) paymentOfRefund.set(p.id, p);
  }
  const sessions = new Set<string>();
  for (const r of counted) {
    const session = sessionOf(r.data!.object);
    if (session) sessions.add(session);
  }
  for (const p of paymentOfRefund.values()) {
    const session = sessionOf(p);
    if (session) sessions.add(session);
  }
  const appOfSession = new Map<string, string | null>();
  if (sessions.size > 0) {
    const { rows: found } = await tx.query<{ id: string; app_id: string | null }>(
      "select id, app_id from checkout_sessions where id = any($1::text[])",
      [[...sessions]],
    );
    for (const s of found) appOfSession.set(s.id, s.app_id);
  }
  const facts: Fact[] = [];
  for (const r of counted) {
    const found = factsOfEvent(
      {
        merchant_id: r.merchant_id!,
        mode: r.mode!,
        type: r.type!,
        created: new Date(r.created!),
        data: r.data,
      },
      { appOfSession, paymentOfRefund },
      operatorCountry,
    );
    facts.push(...found);
  }
  return facts;
}

const KEY_COLUMNS = ["grain", "merchant_id", "mode", "bucket", "metric", ...DIMENSIONS] as const;

/** Adds sums to the rollups in one statement. */
async function addToRollups(tx: Queryable, sums: readonly Aggregate[]): Promise<void> {
  if (sums.length === 0) return;
  // A stable order: two writers (ingest, rebuild) never lock the same rows in different orders.
  const rows = sortedByKey(sums, rowKey);
  await tx.query(
    `insert into analytics_rollups
       (grain, bucket, merchant_id, mode, metric, app, method, operator, country, currency, product, reason, count, amount)
     select * from unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                          $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::int8[], $14::int8[])
     on conflict (${KEY_COLUMNS.join(", ")}) do update
       set count = analytics_rollups.count + excluded.count,
           amount = analytics_rollups.amount + excluded.amount`,
    [
      rows.map((r) => r.grain),
      rows.map((r) => new Date(r.bucketMs).toISOString()),
      rows.map((r) => r.merchant_id),
      rows.map((r) => r.mode),
      rows.map((r) => r.metric),
      ...DIMENSIONS.map((d) => rows.map((r) => r[d])),
      rows.map((r) => r.count.toString()),
      rows.map((r) => r.amount.toString()),
    ],
  );
}

/** Adds histogram rows to the distributions in one statement (stable order, like the rollups). */
async function addToDistributions(tx: Queryable, sums: readonly DistributionRow[]): Promise<void> {
  if (sums.length === 0) return;
  const rows = sortedByKey(sums, distributionKey);
  await tx.query(
    `insert into analytics_distributions
       (grain, bucket, merchant_id, mode, metric, provider, operator, le_ms, count, errors)
     select * from unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                          $8::int4[], $9::int8[], $10::int8[])
     on conflict (grain, merchant_id, mode, bucket, metric, provider, operator, le_ms) do update
       set count = analytics_distributions.count + excluded.count,
           errors = analytics_distributions.errors + excluded.errors`,
    [
      rows.map((r) => r.grain),
      rows.map((r) => new Date(r.bucketMs).toISOString()),
      rows.map((r) => r.merchant_id),
      rows.map((r) => r.mode),
      rows.map((r) => r.metric),
      rows.map((r) => r.provider),
      rows.map((r) => r.operator),
      rows.map((r) => r.le_ms),
      rows.map((r) => r.count.toString()),
      rows.map((r) => r.errors.toString()),
    ],
  );
}

/** Rows in the order of their keys, each key built once (a comparator would build two per comparison). */
function sortedByKey<T>(rows: readonly T[], keyOf: (row: T) => string): T[] {
  return rows
    .map((row) => ({ row, key: keyOf(row) }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((keyed) => keyed.row);
}

function rowKey(a: Aggregate): string {
  return [
    a.grain,
    a.merchant_id,
    a.mode,
    String(a.bucketMs).padStart(15, "0"),
    a.metric,
    ...DIMENSIONS.map((d) => a[d]),
  ].join("\u0000");
}

/**
 * Applies the next batch of the feed to the rollups and moves the cursor past it, in one
 * transaction: a crash anywhere before the commit leaves neither, so the batch is applied once.
 * Returns how many events (and other feed entries) it consumed.
 */
export async function ingestRollups(deps: RollupDeps, options: IngestOptions = {}): Promise<number> {
  const batchSize = options.batchSize ?? 2000;
  return deps.db.transaction(async (tx) => {
    const below = await horizon(tx);
    const cursor = await lockCursor(tx, ROLLUP_CURSOR);
    const rows = await readFeed(tx, cursor, below, batchSize);
    const last = lastPosition(rows);
    if (!last) return 0;
    const { facts, samples } = await contributionsOf(tx, rows, deps.clock.nowMs());
    await addToRollups(tx, aggregate(facts));
    await addToDistributions(tx, aggregateSamples(samples));
    await options.beforeCursorMoves?.();
    await advanceCursor(tx, ROLLUP_CURSOR, last, deps.clock.nowMs());
    return rows.length;
  });
}

export interface RebuildResult {
  object: "analytics_rebuild";
  from: string;
  to: string;
  events: number;
}

/**
 * Recomputes the rollups of whole UTC days [from, to) from the events. It holds the ingest's
 * cursor for its whole transaction and counts only what the ingest already counted (feed rows at
 * or behind the cursor), so that whatever the ingest does next is neither lost nor counted twice.
 */
export async function rebuildRollups(deps: RollupDeps, fromMs: number, toMs: number): Promise<RebuildResult> {
  const day = GRAIN_MS.day;
  if (fromMs % day !== 0)
    throw new ApiError("parameter_invalid", "from", "A rebuild starts at midnight UTC.");
  if (toMs % day !== 0) throw new ApiError("parameter_invalid", "to", "A rebuild ends at midnight UTC.");
  if (toMs <= fromMs) throw new ApiError("parameter_invalid", "to", "to must be after from.");
  if (fromMs < deps.clock.nowMs() - EVENTS_KEPT_MS) {
    throw new ApiError("parameter_invalid", "from", "Events older than 30 days are no longer kept.");
  }
  return deps.db.transaction(async (tx) => {
    const cursor = await lockCursor(tx, ROLLUP_CURSOR);
    for (const table of ["analytics_rollups", "analytics_distributions"]) {
      await tx.query(`delete from ${table} where bucket >= $1 and bucket < $2`, [
        new Date(fromMs),
        new Date(toMs),
      ]);
    }
    const all = new Map<string, Aggregate>();
    const histograms = new Map<string, DistributionRow>();
    let events = 0;
    let after = { created: new Date(fromMs), seq: -1n };
    for (;;) {
      const rows = await readFeedOfDays(tx, { fromMs, toMs }, after, cursor, 5000);
      if (rows.length === 0) break;
      events += rows.length;
      const { facts, samples } = await contributionsOf(tx, rows, deps.clock.nowMs());
      for (const sum of aggregate(facts)) {
        const key = rowKey(sum);
        const seen = all.get(key);
        if (seen) {
          seen.count += sum.count;
          seen.amount += sum.amount;
        } else all.set(key, sum);
      }
      for (const sum of aggregateSamples(samples)) {
        const key = distributionKey(sum);
        const seen = histograms.get(key);
        if (seen) {
          seen.count += sum.count;
          seen.errors += sum.errors;
        } else histograms.set(key, sum);
      }
      const last = rows.at(-1)!;
      // The feed's own time: rows that are not events (webhook attempts, redemptions) have no e.created.
      after = { created: new Date(last.feed_created), seq: last.seq };
    }
    await addToRollups(tx, [...all.values()]);
    await addToDistributions(tx, [...histograms.values()]);
    return {
      object: "analytics_rebuild" as const,
      from: new Date(fromMs).toISOString(),
      to: new Date(toMs).toISOString(),
      events,
    };
  });
}

/**
 * Deletes feed rows older than the events' retention that the ingest has counted (the events
 * themselves are gone by then). Day partitions go whole (src/db/partitions.ts, once counted);
 * rows are deleted here only from the legacy partition (the feed from before 0358) and the
 * default one (rows of days without a partition). Bounded batches; returns how many it deleted.
 */
export async function pruneFeed(deps: RollupDeps, batch = 5000): Promise<number> {
  let deleted = 0;
  for (const table of await prunablePartitions(deps.db, "analytics_feed")) {
    const { rowCount } = await deps.db.query(
      `delete from ${table} where (created, seq) in (
         select f.created, f.seq from ${table} f, analytics_cursors c
          where c.name = $1 and f.created < $2 and (f.xid, f.seq) <= (c.xid, c.seq)
          limit $3)`,
      [ROLLUP_CURSOR, new Date(deps.clock.nowMs() - EVENTS_KEPT_MS), batch],
    );
    deleted += rowCount;
  }
  return deleted;
}
