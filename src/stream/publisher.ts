import { randomUUID } from "node:crypto";
import type { JetStreamClient, JetStreamManager, NatsConnection } from "nats";
import { type FeedRow, horizon, readCursor, readFeed } from "../analytics/index.ts";
import type { Db } from "../db/db.ts";
import type { Clock } from "../platform/clock.ts";
import type { Logger } from "../platform/log.ts";

/**
 * The change stream (docs/analytics.md): every event of the outbox published to NATS JetStream,
 * at least once, with its event id as `Nats-Msg-Id` so that JetStream drops a second copy within
 * its duplicate window. The publisher reads the events feed in commit-safe order (analytics/feed),
 * publishes a batch one message after another in insertion order (each acknowledged before the
 * next, so the stream keeps each object's events in order), and only then moves its cursor: a publisher that dies in between
 * publishes the batch again after a restart, and the copies are dropped by id.
 */
export const NATS_CURSOR = "nats";

export interface PublisherOptions {
  url: string;
  /** The stream, created when missing (default CENTIME_EVENTS). */
  stream?: string;
  /** Subjects are `<prefix>.<mode>.<event type>` (default centime.events). */
  subjectPrefix?: string;
  batchSize?: number;
  /** How long a publisher holds the cursor before another may take over. */
  leaseMs?: number;
  /** Tests: runs after a batch is published and before the cursor moves (a crash there). */
  beforeCursorMoves?: () => void | Promise<void>;
}

export interface PublisherDeps {
  db: Db;
  clock: Clock;
  logger: Logger;
}

export function subjectOf(prefix: string, row: Pick<FeedRow, "mode" | "type">): string {
  // NATS subject tokens: no spaces, dots separate tokens; event types are `word.word`.
  const type = (row.type ?? "unknown").replace(/[^A-Za-z0-9_.-]/g, "_");
  return `${prefix}.${row.mode ?? "test"}.${type}`;
}

export class JetStreamPublisher {
  private nc: NatsConnection | null = null;
  private js: JetStreamClient | null = null;
  /** The client library, loaded by the first publish: a platform without NATS never loads it (60 ms of start-up). */
  private nats: typeof import("nats") | null = null;
  private readonly owner = randomUUID();
  private readonly stream: string;
  private readonly prefix: string;

  constructor(
    private readonly deps: PublisherDeps,
    private readonly options: PublisherOptions,
  ) {
    this.stream = options.stream ?? "CENTIME_EVENTS";
    this.prefix = options.subjectPrefix ?? "centime.events";
  }

  private async client(): Promise<{ js: JetStreamClient; nats: typeof import("nats") }> {
    this.nats ??= await import("nats");
    const nats = this.nats;
    if (this.js && this.nc && !this.nc.isClosed()) return { js: this.js, nats };
    this.nc = await nats.connect({
      servers: this.options.url,
      name: "centime-events",
      maxReconnectAttempts: -1,
    });
    const jsm: JetStreamManager = await this.nc.jetstreamManager();
    try {
      await jsm.streams.info(this.stream);
    } catch {
      await jsm.streams.add({
        name: this.stream,
        subjects: [`${this.prefix}.>`],
        // Long enough for a publisher to restart and publish its last batch again.
        duplicate_window: 10 * 60 * 1_000_000_000,
      });
    }
    this.js = this.nc.jetstream();
    return { js: this.js, nats };
  }

  /** Takes (or renews) the lease on the cursor; false when another publisher holds it. */
  private async lease(): Promise<boolean> {
    const nowMs = this.deps.clock.nowMs();
    const { rowCount } = await this.deps.db.query(
      `update analytics_cursors set lease_owner = $2, lease_until = $3
        where name = $1 and (lease_owner is null or lease_owner = $2 or lease_until < $4)`,
      [NATS_CURSOR, this.owner, new Date(nowMs + (this.options.leaseMs ?? 30_000)), new Date(nowMs)],
    );
    return rowCount === 1;
  }

  /** Publishes the next batch; returns how many events it published. */
  async publishBatch(): Promise<number> {
    if (!(await this.lease())) return 0;
    const below = await horizon(this.deps.db);
    const cursor = await readCursor(this.deps.db, NATS_CURSOR);
    const rows = await readFeed(this.deps.db, cursor, below, this.options.batchSize ?? 500);
    const last = rows.at(-1);
    if (!last) return 0;
    const { js, nats } = await this.client();
    // The feed's order is safe for a cursor; the order of insertion (seq) is the order of each
    // object's events, so a batch goes out in that order.
    for (const row of [...rows].sort((a, b) => (a.seq < b.seq ? -1 : a.seq > b.seq ? 1 : 0))) {
      if (row.type === null) continue; // pruned by retention before it was published
      const h = nats.headers();
      h.set("Centime-Event-Type", row.type);
      h.set("Centime-Object-Id", row.object_id ?? "");
      h.set("Centime-Merchant", row.merchant_id ?? "");
      const body = JSON.stringify({
        id: row.event_id,
        object: "event",
        type: row.type,
        created: new Date(row.created!).toISOString(),
        livemode: row.mode === "live",
        merchant: row.merchant_id,
        data: row.data,
      });
      await js.publish(subjectOf(this.prefix, row), body, { msgID: row.event_id, headers: h });
    }
    await this.options.beforeCursorMoves?.();
    // Only the lease holder moves the cursor; a publisher that lost it leaves it to the other.
    await this.deps.db.query(
      "update analytics_cursors set xid = $2::xid8, seq = $3, updated = $4 where name = $1 and lease_owner = $5",
      [NATS_CURSOR, last.xid, last.seq, new Date(this.deps.clock.nowMs()), this.owner],
    );
    return rows.length;
  }

  async close(): Promise<void> {
    const nc = this.nc;
    this.nc = null;
    this.js = null;
    if (nc && !nc.isClosed()) await nc.drain();
  }
}
