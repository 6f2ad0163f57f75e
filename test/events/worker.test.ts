/**
 * Goal: delivery workers. A worker on the real clock delivers and stops cleanly; several workers
 * share one queue without sending an attempt twice; events for one object go out in order; and
 * a worker process killed with SIGKILL mid-delivery loses nothing: after its leases run out the
 * next worker sends what it had claimed, with the same webhook-id.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import type { Db } from "../../src/db/db.ts";
import { openEmbedded } from "../../src/db/embedded.ts";
import { runDeliveryPass } from "../../src/events/delivery.ts";
import { createWebhookEndpoint, listWebhookAttempts } from "../../src/events/endpoints.ts";
import { WEBHOOK_LIMITS } from "../../src/events/limits.ts";
import { parseAllowedHosts } from "../../src/events/ssrf.ts";
import { startWebhookWorker } from "../../src/events/worker.ts";
import { FakeClock, systemClock } from "../../src/platform/clock.ts";
import { openTestDatabase, type TestDatabase } from "../support/db.ts";
import { embeddedTemplatePath } from "../support/templates.ts";
import { newScope, paymentEvent, type Receiver, startReceiver, testTransport, verifyAt } from "./support.ts";

/** Waits for a condition that other processes or timers make true; fails after a generous bound. */
async function eventually(check: () => Promise<boolean>, what: string, boundMs = 60_000): Promise<void> {
  const until = Date.now() + boundMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`gave up waiting: ${what}`);
    await delay(20);
  }
}

async function pendingCount(db: Db): Promise<number> {
  const { rows } = await db.query<{ n: bigint }>(
    "select count(*) as n from webhook_deliveries where status = 'pending'",
  );
  return Number(rows[0]!.n);
}

const allowedHosts = parseAllowedHosts("127.0.0.1");

describe("delivery workers", () => {
  let database: TestDatabase;
  let receiver: Receiver;
  before(async () => {
    database = await openTestDatabase();
    receiver = await startReceiver();
  });
  after(async () => {
    await receiver.close();
    await database.close();
  });

  test("a worker on the real clock delivers and stops cleanly", async () => {
    const scope = newScope();
    const deps = { db: database.db, clock: systemClock, allowedHosts };
    const endpoint = await createWebhookEndpoint(deps, scope, { url: receiver.url, events: ["*"] });
    receiver.received.length = 0;
    const worker = startWebhookWorker({ db: database.db, allowedHosts, pollIntervalMs: 10, prune: false });
    try {
      const eventId = await paymentEvent(database.db, scope, systemClock);
      worker.wake();
      await eventually(async () => receiver.received.length === 1, "the delivery");
      assert.equal(receiver.received[0]!.headers["webhook-id"], eventId);
      verifyAt(endpoint.secret, receiver.received[0]!, Date.now());
      await eventually(async () => (await pendingCount(database.db)) === 0, "the delivery to be recorded");
    } finally {
      await worker.stop();
    }
  });

  test("three workers share the queue and send each delivery once", async () => {
    const scope = newScope();
    await createWebhookEndpoint({ db: database.db, clock: systemClock, allowedHosts }, scope, {
      url: receiver.url,
      events: ["*"],
    });
    receiver.received.length = 0;
    const eventCount = 60;
    const events: string[] = [];
    for (let i = 0; i < eventCount; i++) events.push(await paymentEvent(database.db, scope, systemClock));
    const workers = [1, 2, 3].map(() =>
      startWebhookWorker({ db: database.db, allowedHosts, concurrency: 4, pollIntervalMs: 5, prune: false }),
    );
    try {
      await eventually(async () => (await pendingCount(database.db)) === 0, "every delivery");
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
    }
    const ids = receiver.received.map((r) => String(r.headers["webhook-id"]));
    assert.equal(ids.length, eventCount, "no delivery was sent twice");
    assert.deepEqual([...ids].sort(), [...events].sort());
  });

  test("events for one object are delivered in order, even across a retry", async () => {
    const clock = new FakeClock(Date.parse("2026-03-01T00:00:00Z"));
    const scope = newScope();
    const deps = { db: database.db, clock, allowedHosts };
    const endpoint = await createWebhookEndpoint(deps, scope, { url: receiver.url, events: ["*"] });
    const transport = testTransport();
    const pass = () => runDeliveryPass({ db: database.db, clock, transport });
    receiver.received.length = 0;
    let failures = 1;
    receiver.respond((_request, response) => {
      response.statusCode = failures-- > 0 ? 500 : 200;
      response.end();
    });
    try {
      const types = ["payment.created", "payment.processing", "payment.succeeded"] as const;
      const ids: string[] = [];
      for (const type of types)
        ids.push(await paymentEvent(database.db, scope, clock, { type, paymentId: "pay_ordered" }));
      // Another object is not held back by this one.
      const unrelated = await paymentEvent(database.db, scope, clock, { paymentId: "pay_other" });
      assert.equal(await pass(), 2);
      assert.equal(await pass(), 0, "later events wait while the first is retrying");
      clock.advance(6_000);
      while ((await pass()) > 0) {}
      const order = receiver.received.map((r) => String(r.headers["webhook-id"]));
      assert.deepEqual(
        order.filter((id) => id !== unrelated),
        [ids[0], ids[0], ids[1], ids[2]],
      );
      assert.ok(order.includes(unrelated));
      const attempts = (await listWebhookAttempts(deps, scope, endpoint.id, {}, { limit: 10 })).data;
      assert.equal(attempts.filter((a) => a.status === "failed").length, 1);
    } finally {
      receiver.respond((_request, response) => {
        response.statusCode = 204;
        response.end();
      });
      transport.close();
    }
  });

  test("an earlier event stuck in retries holds later ones for at most the ordering wait", async () => {
    const clock = new FakeClock(Date.parse("2026-04-01T00:00:00Z"));
    const scope = newScope();
    await createWebhookEndpoint({ db: database.db, clock, allowedHosts }, scope, {
      url: receiver.url,
      events: ["*"],
    });
    const transport = testTransport();
    receiver.received.length = 0;
    receiver.respond((request, response) => {
      response.statusCode = request.body.includes("payment.created") ? 500 : 200;
      response.end();
    });
    try {
      const stuck = await paymentEvent(database.db, scope, clock, {
        type: "payment.created",
        paymentId: "pay_stuck",
      });
      const later = await paymentEvent(database.db, scope, clock, {
        type: "payment.succeeded",
        paymentId: "pay_stuck",
      });
      for (
        let guard = 0;
        guard < 20 && !receiver.received.some((r) => r.headers["webhook-id"] === later);
        guard++
      ) {
        clock.advance(WEBHOOK_LIMITS.ordering_wait_max_ms / 4);
        await runDeliveryPass({ db: database.db, clock, transport });
      }
      const order = receiver.received.map((r) => String(r.headers["webhook-id"]));
      assert.ok(order.includes(later), "the later event went out");
      assert.ok(order.indexOf(stuck) < order.indexOf(later));
      const { rows } = await database.db.query<{ status: string }>(
        "select status from webhook_deliveries where event_id = $1",
        [stuck],
      );
      assert.equal(rows[0]?.status, "pending", "the stuck one is still retrying on its own schedule");
    } finally {
      receiver.respond((_request, response) => {
        response.statusCode = 204;
        response.end();
      });
      transport.close();
    }
  });
});

describe("a worker process killed with SIGKILL mid-delivery", () => {
  const childScript = join(import.meta.dirname, "fixtures", "worker-process.ts");
  const LEASE_MS = 1000;

  function spawnWorker(env: Record<string, string>): Promise<ChildProcess> {
    const child = spawn(process.execPath, ["--import", "tsx", childScript], {
      env: { ...process.env, ...env, CHILD_LEASE_MS: String(LEASE_MS) },
      stdio: ["ignore", "pipe", "inherit"],
    });
    return new Promise((resolve, reject) => {
      child.stdout!.on("data", (chunk: Buffer) => {
        if (chunk.toString().includes("ready")) resolve(child);
      });
      child.on("exit", (code) => reject(new Error(`worker process exited early (${code})`)));
    });
  }

  async function killNine(child: ChildProcess): Promise<void> {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
  }

  /**
   * The receiver holds each request a while before answering, so the kill lands while requests are
   * in flight: sent, not yet recorded.
   */
  async function scenario(setup: {
    open(): Promise<Db>;
    /** Close before the child opens the database (the embedded engine is single-process). */
    exclusive: boolean;
    childEnv: Record<string, string>;
  }) {
    const receiver = await startReceiver();
    receiver.respond((_request, response) => {
      setTimeout(() => {
        response.statusCode = 200;
        response.end();
      }, 100);
    });
    let db = await setup.open();
    const scope = newScope();
    const events: string[] = [];
    try {
      const endpoint = await createWebhookEndpoint({ db, clock: systemClock, allowedHosts }, scope, {
        url: receiver.url,
        events: ["*"],
      });
      for (let i = 0; i < 30; i++) events.push(await paymentEvent(db, scope, systemClock));
      if (setup.exclusive) await db.close();

      const child = await spawnWorker(setup.childEnv);
      await eventually(async () => receiver.received.length >= 6, "the child to start delivering");
      await killNine(child);
      const seenAtKill = receiver.received.length;

      if (setup.exclusive) db = await setup.open();
      assert.ok((await pendingCount(db)) > 0, "the kill left work behind");
      const worker = startWebhookWorker({
        db,
        allowedHosts,
        pollIntervalMs: 20,
        leaseMs: LEASE_MS,
        prune: false,
      });
      try {
        await eventually(async () => (await pendingCount(db)) === 0, "the survivor to finish");
      } finally {
        await worker.stop();
      }
      const received = new Set(receiver.received.map((r) => String(r.headers["webhook-id"])));
      assert.deepEqual([...received].sort(), [...events].sort(), "every event arrived");
      assert.ok(receiver.received.length > seenAtKill);
      for (const request of receiver.received) verifyAt(endpoint.secret, request, Date.now());
      const { rows } = await db.query<{ status: string; n: bigint }>(
        "select status, count(*) as n from webhook_deliveries where merchant_id = $1 group by status",
        [scope.merchantId],
      );
      assert.deepEqual(
        rows.map((r) => [r.status, Number(r.n)]),
        [["succeeded", 30]],
      );
    } finally {
      if (setup.exclusive) await db.close().catch(() => {});
      await receiver.close();
    }
  }

  test("no event is lost, none changes id", async () => {
    const database = await openTestDatabase();
    if (database.url) {
      try {
        await scenario({
          open: async () => database.db,
          exclusive: false,
          childEnv: { CHILD_DATABASE_URL: database.url },
        });
      } finally {
        await database.close();
      }
      return;
    }
    // Embedded: one process at a time on a data directory, so the test hands it over.
    await database.close();
    const dataDir = mkdtempSync(join(tmpdir(), "centime-webhooks-"));
    try {
      const template = new Blob([readFileSync(embeddedTemplatePath())]);
      let first = true;
      await scenario({
        open: async () => {
          const db = await openEmbedded(first ? { dataDir, template } : { dataDir });
          first = false;
          return db;
        },
        exclusive: true,
        childEnv: { CHILD_DATA_DIR: dataDir },
      });
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
