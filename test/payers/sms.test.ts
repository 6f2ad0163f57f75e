/**
 * Goal: an SMS to a payer really goes through the payer's operator: the number is routed like a
 * carrier payment and sent with that operator's SMS API (OneAPI outbound SMS, SMPP submit_sm),
 * which the carrier network simulator receives; an operator whose protocol has no SMS API
 * (CAMARA, Parlay X here) cannot be reached and the message fails, saying why.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { closeConnectors, configureCarrierNetwork } from "../../src/connectors/index.ts";
import { operatorSmsChannel } from "../../src/notifications/index.ts";
import { type Simulator, startSimulator } from "../../src/simulator/index.ts";

let sim: Simulator;
const channel = operatorSmsChannel({ real: true });

before(async () => {
  sim = await startSimulator({ seed: 3, instant: true });
  configureCarrierNetwork({ http_url: sim.httpUrl, smpp_host: "127.0.0.1", smpp_port: sim.smppPort });
});
after(async () => {
  await closeConnectors();
  await sim.close();
});

const message = (to: string, text: string) => ({
  channel: "sms" as const,
  to,
  kind: "signin_code",
  locale: "en",
  text,
});

test("OneAPI: the operator's outbound SMS API delivers the text to the number", async () => {
  const result = await channel.deliver(message("+31612340077", "Your Centime code is 123456."));
  assert.deepEqual(result, { status: "sent" });
  assert.ok(
    sim.network.outbox.some((m) => m.msisdn === "+31612340077" && m.text === "Your Centime code is 123456."),
  );
});

test("SMPP: submit_sm over the operator's SMSC session", async () => {
  const result = await channel.deliver(message("+254712340077", "Your Centime code is 654321."));
  assert.deepEqual(result, { status: "sent" });
  assert.ok(sim.network.outbox.some((m) => m.msisdn.endsWith("254712340077") && m.text.includes("654321")));
});

test("an operator without an SMS API fails the message and names why; a bad number too", async () => {
  assert.deepEqual(await channel.deliver(message("+4915112340077", "x")), {
    status: "failed",
    reason: "operator_without_sms",
  });
  assert.equal((await channel.deliver(message("+999", "x"))).status, "failed");
});
