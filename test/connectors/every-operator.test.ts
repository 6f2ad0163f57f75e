/**
 * Goal: with no set-up, every operator in the registry reaches the simulator through its
 * configured protocol and charges a normal subscriber in its local currency.
 */
import assert from "node:assert/strict";
import { after, it } from "node:test";
import type { CountryCode } from "libphonenumber-js";
import { getCountryCallingCode } from "libphonenumber-js";
import {
  closeConnectors,
  configureConnectors,
  connectorFor,
  listOperators,
} from "../../src/connectors/operators/index.ts";
import { digitsOf } from "../../src/connectors/sdk/money.ts";
import { MemoryLog } from "../../src/connectors/sdk/types.ts";
import { SettlementConnector } from "../../src/connectors/settlement/index.ts";
import { startTestSimulator } from "./support/fixtures.ts";

const sim = await startTestSimulator(17);
after(async () => {
  await closeConnectors();
  await sim.close();
});

function callingCode(country: string): string {
  try {
    return getCountryCallingCode(country as CountryCode);
  } catch {
    return "999";
  }
}

it("charges one subscriber of every operator in the registry", async () => {
  const log = new MemoryLog();
  configureConnectors({ log });
  const byStatus = new Map<string, string[]>();
  const operators = listOperators();
  const batch = 64;
  for (let i = 0; i < operators.length; i += batch) {
    await Promise.all(
      operators.slice(i, i + batch).map(async (op, j) => {
        const c = connectorFor(op.id)!;
        const n = String(i + j).padStart(5, "0");
        const attempt_id = `every-${op.id}`;
        let o = await c.charge({
          attempt_id,
          msisdn: `+${callingCode(op.country)}7${n}0010`,
          amount: 10n ** BigInt(digitsOf(op.currency)),
          currency: op.currency,
          description: "every operator",
        });
        if (c instanceof SettlementConnector) {
          await c.flush();
          await sim.settle();
          o = await c.sync({ attempt_id });
        }
        byStatus.set(o.status, [...(byStatus.get(o.status) ?? []), op.id]);
      }),
    );
  }
  assert.deepEqual(
    [...byStatus.keys()],
    ["succeeded"],
    JSON.stringify(Object.fromEntries([...byStatus].map(([k, v]) => [k, v.slice(0, 5)]))),
  );
  assert.equal(byStatus.get("succeeded")?.length, operators.length);
  assert.ok(new Set(log.entries.map((e) => e.operator)).size === operators.length);
});
