/**
 * DATABASE_READ_URL against a real streaming replica (run by .ci/replica, which creates a primary
 * and a physical standby of it with pg_basebackup; never the shared server).
 * - The read pool is a standby: it is in recovery and refuses writes, so every list that reads it
 *   is proven not to write.
 * - Payments written to the primary reach the lists read from the replica; the lag is measured.
 * - With the replica's replay paused (a replica that has fallen behind), a payment just created is
 *   still read back at once (it reads the primary), while the event list, which may lag, does not
 *   show it until replay resumes; nothing is lost when it does.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import {
  type CentimeProcess,
  createMerchantOver,
  http,
  startCentime,
  TEST_ADMIN_KEY,
} from "../test/support/process.ts";

const PRIMARY_URL = process.env.CENTIME_REPLICA_PRIMARY_URL;
const REPLICA_URL = process.env.CENTIME_REPLICA_URL;
if (!PRIMARY_URL || !REPLICA_URL) {
  throw new Error("run these through .ci/replica: it creates the primary and its streaming replica");
}

const database = `centime_replica_${randomBytes(4).toString("hex")}`;
const onServer = (serverUrl: string, name: string) => {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
};

let server: CentimeProcess;
let key: string;

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

/** Polls until `check` holds or `withinMs` passes; returns the milliseconds it took. */
async function eventually(what: string, withinMs: number, check: () => Promise<boolean>): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await check()) return performance.now() - started;
    if (performance.now() - started > withinMs) assert.fail(`${what}: not seen within ${withinMs} ms`);
    await sleep(20);
  }
}

async function pay(): Promise<{ id: string; status: string }> {
  const r = await http<{ id: string; status: string }>(server.url, "POST", "/v1/payments", {
    key,
    body: { amount: 199, currency: "EUR", payment_method: { type: "sandbox", scenario: "approve" } },
    headers: { "idempotency-key": `replica-${randomBytes(8).toString("hex")}` },
    signal: AbortSignal.timeout(15_000),
  });
  assert.equal(r.status, 201, r.text);
  return r.body;
}

async function eventObjects(): Promise<Set<string>> {
  const r = await http<{ data: Array<{ data: { object: { id: string } } }> }>(
    server.url,
    "GET",
    "/v1/events?limit=100",
    { key, signal: AbortSignal.timeout(15_000) },
  );
  assert.equal(r.status, 200, r.text);
  return new Set(r.body.data.map((e) => e.data.object.id));
}

before(async () => {
  await withClient(PRIMARY_URL, (c) => c.query(`create database ${database}`));
  // CREATE DATABASE travels by WAL too: wait until the standby has it before pointing a pool at it.
  await eventually("the new database on the replica", 30_000, () =>
    withClient(onServer(REPLICA_URL, database), async () => true).catch(() => false),
  );
  server = await startCentime({
    DATABASE_URL: onServer(PRIMARY_URL, database),
    DATABASE_READ_URL: onServer(REPLICA_URL, database),
    CENTIME_ADMIN_KEY: TEST_ADMIN_KEY,
  });
  ({ secretKey: key } = await createMerchantOver(server.url, TEST_ADMIN_KEY, "Replica studio"));
});

after(async () => {
  await server?.stop();
  await withClient(REPLICA_URL, (c) => c.query("select pg_wal_replay_resume()")).catch(() => undefined);
  await withClient(PRIMARY_URL, (c) => c.query(`drop database if exists ${database} with (force)`));
});

test("the read pool is a real standby: in recovery, and it refuses writes", async () => {
  await withClient(onServer(REPLICA_URL, database), async (c) => {
    const { rows } = await c.query<{ recovering: boolean }>("select pg_is_in_recovery() as recovering");
    assert.equal(rows[0]!.recovering, true);
    await assert.rejects(
      c.query("insert into settings (name, value) values ('replica-test', 'x')"),
      (error: unknown) => {
        assert.equal((error as { code?: string }).code, "25006"); // read_only_sql_transaction
        return true;
      },
    );
  });
});

test("payments written to the primary reach the event list read from the replica (lag measured)", async () => {
  const lags: number[] = [];
  for (let i = 0; i < 20; i++) {
    const payment = await pay();
    // Read your own write: the payment itself is read from the primary, at once.
    const read = await http<{ status: string }>(server.url, "GET", `/v1/payments/${payment.id}`, {
      key,
      signal: AbortSignal.timeout(15_000),
    });
    assert.equal(read.status, 200);
    assert.equal(read.body.status, "succeeded");
    lags.push(
      await eventually(`events of ${payment.id}`, 10_000, async () => (await eventObjects()).has(payment.id)),
    );
  }
  lags.sort((a, b) => a - b);
  console.log(
    `replica lag as the API sees it (payment answered → its events listed from the replica), 20 payments: ` +
      `p50 ${lags[10]!.toFixed(1)} ms, max ${lags[19]!.toFixed(1)} ms`,
  );
});

test("a replica that has fallen behind: own writes read at once from the primary, the lists catch up, nothing lost", async () => {
  await withClient(REPLICA_URL, (c) => c.query("select pg_wal_replay_pause()"));
  await eventually("replay paused", 10_000, () =>
    withClient(REPLICA_URL, async (c) => {
      const { rows } = await c.query<{ state: string }>("select pg_get_wal_replay_pause_state() as state");
      return rows[0]!.state === "paused";
    }),
  );
  const behind = [await pay(), await pay(), await pay()];
  for (const payment of behind) {
    const read = await http<{ status: string }>(server.url, "GET", `/v1/payments/${payment.id}`, {
      key,
      signal: AbortSignal.timeout(15_000),
    });
    assert.equal(
      read.status,
      200,
      "a payment just created is read from the primary, whatever the replica says",
    );
    const refund = await http<{ status: string }>(server.url, "POST", "/v1/refunds", {
      key,
      body: { payment: payment.id, amount: 50 },
      headers: { "idempotency-key": `refund-${payment.id}` },
      signal: AbortSignal.timeout(15_000),
    });
    assert.equal(refund.status, 201, `a refund right after the payment sees it: ${refund.text}`);
  }
  // The lag-tolerant list does not have them yet: it really reads the paused replica.
  await sleep(300);
  const listed = await eventObjects();
  for (const payment of behind)
    assert.equal(listed.has(payment.id), false, "the paused replica lists nothing new");

  await withClient(REPLICA_URL, (c) => c.query("select pg_wal_replay_resume()"));
  await eventually("the paused payments' events after replay resumes", 15_000, async () => {
    const objects = await eventObjects();
    return behind.every((p) => objects.has(p.id));
  });
});
