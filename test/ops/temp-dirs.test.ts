/** The embedded simulator leaves no temporary folder behind (`/tmp/centime-settlement-*`). */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { test } from "node:test";
import { startSimulator } from "../../src/simulator/index.ts";

test("a simulator without a settlement directory makes its own and removes it on close", async () => {
  const simulator = await startSimulator({ seed: 7, httpPort: 0, smppPort: 0, instant: true });
  const dir = simulator.settlementDir;
  assert.match(dir, /centime-settlement-/);
  await simulator.settle();
  assert.ok(existsSync(dir), "the folder exists while it runs");
  await simulator.close();
  assert.equal(existsSync(dir), false, `${dir} is removed`);
});
