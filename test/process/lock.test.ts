/**
 * The embedded data directory's lock: a second `centime start` on a directory in use exits
 * non-zero naming the directory and the holder; a lock left by a SIGKILLed process is taken over.
 * These run on the embedded database in both suite runs (the lock is the embedded engine's); with
 * DATABASE_URL set, one more test checks that PostgreSQL needs no such lock (two instances share
 * one database).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { DataDirectoryLockedError, openEmbedded } from "../../src/db/embedded.ts";
import {
  childEnv,
  createMerchantOver,
  embeddedStore,
  http,
  killAllChildren,
  type ProcessStore,
  postgresStore,
  runCentime,
  startCentime,
  TEST_ADMIN_KEY,
} from "../support/process.ts";

const stores: ProcessStore[] = [];
const tempDirs: string[] = [];
after(async () => {
  killAllChildren();
  for (const store of stores) await store.cleanup();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "centime-lock-"));
  tempDirs.push(dir);
  return dir;
}

/** The pid of a process that has exited (a stale lock's holder). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await new Promise((resolve) => child.once("exit", resolve));
  return child.pid!;
}

describe("the lock, in process (openEmbedded)", () => {
  test("a lock file held by a live process refuses the directory with DataDirectoryLockedError", async () => {
    const dataDir = tempDir();
    // The parent of this test process is alive and is not us.
    writeFileSync(join(dataDir, "centime.lock"), String(process.ppid));
    await assert.rejects(openEmbedded({ dataDir }), (error: unknown) => {
      assert.ok(error instanceof DataDirectoryLockedError);
      assert.equal(error.dataDir, dataDir);
      assert.equal(error.holderPid, process.ppid);
      assert.match(error.message, /in use by process/);
      assert.ok(error.message.includes(dataDir));
      return true;
    });
    assert.equal(
      readFileSync(join(dataDir, "centime.lock"), "utf8"),
      String(process.ppid),
      "lock left alone",
    );
  });

  test("a lock file left by a dead process is taken over, and released on close", async () => {
    const dataDir = tempDir();
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, "centime.lock"), String(await deadPid()));
    const db = await openEmbedded({ dataDir });
    try {
      assert.equal(readFileSync(join(dataDir, "centime.lock"), "utf8"), String(process.pid));
      const { rows } = await db.query<{ one: number }>("select 1 as one");
      assert.deepEqual(rows, [{ one: 1 }]);
    } finally {
      await db.close();
    }
    assert.equal(existsSync(join(dataDir, "centime.lock")), false, "released on close");
  });
});

describe("the lock, across processes (centime start)", () => {
  const store = embeddedStore("centime-lock-");
  stores.push(store);
  const env = { ...store.env, CENTIME_ADMIN_KEY: TEST_ADMIN_KEY };
  const lockPath = join(store.dataDir!, "centime.lock");
  let holderPid = 0;
  let merchantId = "";

  test("a second start on a directory in use exits non-zero naming the directory and the holder", async () => {
    const holder = await startCentime(env);
    holderPid = holder.pid;
    assert.equal(readFileSync(lockPath, "utf8"), String(holder.pid));
    const second = await runCentime(["start"], childEnv({ ...env, PORT: "0" }));
    assert.notEqual(second.code, 0, `second start must fail: ${second.stdout}`);
    assert.equal(second.code, 3);
    assert.match(second.stderr, /in use by process/);
    assert.ok(second.stderr.includes(store.dataDir!), second.stderr);
    assert.ok(second.stderr.includes(String(holder.pid)), second.stderr);
    assert.doesNotMatch(second.stdout, /Centime is running/);
    // The holder is unharmed and still holds the lock.
    const ready = await http(holder.url, "GET", "/ready");
    assert.equal(ready.status, 200, ready.text);
    assert.equal(readFileSync(lockPath, "utf8"), String(holder.pid));
    ({ merchantId } = await createMerchantOver(holder.url, TEST_ADMIN_KEY, "Holder studio"));

    const exit = await holder.kill9();
    assert.equal(exit.signal, "SIGKILL");
    assert.equal(readFileSync(lockPath, "utf8"), String(holder.pid), "SIGKILL leaves a stale lock file");
  });

  test("the stale lock of a SIGKILLed process is taken over (migrate --status)", async () => {
    assert.ok(holderPid > 0, "the previous test ran");
    assert.equal(readFileSync(lockPath, "utf8"), String(holderPid));
    const status = await runCentime(["migrate", "--status"], childEnv(env));
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /pending: none/);
    assert.equal(existsSync(lockPath), false, "released on exit");
  });

  test("after a SIGKILL (stale lock), a new start on the directory comes up and keeps the data", async () => {
    assert.ok(merchantId, "the first test created a merchant");
    // A fresh stale lock: the pid of a process that has exited.
    writeFileSync(lockPath, String(await deadPid()));
    const next = await startCentime(env);
    assert.equal(readFileSync(lockPath, "utf8"), String(next.pid));
    const ready = await http(next.url, "GET", "/ready");
    assert.equal(ready.status, 200, ready.text);
    const merchant = await http<{ name: string }>(next.url, "GET", `/v1/merchants/${merchantId}`, {
      key: TEST_ADMIN_KEY,
    });
    assert.equal(merchant.status, 200, merchant.text);
    assert.equal(merchant.body.name, "Holder studio", "the data written before the SIGKILL is there");
    const exit = await next.stop();
    assert.equal(exit.code, 0);
    assert.equal(existsSync(lockPath), false, "a graceful stop releases the lock");
  });
});

const serverUrl = process.env.DATABASE_URL;
if (serverUrl) {
  test("on PostgreSQL there is no data directory lock: two instances share one database", async () => {
    const store = await postgresStore(serverUrl, "centime_lock_");
    stores.push(store);
    const env = { ...store.env, CENTIME_ADMIN_KEY: TEST_ADMIN_KEY };
    const [a, b] = await Promise.all([startCentime(env), startCentime(env)]);
    for (const server of [a, b]) {
      const ready = await http(server.url, "GET", "/ready");
      assert.equal(ready.status, 200, ready.text);
    }
    const { secretKey } = await createMerchantOver(a.url, TEST_ADMIN_KEY, "Shared studio");
    const body = { amount: 199, currency: "EUR", payment_method: { type: "sandbox", scenario: "approve" } };
    const headers = { "Idempotency-Key": "shared-1" };
    const first = await http<{ id: string }>(a.url, "POST", "/v1/payments", {
      key: secretKey,
      headers,
      body,
    });
    const again = await http<{ id: string }>(b.url, "POST", "/v1/payments", {
      key: secretKey,
      headers,
      body,
    });
    assert.equal(first.status, 201, first.text);
    assert.equal(again.status, 201, again.text);
    assert.equal(again.body.id, first.body.id, "the other instance replays the same payment");
    assert.equal(again.headers.get("idempotent-replayed"), "true");
    await a.kill9();
    await b.stop();
  });
}
