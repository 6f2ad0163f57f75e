/**
 * Goal: a checkout payment reaches the risk engine with what its pages know: `ip_country` from
 * the trusted proxy's header (CENTIME_IP_COUNTRY_HEADER), `framed` as the page reported it (the
 * embedded form's entry, Sec-Fetch-Dest), and `page_open_ms` since the payer first opened the
 * page. `block if framed` blocks a payment made inside the embedded form and lets the same payment
 * on the hosted page through; `review if ip_country != country` holds a carrier payment whose
 * address is in another country than its operator, and passes one from the same country.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  call,
  createMerchant,
  createTestApp,
  FakeClock,
  type MerchantKeys,
  type TestApp,
} from "../support/app.ts";

interface Decision {
  rule_name: string;
  action: string;
  applied: boolean;
  attribute_values: Record<string, unknown>;
}
interface Payment {
  id: string;
  status: string;
  failure_code: string | null;
}

/** A new French number each time: the checkout page lets one number text 6 codes an hour. */
let numbers = 0;
const frenchNumber = () => `+336123450${String(++numbers).padStart(2, "0")}`;

describe("checkout payments: framed, ip_country, page_open_ms", () => {
  let t: TestApp;
  let m: MerchantKeys;
  const clock = new FakeClock(Date.parse("2026-03-02T10:00:00Z"));
  before(async () => {
    t = await createTestApp({ clock, config: { ipCountryHeader: "cf-ipcountry" } });
    m = await createMerchant(t.app, "Framed studio");
  });
  after(async () => t.close());

  async function rule(name: string, text: string) {
    const r = await call<{ id: string }>(t.app, "POST", "/v1/risk_rules", {
      key: m.secretKey,
      body: { name, rule: text, mode: "enforce" },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.id;
  }
  const disable = (id: string) => call(t.app, "DELETE", `/v1/risk_rules/${id}`, { key: m.secretKey });

  async function session() {
    const s = await call<{ id: string; client_secret: string }>(t.app, "POST", "/v1/checkout_sessions", {
      key: m.secretKey,
      body: { amount: 150, currency: "EUR", payment_method_types: ["carrier"] },
    });
    assert.equal(s.status, 201, JSON.stringify(s.body));
    return s.body;
  }

  /** Opens the page (through the embedded form or not), waits, then enters a number: the payment. */
  async function payByPhone(options: {
    embedded: boolean;
    headers?: Record<string, string>;
    waitMs?: number;
    msisdn?: string;
  }) {
    const s = await session();
    const headers = options.headers ?? {};
    if (options.embedded) {
      const entry = await t.app.inject({
        method: "GET",
        url: `/embed/${s.client_secret}?pk=${m.publishableKey}`,
        headers: { "sec-fetch-dest": "iframe", ...headers },
      });
      assert.equal(entry.statusCode, 303, entry.body);
    }
    const opened = await t.app.inject({ method: "GET", url: `/checkout/${s.id}`, headers });
    assert.ok([200, 303].includes(opened.statusCode), opened.body);
    clock.advance(options.waitMs ?? 4000);
    const page = await t.app.inject({ method: "GET", url: `/checkout/${s.id}/carrier`, headers });
    assert.equal(page.statusCode, 200, page.body);
    const token = /name="_token" value="([^"]+)"/.exec(page.body)![1]!;
    const started = await t.app.inject({
      method: "POST",
      url: `/checkout/${s.id}/carrier/start`,
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      payload: `_token=${encodeURIComponent(token)}&msisdn=${encodeURIComponent(options.msisdn ?? frenchNumber())}&operator=20801&confirmed=yes`,
    });
    assert.ok(started.statusCode < 500, started.body);
    // The session's newest payment (a failed one is no longer the session's payment in flight).
    const list = await call<{ data: Array<Payment & { metadata: Record<string, string> }> }>(
      t.app,
      "GET",
      "/v1/payments?limit=1",
      { key: m.secretKey },
    );
    const made = list.body.data[0];
    assert.equal(
      made?.metadata.checkout_session,
      s.id,
      `a payment was made: ${started.statusCode} ${started.body.slice(0, 300)}`,
    );
    const payment = { body: made! };
    const decisions = await call<{ data: Decision[] }>(
      t.app,
      "GET",
      `/v1/risk_decisions?payment=${made!.id}`,
      { key: m.secretKey },
    );
    return { payment: payment.body, decisions: decisions.body.data };
  }

  test("block if framed: the embedded form's payment is blocked, the hosted page's passes", async () => {
    const id = await rule("no frames", "block if framed");
    const framed = await payByPhone({ embedded: true });
    assert.equal(framed.payment.status, "failed");
    assert.equal(framed.payment.failure_code, "blocked_by_risk_rule");
    const decision = framed.decisions.find((d) => d.rule_name === "no frames");
    assert.ok(decision, JSON.stringify(framed.decisions));
    assert.equal(decision.applied, true);
    assert.deepEqual(decision.attribute_values, { framed: true });

    // The hosted page, opened as a document: not framed, not blocked.
    const hosted = await payByPhone({ embedded: false, headers: { "sec-fetch-dest": "document" } });
    assert.notEqual(hosted.payment.failure_code, "blocked_by_risk_rule");
    assert.deepEqual(
      hosted.decisions.filter((d) => d.rule_name === "no frames"),
      [],
    );
    // The browser's word inside a frame counts as well (no embedded entry, Sec-Fetch-Dest: iframe).
    const iframe = await payByPhone({ embedded: false, headers: { "sec-fetch-dest": "iframe" } });
    assert.equal(iframe.payment.failure_code, "blocked_by_risk_rule");
    await disable(id);
  });

  test("review if ip_country != country: held from abroad, passes at home", async () => {
    const id = await rule("abroad", "review if ip_country != country");
    const abroad = await payByPhone({ embedded: false, headers: { "cf-ipcountry": "br" } });
    assert.equal(abroad.payment.status, "processing", JSON.stringify(abroad.payment));
    const decision = abroad.decisions.find((d) => d.rule_name === "abroad");
    assert.ok(decision, JSON.stringify(abroad.decisions));
    assert.equal(decision.action, "review");
    assert.equal(decision.applied, true);
    assert.deepEqual(decision.attribute_values, { ip_country: "BR", country: "FR" });

    const home = await payByPhone({ embedded: false, headers: { "cf-ipcountry": "FR" } });
    assert.deepEqual(
      home.decisions.filter((d) => d.rule_name === "abroad"),
      [],
    );
    assert.notEqual(home.payment.status, "failed");
    // Unknown address country (no header): the rule does not fire (docs/risk.md, unknown values).
    const unknown = await payByPhone({ embedded: false });
    assert.deepEqual(
      unknown.decisions.filter((d) => d.rule_name === "abroad"),
      [],
    );
    await disable(id);
  });

  test("page_open_ms: the time since the payer first opened the page", async () => {
    const id = await rule("too fast", "block if page_open_ms < 2000");
    const fast = await payByPhone({ embedded: false, waitMs: 500 });
    assert.equal(fast.payment.failure_code, "blocked_by_risk_rule");
    const decision = fast.decisions.find((d) => d.rule_name === "too fast");
    assert.deepEqual(decision?.attribute_values, { page_open_ms: 500 });
    const human = await payByPhone({ embedded: false, waitMs: 9000 });
    assert.notEqual(human.payment.failure_code, "blocked_by_risk_rule");
    await disable(id);
  });
});
