/**
 * Goal: bad or hostile replies from an operator (malformed XML or JSON, wrong amount or currency,
 * unknown codes, oversized bodies, DTDs, resets, unsigned or forged callbacks) never throw out of
 * a connector and never become `succeeded`; they are logged and come back `unknown` (or a
 * decline when the operator clearly refused).
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, it } from "node:test";
import fc from "fast-check";
import { CamaraConnector } from "../../src/connectors/camara/index.ts";
import { CardPspConnector } from "../../src/connectors/cardpsp/index.ts";
import { OneApiConnector } from "../../src/connectors/oneapi/index.ts";
import { CARD_PSP_OPERATOR, getOperator } from "../../src/connectors/operators/index.ts";
import { ParlayXConnector } from "../../src/connectors/parlayx/index.ts";
import { signatureHeader } from "../../src/connectors/sdk/auth.ts";
import { type ConnectorEvent, MemoryLog, type Outcome } from "../../src/connectors/sdk/types.ts";
import { hostileHttp, startTestSimulator } from "./support/fixtures.ts";

const BD = getOperator("47001")!;
const charge = {
  attempt_id: "att-hostile-1",
  msisdn: "+8801712340010",
  amount: 500n,
  currency: "BDT",
  description: "Coins",
};

function charged(amount: unknown, currency: string, ref: string | undefined = "S1"): string {
  return JSON.stringify({
    amountTransaction: {
      serverReferenceCode: ref,
      transactionOperationStatus: "Charged",
      paymentAmount: { chargingInformation: { amount, currency }, totalAmountCharged: amount },
    },
  });
}

async function oneapiAgainst(
  status: number,
  body: string,
  contentType = "application/json",
): Promise<{ outcome: Outcome; log: MemoryLog }> {
  const peer = await hostileHttp(status, body, contentType);
  const log = new MemoryLog();
  try {
    const c = new OneApiConnector({ operator: BD, log, http_url: peer.url, deadline_ms: 2_000 });
    return { outcome: await c.charge(charge), log };
  } finally {
    await peer.close();
  }
}

describe("hostile OneAPI replies", () => {
  const cases: [string, number, string, string][] = [
    [
      "malformed JSON",
      201,
      '{"amountTransaction":{"transactionOperationStatus":"Charged"',
      "unreadable_reply",
    ],
    ["an empty body", 201, "", "unexpected_status:undefined"],
    ["a wrong amount", 201, charged(9.99, "BDT"), "amount_mismatch"],
    ["a wrong currency", 201, charged(5, "USD"), "currency_mismatch"],
    ["success without a reference", 201, charged(5, "BDT", ""), "success_without_reference"],
    ["an amount with too many decimals", 201, charged("5.001", "BDT"), "success_without_amount"],
    [
      "an unknown status",
      201,
      JSON.stringify({ amountTransaction: { transactionOperationStatus: "Teleported" } }),
      "unexpected_status:Teleported",
    ],
    [
      "an unknown policy code",
      403,
      JSON.stringify({ requestError: { policyException: { messageId: "POL7777", text: "?" } } }),
      "unmapped_code:POL7777",
    ],
    ["an HTML error page", 502, "<html>Bad gateway</html>", "unreadable_reply"],
    ["an error without requestError", 400, JSON.stringify({ oops: true }), "http_400_unreadable"],
  ];
  for (const [what, status, body, reason] of cases) {
    it(`answers ${what} with unknown and logs it`, async () => {
      const { outcome, log } = await oneapiAgainst(status, body);
      assert.equal(outcome.status, "unknown");
      if (outcome.status === "unknown") assert.ok(outcome.reason.startsWith(reason), outcome.reason);
      assert.equal(log.entries.length, 1);
      assert.ok(log.entries[0]!.outcome.startsWith("unknown"));
    });
  }

  it("stops reading an oversized body (> 1 MiB) and answers unknown", async () => {
    const { outcome } = await oneapiAgainst(201, `{"x":"${"a".repeat(1024 * 1024 + 10)}"}`);
    assert.deepEqual(outcome, { status: "unknown", reason: "reply_too_large" });
  });

  it("answers a reset connection with unknown and a refused one with not_sent", async () => {
    const server = createServer((req) => req.socket.destroy());
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const c = new OneApiConnector({ operator: BD, log: new MemoryLog(), http_url: url });
    const reset = await c.charge(charge);
    await new Promise<void>((r) => server.close(() => r()));
    const refused = await c.charge(charge);
    assert.equal(reset.status, "unknown");
    assert.deepEqual(refused, { status: "not_sent", reason: "connect_failed" });
  });

  it("never throws and never succeeds for arbitrary bodies and statuses (property)", async () => {
    let body = "";
    let status = 200;
    const server = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(body);
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const c = new OneApiConnector({
      operator: BD,
      log: new MemoryLog(),
      http_url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    });
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.json(),
            fc.string(),
            fc.jsonValue().map((v) => JSON.stringify({ amountTransaction: v })),
          ),
          fc.constantFrom(200, 201, 400, 403, 404, 409, 500, 503),
          async (b, s) => {
            body = b;
            status = s;
            const o = await c.charge({ ...charge, attempt_id: "prop" });
            assert.notEqual(o.status, "succeeded");
          },
        ),
        { numRuns: 150, seed: 42 },
      );
    } finally {
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      });
    }
  });
});

describe("hostile SOAP, CAMARA and PSP replies", () => {
  it("refuses XML with a DTD (entity expansion) and answers unknown", async () => {
    const xml = `<?xml version="1.0"?><!DOCTYPE lol [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><ns1:chargeAmountResponse>&b;</ns1:chargeAmountResponse></soapenv:Body></soapenv:Envelope>`;
    const peer = await hostileHttp(200, xml, "text/xml");
    const c = new ParlayXConnector({
      operator: getOperator("60202")!,
      log: new MemoryLog(),
      http_url: peer.url,
    });
    const o = await c.charge({ ...charge, attempt_id: "REFX1", msisdn: "+201001230010", currency: "EGP" });
    await peer.close();
    assert.equal(o.status, "unknown");
  });

  it("answers a 500 without a SOAP fault, and a non-SOAP 200, with unknown", async () => {
    for (const [status, body] of [
      [500, "<html>Internal error</html>"],
      [200, "<root><chargeAmountResponse/></root>"],
    ] as const) {
      const peer = await hostileHttp(status, body, "text/xml");
      const c = new ParlayXConnector({
        operator: getOperator("60202")!,
        log: new MemoryLog(),
        http_url: peer.url,
      });
      const o = await c.charge({ ...charge, attempt_id: "REFX2", msisdn: "+201001230010", currency: "EGP" });
      await peer.close();
      assert.equal(o.status, "unknown", `${status} ${body}`);
    }
  });

  it("treats a CAMARA success with the wrong amount as unknown", async () => {
    const peer = await hostileHttp(
      201,
      JSON.stringify({
        paymentId: "P1",
        paymentStatus: "succeeded",
        paymentCreationDate: "2026-01-01T00:00:00Z",
        amountTransaction: {
          phoneNumber: "+34600000010",
          referenceCode: "r",
          paymentAmount: { chargingInformation: { amount: 50, currency: "EUR", description: "x" } },
        },
      }),
    );
    const c = new CamaraConnector({
      operator: { ...getOperator("21407")!, auth: { type: "none" } },
      log: new MemoryLog(),
      http_url: peer.url,
    });
    const o = await c.charge({ ...charge, msisdn: "+34600000010", currency: "EUR" });
    await peer.close();
    assert.deepEqual(o, { status: "unknown", reason: "amount_mismatch" });
  });

  it("does not believe an unsigned or badly signed PSP reply", async () => {
    const payment = JSON.stringify({
      id: "PAY1",
      reference: "r",
      amount: 500,
      currency: "EUR",
      status: "succeeded",
    });
    const variants: Record<string, string>[] = [
      {},
      { "x-signature": signatureHeader("wrong-secret", payment) },
      { "x-signature": "t=1,v1=zz" },
    ];
    for (const headers of variants) {
      const peer = await hostileHttp(201, payment, "application/json", headers);
      const c = new CardPspConnector({
        operator: CARD_PSP_OPERATOR,
        log: new MemoryLog(),
        http_url: peer.url,
        psp_secret: "whsec_sandbox",
      });
      const o = await c.charge({
        attempt_id: "r",
        card: { number: "4000000000000010", exp_month: 1, exp_year: 2030, cvc: "1" },
        amount: 500n,
        currency: "EUR",
        description: "x",
      });
      await peer.close();
      assert.equal(o.status, "unknown");
    }
  });
});

describe("hostile callbacks", () => {
  const simPromise = startTestSimulator(21);
  after(async () => (await simPromise).close());

  it("refuses an OneAPI callback with a wrong token and never emits an outcome for it", async () => {
    const sim = await simPromise;
    const log = new MemoryLog();
    const c = new OneApiConnector({
      operator: BD,
      log,
      http_url: sim.httpUrl,
      callback_url: "http://core/cb/47001",
      callback_secret: "s3cret",
    });
    const events: ConnectorEvent[] = [];
    c.onEvent((e) => events.push(e));
    const forged = await c.handleCallback({
      attempt_id: "att-x",
      query: { token: "0".repeat(32) },
      headers: {},
      body: charged(5, "BDT"),
    });
    const unsigned = await c.handleCallback({ attempt_id: "att-x", query: {}, headers: {}, body: "{" });
    assert.equal(forged.status, 401);
    assert.equal(unsigned.status, 401);
    assert.deepEqual(
      events.map((e) => e.type),
      ["rejected_callback", "rejected_callback"],
    );
    assert.equal(log.entries.filter((e) => e.outcome === "rejected_callback").length, 2);
  });

  it("treats a genuine OneAPI callback as a hint: the outcome comes from the operator's own status", async () => {
    const sim = await simPromise;
    const c = new OneApiConnector({
      operator: BD,
      log: new MemoryLog(),
      http_url: sim.httpUrl,
      callback_url: "http://core/cb/47001",
      callback_secret: "s3cret",
    });
    const events: ConnectorEvent[] = [];
    c.onEvent((e) => events.push(e));
    const first = await c.charge({ ...charge, attempt_id: "att-cb-1", msisdn: "+8801712350004" });
    assert.equal(first.status, "pending");
    await new Promise((r) => setTimeout(r, 60));
    // Even a callback body that lies about the amount cannot change what the operator reports.
    const reply = await c.handleCallback({
      attempt_id: "att-cb-1",
      query: { token: c.callbackToken("att-cb-1") },
      headers: {},
      body: charged(1, "BDT"),
    });
    assert.equal(reply.status, 200);
    const outcome = events.find((e) => e.type === "outcome");
    assert.ok(outcome && outcome.type === "outcome");
    assert.equal(outcome.outcome.status, "succeeded");
    if (outcome.outcome.status === "succeeded") assert.equal(outcome.outcome.amount, 500n);
  });

  it("refuses unsigned, forged and stale PSP notifications, and applies a signed one", async () => {
    const sim = await simPromise;
    const c = new CardPspConnector({
      operator: CARD_PSP_OPERATOR,
      log: new MemoryLog(),
      http_url: sim.httpUrl,
      psp_secret: "whsec_sandbox",
    });
    const events: ConnectorEvent[] = [];
    c.onEvent((e) => events.push(e));
    const body = JSON.stringify({
      type: "payment.updated",
      data: { id: "PAY9", reference: "n-1", amount: 500, currency: "EUR", status: "succeeded" },
    });
    const replies = [
      await c.handleCallback({ attempt_id: "", query: {}, headers: {}, body }),
      await c.handleCallback({
        attempt_id: "",
        query: {},
        headers: { "x-signature": signatureHeader("forged", body) },
        body,
      }),
      await c.handleCallback({
        attempt_id: "",
        query: {},
        headers: { "x-signature": signatureHeader("whsec_sandbox", body, Date.now() - 3_600_000) },
        body,
      }),
      await c.handleCallback({
        attempt_id: "",
        query: {},
        headers: { "x-signature": signatureHeader("whsec_sandbox", body) },
        body,
      }),
    ];
    assert.deepEqual(
      replies.map((r) => r.status),
      [401, 401, 401, 200],
    );
    assert.deepEqual(
      events.map((e) => (e.type === "rejected_callback" ? e.reason : e.type)),
      ["signature_missing", "signature_mismatch", "signature_expired", "outcome"],
    );
  });
});
