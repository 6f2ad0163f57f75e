/**
 * Carrier payments as a new user tries them, against the embedded simulator speaking the published
 * protocols: CAMARA v0.5 refunds (a French operator), CAMARA's own code step (Movistar), a Côte
 * d'Ivoire payment in XOF, a UK drama number in test mode, and a timeline that shows the wire as
 * it was: the OAuth2 token request, `Bearer [redacted]`, bodies that are still the JSON sent.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ADMIN_KEY } from "../support/app.ts";
import { eventually, http, type LiveServer, startLiveServer } from "../support/server.ts";

type Payment = {
  id: string;
  status: string;
  amount_refunded: number;
  failure_code: string | null;
  next_action: { type: string } | null;
  payment_method: { type: string; operator?: string; flow?: string };
};
type Interaction = {
  operation: string;
  request: { method?: string; url?: string; headers?: Record<string, string>; body?: string } | null;
  response: { status?: number; body?: string } | null;
};

let live: LiveServer;
let key: string;
let counter = 0;

before(async () => {
  live = await startLiveServer();
  const merchant = await http<{ secret_key: string }>(live.url, "POST", "/v1/merchants", ADMIN_KEY, {
    name: "Protocol studio",
  });
  key = merchant.body.secret_key;
});
after(() => live.close());

function msisdn(prefix: string, tail = "0010"): string {
  counter++;
  return `${prefix}${String(counter).padStart(3, "0")}${tail}`;
}

const pay = (body: Record<string, unknown>) => http<Payment>(live.url, "POST", "/v1/payments", key, body);
const get = async (id: string) => (await http<Payment>(live.url, "GET", `/v1/payments/${id}`, key)).body;
const settled = (id: string) =>
  eventually(async () => {
    const p = await get(id);
    return p.status === "processing" ? undefined : p;
  });
const interactions = async (id: string) =>
  (await http<{ data: Interaction[] }>(live.url, "GET", `/v1/provider_interactions?payment=${id}`, key)).body
    .data;

async function subscriberBalance(number: string): Promise<bigint | undefined> {
  const network = (await import("../../src/connectors/operators/index.ts")).carrierNetwork();
  const r = await fetch(`${network.http_url}/_sim/subscribers/${encodeURIComponent(number)}`);
  if (r.status !== 200) return undefined;
  const body = (await r.json()) as { balance?: number | string };
  return body.balance === undefined ? undefined : BigInt(body.balance);
}

describe("CAMARA v0.5 with a French operator", () => {
  test("a refund goes back through CAMARA Carrier Billing Refund v0.3, partly then the rest", async () => {
    const number = msisdn("+3361");
    const created = await pay({
      amount: 400,
      currency: "EUR",
      payment_method: { type: "carrier", msisdn: number, operator: "20801" },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal((await settled(created.body.id)).status, "succeeded");
    assert.equal(await subscriberBalance(number), 10_000n - 400n);
    const first = await http<{ status: string }>(live.url, "POST", "/v1/refunds", key, {
      payment: created.body.id,
      amount: 150,
    });
    assert.equal(first.status, 201, JSON.stringify(first.body));
    assert.equal(first.body.status, "succeeded");
    const rest = await http<{ status: string }>(live.url, "POST", "/v1/refunds", key, {
      payment: created.body.id,
      amount: 250,
    });
    assert.equal(rest.body.status, "succeeded", JSON.stringify(rest.body));
    assert.equal((await get(created.body.id)).amount_refunded, 400);
    assert.equal(await subscriberBalance(number), 10_000n, "every cent given back, once");
  });

  test("the timeline shows the token request, the bearer scheme and the JSON body as sent", async () => {
    const number = msisdn("+3361");
    const created = await pay({
      amount: 275,
      currency: "EUR",
      payment_method: { type: "carrier", msisdn: number, operator: "20801" },
    });
    const id = created.body.id;
    await settled(id);
    const wire = await eventually(async () => {
      const all = await interactions(id);
      return all.some((i) => i.operation === "camara.charge") ? all : undefined;
    });
    const charge = wire.find((i) => i.operation === "camara.charge");
    assert.ok(charge?.request?.url?.endsWith("/camara/carrier-billing/v0.5/payments"), charge?.request?.url);
    assert.equal(charge?.request?.headers?.authorization, "Bearer [redacted]");
    const sent = JSON.parse(charge?.request?.body ?? "") as {
      amountTransaction: { phoneNumber: string; paymentAmount: { chargingInformation: { amount: number } } };
    };
    assert.equal(sent.amountTransaction.phoneNumber, number);
    assert.equal(sent.amountTransaction.paymentAmount.chargingInformation.amount, 2.75);
    const answered = JSON.parse(charge?.response?.body ?? "") as { paymentStatus: string };
    assert.equal(answered.paymentStatus, "succeeded");
    // The token request is on the wire too (recorded with the first call that needed a token).
    const everything = await http<{ data: Interaction[] }>(
      live.url,
      "GET",
      "/v1/provider_interactions?operator=20801",
      ADMIN_KEY,
    );
    const token = everything.body.data.find((i) => i.operation === "camara.token");
    assert.ok(token, "the OAuth2 token request is recorded");
    assert.equal(token.request?.headers?.authorization, "Basic [redacted]");
    assert.match(token.request?.body ?? "", /^grant_type=client_credentials&scope=carrier-billing/);
    const answer = JSON.parse((token.response as { body: string }).body) as Record<string, unknown>;
    assert.equal(answer.access_token, "[redacted]", "the token itself is redacted");
    assert.equal(answer.token_type, "Bearer");
  });

  test("Movistar asks for its code (CAMARA validation): 1234 confirms the reservation once", async () => {
    const number = msisdn("+3461");
    const created = await pay({
      amount: 300,
      currency: "EUR",
      payment_method: { type: "carrier", msisdn: number, operator: "21407" },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.status, "requires_action");
    assert.equal(created.body.payment_method.flow, "pin");
    const wrong = await http<{ error: { code: string } }>(
      live.url,
      "POST",
      `/v1/payments/${created.body.id}/confirm`,
      key,
      { pin: "9999" },
    );
    assert.equal(wrong.status, 402);
    const confirmed = await http<Payment>(live.url, "POST", `/v1/payments/${created.body.id}/confirm`, key, {
      pin: "1234",
    });
    assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
    assert.equal((await settled(created.body.id)).status, "succeeded");
    assert.equal(await subscriberBalance(number), 10_000n - 300n);
    const ops = (await interactions(created.body.id)).map((i) => i.operation);
    for (const op of ["camara.reserve", "camara.validate", "camara.capture"])
      assert.ok(ops.includes(op), ops.join());
    assert.ok(
      !JSON.stringify(await interactions(created.body.id)).includes('"code":"1234"'),
      "the code is redacted",
    );
  });
});

describe("defects found by a new user", () => {
  test("Côte d'Ivoire: +2250700000120, 200 XOF and the right PIN succeeds", async () => {
    const created = await pay({
      amount: 200,
      currency: "XOF",
      payment_method: { type: "carrier", msisdn: "+2250700000120" },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.status, "requires_action");
    const confirmed = await http<Payment>(live.url, "POST", `/v1/payments/${created.body.id}/confirm`, key, {
      pin: "1234",
    });
    assert.equal(confirmed.body.status, "succeeded", JSON.stringify(confirmed.body));
  });

  test("+447700900120 (Ofcom's drama range) is accepted in test mode and charged in GBP", async () => {
    const created = await pay({
      amount: 150,
      currency: "GBP",
      payment_method: { type: "carrier", msisdn: "+447700900120" },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const p = await settled(created.body.id);
    assert.equal(p.status, "succeeded", JSON.stringify(p));
  });
});
