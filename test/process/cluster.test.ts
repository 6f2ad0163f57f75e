/**
 * `centime start --processes N`: N processes share the port (node:cluster) over one PostgreSQL
 * database, behind one primary that migrates, runs the embedded carrier network and restarts a
 * process that dies; SIGTERM stops them all. The embedded database refuses it (one process).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, describe, test } from "node:test";
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
after(async () => {
  killAllChildren();
  for (const store of stores) await store.cleanup();
});

function childrenOf(pid: number): number[] {
  try {
    return execFileSync("pgrep", ["-P", String(pid)], { encoding: "utf8" })
      .split("\n")
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

async function until<T>(check: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 200));
  }
}

test("the embedded database refuses --processes", async () => {
  const store = embeddedStore("centime-cluster-");
  stores.push(store);
  const result = await runCentime(["start", "--processes", "2"], childEnv(store.env));
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /--processes needs PostgreSQL \(DATABASE_URL\)/);
});

const serverUrl = process.env.DATABASE_URL;
// PostgreSQL only: the suite's second run (DATABASE_URL) has it.
if (serverUrl)
  describe("two processes on PostgreSQL", () => {
    test("serve payments, survive one being killed, and stop together", async () => {
      const store = await postgresStore(serverUrl!, "centime_cluster_");
      stores.push(store);
      const server = await startCentime(
        { ...store.env, CENTIME_ADMIN_KEY: TEST_ADMIN_KEY },
        { args: ["start", "--processes", "2"] },
      );
      const first = await until(() => {
        const pids = childrenOf(server.pid);
        return pids.length === 2 ? pids : undefined;
      });
      const merchant = await createMerchantOver(server.url, TEST_ADMIN_KEY);
      const pay = (body: Record<string, unknown>) =>
        http<{ status: string }>(server.url, "POST", "/v1/payments", { key: merchant.secretKey, body });
      const sandbox = await Promise.all(
        Array.from({ length: 20 }, () =>
          pay({ amount: 100, currency: "EUR", payment_method: { type: "sandbox", scenario: "approve" } }),
        ),
      );
      assert.ok(sandbox.every((r) => r.status === 201 && r.body.status === "succeeded"));
      // The carrier network is the primary's: both processes reach it.
      const carrier = await Promise.all(
        Array.from({ length: 4 }, (_, i) =>
          pay({
            amount: 199,
            currency: "EUR",
            payment_method: { type: "carrier", msisdn: `+336123400${i}9`, operator: "20801" },
          }),
        ),
      );
      assert.ok(
        carrier.every((r) => r.status === 201 && r.body.status === "succeeded"),
        JSON.stringify(carrier.map((r) => r.body)),
      );

      process.kill(first[0]!, "SIGKILL");
      const second = await until(() => {
        const pids = childrenOf(server.pid);
        return pids.length === 2 && !pids.includes(first[0]!) ? pids : undefined;
      });
      assert.ok(second.includes(first[1]!), "the other process lived on");
      const after = await until(async () => {
        const r = await pay({
          amount: 100,
          currency: "EUR",
          payment_method: { type: "sandbox", scenario: "approve" },
        }).catch(() => undefined);
        return r?.status === 201 ? r : undefined;
      });
      assert.equal(after.body.status, "succeeded");

      const exit = await server.stop(20_000);
      assert.equal(exit.code, 0, server.stderr());
      assert.deepEqual(childrenOf(server.pid), []);
      for (const pid of second) assert.throws(() => process.kill(pid, 0), "no process is left behind");
    });
  });
