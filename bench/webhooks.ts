/**
 * Webhook delivery benchmark: writes events at a fixed rate, the way payments do (one short
 * transaction each), while delivery workers POST them to a local receiver. Prints figures; it
 * never passes or fails.
 *
 *   node --import tsx bench/webhooks.ts [--rate=500] [--seconds=10] [--workers=1] [--concurrency=32]
 *
 * DATABASE_URL set: a scratch database is created on that server and dropped afterwards.
 * Unset: an in-memory embedded database.
 */
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { setTimeout as delay } from "node:timers/promises";
import type { Db } from "../src/db/db.ts";
import { openEmbedded } from "../src/db/embedded.ts";
import { migrate } from "../src/db/migrate.ts";
import { openPostgres } from "../src/db/postgres.ts";
import { createWebhookEndpoint } from "../src/events/endpoints.ts";
import { insertEvents } from "../src/events/events.ts";
import { parseAllowedHosts } from "../src/events/ssrf.ts";
import { startWebhookWorker } from "../src/events/worker.ts";
import { systemClock } from "../src/platform/clock.ts";
import { newId } from "../src/platform/ids.ts";

function option(name: string, fallback: number): number {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  return arg ? Number(arg.split("=")[1]) : fallback;
}

const RATE_PER_SECOND = option("rate", 500);
const DURATION_SECONDS = option("seconds", 10);
const WORKERS = option("workers", 1);
const CONCURRENCY = option("concurrency", 64);
const WRITERS = option("writers", 16);
const WRITE_PATH_SAMPLES = 500;
const DRAIN_WAIT_MAX_MS = 60_000;

async function openScratch(): Promise<{ db: Db; kind: string; close(): Promise<void> }> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    const db = await openEmbedded({});
    await migrate(db);
    return { db, kind: "embedded (PGlite, in memory)", close: () => db.close() };
  }
  const admin = await openPostgres({ url, poolSizeMax: 1 });
  const name = `centime_bench_${randomBytes(4).toString("hex")}`;
  await admin.query(`create database ${name}`);
  const target = new URL(url);
  target.pathname = `/${name}`;
  const db = await openPostgres({ url: target.toString(), poolSizeMax: 16 });
  await migrate(db);
  return {
    db,
    kind: "PostgreSQL",
    async close() {
      await db.close();
      await admin.query(`drop database if exists ${name} with (force)`);
      await admin.close();
    },
  };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function writeEvent(db: Db, merchantId: string): Promise<void> {
  const paymentId = newId("pay");
  await db.transaction((tx) =>
    insertEvents(tx, [
      {
        merchantId,
        mode: "test",
        type: "payment.succeeded",
        object: { id: paymentId, object: "payment", amount: 199, currency: "EUR", status: "succeeded" },
        paymentId,
        createdMs: Date.now(),
      },
    ]),
  );
}

/** Mean time of one event-writing transaction, sequentially: the cost on the payment path. */
async function writePathMs(db: Db, merchantId: string): Promise<number> {
  const started = performance.now();
  for (let i = 0; i < WRITE_PATH_SAMPLES; i++) await writeEvent(db, merchantId);
  return (performance.now() - started) / WRITE_PATH_SAMPLES;
}

async function pending(db: Db): Promise<number> {
  const { rows } = await db.query<{ n: bigint }>(
    "select count(*) as n from webhook_deliveries where status = 'pending'",
  );
  return Number(rows[0]!.n);
}

const lagsMs: number[] = [];
const receiver = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on("data", (c: Buffer) => chunks.push(c));
  request.on("end", () => {
    const body = JSON.parse(Buffer.concat(chunks).toString()) as { created: string };
    lagsMs.push(Date.now() - Date.parse(body.created));
    response.statusCode = 204;
    response.end();
  });
});
await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
const port = (receiver.address() as AddressInfo).port;

const scratch = await openScratch();
const { db } = scratch;
console.log(
  `webhook delivery on ${scratch.kind}: ${RATE_PER_SECOND} events/s for ${DURATION_SECONDS} s, ` +
    `${WORKERS} worker(s) × ${CONCURRENCY} in flight`,
);

// The fan-out trigger on the write path: a merchant without endpoints, then one with an endpoint.
const quiet = newId("mer");
const busy = newId("mer");
await writePathMs(db, newId("mer")); // warm-up
const withoutMs = await writePathMs(db, quiet);
await createWebhookEndpoint(
  { db, clock: systemClock, allowedHosts: parseAllowedHosts("127.0.0.1") },
  { merchantId: busy, mode: "test" },
  { url: `http://127.0.0.1:${port}/hooks`, events: ["*"] },
);
const withMs = await writePathMs(db, busy);
console.log(
  `event write transaction: ${withoutMs.toFixed(3)} ms without endpoints, ${withMs.toFixed(3)} ms with one (fan-out)`,
);
await db.query("delete from webhook_deliveries");
lagsMs.length = 0;

const workers = Array.from({ length: WORKERS }, () =>
  startWebhookWorker({
    db,
    concurrency: CONCURRENCY,
    pollIntervalMs: 50,
    allowedHosts: parseAllowedHosts("127.0.0.1"),
    prune: false,
  }),
);

// Writers keep to the target rate: each tick writes what the schedule says is due by now.
const started = performance.now();
const total = RATE_PER_SECOND * DURATION_SECONDS;
let written = 0;
let writing = true;
const writers = Array.from({ length: WRITERS }, async () => {
  while (written < total) {
    const dueNow = Math.floor(((performance.now() - started) / 1000) * RATE_PER_SECOND);
    if (written >= dueNow) {
      await delay(2);
      continue;
    }
    written++;
    await writeEvent(db, busy);
  }
});
const samples: string[] = [];
const sampler = (async () => {
  for (let second = 1; writing; second++) {
    await delay(1000);
    samples.push(`${second}s: written ${written}, delivered ${lagsMs.length}, backlog ${await pending(db)}`);
  }
})();
await Promise.all(writers);
const writeSeconds = (performance.now() - started) / 1000;
writing = false;
await sampler;
const drainStarted = performance.now();
while (lagsMs.length < total && performance.now() - drainStarted < DRAIN_WAIT_MAX_MS) await delay(20);
const allSeconds = (performance.now() - started) / 1000;
await Promise.all(workers.map((w) => w.stop()));

for (const line of samples) console.log(`  ${line}`);
const sorted = [...lagsMs].sort((a, b) => a - b);
console.log(
  `written: ${total} events in ${writeSeconds.toFixed(1)} s (${(total / writeSeconds).toFixed(0)}/s)`,
);
console.log(
  `delivered: ${lagsMs.length} in ${allSeconds.toFixed(1)} s (${(lagsMs.length / allSeconds).toFixed(0)}/s), ` +
    `drained ${((performance.now() - drainStarted) / 1000).toFixed(1)} s after the last write`,
);
console.log(
  `lag from event to receipt: p50 ${percentile(sorted, 50)} ms, p95 ${percentile(sorted, 95)} ms, ` +
    `p99 ${percentile(sorted, 99)} ms, max ${sorted.at(-1)} ms`,
);
await scratch.close();
receiver.close();
