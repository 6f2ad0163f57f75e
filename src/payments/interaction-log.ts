import { AsyncLocalStorage } from "node:async_hooks";
import type { InteractionLog, Interaction as WireInteraction } from "../connectors/index.ts";
import type { Db } from "../db/db.ts";
import { rowsToJson } from "../db/rows.ts";
import { iso } from "../platform/clock.ts";
import { newId } from "../platform/ids.ts";
import type { Logger } from "../platform/log.ts";
import type { Metrics } from "../platform/metrics.ts";
import type { Interaction } from "./provider.ts";

/** How long an exchange waits to be written with its payment's transition before it is flushed alone. */
const UNCLAIMED_FLUSH_AFTER_MS = 1_000;
const FLUSH_INTERVAL_MS = 500;
const BUFFERED_MAX = 10_000;

interface Buffered {
  attemptId: string | undefined;
  operator: string | undefined;
  interaction: Interaction;
  provider: string;
  atMs: number;
}

/**
 * The append-only log of every wire exchange with a provider. Connectors report each exchange
 * here (secrets already redacted). A payment flow takes the exchanges of its attempt and writes
 * them in the same transaction as the state change they explain; exchanges nobody takes (a
 * callback, a token fetch) are written on their own shortly after.
 */
export class InteractionRecorder implements InteractionLog {
  private buffer: Buffered[] = [];
  private readonly current = new AsyncLocalStorage<string>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly db: Db,
    private readonly clock: { nowMs(): number },
    private readonly logger?: Logger,
    private readonly metrics?: Metrics,
  ) {}

  /** Runs a provider call; exchanges it makes without naming an attempt are attributed to this one. */
  within<T>(attemptId: string, work: () => Promise<T>): Promise<T> {
    return this.current.run(attemptId, work);
  }

  record(wire: WireInteraction): void {
    if (this.metrics) {
      const provider = wire.protocol === "cardpsp" ? "card" : "carrier";
      const labels = { provider, operator: wire.operator || "", operation: wire.operation };
      // The outcome's class (succeeded, declined, pending, unknown, not_sent…): errors are the last two.
      this.metrics.providerRequests.inc({ ...labels, outcome: wire.outcome.split(":")[0] ?? "unlabelled" });
      this.metrics.providerLatency.observe(labels, wire.latency_ms / 1000);
    }
    if (this.buffer.length >= BUFFERED_MAX) this.buffer.shift();
    this.buffer.push({
      attemptId: wire.attempt_id ?? this.current.getStore(),
      operator: wire.operator || undefined,
      provider: wire.protocol === "cardpsp" ? "card" : "carrier",
      atMs: this.clock.nowMs(),
      interaction: {
        operation: `${wire.protocol}.${wire.operation}`,
        request: wire.request,
        response: wire.response,
        outcome: wire.outcome,
        latencyMs: Math.round(wire.latency_ms),
      },
    });
  }

  /** Removes and returns the exchanges of one attempt, oldest first. */
  take(attemptId: string): Interaction[] {
    const mine = this.buffer.filter((b) => b.attemptId === attemptId);
    if (mine.length > 0) this.buffer = this.buffer.filter((b) => b.attemptId !== attemptId);
    return mine.map((b) => b.interaction);
  }

  start(): void {
    this.timer ??= setInterval(() => void this.flush(false), FLUSH_INTERVAL_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush(true);
  }

  /** Writes exchanges nobody took; they find their payment or refund by our attempt id. */
  async flush(all: boolean): Promise<void> {
    const cutoffMs = this.clock.nowMs() - UNCLAIMED_FLUSH_AFTER_MS;
    const due = all ? this.buffer : this.buffer.filter((b) => b.atMs <= cutoffMs);
    if (due.length === 0) return;
    this.buffer = all ? [] : this.buffer.filter((b) => b.atMs > cutoffMs);
    const rows = due.map((b) => ({
      id: newId("ix", b.atMs),
      attempt_id: b.attemptId ?? null,
      provider: b.provider,
      operation: b.interaction.operation,
      request: b.interaction.request ?? null,
      response: b.interaction.response ?? null,
      outcome: b.interaction.outcome,
      latency_ms: b.interaction.latencyMs,
      created: iso(b.atMs),
      operator: b.operator ?? null,
    }));
    try {
      await this.db.query(
        `insert into provider_interactions
           (id, merchant_id, mode, payment_id, refund_id, provider, operation, attempt_id, request, response, outcome,
            latency_ms, created, msisdn, operator)
         select x.id, coalesce(p.merchant_id, r.merchant_id), coalesce(p.mode, r.mode), coalesce(p.id, r.payment_id), r.id,
                x.provider, x.operation, x.attempt_id, x.request, x.response, x.outcome, x.latency_ms, x.created,
                coalesce(p.payment_method, rp.payment_method) ->> 'msisdn', x.operator
         from json_populate_recordset(null::provider_interactions, $1::json) x
         left join payments p on p.attempt_id = x.attempt_id
         left join refunds r on r.id = x.attempt_id
         left join payments rp on rp.id = r.payment_id`,
        [rowsToJson(rows)],
      );
    } catch (error) {
      this.logger?.error({ err: error, count: rows.length }, "could not write provider interactions");
    }
  }
}
