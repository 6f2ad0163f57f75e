/**
 * The hosted carrier page accepts the numbers the API accepts: in test mode, the ranges regulators
 * reserve for fiction (docs/carrier-payments.md), Ofcom's 07700 900xxx among them, which
 * libphonenumber gives no country; and the example number the page itself suggests.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ADMIN_KEY } from "../support/app.ts";
import { http, type LiveServer, startLiveServer } from "../support/server.ts";

let live: LiveServer;
let key: string;

before(async () => {
  live = await startLiveServer();
  const merchant = await http<{ secret_key: string }>(live.url, "POST", "/v1/merchants", ADMIN_KEY, {
    name: "Number studio",
  });
  key = merchant.body.secret_key;
});
after(() => live.close());

async function enterNumber(typed: string) {
  const s = await http<{ id: string }>(live.url, "POST", "/v1/checkout_sessions", key, {
    amount: 199,
    currency: "GBP",
    payer: { country: "GB" },
    payment_method_types: ["carrier"],
  });
  assert.equal(s.status, 201, JSON.stringify(s.body));
  const page = await fetch(`${live.url}/checkout/${s.body.id}/carrier`);
  const token = /name="_token" value="([^"]+)"/.exec(await page.text())![1]!;
  const post = (form: Record<string, string>) =>
    fetch(`${live.url}/checkout/${s.body.id}/carrier/start`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ _token: token, ...form }).toString(),
    });
  const entered = await post({ msisdn: typed });
  let body = await entered.text();
  let status = entered.status;
  // The double opt-in's confirmation is a page of its own, after a redirect.
  const next = entered.headers.get("location");
  if (status === 303 && next?.includes("/carrier/confirm?")) {
    const confirmation = await fetch(`${live.url}${next}`, { redirect: "manual" });
    status = confirmation.status;
    body = await confirmation.text();
  }
  const field = (name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(body)?.[1];
  const error = /field-error[^>]*>([^<]*)/.exec(body)?.[1];
  if (error || status !== 200) return { status, error };
  // The UK asks for a second confirmation with the price (double opt-in): the number, routed.
  const msisdn = field("msisdn");
  const operator = field("operator");
  const confirmed = await post({ msisdn: msisdn ?? "", operator: operator ?? "", confirmed: "yes" });
  return { status: confirmed.status, msisdn, operator, location: confirmed.headers.get("location") };
}

describe("GB test numbers on the hosted carrier page", () => {
  for (const typed of ["07700 900010", "+44 7700 900123"]) {
    test(`${typed}: the page goes on to the operator's step, as POST /v1/payments does`, async () => {
      const r = await enterNumber(typed);
      assert.equal(r.error, undefined, "no error on the form");
      assert.match(String(r.msisdn), /^\+447700900(010|123)$/);
      assert.match(String(r.operator), /^234\d{2}$/, "routed to a UK operator");
      assert.equal(r.status, 303, "the payment started");
      assert.match(String(r.location), /^\/checkout\/cs_\w+\/carrier\/(pin|mo)/);
    });
  }

  test("the API accepts the same number", async () => {
    const r = await http(live.url, "POST", "/v1/payments", key, {
      amount: 199,
      currency: "GBP",
      payment_method: { type: "carrier", msisdn: "+447700900010" },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  });
});

describe("the example number follows the session's country", () => {
  async function badNumber(body: Record<string, unknown>) {
    const s = await http<{ id: string }>(live.url, "POST", "/v1/checkout_sessions", key, {
      amount: 199,
      payment_method_types: ["carrier"],
      ...body,
    });
    assert.equal(s.status, 201, JSON.stringify(s.body));
    const page = await fetch(`${live.url}/checkout/${s.body.id}/carrier`);
    const token = /name="_token" value="([^"]+)"/.exec(await page.text())![1]!;
    const r = await fetch(`${live.url}/checkout/${s.body.id}/carrier/start`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ _token: token, msisdn: "12" }).toString(),
    });
    assert.equal(r.status, 400);
    return /id="msisdn-error">([^<]*)/.exec(await r.text())?.[1];
  }

  test("a French session in English: a French mobile number", async () => {
    const error = await badNumber({ currency: "EUR", payer: { country: "FR" }, locale: "en" });
    assert.equal(error, "Enter a mobile number, like +33 6 12 34 56 78");
  });

  test("a Romanian session in Arabic: a Romanian number, isolated left to right", async () => {
    const error = await badNumber({ currency: "RON", payer: { country: "RO" }, locale: "ar" });
    assert.match(String(error), /\u2066\+40 7\d{2} \d{3} \d{3}\u2069$/);
  });

  test("no country known: the locale's own example", async () => {
    const error = await badNumber({ currency: "EUR", locale: "fr" });
    assert.equal(error, "Saisissez un numéro de mobile, comme +33 6 12 34 56 78");
  });
});

describe("the double opt-in's confirmation is a page of its own", () => {
  // It was the answer to the number's POST: Back from the code or text page landed on the
  // browser's "Confirm form resubmission" error (ERR_CACHE_MISS) instead of a page.
  async function started() {
    const s = await http<{ id: string }>(live.url, "POST", "/v1/checkout_sessions", key, {
      amount: 199,
      currency: "EUR",
      payer: { country: "FR" },
      payment_method_types: ["carrier"],
    });
    const page = await fetch(`${live.url}/checkout/${s.body.id}/carrier`);
    const token = /name="_token" value="([^"]+)"/.exec(await page.text())![1]!;
    const post = (form: Record<string, string>) =>
      fetch(`${live.url}/checkout/${s.body.id}/carrier/start`, {
        method: "POST",
        redirect: "manual",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ _token: token, ...form }).toString(),
      });
    return { id: s.body.id, post };
  }

  test("the number's POST redirects to the confirmation, whose address hides the number", async () => {
    const { id, post } = await started();
    const entered = await post({ msisdn: "+33 6 12 34 56 78" });
    assert.equal(entered.status, 303);
    const location = entered.headers.get("location")!;
    assert.match(location, new RegExp(`^/checkout/${id}/carrier/confirm\\?number=[A-Za-z0-9_-]+$`));
    assert.doesNotMatch(location, /612345678|33612/, "the number is sealed, not readable");
    const page = await fetch(`${live.url}${location}`, { redirect: "manual" });
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /<h2>Confirm your payment<\/h2>/);
    assert.match(html, /name="msisdn" value="\+33612345678"/);
    assert.match(html, /name="confirmed" value="yes"/);
    // Reloading, or coming Back to it, shows it again.
    assert.equal((await fetch(`${live.url}${location}`, { redirect: "manual" })).status, 200);
  });

  test("a changed or foreign sealed number goes back to the number page; a payment started goes on", async () => {
    const first = await started();
    const other = await started();
    const location = (await first.post({ msisdn: "+33612345678" })).headers.get("location")!;
    const sealed = location.split("number=")[1]!;
    const flipped = `${sealed.slice(0, 20)}${sealed[20] === "A" ? "B" : "A"}${sealed.slice(21)}`;
    for (const url of [
      `/checkout/${first.id}/carrier/confirm?number=${flipped}`,
      `/checkout/${first.id}/carrier/confirm`,
      `/checkout/${other.id}/carrier/confirm?number=${sealed}`,
    ]) {
      const r = await fetch(`${live.url}${url}`, { redirect: "manual" });
      assert.equal(r.status, 303, url);
      assert.match(String(r.headers.get("location")), /\/carrier$/, url);
    }
    const confirmed = await first.post({ msisdn: "+33612345678", operator: "20801", confirmed: "yes" });
    assert.equal(confirmed.status, 303);
    const onward = String(confirmed.headers.get("location"));
    assert.match(onward, /\/carrier\/(pin|mo)$/);
    // Back to the confirmation once the payment is under way: on to its page, never a second one.
    const back = await fetch(`${live.url}${location}`, { redirect: "manual" });
    assert.equal(back.status, 303);
    assert.equal(back.headers.get("location"), onward);
  });
});
