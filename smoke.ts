import { startSimulator } from "./src/simulator/index.ts";
import { OneApiConnector } from "./src/connectors/oneapi/index.ts";
import { getOperator } from "./src/connectors/operators/registry.ts";
import { MemoryLog } from "./src/connectors/sdk/types.ts";
const sim = await startSimulator({ seed: 1, instant: true });
const log = new MemoryLog();
for (const id of ["61203", "47001", "51502"]) {
  const op = getOperator(id)!;
  const c = new OneApiConnector({ operator: op, log, http_url: sim.httpUrl, deadline_ms: 300 });
  const cc = { XOF: "+2250700000", BDT: "+8801700000", PHP: "+6391700000" }[op.currency]!;
  for (const s of ["0010", "0001", "0002", "0003", "0004", "0005"]) {
    const o = await c.charge({ attempt_id: `a-${id}-${s}`, msisdn: cc + s, amount: 150n, currency: op.currency, description: "x" });
    const again = await c.charge({ attempt_id: `a-${id}-${s}`, msisdn: cc + s, amount: 150n, currency: op.currency, description: "x" });
    console.log(id, s, JSON.stringify(o, (_k, v) => typeof v === "bigint" ? String(v) : v), again.status);
  }
}
console.log(log.entries.length, JSON.stringify(log.entries[0]).slice(0, 600));
await sim.close();
