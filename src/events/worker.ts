import type { Db } from "../db/db.ts";
import { type Clock, systemClock } from "../platform/clock.ts";
import {
  type AttemptToRecord,
  type ClaimedDelivery,
  claimDueDeliveries,
  type RecordedAttempt,
  recordAttempts,
  sendDelivery,
} from "./delivery.ts";
import { WEBHOOK_LIMITS } from "./limits.ts";
import { pruneEventsData } from "./retention.ts";
import type { Random } from "./schedule.ts";
import { newAgents, type Transport } from "./sender.ts";
import { allowedHostsFromEnv, type Resolver, systemResolver } from "./ssrf.ts";

/** What the worker logs through: pino's logger fits. Secrets and bodies are never logged. */
export interface WorkerLogger {
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
}

export interface WebhookWorkerOptions {
  db: Db;
  clock?: Clock;
  logger?: WorkerLogger;
  /** Requests in flight at once in this process. */
  concurrency?: number;
  /** How long to sleep when nothing is due. */
  pollIntervalMs?: number;
  /** Defaults to CENTIME_WEBHOOK_ALLOWED_HOSTS. */
  allowedHosts?: ReadonlySet<string>;
  resolver?: Resolver;
  random?: Random;
  leaseMs?: number;
  requestTimeoutMs?: number;
  /** Delete events, deliveries and attempts older than the retention; off to keep them forever. */
  prune?: boolean;
  /** Told about every attempt (metrics per endpoint). */
  onAttempt?: (endpointId: string, result: "succeeded" | "failed" | "blocked") => void;
}

export interface WebhookWorker {
  /** Stops claiming, waits for requests in flight to finish and be recorded, closes connections. */
  stop(): Promise<void>;
  /** Looks for due deliveries now instead of at the next poll (e.g. after a commit). */
  wake(): void;
}

const DEFAULT_CONCURRENCY = 64;
const DEFAULT_POLL_INTERVAL_MS = 200;

/**
 * A delivery worker: keeps up to `concurrency` requests in flight, claiming more as slots free
 * up. Any number of these, in any number of processes, can share one database.
 */
export function startWebhookWorker(options: WebhookWorkerOptions): WebhookWorker {
  const { db } = options;
  const clock = options.clock ?? systemClock;
  const concurrency = Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY);
  const pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  const random = options.random ?? Math.random;
  const claimBatchMin = Math.max(1, Math.floor(concurrency / 4));
  const agents = newAgents();
  const transport: Transport = {
    resolver: options.resolver ?? systemResolver,
    allowedHosts: options.allowedHosts ?? allowedHostsFromEnv(),
    timeoutMs: options.requestTimeoutMs ?? WEBHOOK_LIMITS.request_timeout_ms,
    ...agents,
  };
  const inFlight = new Set<Promise<void>>();
  let stopping = false;
  let wakeUp: (() => void) | undefined;
  let lastPruneMs = Number.NEGATIVE_INFINITY;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wakeUp = undefined;
        resolve();
      }
      wakeUp = done;
    });

  // Outcomes that finish while a batch is being written wait and go in the next one: one commit
  // records many attempts. The first write waits for setImmediate, so that responses that arrived
  // together join it (the embedded engine runs a query synchronously, blocking the event loop).
  type Waiting = {
    attempt: AttemptToRecord;
    resolve(result: RecordedAttempt): void;
    reject(error: unknown): void;
  };
  const toRecord: Waiting[] = [];
  let flushScheduled = false;
  const flush = async () => {
    while (toRecord.length > 0) {
      const batch = toRecord.splice(0, WEBHOOK_LIMITS.claim_batch_size_max);
      try {
        const results = await recordAttempts(
          db,
          batch.map((w) => w.attempt),
          random,
        );
        for (const [i, waiting] of batch.entries()) waiting.resolve(results[i]!);
      } catch (error) {
        for (const waiting of batch) waiting.reject(error);
      }
    }
    flushScheduled = false;
  };
  const record = (attempt: AttemptToRecord) =>
    new Promise<RecordedAttempt>((resolve, reject) => {
      toRecord.push({ attempt, resolve, reject });
      // Attempts finishing in the same turn are recorded in one statement.
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(() => void flush());
      }
    });

  const deliver = async (delivery: ClaimedDelivery) => {
    const result = await sendDelivery(delivery, clock.nowMs(), transport);
    if (result.error === "address_blocked") {
      // Nobody sees these but the merchant's attempts list: say why, and what fixes it locally.
      options.logger?.warn(
        { endpoint: delivery.endpointId },
        "webhook delivery blocked: the endpoint's address is private or loopback; for local development list the host in CENTIME_WEBHOOK_ALLOWED_HOSTS",
      );
    }
    const ok = result.status !== undefined && result.status >= 200 && result.status < 300;
    options.onAttempt?.(
      String(delivery.endpointId),
      ok ? "succeeded" : result.error === "address_blocked" ? "blocked" : "failed",
    );
    const { outcome } = await record({ delivery, result, nowMs: clock.nowMs() });
    if (outcome.status === "failed" && outcome.disableEndpoint) {
      options.logger?.warn(
        { endpoint: delivery.endpointId },
        "webhook endpoint answered 410 Gone; disabled it",
      );
    }
  };

  const loop = async () => {
    while (!stopping) {
      const free = concurrency - inFlight.size;
      let claimed = 0;
      // Claim in batches, not one query per finished request, unless the worker is idle.
      if (free >= claimBatchMin || inFlight.size === 0) {
        try {
          const batch = await claimDueDeliveries(db, {
            nowMs: clock.nowMs(),
            limit: free,
            ...(options.leaseMs === undefined ? {} : { leaseMs: options.leaseMs }),
          });
          claimed = batch.length;
          for (const delivery of batch) {
            const task: Promise<void> = deliver(delivery)
              .catch((error: unknown) => {
                // The lease runs out and another pass sends it again: at least once.
                options.logger?.error(
                  { err: error, delivery: String(delivery.id) },
                  "recording a webhook attempt failed",
                );
              })
              .finally(() => {
                inFlight.delete(task);
                wakeUp?.();
              });
            inFlight.add(task);
          }
        } catch (error) {
          options.logger?.error({ err: error }, "claiming webhook deliveries failed");
        }
      }
      if (options.prune !== false && clock.nowMs() - lastPruneMs >= WEBHOOK_LIMITS.prune_interval_ms) {
        lastPruneMs = clock.nowMs();
        await pruneEventsData(db, clock.nowMs()).catch((error: unknown) => {
          options.logger?.error({ err: error }, "pruning old events failed");
        });
      }
      // A full batch suggests more is due: claim again at once.
      if (stopping || (claimed > 0 && claimed === free)) continue;
      await sleep(pollIntervalMs);
    }
  };

  const running = loop();
  return {
    async stop() {
      stopping = true;
      wakeUp?.();
      await running;
      await Promise.allSettled([...inFlight]);
      agents.httpAgent.destroy();
      agents.httpsAgent.destroy();
    },
    wake() {
      wakeUp?.();
    },
  };
}
