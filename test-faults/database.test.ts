/**
 * Database faults must not take the platform down (run by .ci/db-faults, which creates the
 * PostgreSQL cluster these tests restart and freeze; never the shared server).
 * - A restart under load: the server process survives, every request is answered (201, or 503 with
 *   Retry-After; never a 500 or a hang), it recovers by itself within seconds, nothing acknowledged
 *   is lost, and a key answered 503 is still usable: its retry gives exactly one payment.
 * - A frozen database (every process of the cluster stopped with SIGSTOP): requests are answered
 *   within the request deadline with 503 and Retry-After, /ready answers 503 within a second or so,
 *   and after SIGCONT the platform recovers by itself.
 */
import assert from "node:assert/strict";
import { execSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import {
  type CentimeProcess,
  createMerchantOver,
  killAllChildren,
  startCentime,
  TEST_ADMIN_KEY,
} from "../test/support/process.ts";

const DATABASE_URL = process.env.CENTIME_FAULTS_DATABASE_URL;
const PGDATA = process.env.CENTIME_FAULTS_PGDATA;
const RESTART = process.env.CENTIME_FAULTS_RESTART;
if (!DATABASE_URL || !PGDATA || !RESTART) {
  throw new Error(
    "run these through .ci/db-faults: it creates the PostgreSQL cluster they restart and freeze",
  );
}

const DEADLINE_MS = 3_000;
/** Scheduling on a loaded two-core machine: how late an answer may be beyond the deadline. */
const SLACK_MS = 2_000;

let server: CentimeProcess;
let key: string;
let merchantId: string;
let counter = 0;

interface Answer {
  status: number;
  retryAfter: string | null;
  body: { id?: string; status?: string; error?: { code: string } };
  ms: number;
}

async function request(
  method: string,
  path: string,
  body?: unknown,
  idempotencyKey?: string,
): Promise<Answer> {
  const started = performance.now();
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...(idempotencyKey ? { "idempotency-key": idempotencyKey } : {}),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  let parsed: Answer["body"] = {};
  try {
    parsed = JSON.parse(text) as Answer["body"];
  } catch {
    parsed = { error: { code: `not json: ${text.slice(0, 100)}` } };
  }
  return {
    status: response.status,
    retryAfter: response.headers.get("retry-after"),
    body: parsed,
    ms: performance.now() - started,
  };
}

const pay = (idempotencyKey: string) =>
  request(
    "POST",
    "/v1/payments",
    { amount: 250, currency: "EUR", payment_method: { type: "sandbox", scenario: "approve" } },
    idempotencyKey,
  );

/** The postmaster and its children: what a frozen database is. */
function clusterPids(): number[] {
  const postmaster = Number(readFileSync(`${PGDATA}/postmaster.pid`, "utf8").split("\n")[0]);
  const children = execSync(`pgrep -P ${postmaster} || true`, { encoding: "utf8" })
    .split("\n")
    .filter(Boolean)
    .map(Number);
  return [postmaster, ...children];
}

async function recovered(withinMs: number): Promise<number> {
  const started = performance.now();
  for (;;) {
    const r = await pay(`recovery-${counter++}`);
    if (r.status === 201) return performance.now() - started;
    if (performance.now() - started > withinMs)
      assert.fail(`not recovered after ${withinMs} ms: ${r.status}`);
    await sleep(200);
  }
}

/** Every payment of the merchant, straight from the database. */
async function paymentIds(): Promise<Set<string>> {
  const client = new pg.Client({ connectionString: DATABASE_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ id: string }>("select id from payments where merchant_id = $1", [
      merchantId,
    ]);
    return new Set(rows.map((r) => r.id));
  } finally {
    await client.end();
  }
}

/** Retries keys answered 503 until each gives its payment; returns key -> payment id. */
async function retryAll(keys: Iterable<string>): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  for (const k of keys) {
    for (let attempt = 0; ; attempt++) {
      const r = await pay(k);
      if (r.status === 201) {
        ids.set(k, r.body.id!);
        break;
      }
      assert.ok(attempt < 50, `key ${k} still refused: ${r.status} ${JSON.stringify(r.body)}`);
      await sleep(200);
    }
  }
  return ids;
}

async function assertLedgerBalances(): Promise<void> {
  const r = await request("GET", "/v1/ledger/trial_balance");
  assert.equal(r.status, 200);
  for (const row of (r.body as unknown as { data: Array<{ debits: number; credits: number }> }).data) {
    assert.equal(row.debits, row.credits, "the ledger balances");
  }
}

before(async () => {
  server = await startCentime(
    {
      DATABASE_URL,
      CENTIME_ADMIN_KEY: TEST_ADMIN_KEY,
      CENTIME_REQUEST_DEADLINE_MS: String(DEADLINE_MS),
      CENTIME_DB_QUERY_TIMEOUT_MS: "2000",
      CENTIME_DB_CONNECT_TIMEOUT_MS: "1000",
      LOG_LEVEL: "error",
    },
    { timeoutMs: 120_000 },
  );
  const merchant = await createMerchantOver(server.url, TEST_ADMIN_KEY, "Fault studio");
  key = merchant.secretKey;
  merchantId = merchant.merchantId;
});
after(() => {
  killAllChildren();
});

test("a PostgreSQL restart under load: the server survives, recovers, and loses nothing acknowledged", async () => {
  const acknowledged = new Map<string, string>();
  const refused = new Set<string>();
  const unexpected: string[] = [];
  let stop = false;
  const load = async () => {
    while (!stop) {
      const k = `restart-${counter++}`;
      const r = await pay(k);
      if (r.status === 201) acknowledged.set(k, r.body.id!);
      else if (r.status === 503 && r.retryAfter) refused.add(k);
      else unexpected.push(`${r.status} ${JSON.stringify(r.body)}`);
    }
  };
  const loaders = Array.from({ length: 8 }, load);
  await sleep(1_500);
  execSync(RESTART, { stdio: "ignore" });
  await sleep(1_500);
  execSync(RESTART, { stdio: "ignore" });
  const recoveryMs = await recovered(15_000);
  await sleep(1_000);
  stop = true;
  await Promise.all(loaders);

  assert.equal(server.child.exitCode, null, `the server is still running\n${server.stderr().slice(-2000)}`);
  assert.deepEqual(unexpected, [], "only 201s and 503s with Retry-After");
  assert.ok(acknowledged.size > 20, `payments acknowledged under load: ${acknowledged.size}`);
  console.log(
    `restart: ${acknowledged.size} acknowledged, ${refused.size} answered 503, recovered ${Math.round(recoveryMs)} ms after the second restart`,
  );

  const stored = await paymentIds();
  for (const [k, id] of acknowledged) assert.ok(stored.has(id), `acknowledged payment ${id} (${k}) is kept`);
  const retried = await retryAll(refused);
  const after = await paymentIds();
  for (const [k, id] of acknowledged) {
    const again = await pay(k);
    assert.equal(again.body.id, id, `key ${k} replays its payment`);
  }
  const expected = new Set([...acknowledged.values(), ...retried.values()]);
  const recoveryPayments = [...after].filter((id) => !expected.has(id));
  // Payments of the recovery probes are the only others; none is a duplicate of a retried key.
  assert.equal(new Set(retried.values()).size, retried.size, "one payment per retried key");
  assert.ok(recoveryPayments.length <= counter, "no unexplained payments");
  await assertLedgerBalances();
});

test("a frozen database: requests answered 503 within the deadline, /ready within a second, recovery after resume", async () => {
  assert.equal((await pay(`warm-${counter++}`)).status, 201);
  const pids = clusterPids();
  for (const pid of [...pids].reverse()) process.kill(pid, "SIGSTOP");
  let frozen = true;
  try {
    const keys = Array.from({ length: 6 }, () => `frozen-${counter++}`);
    const [ready, ...answers] = await Promise.all([
      (async () => {
        const started = performance.now();
        const r = await fetch(`${server.url}/ready`, { signal: AbortSignal.timeout(30_000) });
        return { status: r.status, ms: performance.now() - started };
      })(),
      ...keys.map(pay),
    ]);
    console.log(
      `frozen: /ready ${ready.status} in ${Math.round(ready.ms)} ms; payments ${answers.map((a) => `${a.status} in ${Math.round(a.ms)} ms`).join(", ")}`,
    );
    assert.equal(ready.status, 503);
    assert.ok(ready.ms < 1_000 + SLACK_MS, `/ready answered in ${Math.round(ready.ms)} ms`);
    for (const a of answers) {
      assert.equal(a.status, 503, JSON.stringify(a.body));
      assert.ok(a.retryAfter, "Retry-After is set");
      assert.equal(a.body.error?.code, "service_unavailable");
      assert.ok(a.ms < DEADLINE_MS + SLACK_MS, `answered in ${Math.round(a.ms)} ms`);
    }
    for (const pid of pids) process.kill(pid, "SIGCONT");
    frozen = false;
    const recoveryMs = await recovered(15_000);
    console.log(`frozen: recovered ${Math.round(recoveryMs)} ms after SIGCONT`);
    assert.equal(server.child.exitCode, null, "the server is still running");
    const retried = await retryAll(keys);
    assert.equal(new Set(retried.values()).size, keys.length, "each key answered 503 gives one payment");
    const ready2 = await fetch(`${server.url}/ready`);
    assert.equal(ready2.status, 200);
    await assertLedgerBalances();
  } finally {
    if (frozen) for (const pid of pids) process.kill(pid, "SIGCONT");
  }
});
