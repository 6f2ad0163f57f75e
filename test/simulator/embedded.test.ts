/**
 * Goal: the embedded simulator behaves like the real world across restarts and split roles. What
 * its operators hold is kept in the database, so an attempt in flight when the process stopped is
 * answered by the restarted simulator (charged once, never again); a worker finds the API's
 * simulator through the database, or refuses to start saying what to do.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  closeConnectors,
  configureCarrierNetwork,
  createConnector,
  getOperator,
} from "../../src/connectors/operators/index.ts";
import { MemoryLog } from "../../src/connectors/sdk/types.ts";
import {
  findApiSimulator,
  startEmbeddedSimulator,
  WorkerWithoutNetwork,
} from "../../src/simulator/embedded.ts";
import { openTestDatabase, type TestDatabase } from "../support/db.ts";

let database: TestDatabase;
before(async () => {
  database = await openTestDatabase();
});
after(async () => {
  await closeConnectors();
  await database.close();
});

describe("the embedded simulator", () => {
  it("keeps a charge whose reply was lost across a restart: the attempt is settled by asking, once", async () => {
    const first = await startEmbeddedSimulator(database.db);
    configureCarrierNetwork(first.address);
    const operator = getOperator("20801")!;
    const msisdn = "+33612990003"; // …0003: charged, the reply never comes
    const connector = () => createConnector(operator, { log: new MemoryLog() });
    const input = { attempt_id: "restart-1", msisdn, amount: 250n, currency: "EUR", description: "Coins" };
    const lost = await connector().charge({ ...input, deadline_ms: 200 });
    assert.equal(lost.status, "unknown");
    // The operator applies it after our deadline (the reply is what is lost, not the charge).
    for (let i = 0; i < 100 && first.simulator?.network.findSubscriber(msisdn) === undefined; i++)
      await new Promise((r) => setTimeout(r, 20));
    assert.equal(first.simulator?.network.findSubscriber(msisdn)?.balance, 10_000n - 250n);
    await first.stop();

    const second = await startEmbeddedSimulator(database.db);
    assert.notEqual(second.address.http_url, first.address.http_url, "a new process, new ports");
    configureCarrierNetwork(second.address);
    try {
      assert.equal(
        second.simulator?.network.findSubscriber(msisdn)?.balance,
        10_000n - 250n,
        "the balance survived",
      );
      const asked = await connector().sync({ ...input, operation: "charge" });
      assert.equal(
        asked.status,
        "succeeded",
        JSON.stringify(asked, (_k, v) => (typeof v === "bigint" ? String(v) : v)),
      );
      const retried = await connector().charge(input);
      assert.ok(
        retried.status === "succeeded" || retried.status === "unknown" || retried.status === "pending",
      );
      assert.equal(
        second.simulator?.network.findSubscriber(msisdn)?.balance,
        10_000n - 250n,
        "never charged again",
      );
      // A worker started beside this API finds it through the database.
      const worker = await findApiSimulator(database.db);
      assert.deepEqual(worker.address, second.address);
    } finally {
      await second.stop();
    }
  });

  it("a worker without its API's simulator refuses to start, saying what to do", async () => {
    await assert.rejects(findApiSimulator(database.db), (error: unknown) => {
      assert.ok(error instanceof WorkerWithoutNetwork);
      assert.match(error.message, /--role api/);
      assert.match(error.message, /CENTIME_CARRIER_NETWORK_URL/);
      return true;
    });
  });
});
