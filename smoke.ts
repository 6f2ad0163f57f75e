import { startSimulator } from "./src/simulator/index.ts";
import { ParlayXConnector } from "./src/connectors/parlayx/index.ts";
import { getOperator } from "./src/connectors/operators/registry.ts";
import { MemoryLog } from "./src/connectors/sdk/types.ts";
const sim = await startSimulator({ seed: 1, instant: true });
const log = new MemoryLog();
const pre: Record<string,string> = { "63601": "+25191100", "42003": "+96650100", "60202": "+20100100" };
for (const id of ["63601", "42003", "60202"]) {
  const op = getOperator(id)!;
  const c = new ParlayXConnector({ operator: op, log, http_url: sim.httpUrl, deadline_ms: 300 });
  for (const s of ["0010", "0001", "0002", "0003", "0005"]) {
    const o = await c.charge({ attempt_id: `a-${id}-${s}`, msisdn: pre[id] + s, amount: 150n, currency: op.currency, description: "x" });
    const again = await c.sync({ attempt_id: `a-${id}-${s}` });
    console.log(id, s, JSON.stringify(o, (_k, v) => typeof v === "bigint" ? String(v) : v), again.status);
  }
  const r = await c.refund({ attempt_id: `r-${id}`, original_reference: `a-${id}-0010`, msisdn: pre[id] + "0010", amount: 50n, currency: op.currency, description: "refund" });
  console.log("refund", r.status);
}
console.log(JSON.stringify(log.entries[0]).slice(0, 1500));
await sim.close();
