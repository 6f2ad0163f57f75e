/**
 * Webhooks while payments run at full rate: a local receiver counts deliveries by `webhook-id`
 * and measures lag (receipt time − the event's `created`), while autocannon drives payments for
 * merchants that have an endpoint for every event. Then the backlog drains (bounded wait).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { loadavg } from "node:os";
import { type BenchMerchant, createMerchants, drive, type RetryOutcome } from "./load.ts";
import { withClient } from "./pg.ts";
import type { Platform, RssSampler } from "./platform.ts";

export interface WebhookLoadResult {
  merchants: number;
  connections: number;
  loadS: number;
  payments: number;
  paymentsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Events written for the bench merchants while the load ran, per second. */
  eventsWritten: number;
  eventsPerSec: number;
  /** Deliveries received during the load window, per second. */
  deliveredDuringLoad: number;
  deliveriesPerSec: number;
  lagP50Ms: number | null;
  lagP99Ms: number | null;
  lagMaxMs: number | null;
  /** p50 lag of deliveries received in the first and the last 2 s of the load window. */
  lagStartP50Ms: number | null;
  lagEndP50Ms: number | null;
  /** Events written but not yet received at the end of the load window. */
  backlogAtEnd: number;
  /** From the end of the load to the last expected delivery; null if it did not drain in time. */
  drainMs: number | null;
  drainWaitMaxMs: number;
  eventsInDb: number;
  received: number;
  duplicates: number;
  missing: number;
  /** Received ids that are not events of the bench merchants. */
  unexpected: number;
  deliveryStatuses: Record<string, number>;
  retries: RetryOutcome;
  loadAverage: number;
}

interface Receipt {
  atMs: number;
  lagMs: number;
}

/** Answers 200 to every POST as soon as the body is in; counts webhook-ids, measures lag. */
class Receiver {
  readonly receipts: Receipt[] = [];
  readonly ids = new Map<string, number>();
  private server: Server;

  constructor() {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (c: Buffer) => chunks.push(c));
      request.on("end", () => {
        const atMs = Date.now();
        const id = request.headers["webhook-id"];
        let created = Number.NaN;
        try {
          created = Date.parse(
            (JSON.parse(Buffer.concat(chunks).toString("utf8")) as { created: string }).created,
          );
        } catch {
          // not JSON: counted, no lag
        }
        if (typeof id === "string") this.ids.set(id, (this.ids.get(id) ?? 0) + 1);
        this.receipts.push({ atMs, lagMs: atMs - created });
        response.statusCode = 200;
        response.end();
      });
    });
    this.server.keepAliveTimeout = 60_000;
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return (this.server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function lagsIn(receipts: readonly Receipt[], fromMs: number, toMs: number): number[] {
  return receipts
    .filter((r) => r.atMs >= fromMs && r.atMs < toMs && Number.isFinite(r.lagMs))
    .map((r) => r.lagMs)
    .sort((a, b) => a - b);
}

export async function runWebhookLoad(options: {
  platform: Platform;
  sampler: RssSampler;
  databaseUrl: string;
  merchantCount: number;
  connections: number;
  durationS: number;
  drainWaitMaxMs: number;
  say: (line: string) => void;
}): Promise<WebhookLoadResult> {
  const { platform, say } = options;
  const receiver = new Receiver();
  const port = await receiver.listen();
  try {
    const merchants: BenchMerchant[] = await createMerchants(
      platform,
      options.merchantCount,
      "Bench webhooks",
    );
    let next = 0;
    const register = async () => {
      while (next < merchants.length) {
        const m = merchants[next++]!;
        const key = `bench-endpoint-${m.id}`;
        for (let attempt = 1; ; attempt++) {
          try {
            const { status, json } = await platform.request(
              "POST",
              "/v1/webhook_endpoints",
              m.secretKey,
              { url: `http://127.0.0.1:${port}/hook`, events: ["*"] },
              { "idempotency-key": key },
            );
            if (status === 201) break;
            if (attempt >= 5 || ![409, 429, 503].includes(status))
              throw new Error(`creating a webhook endpoint failed: ${status} ${JSON.stringify(json)}`);
          } catch (error) {
            // "fetch failed": a kept-alive connection the server closed under the client. Same key again.
            if (attempt >= 5 || !(error instanceof TypeError)) throw error;
          }
          await new Promise((r) => setTimeout(r, 100 * attempt));
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(8, merchants.length) }, register));
    say(
      `receiver on 127.0.0.1:${port}; ${merchants.length} merchant(s) with an endpoint for every event; ` +
        `payments at c=${options.connections} for ${options.durationS} s, then up to ${options.drainWaitMaxMs / 1000} s to drain`,
    );
    const ids = merchants.map((m) => m.id);
    const startMs = Date.now();
    const { step, retries } = await drive({
      platform,
      sampler: options.sampler,
      merchants,
      connections: options.connections,
      durationS: options.durationS,
      warmupS: 0,
      mode: "postgres",
      caseName: "webhooks",
    });
    const endMs = startMs + step.durationS * 1000;
    // Every payment is answered (retries included): nothing writes events for these merchants now.
    const { eventIds, inWindow } = await withClient(options.databaseUrl, async (c) => {
      const all = await c.query<{ id: string }>("select id from events where merchant_id = any($1)", [ids]);
      const window = await c.query<{ n: string }>(
        "select count(*)::text as n from events where merchant_id = any($1) and created >= $2 and created < $3",
        [ids, new Date(startMs), new Date(endMs)],
      );
      return { eventIds: all.rows.map((r) => r.id), inWindow: Number(window.rows[0]!.n) };
    });
    const expected = new Set(eventIds);
    const receivedBy = (ms: number) => receiver.receipts.filter((r) => r.atMs < ms).length;
    const deliveredDuringLoad = receivedBy(endMs) - receivedBy(startMs);
    const backlogAtEnd = Math.max(0, inWindow - deliveredDuringLoad);
    const receivedExpected = () => {
      let n = 0;
      for (const id of expected) if (receiver.ids.has(id)) n++;
      return n;
    };
    // Drain: until every event of these merchants has been received once, or the bound.
    let drainMs: number | null = null;
    for (;;) {
      if (receivedExpected() >= expected.size) {
        const last = receiver.receipts.reduce((m, r) => Math.max(m, r.atMs), endMs);
        drainMs = Math.max(0, last - endMs);
        break;
      }
      if (Date.now() - endMs > options.drainWaitMaxMs) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    // Late duplicates (a lease running out) would come after: a short grace before counting.
    await new Promise((r) => setTimeout(r, 500));
    const deliveryStatuses = await withClient(options.databaseUrl, async (c) => {
      const { rows } = await c.query<{ status: string; n: string }>(
        "select status, count(*)::text as n from webhook_deliveries where merchant_id = any($1) group by status",
        [ids],
      );
      return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
    });
    let duplicates = 0;
    let unexpected = 0;
    for (const [id, n] of receiver.ids) {
      duplicates += n - 1;
      if (!expected.has(id)) unexpected++;
    }
    const all = receiver.receipts
      .filter((r) => Number.isFinite(r.lagMs))
      .map((r) => r.lagMs)
      .sort((a, b) => a - b);
    const duringLoad = lagsIn(receiver.receipts, startMs, endMs);
    const first = lagsIn(receiver.receipts, startMs, startMs + 2000);
    const last = lagsIn(receiver.receipts, endMs - 2000, endMs);
    return {
      merchants: merchants.length,
      connections: options.connections,
      loadS: step.durationS,
      payments: step.ok,
      paymentsPerSec: step.paymentsPerSec,
      p50Ms: step.p50Ms,
      p99Ms: step.p99Ms,
      eventsWritten: inWindow,
      eventsPerSec: inWindow / step.durationS,
      deliveredDuringLoad,
      deliveriesPerSec: deliveredDuringLoad / step.durationS,
      lagP50Ms: percentile(duringLoad.length ? duringLoad : all, 50),
      lagP99Ms: percentile(duringLoad.length ? duringLoad : all, 99),
      lagMaxMs: all.at(-1) ?? null,
      lagStartP50Ms: percentile(first, 50),
      lagEndP50Ms: percentile(last, 50),
      backlogAtEnd,
      drainMs,
      drainWaitMaxMs: options.drainWaitMaxMs,
      eventsInDb: expected.size,
      received: receiver.receipts.length,
      duplicates,
      missing: expected.size - receivedExpected(),
      unexpected,
      deliveryStatuses,
      retries,
      loadAverage: loadavg()[0]!,
    };
  } finally {
    await receiver.close();
  }
}

export function webhookLines(w: WebhookLoadResult): string[] {
  const ms = (v: number | null) => (v === null ? "–" : `${Math.round(v).toLocaleString("en-US")} ms`);
  const n = (v: number) => Math.round(v).toLocaleString("en-US");
  return [
    `webhooks c=${w.connections}: ${n(w.paymentsPerSec)} payments/s (p50 ${w.p50Ms} ms, p99 ${w.p99Ms} ms), ` +
      `${n(w.eventsPerSec)} events written/s, ${n(w.deliveriesPerSec)} deliveries/s during the load`,
    `  lag (receipt − event created) during the load: p50 ${ms(w.lagP50Ms)}, p99 ${ms(w.lagP99Ms)}, max overall ${ms(w.lagMaxMs)}; ` +
      `p50 in the first 2 s ${ms(w.lagStartP50Ms)} vs last 2 s ${ms(w.lagEndP50Ms)}` +
      (w.lagStartP50Ms !== null && w.lagEndP50Ms !== null && w.lagEndP50Ms > 2 * w.lagStartP50Ms + 500
        ? " (growing: delivery falls behind)"
        : ""),
    `  backlog at the end of the load ${n(w.backlogAtEnd)} events; drained ` +
      (w.drainMs === null ? `NOT within ${w.drainWaitMaxMs / 1000} s` : `${ms(w.drainMs)} after the load`) +
      `; ${n(w.eventsInDb)} events in the database, ${n(w.received)} deliveries received, ` +
      `duplicates ${w.duplicates}, missing ${w.missing}${w.unexpected ? `, unexpected ${w.unexpected}` : ""}; ` +
      `deliveries ${Object.entries(w.deliveryStatuses)
        .map(([s, v]) => `${s} ${v}`)
        .join(", ")}  load ${w.loadAverage.toFixed(1)}`,
  ];
}
