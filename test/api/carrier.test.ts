/**
 * Carrier and card payments end to end: the platform on a real port, its embedded carrier network
 * simulator speaking each operator's protocol, callbacks over HTTP, reconciliation of unknown
 * outcomes. Subscribers behave by their MSISDN's last digits (…0001 insufficient funds, …0002
 * barred, …0003 charged but the reply times out, …0004 result by callback, …0005 a balance of
 * half of any price); the PIN is 1234.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ADMIN_KEY } from "../support/app.ts";
import { eventually, http, type LiveServer, startLiveServer } from "../support/server.ts";

type Payment = {
  id: string;
  status: string;
  amount_captured: number;
  amount_refunded: number;
  failure_code: string | null;
  failure_message?: string | null;
  next_action: { type: string; redirect_to_url?: { url: string } } | null;
  payment_method: { type: string; operator?: string; flow?: string; last4?: string; number?: string };
};

let live: LiveServer;
let key: string;
let counter = 0;

before(async () => {
  live = await startLiveServer();
  const merchant = await http<{ secret_key: string }>(live.url, "POST", "/v1/merchants", ADMIN_KEY, {
    name: "Carrier studio",
  });
  key = merchant.body.secret_key;
});
after(() => live.close());

/** A fresh subscriber number in a country, ending with the behaviour's digits. */
function msisdn(prefix: string, behaviour = "0000"): string {
  counter++;
  return `${prefix}${String(counter).padStart(3, "0")}${behaviour}`;
}

const ALBANIA = "+35569"; // OneAPI operators, ALL
const FRANCE = "+3361"; // CAMARA operators, EUR
const IRAQ = "+964770"; // Parlay X operators, IQD
const INDIA = "+91981"; // SMPP operators, INR
const NEPAL = "+977981"; // settlement-file operators, NPR

async function pay(body: Record<string, unknown>) {
  return http<Payment>(live.url, "POST", "/v1/payments", key, body);
}

async function get(id: string) {
  return (await http<Payment>(live.url, "GET", `/v1/payments/${id}`, key)).body;
}

async function settled(id: string): Promise<Payment> {
  return eventually(async () => {
    const p = await get(id);
    return p.status === "processing" ? undefined : p;
  });
}

async function capturesOf(id: string) {
  const { rows } = await live.database.db.query<{ amount: bigint }>(
    "select amount from ledger_transfers where reference = $1 and code = 'payment_capture'",
    [id],
  );
  return rows.map((r) => r.amount);
}

async function subscriberBalance(number: string): Promise<number | undefined> {
  const network = (await import("../../src/connectors/operators/index.ts")).carrierNetwork();
  const r = await fetch(`${network.http_url}/_sim/subscribers/${encodeURIComponent(number)}`);
  if (r.status !== 200) return undefined;
  const body = (await r.json()) as { balance?: number | string };
  return body.balance === undefined ? undefined : Number(body.balance);
}

describe("operators", () => {
  test("GET /v1/operators lists the registry without credentials", async () => {
    const r = await http<{ data: Array<Record<string, unknown>> }>(
      live.url,
      "GET",
      "/v1/operators?country=FR",
      key,
    );
    assert.equal(r.status, 200);
    assert.ok(r.body.data.length > 3);
    for (const op of r.body.data) {
      assert.equal(op.country, "FR");
      assert.ok(!JSON.stringify(op).match(/password|secret|client_secret/i));
    }
  });
});

describe("OneAPI with Centime's one-time code", () => {
  test("requires_action, then 1234 charges once; the timeline shows the wire exchanges", async () => {
    const number = msisdn(ALBANIA);
    const created = await pay({
      amount: 5000,
      currency: "ALL",
      payment_method: { type: "carrier", msisdn: number },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.status, "requires_action");
    assert.equal(created.body.next_action?.type, "enter_pin");
    assert.equal(created.body.payment_method.flow, "pin");
    const wrong = await http<{ error: { code: string } }>(
      live.url,
      "POST",
      `/v1/payments/${created.body.id}/confirm`,
      key,
      { pin: "9999" },
    );
    assert.equal(wrong.status, 402);
    assert.equal(wrong.body.error.code, "incorrect_pin");
    const confirmed = await http<Payment>(live.url, "POST", `/v1/payments/${created.body.id}/confirm`, key, {
      pin: "1234",
    });
    assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
    assert.equal(confirmed.body.status, "succeeded");
    assert.deepEqual(await capturesOf(created.body.id), [5000n]);
    const timeline = await http<{ data: Array<{ type: string; operation?: string; request?: unknown }> }>(
      live.url,
      "GET",
      `/v1/payments/${created.body.id}/timeline`,
      key,
    );
    const operations = timeline.body.data
      .filter((e) => e.type === "provider_interaction")
      .map((e) => e.operation);
    // OneAPI Payment has no PIN resource: Centime texts its code with the operator's SMS API.
    assert.ok(operations.includes("oneapi.send_sms"), operations.join());
    assert.ok(operations.includes("oneapi.charge"), operations.join());
    assert.ok(!JSON.stringify(timeline.body).includes("1234"), "the code is redacted");
    const byMsisdn = await http<{ data: Array<{ payment: string; operator: string; operation: string }> }>(
      live.url,
      "GET",
      `/v1/provider_interactions?msisdn=${encodeURIComponent(number)}`,
      key,
    );
    assert.ok(byMsisdn.body.data.length >= 2);
    assert.ok(
      byMsisdn.body.data.every(
        (i) => i.payment === created.body.id && i.operator === created.body.payment_method.operator,
      ),
    );
    const byAdmin = await http<{ data: unknown[] }>(
      live.url,
      "GET",
      `/v1/provider_interactions?payment=${created.body.id}`,
      ADMIN_KEY,
    );
    assert.equal(byAdmin.body.data.length, byMsisdn.body.data.length);
  });

  test("a refund goes back through the operator", async () => {
    const number = msisdn(ALBANIA);
    const created = await pay({
      amount: 3000,
      currency: "ALL",
      payment_method: { type: "carrier", msisdn: number },
    });
    await http(live.url, "POST", `/v1/payments/${created.body.id}/confirm`, key, { pin: "1234" });
    const refund = await http<{ status: string; amount: number }>(live.url, "POST", "/v1/refunds", key, {
      payment: created.body.id,
      amount: 1000,
    });
    assert.equal(refund.status, 201, JSON.stringify(refund.body));
    assert.equal(refund.body.status, "succeeded");
    const p = await get(created.body.id);
    assert.equal(p.amount_refunded, 1000);
  });
});

describe("CAMARA, charged directly", () => {
  test("a prepaid subscriber is charged once", async () => {
    const number = msisdn(FRANCE);
    assert.equal(await subscriberBalance(number), undefined, "a new subscriber");
    const r = await pay({
      amount: 199,
      currency: "EUR",
      payment_method: { type: "carrier", msisdn: number, operator: "20801" },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const p = await settled(r.body.id);
    assert.equal(p.status, "succeeded");
    assert.deepEqual(await capturesOf(p.id), [199n]);
    assert.equal(await subscriberBalance(number), 10_000 - 199, "100.00 EUR less 1.99, once");
  });

  // CAMARA answers one CARRIER_BILLING.PAYMENT_DENIED for both: read as a retryable denial.
  for (const [behaviour, code] of [
    ["0001", "insufficient_funds"],
    ["0002", "insufficient_funds"],
  ] as const) {
    test(`…${behaviour} is declined as ${code}`, async () => {
      const r = await pay({
        amount: 199,
        currency: "EUR",
        payment_method: { type: "carrier", msisdn: msisdn(FRANCE, behaviour), operator: "20801" },
      });
      const p = await settled(r.body.id);
      assert.equal(p.status, "failed");
      assert.equal(p.failure_code, code);
      assert.deepEqual(await capturesOf(p.id), []);
    });
  }

  test("…0005 (a balance of half of any price): declined as insufficient_funds, nothing captured, the operator still holds half the price", async () => {
    const number = msisdn(FRANCE, "0005");
    const r = await pay({
      amount: 398,
      currency: "EUR",
      payment_method: { type: "carrier", msisdn: number, operator: "20801" },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const p = await settled(r.body.id);
    assert.equal(p.status, "failed");
    assert.equal(p.failure_code, "insufficient_funds");
    assert.equal(p.amount_captured, 0);
    assert.deepEqual(await capturesOf(p.id), []);
    assert.equal(await subscriberBalance(number), 199, "half of 3.98 EUR, untouched");
  });

  test("…0003: charged but the reply is lost; reconciliation settles it once, never charging again", async () => {
    const number = msisdn(FRANCE, "0003");
    const r = await pay({
      amount: 250,
      currency: "EUR",
      payment_method: { type: "carrier", msisdn: number, operator: "20801" },
    });
    assert.equal(r.status, 201);
    assert.equal(r.body.status, "processing");
    const p = await settled(r.body.id);
    assert.equal(p.status, "succeeded");
    assert.deepEqual(await capturesOf(p.id), [250n]);
    assert.equal(await subscriberBalance(number), 10_000 - 250, "charged exactly once");
  });

  test("a burst past the operator's TPS limit: what the limit cannot take is refused before it leaves (rate_limited), what left fits the limit, every answer is final", async () => {
    // Free (20815) is used by no other test here: its connector is made after this lowers its limit.
    const operator = (await import("../../src/connectors/operators/index.ts")).getOperator("20815");
    assert.ok(operator);
    const tps = 2;
    operator.tps_max = tps;
    const started = Date.now();
    const replies = await Promise.all(
      Array.from({ length: 40 }, () =>
        pay({
          amount: 150,
          currency: "EUR",
          payment_method: { type: "carrier", msisdn: msisdn(FRANCE, "0099"), operator: "20815" },
        }),
      ),
    );
    for (const r of replies) assert.equal(r.status, 201, JSON.stringify(r.body));
    const final = await Promise.all(replies.map((r) => settled(r.body.id)));
    const elapsedS = (Date.now() - started) / 1000;
    let sent = 0;
    for (const p of final) {
      const limited =
        p.status === "failed" &&
        p.failure_code === "provider_unavailable" &&
        /rate_limited/.test(p.failure_message ?? "");
      assert.ok(p.status === "succeeded" || limited, `${p.status} ${p.failure_code} ${p.failure_message}`);
      assert.deepEqual(await capturesOf(p.id), p.status === "succeeded" ? [150n] : []);
      if (p.status === "succeeded") sent++;
    }
    // A bucket of `tps` tokens refilled at `tps` a second: no more left than that allows. Without
    // the limit all 40 would have been charged (unless the burst took 20 seconds).
    assert.ok(sent <= tps + Math.ceil(elapsedS * tps), `${sent} charged in ${elapsedS} s at ${tps} TPS`);
    assert.ok(sent < final.length, "the burst went past the limit");
  });

  test("the wrong currency for the operator is refused naming the field", async () => {
    const r = await http<{ error: { code: string; param: string } }>(live.url, "POST", "/v1/payments", key, {
      amount: 199,
      currency: "USD",
      payment_method: { type: "carrier", msisdn: msisdn(FRANCE), operator: "20801" },
    });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.param, "currency");
  });

  test("an operator of another country is refused", async () => {
    const r = await http<{ error: { code: string; param: string } }>(live.url, "POST", "/v1/payments", key, {
      amount: 199,
      currency: "EUR",
      payment_method: { type: "carrier", msisdn: msisdn(FRANCE), operator: "41800" },
    });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.param, "payment_method.operator");
  });
});

describe("other protocols", () => {
  test("Parlay X (SOAP) charges a subscriber", async () => {
    const r = await pay({
      amount: 1500,
      currency: "IQD",
      payment_method: { type: "carrier", msisdn: msisdn(IRAQ) },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const p = await settled(r.body.id);
    assert.equal(p.status, "succeeded");
    assert.equal(p.payment_method.operator?.startsWith("418"), true);
  });

  test("SMPP premium MT is confirmed by its delivery receipt", async () => {
    const r = await pay({
      amount: 500,
      currency: "INR",
      payment_method: { type: "carrier", msisdn: msisdn(INDIA) },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const p = await settled(r.body.id);
    assert.equal(p.status, "succeeded");
    assert.deepEqual(await capturesOf(p.id), [500n]);
  });

  test("settlement files: the charge settles when the operator's response file is read", async () => {
    const r = await pay({
      amount: 700,
      currency: "NPR",
      payment_method: { type: "carrier", msisdn: msisdn(NEPAL) },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.status, "processing", "the answer comes in a file, later");
    const p = await settled(r.body.id);
    assert.equal(p.status, "succeeded");
    assert.deepEqual(await capturesOf(p.id), [700n]);
  });

  /** An MO-flow payment: created waiting for the payer's text, with the keyword to send. */
  async function waitingForText(prefix: string, amount: number, currency: string) {
    const number = msisdn(prefix);
    const r = await pay({
      amount,
      currency,
      payment_method: { type: "carrier", msisdn: number, flow: "mo" },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.status, "requires_action");
    const action = r.body.next_action as unknown as {
      type: string;
      send_mo: { shortcode: string; keyword: string };
    };
    assert.equal(action?.type, "send_mo");
    return { id: r.body.id, operator: r.body.payment_method.operator ?? "", number, ...action.send_mo };
  }

  /** The payer's phone texts the keyword (the simulator's SMSC): how many platform sessions heard it. */
  async function textTheKeyword(w: Awaited<ReturnType<typeof waitingForText>>): Promise<number> {
    const network = (await import("../../src/connectors/operators/index.ts")).carrierNetwork();
    const mo = await fetch(`${network.http_url}/_sim/mo`, {
      method: "POST",
      body: JSON.stringify({
        operator: w.operator,
        msisdn: w.number,
        shortcode: w.shortcode,
        text: w.keyword,
      }),
    });
    return ((await mo.json()) as { sessions: number }).sessions;
  }

  async function decided(id: string): Promise<Payment> {
    return eventually(async () => {
      const now = await get(id);
      return now.status === "requires_action" || now.status === "processing" ? undefined : now;
    });
  }

  test("the MO flow: the payer texts PAY <code> to the shortcode, then the charge follows", async () => {
    const w = await waitingForText(INDIA, 300, "INR");
    assert.equal(await textTheKeyword(w), 1, "the platform is listening to the operator");
    const p = await decided(w.id);
    assert.equal(p.status, "succeeded");
    assert.deepEqual(await capturesOf(p.id), [300n]);
  });

  // The text reaches the platform over the operator's SMPP session whatever API bills the charge:
  // before, only operators billed over SMPP were listened to, so a French (CAMARA) or Iraqi
  // (Parlay X) payer's text went nowhere and the payment waited until it expired.
  for (const [name, prefix, amount, currency] of [
    ["CAMARA", FRANCE, 250, "EUR"],
    ["Parlay X", IRAQ, 1000, "IQD"],
  ] as const) {
    test(`the MO flow with an operator billed over ${name}: the text arrives over SMPP, the charge over ${name}`, async () => {
      const w = await waitingForText(prefix, amount, currency);
      assert.equal(await textTheKeyword(w), 1, "the platform is listening");
      const p = await decided(w.id);
      assert.equal(p.status, "succeeded");
      assert.deepEqual(await capturesOf(p.id), [BigInt(amount)]);
    });
  }

  test("after the SMPP sessions close (a restart), the job opens them again for the payments waiting for a text", async () => {
    const { CarrierProvider } = await import("../../src/payments/providers/carrier.ts");
    const { closeConnectors } = await import("../../src/connectors/operators/index.ts");
    const w = await waitingForText(FRANCE, 250, "EUR");
    await closeConnectors();
    // The simulator's SMSC sees the unbind at once; nobody hears the text now.
    await eventually(async () => ((await textTheKeyword(w)) === 0 ? true : undefined));
    const carrier = live.server.services.payments.providers.get("carrier");
    assert.ok(carrier instanceof CarrierProvider);
    assert.ok((await carrier.listenForAwaitedTexts(live.database.db)) >= 1);
    assert.equal(await textTheKeyword(w), 1, "listening again");
    const p = await decided(w.id);
    assert.equal(p.status, "succeeded");
    assert.deepEqual(await capturesOf(p.id), [250n]);
  });

  test("…0004: the result arrives later by callback", async () => {
    const r = await pay({
      amount: 199,
      currency: "EUR",
      payment_method: { type: "carrier", msisdn: msisdn(FRANCE, "0004"), operator: "20801" },
    });
    const p = await settled(r.body.id);
    assert.equal(p.status, "succeeded");
    assert.deepEqual(await capturesOf(p.id), [199n]);
  });
});

describe("the checkout's test-mode help", () => {
  test("a live session shows no test-mode banner and refuses the test text (404); a test one shows the banner", async () => {
    const merchant = await http<{ live_secret_key: string; secret_key: string }>(
      live.url,
      "POST",
      "/v1/merchants",
      ADMIN_KEY,
      { name: "Live studio" },
    );
    const pages = async (secretKey: string) => {
      const session = await http<{ id: string; url: string }>(
        live.url,
        "POST",
        "/v1/checkout_sessions",
        secretKey,
        {
          amount: 250,
          currency: "EUR",
        },
      );
      assert.equal(session.status, 201, JSON.stringify(session.body));
      const base = `${live.url}/checkout/${session.body.id}`;
      const html = await (await fetch(`${base}/carrier`)).text();
      const token = /name="_token" value="([^"]+)"/.exec(html)?.[1];
      assert.ok(token, "the number form carries its token");
      const sent = await fetch(`${base}/carrier/mo/test`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", origin: live.url },
        body: `_token=${token}`,
        redirect: "manual",
      });
      return { banner: html.includes('class="test-mode"'), sent: sent.status };
    };
    const liveSession = await pages(merchant.body.live_secret_key);
    assert.deepEqual(liveSession, { banner: false, sent: 404 });
    // In test mode with no payment waiting for a text, the button's route sends the payer back (303).
    const testSession = await pages(merchant.body.secret_key);
    assert.deepEqual(testSession, { banner: true, sent: 303 });
  });
});

describe("cards", () => {
  test("a card is charged without storing its number", async () => {
    const r = await pay({
      amount: 999,
      currency: "EUR",
      payment_method: { type: "card", number: "4242424242424242", exp_month: 12, exp_year: 2035, cvc: "123" },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const p = await settled(r.body.id);
    assert.equal(p.status, "succeeded");
    assert.equal(p.payment_method.last4, "4242");
    const { rows } = await live.database.db.query<{ n: bigint }>(
      "select count(*) as n from payments where payment_method::text like '%4242424242424242%'",
    );
    assert.equal(rows[0]!.n, 0n);
  });

  test("an invalid card number is refused naming the field", async () => {
    const r = await http<{ error: { param: string } }>(live.url, "POST", "/v1/payments", key, {
      amount: 999,
      currency: "EUR",
      payment_method: { type: "card", number: "4242424242424241", exp_month: 12, exp_year: 2035, cvc: "123" },
    });
    assert.equal(r.status, 400);
    assert.equal(r.body.error.param, "payment_method.number");
  });
});
