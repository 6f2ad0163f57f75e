import { startSimulator } from "./src/simulator/index.ts";
import { SmppConnector } from "./src/connectors/smpp/index.ts";
import { getOperator } from "./src/connectors/operators/registry.ts";
import { MemoryLog } from "./src/connectors/sdk/types.ts";
const sim = await startSimulator({ seed: 3, instant: true, dlr_duplicate_rate: 1, dlr_out_of_order_rate: 1, callback_delay_ms: 100 });
const log = new MemoryLog();
const op = getOperator("62130")!;
const c = new SmppConnector({ operator: op, log, http_url: sim.httpUrl, smpp_port: sim.smppPort, deadline_ms: 300 });
const events: unknown[] = [];
c.onEvent((e) => events.push(e));
for (const s of ["0010", "0001", "0002", "0003", "0004", "0005"]) {
  const o = await c.charge({ attempt_id: `a-${s}`, msisdn: "+23480300" + s, amount: 150n, currency: "NGN", description: "Coins" });
  const y = await c.sync({ attempt_id: `a-${s}` });
  console.log(s, JSON.stringify(o, (_k, v) => typeof v === "bigint" ? String(v) : v), y.status);
}
console.log("nf", (await c.sync({ attempt_id: "never" })).status);
sim.sendMo({ operator: "62130", msisdn: "+2348030000010", shortcode: "33070", text: "stop all" });
await new Promise((r) => setTimeout(r, 300));
console.log(JSON.stringify(events), c.duplicateReceipts, c.lateReceipts);
await c.close();
await sim.close();
