/**
 * Goal: the per-operator rate limit and circuit breaker refuse calls as `not_sent` (safe to
 * retry), a deadline turns a silent operator into `unknown`, and an OneAPI result delivered by
 * callback reaches a waiting charge, all over real loopback sockets.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, it } from "node:test";
import { OneApiConnector } from "../../src/connectors/oneapi/index.ts";
import { getOperator } from "../../src/connectors/operators/index.ts";
import { type ConnectorEvent, MemoryLog } from "../../src/connectors/sdk/types.ts";
import { startTestSimulator } from "./support/fixtures.ts";

const BD = getOperator("47001")!;
const simPromise = startTestSimulator(13);
after(async () => (await simPromise).close());

describe("per-operator limits", () => {
  it("refuses calls over the operator's TPS as not_sent rate_limited", async () => {
    const sim = await simPromise;
    const c = new OneApiConnector({
      operator: { ...BD, tps_max: 1 },
      log: new MemoryLog(),
      http_url: sim.httpUrl,
      deadline_ms: 50,
    });
    const first = await c.charge({
      attempt_id: "tps-1",
      msisdn: "+8801790000010",
      amount: 100n,
      currency: "BDT",
      description: "x",
    });
    const second = await c.charge({
      attempt_id: "tps-2",
      msisdn: "+8801790000011",
      amount: 100n,
      currency: "BDT",
      description: "x",
    });
    assert.equal(first.status, "succeeded");
    assert.equal(second.status, "not_sent");
    if (second.status === "not_sent") {
      assert.equal(second.reason, "rate_limited");
      assert.ok((second.retry_after_ms ?? 0) > 0);
    }
  });

  it("opens the circuit after repeated transport failures and answers not_sent without calling", async () => {
    let hits = 0;
    const server = createServer((req) => {
      hits += 1;
      req.socket.destroy();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const c = new OneApiConnector({
      operator: BD,
      log: new MemoryLog(),
      http_url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    });
    const statuses: string[] = [];
    for (let i = 0; i < 7; i++) {
      const o = await c.charge({
        attempt_id: `cb-${i}`,
        msisdn: "+8801790000012",
        amount: 100n,
        currency: "BDT",
        description: "x",
      });
      statuses.push(o.status === "not_sent" ? `not_sent:${o.reason}` : o.status);
    }
    await new Promise<void>((r) => server.close(() => r()));
    assert.deepEqual(statuses, [
      "unknown",
      "unknown",
      "unknown",
      "unknown",
      "unknown",
      "not_sent:circuit_open",
      "not_sent:circuit_open",
    ]);
    assert.equal(hits, 5);
  });

  it("turns a silent operator into unknown at the deadline", async () => {
    const sim = await simPromise;
    const c = new OneApiConnector({ operator: BD, log: new MemoryLog(), http_url: sim.httpUrl });
    const o = await c.charge({
      attempt_id: "dl-1",
      msisdn: "+8801790000003",
      amount: 100n,
      currency: "BDT",
      description: "x",
      deadline_ms: 100,
    });
    assert.deepEqual(o, { status: "unknown", reason: "timeout" });
  });
});

describe("OneAPI async result by callback", () => {
  it("delivers the operator's notifyURL post to the waiting charge, checked against the operator's status", async () => {
    const sim = await simPromise;
    let connector: OneApiConnector | undefined;
    const hook = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", async () => {
        const url = new URL(req.url ?? "/", "http://x");
        const attempt_id = decodeURIComponent(url.pathname.split("/").pop() ?? "");
        const reply = await connector!.handleCallback({
          attempt_id,
          query: { token: url.searchParams.get("token") ?? undefined },
          headers: {},
          body,
        });
        res.writeHead(reply.status);
        res.end(reply.body);
      });
    });
    await new Promise<void>((r) => hook.listen(0, "127.0.0.1", () => r()));
    const callback_url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/v1/carrier/callbacks/47001`;
    connector = new OneApiConnector({
      operator: BD,
      log: new MemoryLog(),
      http_url: sim.httpUrl,
      callback_url,
      callback_secret: "k",
      callback_wait_ms: 5_000,
    });
    const events: ConnectorEvent[] = [];
    connector.onEvent((e) => events.push(e));
    const o = await connector.charge({
      attempt_id: "cb-late-1",
      msisdn: "+8801790000004",
      amount: 100n,
      currency: "BDT",
      description: "x",
    });
    await new Promise<void>((r) => {
      hook.close(() => r());
      hook.closeAllConnections();
    });
    assert.equal(o.status, "succeeded");
    assert.ok(
      events.some(
        (e) => e.type === "outcome" && e.attempt_id === "cb-late-1" && e.outcome.status === "succeeded",
      ),
    );
  });

  it("falls back to polling when no callback comes within callback_wait_ms", async () => {
    const sim = await simPromise;
    // No callback URL: the operator cannot call back, so the wait times out and the status is polled.
    const c = new OneApiConnector({
      operator: BD,
      log: new MemoryLog(),
      http_url: sim.httpUrl,
      callback_wait_ms: 200,
    });
    const o = await c.charge({
      attempt_id: "poll-1",
      msisdn: "+8801790010004",
      amount: 100n,
      currency: "BDT",
      description: "x",
    });
    assert.equal(o.status, "succeeded");
  });
});
