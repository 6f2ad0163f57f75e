import { connect, headers, type JetStreamClient, type NatsConnection, nanos, RetentionPolicy } from "nats";
import {
  type Cursor,
  ensureCursor,
  lockCursor,
  type OutboxEvent,
  readAfter,
  readCursor,
} from "../analytics/index.ts";
import type { Db } from "../db/db.ts";
import type { Clock } from "../platform/clock.ts";
import type { Logger } from "../platform/log.ts";

/**
 * The change stream: every outbox event published to NATS JetStream, at least once, in commit
 * order (so in order per object), with the event id as the message id so that JetStream drops a
 * repeat within the stream's duplicate window.
 *
 * The publisher reads a batch after its cursor (the same commit-order reading as the rollups),
 * publishes it on one connection (JetStream keeps a connection's order), waits for every
 * acknowledgement, and only then moves the cursor, in a short transaction of its own: no database
 * transaction waits on the network. A publisher killed between the acknowledgements and the cursor
 * publishes the batch again when it restarts, and JetStream drops the repeats.
 */
export interface StreamOptions {
  db: Db;
  clock: Clock;
  /** `nats://host:port` (CENTIME_NATS_URL). */
  url: string;
  /** The JetStream stream, created when missing (CENTIME_NATS_STREAM). */
  stream: string;
  /** Subjects are `<subject>.<merchant>.<mode>.<event type>` (CENTIME_NATS_SUBJECT). */
  subject: string;
  logger?: Logger;
  batchSize?: number;
  pollIntervalMs?: number;
  /** How long JetStream remembers message ids (default 10 minutes). */
  duplicateWindowMs?: number;
  /** Tests: called after a batch was acknowledged, before the cursor moves. */
  afterPublish?: (events: readonly OutboxEvent[]) => void | Promise<void>;
}

export function cursorName(stream: string): string {
  return `nats:${stream}`;
}

/** The event as the API and webhooks show it, plus whose it is. */
export function messageBody(event: OutboxEvent): string {
  return JSON.stringify({
    id: event.id,
    object: "event",
    type: event.type,
    created: new Date(event.createdMs).toISOString(),
    livemode: event.mode === "live",
    merchant: event.merchantId,
    data: { object: event.object },
  });
}

function token(value: string): string {
  // A subject token may not contain '.', '*', '>' or whitespace.
  return value.replace(/[.*>\s]/g, "_") || "_";
}

export async function ensureStream(
  nc: NatsConnection,
  options: Pick<StreamOptions, "stream" | "subject" | "duplicateWindowMs">,
) {
  const jsm = await nc.jetstreamManager();
  const config = {
    name: options.stream,
    subjects: [`${options.subject}.>`],
    retention: RetentionPolicy.Limits,
    duplicate_window: nanos(options.duplicateWindowMs ?? 10 * 60_000),
  };
  try {
    await jsm.streams.info(options.stream);
  } catch {
    await jsm.streams.add(config);
  }
}

/** Publishes one batch after the cursor; returns how many events it published. */
export async function publishBatch(js: JetStreamClient, options: StreamOptions): Promise<number> {
  const name = cursorName(options.stream);
  await ensureCursor(options.db, name, options.clock.nowMs());
  const cursor = (await readCursor(options.db, name)) as Cursor;
  const events = await readAfter(options.db, cursor, options.batchSize ?? 500);
  if (events.length === 0) return 0;
  const acks = events.map((event) => {
    const h = headers();
    h.set("Centime-Merchant", event.merchantId);
    h.set("Centime-Event-Type", event.type);
    return js.publish(
      `${options.subject}.${token(event.merchantId)}.${event.mode}.${token(event.type)}`,
      messageBody(event),
      {
        msgID: event.id,
        expect: { streamName: options.stream },
        headers: h,
      },
    );
  });
  await Promise.all(acks);
  await options.afterPublish?.(events);
  await options.db.transaction(async (tx) => {
    const locked = await lockCursor(tx, name);
    // Another publisher moved it meanwhile: it published the same events; ours were duplicates.
    if (locked.txid !== cursor.txid || locked.eventId !== cursor.eventId) return;
    const last = events[events.length - 1]!;
    await tx.query(
      `update analytics_cursors set txid = $2::xid8, event_id = $3, events_consumed = events_consumed + $4,
              last_event_created = $5, updated = $6 where name = $1`,
      [name, last.txid, last.id, events.length, new Date(last.createdMs), new Date(options.clock.nowMs())],
    );
  });
  return events.length;
}

export interface StreamPublisher {
  /** Resolves once the outbox is drained up to now (tests). */
  drained(): Promise<void>;
  stop(): Promise<void>;
}

export async function startStreamPublisher(options: StreamOptions): Promise<StreamPublisher> {
  const nc = await connect({ servers: options.url, name: "centime-stream", maxReconnectAttempts: -1 });
  await ensureStream(nc, options);
  const js = nc.jetstream();
  let stopped = false;
  let idleWaiters: (() => void)[] = [];
  const loop = (async () => {
    while (!stopped) {
      let published = 0;
      try {
        published = await publishBatch(js, options);
      } catch (error) {
        options.logger?.error({ err: error }, "stream publish failed; retrying");
      }
      if (published === 0) {
        for (const wake of idleWaiters) wake();
        idleWaiters = [];
        await new Promise((resolve) => setTimeout(resolve, options.pollIntervalMs ?? 200));
      }
    }
  })();
  return {
    drained: () => new Promise<void>((resolve) => idleWaiters.push(resolve)),
    async stop() {
      stopped = true;
      await loop;
      await nc.drain();
    },
  };
}
