/**
 * Goal: a connector and the simulator can never drift from a protocol together. A run of
 * payments, code steps, refunds, reservations, declines and notifications per protocol is
 * recorded on the wire and every exchange is checked against the project's own schema of the
 * protocol (written from the specifications' facts; `.ci/run` also checks the same run against
 * the published specifications in ../shared/specs/protocols).
 */
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { checkExchange, protocolOf } from "./support/check.ts";
import { recordExchanges, type WireExchange } from "./support/record.ts";

let exchanges: WireExchange[] = [];
before(async () => {
  exchanges = await recordExchanges();
});

function of(protocol: string) {
  return exchanges.filter((e) => protocolOf(e) === protocol);
}

function assertConforms(list: WireExchange[]) {
  const problems = list.flatMap((e) =>
    checkExchange(e).map((p) => `${e.method} ${e.url.slice(0, 90)}: ${p}`),
  );
  assert.deepEqual(problems, []);
}

describe("every recorded exchange conforms to its protocol", () => {
  it("CAMARA Carrier Billing v0.5.0 and Refund v0.3.0: requests, responses, errors, CloudEvents", () => {
    const camara = of("camara");
    const paths = camara.map(
      (e) =>
        `${e.method} ${new URL(e.url, "http://x").pathname.replace(/\/\d{5,6}\/camara/, "").replace(/\/(RSV|CHG|RFD)\d+/g, "/{id}")}`,
    );
    for (const op of [
      "POST /carrier-billing/v0.5/payments",
      "POST /carrier-billing/v0.5/payments/prepare",
      "POST /carrier-billing/v0.5/payments/{id}/validate",
      "POST /carrier-billing/v0.5/payments/{id}/confirm",
      "POST /carrier-billing/v0.5/payments/{id}/cancel",
      "GET /carrier-billing/v0.5/payments/{id}",
      "GET /carrier-billing/v0.5/payments",
      "POST /carrier-billing-refund/v0.3/payments/{id}/refunds",
    ])
      assert.ok(paths.includes(op), `the run covers ${op}`);
    const statuses = new Set(camara.map((e) => e.response?.status));
    for (const s of [201, 202, 204, 200, 400, 403, 422]) assert.ok(statuses.has(s), `the run covers a ${s}`);
    assert.ok(camara.some((e) => e.direction === "notification" && e.body.includes("payment-completed")));
    assert.ok(camara.some((e) => e.direction === "notification" && e.body.includes("refund-completed")));
    assertConforms(camara);
  });

  it("OneAPI Payment: URI templates, bodies or v1 parameters, Location on 201, errors, SMS for codes", () => {
    const oneapi = of("oneapi");
    assert.ok(
      oneapi.some((e) => e.headers["content-type"]?.includes("x-www-form-urlencoded")),
      "form requests",
    );
    assert.ok(
      oneapi.some((e) => /\/v1\/smsmessaging\/outbound\//.test(e.url)),
      "a code texted by the SMS API",
    );
    assert.ok(
      oneapi.some((e) => e.response?.status === 403),
      "a decline",
    );
    assert.ok(!oneapi.some((e) => /consent\/v1\/pin/.test(e.url)), "no invented PIN endpoint");
    assertConforms(oneapi);
  });

  it("Parlay X 2.1: envelopes, namespaces, element order, faults", () => {
    const soap = of("parlayx");
    const ops = new Set(soap.map((e) => /<(?:\w+:)?(\w+)[ >]/.exec(e.body.split("Body>")[1] ?? "")?.[1]));
    for (const op of [
      "chargeAmount",
      "refundAmount",
      "reserveAmount",
      "chargeReservation",
      "releaseReservation",
    ])
      assert.ok(ops.has(op), `the run covers ${op}`);
    assert.ok(
      soap.some((e) => e.response?.status === 500),
      "a fault",
    );
    assertConforms(soap);
  });

  it("a checker that cannot fail proves nothing: a broken exchange is caught", () => {
    const good = of("camara").find((e) => e.method === "POST" && e.response?.status === 201);
    assert.ok(good);
    const broken = { ...good, body: good.body.replace('"phoneNumber":"+', '"phoneNumber":"') };
    assert.notDeepEqual(checkExchange(broken), []);
    const soap = of("parlayx").find((e) => e.body.includes("chargeAmount>"));
    assert.ok(soap);
    const reordered = { ...soap, body: soap.body.replace(/<(\w+:)?referenceCode>/, "<$1referenceCodeX>") };
    assert.notDeepEqual(checkExchange(reordered), []);
  });
});
