/**
 * Goal: the operator registry holds hundreds of real operators from mcc-mnc-list, each mapped by
 * configuration to a protocol connector that points at the simulator by default, and routing
 * resolves an MSISDN to an operator by choice, header enrichment or a network lookup.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import {
  carrierNetwork,
  closeConnectors,
  connectorFor,
  getOperator,
  listOperators,
  operatorSummary,
  resolveOperator,
} from "../../src/connectors/operators/index.ts";
import { identifyFromHeaders } from "../../src/connectors/sdk/identify.ts";
import { startTestSimulator } from "./support/fixtures.ts";

describe("operator registry", () => {
  it("seeds hundreds of operational national operators with a known currency", () => {
    const all = listOperators();
    assert.ok(all.length > 1000, `${all.length} operators`);
    assert.equal(new Set(all.map((o) => o.id)).size, all.length);
    for (const o of all) {
      assert.match(o.id, /^\d{5,6}$/);
      assert.match(o.country, /^[A-Z]{2}$/);
      assert.match(o.currency, /^[A-Z]{3}$/);
      assert.ok(o.tps_max > 0);
    }
    assert.deepEqual(
      new Set(all.map((o) => o.protocol)),
      new Set(["oneapi", "camara", "parlayx", "smpp", "settlement"]),
    );
  });

  it("applies per-operator configuration: quirks, auth, codes, caps, time zone", () => {
    const et = getOperator("63601")!;
    assert.equal(et.protocol, "parlayx");
    assert.equal(et.quirks.soap_auth, "huawei");
    assert.equal(et.quirks.namespace_version, "v3_1");
    assert.equal(et.quirks.currency_spelling, "Birr");
    assert.equal(et.quirks.tel_prefix, false);
    assert.equal(et.currency, "ETB");
    assert.equal(et.time_zone, "Africa/Addis_Ababa");
    assert.equal(getOperator("61203")!.auth.type, "oauth2_client_credentials");
    assert.equal(getOperator("20801")!.caps.transaction_max, "50.00");
    assert.equal(getOperator("47001")!.decline_codes.POL2003?.category, "barred");
  });

  it("builds a connector for every operator, pointed at the configured carrier network", async () => {
    for (const o of listOperators()) {
      const c = connectorFor(o.id);
      assert.ok(c, o.id);
      assert.equal(c.operator, o.id);
      assert.equal(c.protocol, o.protocol);
      assert.deepEqual([...c.capabilities].sort(), [...operatorSummary(o).capabilities].sort());
    }
    assert.ok(
      !JSON.stringify(listOperators().map(operatorSummary)).includes("sandbox"),
      "summaries carry no credentials",
    );
    assert.match(carrierNetwork().http_url, /^http:\/\//);
    await closeConnectors();
  });
});

describe("routing", () => {
  const simPromise = startTestSimulator(9);
  after(async () => (await simPromise).close());

  it("uses the payer's choice when it belongs to the number's country", async () => {
    const r = await resolveOperator({ msisdn: "+2250700000010", operator: "61203" });
    assert.equal(r.status, "resolved");
    if (r.status === "resolved") assert.equal(r.via, "choice");
    const wrong = await resolveOperator({ msisdn: "+2250700000010", operator: "47001" });
    assert.deepEqual(wrong, { status: "failed", reason: "operator_country_mismatch" });
  });

  it("uses header enrichment when the operator's proxy added it", async () => {
    const r = await resolveOperator({ headers: { "X-MSISDN": "8801712345678", "X-MCCMNC": "47001" } });
    assert.equal(r.status, "resolved");
    if (r.status === "resolved") {
      assert.equal(r.via, "header_enrichment");
      assert.equal(r.msisdn, "+8801712345678");
      assert.equal(r.operator.id, "47001");
    }
    assert.deepEqual(identifyFromHeaders({ msisdn: "+8801712345678" }), {
      status: "identified",
      msisdn: "+8801712345678",
    });
    assert.deepEqual(identifyFromHeaders({}), { status: "unidentified" });
  });

  it("asks the operator network (the simulator's HLR) otherwise, with a stable answer", async () => {
    await simPromise;
    const a = await resolveOperator({ msisdn: "+8801712345678" });
    const b = await resolveOperator({ msisdn: "+8801712345678" });
    assert.equal(a.status, "resolved");
    if (a.status === "resolved" && b.status === "resolved") {
      assert.equal(a.via, "lookup");
      assert.equal(a.operator.country, "BD");
      assert.equal(a.operator.id, b.operator.id);
    }
  });

  it("refuses numbers it cannot parse", async () => {
    assert.deepEqual(await resolveOperator({ msisdn: "12" }), { status: "failed", reason: "invalid_msisdn" });
    assert.deepEqual(await resolveOperator({ msisdn: "+8801712345678", operator: "99999" }), {
      status: "failed",
      reason: "unknown_operator",
    });
  });
});
