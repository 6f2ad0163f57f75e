/**
 * The card method of the hosted page over real sockets: the form posts to the card provider's
 * tokenization form (the simulator), never to Centime; Centime pays with the token, with and
 * without a 3-D Secure step; declines and bad tokens get the form back with an error; and the
 * card number is in no database row and in no log line.
 */
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, before, test } from "node:test";
import { ADMIN_KEY } from "../support/app.ts";
import { http, type LiveServer, startLiveServer } from "../support/server.ts";
import { rowsContaining } from "./support.ts";

const lines: string[] = [];
const logSink = new Writable({
  write(chunk, _encoding, done) {
    lines.push(String(chunk));
    done();
  },
});

let live: LiveServer;
let key: string;
before(async () => {
  live = await startLiveServer({}, { logLevel: "trace", logDestination: logSink });
  const merchant = await http<{ secret_key: string }>(live.url, "POST", "/v1/merchants", ADMIN_KEY, {
    name: "Pixel Forge",
  });
  key = merchant.body.secret_key;
});
after(() => live?.close());

const CARD = "4242424242424242";
const CARD_3DS = "4000000000050007";
const CARD_POOR = "4000000000010001";

async function get(url: string, headers: Record<string, string> = {}) {
  return fetch(url, { redirect: "manual", headers });
}

function location(r: Response): string {
  const to = r.headers.get("location");
  assert.ok(to, `a redirect (status ${r.status})`);
  return to;
}

/** Opens a link's session and the card form; answers the session's id, the form's action and token. */
async function openCardForm(amount: number) {
  const link = await http<{ url: string }>(live.url, "POST", "/v1/payment_links", key, {
    amount,
    currency: "EUR",
  });
  assert.equal(link.status, 201);
  const opened = await get(link.body.url);
  const sessionPath = location(opened);
  const sessionId = /cs_[0-9a-z]+/.exec(sessionPath)![0];
  const list = await get(`${live.url}${sessionPath}`);
  assert.equal(list.status, 200, "two methods: the list");
  assert.match(await list.text(), new RegExp(`href="/checkout/${sessionId}/card"`));
  const page = await get(`${live.url}/checkout/${sessionId}/card`);
  assert.equal(page.status, 200);
  const html = await page.text();
  const action = /<form method="post" action="([^"]+)" novalidate>/.exec(html)![1]!;
  const returnUrl = /name="return_url" value="([^"]+)"/.exec(html)![1]!;
  return { sessionId, action, returnUrl, html, csp: page.headers.get("content-security-policy") ?? "" };
}

async function tokenize(
  action: string,
  returnUrl: string,
  number: string,
  extra: Record<string, string> = {},
) {
  const r = await fetch(action, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      number,
      exp_month: "12",
      exp_year: String(new Date().getUTCFullYear() + 2),
      cvc: "123",
      return_url: returnUrl,
      ...extra,
    }).toString(),
  });
  assert.equal(r.status, 303);
  return location(r);
}

async function confirmAndPay(sessionId: string, back: string) {
  const confirm = await get(back.replaceAll("&amp;", "&"));
  assert.equal(confirm.status, 200);
  const html = await confirm.text();
  const formToken = /name="_token" value="([^"]+)"/.exec(html)![1]!;
  const cardToken = /name="card_token" value="([^"]+)"/.exec(html)![1]!;
  const paid = await fetch(`${live.url}/checkout/${sessionId}/card/pay`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ _token: formToken, card_token: cardToken }).toString(),
  });
  assert.equal(paid.status, 303);
  return { html, to: location(paid), cardToken };
}

test("the card form posts to the card provider only; paying with its token completes the session", async () => {
  const { sessionId, action, returnUrl, html, csp } = await openCardForm(1999);
  const psp = new URL(action);
  assert.notEqual(psp.origin, new URL(live.url).origin, "the form leaves Centime");
  assert.equal(psp.pathname, "/cardpsp/tokenize");
  assert.match(csp, new RegExp(`form-action 'self' ${psp.origin.replace(/[.]/g, "\\.")};`));
  assert.doesNotMatch(csp, /form-action[^;]*\*/);
  assert.match(html, /autocomplete="cc-number"/);
  // The default expiry is this month of this year, never a date already past.
  const month = new Date().getUTCMonth() + 1;
  assert.match(html, new RegExp(`<option value="${month}" selected>`));
  assert.match(
    html,
    new RegExp(`<select id="card-exp-year"[^>]*>\\s*<option value="${new Date().getUTCFullYear()}">`),
  );
  assert.equal(returnUrl, `${live.url}/checkout/${sessionId}/card/return`);
  const back = await tokenize(action, returnUrl, CARD);
  assert.ok(back.startsWith(`${returnUrl}?token=tok_`), back);
  assert.ok(!back.includes(CARD) && !back.includes("4242&"), "the return carries no card data");
  const { html: confirmHtml, to } = await confirmAndPay(sessionId, back);
  assert.match(confirmHtml, /visa ending 4242/);
  assert.equal(to, `/checkout/${sessionId}/done`);
  const session = await http<{ status: string; payment: string; steps: { step: string; method: string }[] }>(
    live.url,
    "GET",
    `/v1/checkout_sessions/${sessionId}`,
    key,
  );
  assert.equal(session.body.status, "complete");
  assert.deepEqual(
    session.body.steps.map((s) => s.step),
    ["page_opened", "method_chosen", "card_submitted", "charged"],
  );
  const payment = await http<{ amount_captured: number; payment_method: Record<string, unknown> }>(
    live.url,
    "GET",
    `/v1/payments/${session.body.payment}`,
    key,
  );
  assert.equal(payment.body.amount_captured, 1999);
  assert.deepEqual(payment.body.payment_method, {
    type: "card",
    brand: "visa",
    last4: "4242",
    exp_month: 12,
    exp_year: new Date().getUTCFullYear() + 2,
  });
});

test("3-D Secure: the provider's page, then back to Centime; approved completes, denied frees the session", async () => {
  for (const result of ["approve", "deny"] as const) {
    const { sessionId, action, returnUrl } = await openCardForm(500);
    const back = await tokenize(action, returnUrl, CARD_3DS);
    const { to } = await confirmAndPay(sessionId, back);
    const challenge = new URL(to);
    assert.equal(challenge.origin, new URL(action).origin, "to the provider's challenge page");
    assert.match(challenge.pathname, /^\/cardpsp\/3ds\//);
    const answered = await get(`${to}?result=${result}`);
    assert.equal(answered.status, 303);
    assert.equal(location(answered), `${live.url}/checkout/${sessionId}/card/complete`);
    const complete = await get(location(answered));
    assert.equal(complete.status, 303);
    if (result === "approve") {
      assert.equal(location(complete), `/checkout/${sessionId}/done`);
      const done = await get(`${live.url}/checkout/${sessionId}/done`);
      assert.match(await done.text(), /Payment successful/);
    } else {
      assert.equal(location(complete), `/checkout/${sessionId}/card?error=declined`);
      const form = await get(`${live.url}/checkout/${sessionId}/card?error=declined`);
      assert.equal(form.status, 400);
      assert.match(await form.text(), /Your card was declined/);
      const s = await http<{ status: string }>(live.url, "GET", `/v1/checkout_sessions/${sessionId}`, key);
      assert.equal(s.body.status, "open", "free for another attempt");
    }
  }
});

test("a declined card, a bad card, an expired date and a forged token get the form back with the error", async () => {
  const { sessionId, action, returnUrl } = await openCardForm(700);
  const poor = await tokenize(action, returnUrl, CARD_POOR);
  const { to } = await confirmAndPay(sessionId, poor);
  assert.equal(to, `/checkout/${sessionId}/card?error=declined`);
  const luhn = await tokenize(action, returnUrl, "4242424242424241");
  assert.equal(luhn, `${returnUrl}?error=number_invalid`);
  const r = await get(luhn);
  assert.equal(location(r), `/checkout/${sessionId}/card?error=number_invalid`);
  const page = await get(`${live.url}/checkout/${sessionId}/card?error=number_invalid`);
  const html = await page.text();
  assert.match(html, /id="card-number"[^>]*aria-invalid="true"/s);
  const expired = await tokenize(action, returnUrl, CARD, { exp_year: "2001" });
  assert.equal(expired, `${returnUrl}?error=expiry_invalid`);
  const forged = await get(`${returnUrl}?token=tok_${"A".repeat(24)}`);
  assert.equal(location(forged), `/checkout/${sessionId}/card?error=token`);
  // A token posted straight to /pay without the form token is refused.
  const noForm = await fetch(`${live.url}/checkout/${sessionId}/card/pay`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ card_token: `tok_${"B".repeat(24)}` }).toString(),
  });
  assert.equal(noForm.status, 403);
});

test("the card numbers are in no database row and no log line", async () => {
  assert.ok(lines.length > 10, `the server logged (${lines.length} lines)`);
  for (const number of [CARD, CARD_3DS, CARD_POOR]) {
    assert.deepEqual(await rowsContaining(live.database.db, number), [], `no row holds ${number}`);
    assert.deepEqual(
      lines.filter((l) => l.includes(number)),
      [],
      `no log line holds ${number}`,
    );
  }
  // The check itself finds what is there.
  assert.ok((await rowsContaining(live.database.db, "4242")).length > 0, "last4 is stored, as it may be");
});

test("the API: a token pays like a card; a token with a number, or nothing, names the field", async () => {
  const { action, returnUrl } = await openCardForm(300);
  const back = await tokenize(action, returnUrl, CARD);
  const token = new URL(back).searchParams.get("token")!;
  const paid = await http<{ status: string; payment_method: { last4: string } }>(
    live.url,
    "POST",
    "/v1/payments",
    key,
    { amount: 300, currency: "EUR", payment_method: { type: "card", token } },
  );
  assert.equal(paid.status, 201, JSON.stringify(paid.body));
  assert.equal(paid.body.status, "succeeded");
  assert.equal(paid.body.payment_method.last4, "4242");
  const both = await http<{ error: { param: string } }>(live.url, "POST", "/v1/payments", key, {
    amount: 300,
    currency: "EUR",
    payment_method: {
      type: "card",
      token,
      number: "4000000000000010",
      exp_month: 1,
      exp_year: 2040,
      cvc: "123",
    },
  });
  assert.equal(both.status, 400);
  assert.equal(both.body.error.param, "payment_method.number");
  const none = await http<{ error: { param: string } }>(live.url, "POST", "/v1/payments", key, {
    amount: 300,
    currency: "EUR",
    payment_method: { type: "card" },
  });
  assert.equal(none.status, 400);
  assert.equal(none.body.error.param, "payment_method.number");
  const unknown = await http<{ error: { param: string } }>(live.url, "POST", "/v1/payments", key, {
    amount: 300,
    currency: "EUR",
    payment_method: { type: "card", token: `tok_${"Z".repeat(24)}` },
  });
  assert.equal(unknown.status, 400, JSON.stringify(unknown.body));
  assert.equal(unknown.body.error.param, "payment_method.token");
});
