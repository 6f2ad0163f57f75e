/**
 * Goal: Parlay X envelopes carry the exact namespaces and element order of the 2.1 WSDLs (and
 * the configured operator variants), and faults are read from `detail/*\/messageId` and mapped
 * to decline categories, never from `faultcode`.
 */
import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, it } from "node:test";
import { XMLParser } from "fast-xml-parser";
import { getOperator } from "../../src/connectors/operators/registry.ts";
import { ParlayXConnector } from "../../src/connectors/parlayx/index.ts";
import {
  amountChargingNs,
  COMMON_NS,
  chargingInformation,
  envelope,
  operation,
  replyOutcome,
} from "../../src/connectors/parlayx/transformers.ts";
import {
  huaweiPassword,
  huaweiRequestSoapHeader,
  huaweiTimestamp,
  wsseUsernameToken,
} from "../../src/connectors/sdk/auth.ts";
import { parseSoap, soapFaultXml } from "../../src/connectors/sdk/soap.ts";
import { MemoryLog } from "../../src/connectors/sdk/types.ts";

const SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/";
const LOC_V21 = "http://www.csapi.org/schema/parlayx/payment/amount_charging/v2_1/local";

/** Element names in document order, with prefixes, below an element. */
function childOrder(xml: string, parent: string): string[] {
  const inner = new RegExp(`<${parent}(?:\\s[^>]*)?>([\\s\\S]*)</${parent}>`).exec(xml)?.[1] ?? "";
  const names: string[] = [];
  let depth = 0;
  for (const m of inner.matchAll(/<(\/?)([\w:]+)[^>]*?(\/?)>/g)) {
    if (m[1] === "/") depth -= 1;
    else {
      if (depth === 0) names.push(m[2] ?? "");
      if (m[3] !== "/") depth += 1;
    }
  }
  return names;
}

/** Captures the requests a connector sends and answers with a fixed SOAP body. */
async function capture(status: number, reply: string) {
  const bodies: { headers: Record<string, unknown>; body: string }[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      bodies.push({ headers: req.headers, body });
      res.writeHead(status, { "content-type": "text/xml" });
      res.end(reply);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bodies,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

const OK = `<soapenv:Envelope xmlns:soapenv="${SOAP_NS}"><soapenv:Body><ns1:chargeAmountResponse xmlns:ns1="${LOC_V21}"/></soapenv:Body></soapenv:Envelope>`;

describe("Parlay X envelopes", () => {
  const servers: { close(): Promise<void> }[] = [];
  after(async () => {
    for (const s of servers) await s.close();
  });

  it("writes chargeAmount with the spec namespaces, loc-qualified parts and unqualified ChargingInformation", async () => {
    const peer = await capture(200, OK);
    servers.push(peer);
    const operator = getOperator("60202")!;
    const c = new ParlayXConnector({ operator, log: new MemoryLog(), http_url: peer.url });
    const o = await c.charge({
      attempt_id: "REF0001",
      msisdn: "+201001234567",
      amount: 1050n,
      currency: "EGP",
      description: "Coins pack",
    });
    assert.equal(o.status, "succeeded");
    const xml = peer.bodies[0]!.body;
    assert.match(xml, new RegExp(`xmlns:soapenv="${SOAP_NS}"`));
    assert.match(xml, new RegExp(`xmlns:loc="${LOC_V21}"`));
    assert.deepEqual(childOrder(xml, "soapenv:Body"), ["loc:chargeAmount"]);
    assert.deepEqual(childOrder(xml, "loc:chargeAmount"), [
      "loc:endUserIdentifier",
      "loc:charge",
      "loc:referenceCode",
    ]);
    assert.deepEqual(childOrder(xml, "loc:charge"), ["description", "currency", "amount"]);
    assert.match(xml, /<loc:endUserIdentifier>tel:\+201001234567<\/loc:endUserIdentifier>/);
    assert.match(xml, /<amount>10\.5<\/amount>/);
    assert.equal(peer.bodies[0]!.headers.soapaction, '""');
    assert.match(String(peer.bodies[0]!.headers.authorization), /^Basic /);
  });

  it("writes the Huawei variant: v3_1 namespace, RequestSOAPHeader in gateway order, no tel: prefix, operator currency spelling", async () => {
    const peer = await capture(200, OK.replace("v2_1", "v3_1"));
    servers.push(peer);
    const operator = getOperator("63601")!;
    const c = new ParlayXConnector({ operator, log: new MemoryLog(), http_url: peer.url });
    await c.charge({
      attempt_id: "REF0002",
      msisdn: "+251911234567",
      amount: 1000n,
      currency: "ETB",
      description: "Coins",
    });
    const xml = peer.bodies[0]!.body;
    assert.match(
      xml,
      /xmlns:loc="http:\/\/www\.csapi\.org\/schema\/parlayx\/payment\/amount_charging\/v3_1\/local"/,
    );
    assert.deepEqual(childOrder(xml, "soapenv:Header"), ["v2:RequestSOAPHeader"]);
    assert.deepEqual(childOrder(xml, "v2:RequestSOAPHeader"), [
      "v2:spId",
      "v2:spPassword",
      "v2:serviceId",
      "v2:timeStamp",
      "v2:OA",
      "v2:FA",
    ]);
    const ts = /<v2:timeStamp>(\d{14})<\/v2:timeStamp>/.exec(xml)?.[1] ?? "";
    const pw = /<v2:spPassword>([0-9A-F]{32})<\/v2:spPassword>/.exec(xml)?.[1];
    assert.equal(
      pw,
      huaweiPassword("601234", "sandbox", ts),
      "the hash uses the same timestamp as the header",
    );
    assert.match(xml, /<loc:endUserIdentifier>251911234567<\/loc:endUserIdentifier>/);
    assert.match(xml, /<currency>Birr<\/currency>/);
    assert.equal(peer.bodies[0]!.headers.authorization, undefined);
  });

  it("follows a configured element order", () => {
    const xml = operation({
      name: "chargeAmount",
      order: ["referenceCode", "endUserIdentifier", "charge"],
      parts: { endUserIdentifier: "tel:+1", charge: "<description>x</description>", referenceCode: "R" },
    });
    assert.deepEqual(childOrder(`<x>${xml}</x>`, "loc:chargeAmount"), [
      "loc:referenceCode",
      "loc:endUserIdentifier",
      "loc:charge",
    ]);
  });

  it("writes ChargingInformation in schema order and exact decimals for 0- and 3-digit currencies", () => {
    assert.equal(
      chargingInformation({
        description: "d",
        currency: "XOF",
        amount: 500n,
        iso_currency: "XOF",
        code: "T1",
      }),
      "<description>d</description><currency>XOF</currency><amount>500</amount><code>T1</code>",
    );
    assert.equal(
      chargingInformation({ description: "d", currency: "KWD", amount: 1250n, iso_currency: "KWD" }),
      "<description>d</description><currency>KWD</currency><amount>1.25</amount>",
    );
  });

  it("computes the Huawei timestamp in UTC and a WS-Security PasswordDigest from one clock reading", () => {
    const now = Date.UTC(2026, 0, 2, 3, 4, 5);
    assert.equal(huaweiTimestamp(now), "20260102030405");
    assert.match(
      huaweiRequestSoapHeader({ spId: "1", password: "p", serviceId: "s", msisdn: "2519", nowMs: now }),
      /<v2:timeStamp>20260102030405<\/v2:timeStamp>/,
    );
    const token = wsseUsernameToken({ username: "u", password: "p", nowMs: now, nonce: Buffer.alloc(16, 1) });
    assert.match(token, /<wsu:Created>2026-01-02T03:04:05Z<\/wsu:Created>/);
    assert.match(token, /PasswordDigest">[A-Za-z0-9+/=]{28}</);
    assert.ok(!token.includes(">p<"), "the clear password is never sent");
  });

  it("produces well-formed XML that parses back to the same values", () => {
    const xml = envelope(
      amountChargingNs("v2_1"),
      "",
      operation({
        name: "chargeAmount",
        order: ["endUserIdentifier", "charge", "referenceCode"],
        parts: {
          endUserIdentifier: "tel:+1<&>",
          charge: chargingInformation({
            description: "a & b",
            currency: "EUR",
            amount: 1n,
            iso_currency: "EUR",
          }),
          referenceCode: "R",
        },
      }),
    );
    const doc = new XMLParser({ removeNSPrefix: true, parseTagValue: false }).parse(xml) as {
      Envelope: {
        Body: {
          chargeAmount: { endUserIdentifier: string; charge: { description: string; amount: string } };
        };
      };
    };
    assert.equal(doc.Envelope.Body.chargeAmount.endUserIdentifier, "tel:+1<&>");
    assert.equal(doc.Envelope.Body.chargeAmount.charge.description, "a & b");
    assert.equal(doc.Envelope.Body.chargeAmount.charge.amount, "0.01");
  });
});

describe("Parlay X faults", () => {
  const fault = (exception: "ServiceException" | "PolicyException", id: string) =>
    soapFaultXml({ faultstring: "x", exception, messageId: id, text: "t", commonNs: COMMON_NS });
  const cases: [string, "ServiceException" | "PolicyException", string][] = [
    ["POL0501", "PolicyException", "insufficient_funds"],
    ["POL1000", "PolicyException", "insufficient_funds"],
    ["POL0520", "PolicyException", "limit_reached"],
    ["POL0521", "PolicyException", "limit_reached"],
    ["POL0008", "PolicyException", "barred"],
    ["POL0522", "PolicyException", "duplicate"],
    ["SVC0007", "ServiceException", "invalid"],
    ["SVC0270", "ServiceException", "invalid"],
    ["SVC0002", "ServiceException", "invalid"],
  ];
  for (const [id, exception, category] of cases) {
    it(`maps ${id} to ${category} from detail/messageId (faultcode is only soapenv:Server)`, () => {
      const msg = parseSoap(fault(exception, id));
      assert.equal(msg.fault?.faultcode, "soapenv:Server");
      const o = replyOutcome(msg, "chargeAmountResponse", {});
      assert.equal(o.status, "declined");
      if (o.status === "declined") {
        assert.equal(o.category, category);
        assert.equal(o.code, id);
      }
    });
  }

  it("uses the operator's own code map before the standard one", () => {
    const o = replyOutcome(parseSoap(fault("ServiceException", "SVC0901")), "chargeAmountResponse", {
      SVC0901: { category: "invalid" },
    });
    assert.equal(o.status, "declined");
  });

  it("leaves an unknown code unknown, never declined or succeeded", () => {
    const o = replyOutcome(parseSoap(fault("PolicyException", "POL9999")), "chargeAmountResponse", {});
    assert.deepEqual(o, { status: "unknown", reason: "unmapped_code:POL9999" });
  });

  it("treats a 200 without the expected response element as unknown", () => {
    const o = replyOutcome(
      parseSoap(
        `<soapenv:Envelope xmlns:soapenv="${SOAP_NS}"><soapenv:Body><x/></soapenv:Body></soapenv:Envelope>`,
      ),
      "chargeAmountResponse",
      {},
    );
    assert.equal(o.status, "unknown");
  });

  it("maps a fault over the wire through the connector, and logs it", async () => {
    const peer = await capture(500, fault("PolicyException", "POL0501"));
    const log = new MemoryLog();
    const c = new ParlayXConnector({ operator: getOperator("42003")!, log, http_url: peer.url });
    const o = await c.charge({
      attempt_id: "REF0003",
      msisdn: "+966501234567",
      amount: 100n,
      currency: "SAR",
      description: "x",
    });
    await peer.close();
    assert.equal(o.status, "declined");
    assert.equal(log.entries[0]?.outcome, "declined:insufficient_funds");
    assert.ok(!JSON.stringify(log.entries).includes("sandbox"));
  });
});
