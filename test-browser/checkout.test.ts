/**
 * The hosted checkout in a real headless Chromium on a phone: a payment link paid end to end with
 * the operator's PIN, with the MO text, and (when cards are on) by card; the refused pages
 * (tampered 403, expired 410); Arabic right to left; axe-core finds no serious violation on any
 * page; the strict CSP is never violated. Screenshots go outside the repository.
 */
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, before, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { carrierNetwork } from "../src/connectors/operators/index.ts";
import { rowsContaining } from "../test/checkout/support.ts";
import { ADMIN_KEY } from "../test/support/app.ts";
import { eventually, http, type LiveServer, startLiveServer } from "../test/support/server.ts";
import {
  collectPageErrors,
  drawnDigits,
  launchBrowser,
  phoneContext,
  screenshot,
  seriousViolations,
} from "./support/browser.ts";

let live: LiveServer;
let browser: Browser;
let key: string;
let counter = 0;

// The server's log, to check that no card number ever reaches it.
const logLines: string[] = [];
const logSink = new Writable({
  write(chunk, _encoding, done) {
    logLines.push(String(chunk));
    done();
  },
});

before(async () => {
  live = await startLiveServer({}, { logLevel: "debug", logDestination: logSink });
  browser = await launchBrowser();
  const merchant = await http<{ secret_key: string }>(live.url, "POST", "/v1/merchants", ADMIN_KEY, {
    name: "Pixel Forge",
  });
  key = merchant.body.secret_key;
});
after(async () => {
  await browser?.close();
  await live?.close();
});

async function link(body: Record<string, unknown>): Promise<{ id: string; url: string }> {
  const r = await http<{ id: string; url: string }>(live.url, "POST", "/v1/payment_links", key, body);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

async function checkPage(page: Page, name: string): Promise<void> {
  const overflow = await page.evaluate<number>("document.documentElement.scrollWidth - window.innerWidth");
  assert.ok(overflow <= 0, `${name}: no sideways scroll (${overflow}px)`);
  assert.deepEqual(await seriousViolations(page), [], `${name}: accessibility`);
  await screenshot(page, `checkout-${name}`);
}

/**
 * A field's accessible name is its label alone, its hint a description: a hint inside the
 * <label> made the name "Security code The last 3 digits on the back of the card.", read out
 * again as the description.
 */
async function assertNamedOnly(page: Page, selector: string, name: string): Promise<void> {
  const id = selector.slice(1);
  assert.equal(
    await page.getByRole("textbox", { name, exact: true }).getAttribute("id"),
    id,
    `${selector} is named "${name}"`,
  );
  const hint = await page.getAttribute(selector, "aria-describedby");
  assert.ok(hint, `${selector} is described by its hint`);
}

/** A link offers every method: the payer picks the phone bill. */
async function chooseCarrier(page: Page): Promise<void> {
  await page.click("a.method[href$='/carrier']");
  await page.waitForURL(/\/carrier$/);
}

function number(prefix: string): string {
  counter++;
  return `${prefix}${String(counter).padStart(3, "0")}0000`;
}

test("pay a link with the operator's PIN on a phone: number, code, confirmation", async () => {
  const context = await phoneContext(browser);
  const page = await context.newPage();
  const errors = collectPageErrors(page);
  const l = await link({ amount: 199, currency: "EUR", description: "100 gems" });
  const response = await page.goto(l.url);
  assert.equal(response?.status(), 200);
  assert.match(page.url(), /\/checkout\/cs_[0-9a-z]+$/, "the methods to choose from");
  await checkPage(page, "methods");
  await chooseCarrier(page);
  assert.match((await page.textContent("h1")) ?? "", /1[.,]99/);
  await checkPage(page, "carrier-msisdn");
  await assertNamedOnly(page, "#msisdn", "Your mobile number");
  await page.fill("#msisdn", "+31 6 1234");
  await page.click("button[type=submit]");
  assert.equal(await page.getAttribute("#msisdn", "aria-invalid"), "true", "a short number is refused");
  assert.match((await page.textContent("#error-summary")) ?? "", /Enter a mobile number/);
  await checkPage(page, "carrier-msisdn-error");
  await page.fill("#msisdn", number("+3161"));
  await page.click("button[type=submit]");
  await page.waitForURL(/\/carrier\/pin$/);
  assert.equal(await page.getAttribute("#pin", "autocomplete"), "one-time-code");
  assert.equal(await page.getAttribute("#pin", "inputmode"), "numeric");
  // A test-mode session says so, and gives the simulator's code (no payer of a live one sees this).
  assert.match((await page.textContent(".test-mode")) ?? "", /Test mode/);
  assert.match((await page.textContent(".test-help")) ?? "", /code is 1234/);
  await checkPage(page, "carrier-pin");
  await assertNamedOnly(page, "#pin", "Enter the code");
  await page.fill("#pin", "9999");
  await page.click("form[action$='/carrier/pin'] button[type=submit]");
  await page.waitForURL(/\/carrier\/pin\?error=incorrect$/);
  assert.match((await page.textContent("#pin-attempts")) ?? "", /2 attempts left/);
  await checkPage(page, "carrier-pin-wrong");
  await page.fill("#pin", "1234");
  await page.click("form[action$='/carrier/pin'] button[type=submit]");
  await page.waitForURL(/\/done$/);
  assert.equal(await page.textContent("h1"), "Payment successful");
  await checkPage(page, "done");
  const sessionId = /\/checkout\/(cs_[0-9a-z]+)\//.exec(page.url())![1]!;
  const session = await http<{ status: string; payment: string; steps: { step: string }[] }>(
    live.url,
    "GET",
    `/v1/checkout_sessions/${sessionId}`,
    key,
  );
  assert.equal(session.body.status, "complete");
  assert.deepEqual(
    session.body.steps.map((s) => s.step),
    ["page_opened", "method_chosen", "msisdn_entered", "pin_sent", "pin_rejected", "pin_accepted", "charged"],
  );
  const payment = await http<{ amount_captured: number }>(
    live.url,
    "GET",
    `/v1/payments/${session.body.payment}`,
    key,
  );
  assert.equal(payment.body.amount_captured, 199);
  const uses = await http<{ uses: number }>(live.url, "GET", `/v1/payment_links/${l.id}`, key);
  assert.equal(uses.body.uses, 1);

  // The same payer in another of the merchant's games: recognized, one click, then the PIN.
  const again = await link({ amount: 299, currency: "EUR" });
  await page.goto(again.url);
  await chooseCarrier(page);
  assert.match((await page.textContent("main")) ?? "", /We recognized your number/);
  await checkPage(page, "carrier-recognized");
  await page.click("form[action$='/carrier/start'] button[type=submit]");
  await page.waitForURL(/\/carrier\/pin$/);
  await page.fill("#pin", "1234");
  await page.click("form[action$='/carrier/pin'] button[type=submit]");
  await page.waitForURL(/\/done$/);
  // A form answered with its errors has a 4xx status, which Chromium logs; nothing else may appear.
  assert.deepEqual(
    errors.filter((e) => !/status of 40[0-9]/.test(e)),
    [],
    "no CSP violation or script error",
  );
  await context.close();
});

test("pay a link with the MO flow: the page waits for the text and updates itself", async () => {
  const context = await phoneContext(browser);
  const page = await context.newPage();
  const errors = collectPageErrors(page);
  const l = await link({ amount: 300, currency: "INR" });
  await page.goto(l.url);
  await chooseCarrier(page);
  const msisdn = number("+91981");
  await page.fill("#msisdn", msisdn);
  await page.click("button[type=submit]");
  await page.waitForURL(/\/carrier\/mo$/);
  const keyword = (await page.textContent(".keyword span")) ?? "";
  assert.match(keyword, /^PAY [0-9A-Z]+$/);
  await checkPage(page, "carrier-mo");
  const operator = await eventually(async () => {
    const sessionId = /\/checkout\/(cs_[0-9a-z]+)\//.exec(page.url())![1]!;
    const s = await http<{ data: { payment_method: { operator: string } }[] }>(
      live.url,
      "GET",
      `/v1/payments?limit=1`,
      key,
    );
    return sessionId ? s.body.data[0]?.payment_method.operator : undefined;
  });
  const sent = await fetch(`${carrierNetwork().http_url}/_sim/mo`, {
    method: "POST",
    body: JSON.stringify({
      operator,
      msisdn,
      shortcode: (await page.textContent(".keyword span:last-child")) ?? "",
      text: keyword,
    }),
  });
  assert.equal(sent.status, 200);
  await page.waitForURL(/\/done$/, { timeout: 20_000 });
  assert.equal(await page.textContent("h1"), "Payment successful");
  assert.deepEqual(errors, []);
  await context.close();
});

test("test mode, a French number (an operator billed over CAMARA): the page's button sends the text in place of a phone", async () => {
  const context = await phoneContext(browser);
  const page = await context.newPage();
  const errors = collectPageErrors(page);
  const l = await link({ amount: 250, currency: "EUR", description: "100 gems" });
  await page.goto(l.url);
  assert.match((await page.textContent(".test-mode")) ?? "", /Test mode/);
  await chooseCarrier(page);
  await page.fill("#msisdn", number("+3361"));
  await page.click("button[type=submit]");
  // France asks for a second confirmation with the price (double opt-in) before the text.
  await page.click("form[action$='/carrier/start'] button[type=submit]");
  await page.waitForURL(/\/carrier\/mo$/);
  await checkPage(page, "carrier-mo-test-mode");
  await page.click("form[action$='/carrier/mo/test'] button[type=submit]");
  await page.waitForURL(/\/done$/, { timeout: 20_000 });
  assert.equal(await page.textContent("h1"), "Payment successful");
  assert.match((await page.textContent(".test-mode")) ?? "", /Test mode/);
  assert.deepEqual(errors, []);
  await context.close();
});

test("tampered and expired links get clear pages with 403 and 410", async () => {
  const context = await phoneContext(browser);
  const page = await context.newPage();
  const l = await link({
    amount: 500,
    currency: "EUR",
    expires_at: new Date(Date.now() + 1500).toISOString(),
  });
  const tampered = await page.goto(l.url.replace("amount=500", "amount=5"));
  assert.equal(tampered?.status(), 403);
  assert.equal(await page.textContent("h1"), "This payment link is not valid");
  await checkPage(page, "link-tampered");
  await new Promise((r) => setTimeout(r, 2000));
  const expired = await page.goto(l.url);
  assert.equal(expired?.status(), 410);
  assert.equal(await page.textContent("h1"), "This payment link has expired");
  await checkPage(page, "link-expired");
  await context.close();
});

test("in Arabic the checkout is right to left, translated, with the amount in the locale's digits", async () => {
  const context = await phoneContext(browser, { locale: "ar" });
  const page = await context.newPage();
  const l = await link({ amount: 1500, currency: "EUR" });
  await page.goto(l.url);
  await chooseCarrier(page);
  assert.equal(await page.getAttribute("html", "dir"), "rtl");
  assert.equal(await page.getAttribute("html", "lang"), "ar");
  assert.match((await page.textContent("label[for=msisdn]")) ?? "", /رقم/);
  await checkPage(page, "carrier-msisdn-ar");
  // Phone numbers in Arabic sentences are isolated left to right and drawn in their own order.
  await page.fill("#msisdn", "12");
  await page.click("button[type=submit]");
  await page.waitForSelector("#msisdn-error");
  assert.match((await page.textContent("#msisdn-error")) ?? "", /\u2066\+971 50 123 4567\u2069/);
  assert.equal(await drawnDigits(page, "#msisdn-error"), "+971501234567");
  assert.equal(await drawnDigits(page, "#error-summary"), "+971501234567");
  await checkPage(page, "carrier-msisdn-error-ar");
  await page.fill("#msisdn", number("+3161"));
  await page.click("button[type=submit]");
  await page.waitForURL(/\/carrier\/pin$/);
  // The masked number keeps its left-to-right order inside the Arabic sentence (isolated).
  const masked = /\u2066(06 ••••\d{4})\u2069/.exec((await page.textContent("#pin-hint")) ?? "");
  assert.ok(masked, "the masked number is isolated left to right");
  assert.ok((await drawnDigits(page, "#pin-hint")).startsWith(masked[1]!.replace(/ /g, "")));
  await checkPage(page, "carrier-pin-ar");
  await context.close();
});

test("a French number: the double opt-in's confirmation, then Back from the code page shows a page", async () => {
  const context = await phoneContext(browser, { locale: "fr-FR" });
  const page = await context.newPage();
  const errors = collectPageErrors(page);
  const l = await link({ amount: 299, currency: "EUR", description: "Abonnement" });
  await page.goto(l.url);
  await chooseCarrier(page);
  await page.fill("#msisdn", "06 12 34 56 78");
  await page.click("button[type=submit]");
  await page.waitForURL(/\/carrier\/confirm\?number=/);
  assert.doesNotMatch(page.url(), /612345678/, "the number is not in the address");
  await checkPage(page, "carrier-confirm-fr");
  await page.click("form[action$='/carrier/start'] button[type=submit]");
  await page.waitForURL(/\/carrier\/(pin|mo)$/);
  const step = page.url();
  // Back: it was the browser's "Confirm form resubmission" error page (ERR_CACHE_MISS), the
  // confirmation having been the answer to a POST. Now the page of the payment under way.
  await page.goBack();
  await page.waitForLoadState();
  assert.doesNotMatch(page.url(), /^chrome-error:/);
  assert.equal(page.url(), step);
  assert.ok(((await page.textContent("h1")) ?? "").length > 0, "a page, with its heading");
  await checkPage(page, "carrier-back-after-confirm-fr");
  assert.deepEqual(
    errors.filter((e) => !/status of 40[0-9]/.test(e)),
    [],
    "no CSP violation or script error",
  );
  await context.close();
});

test("pay a link by card on a phone: the card goes to the card provider, 3-D Secure, confirmation", async () => {
  const CARD = "4000000000050007"; // …0007: the simulator asks for 3-D Secure
  const context = await phoneContext(browser);
  const page = await context.newPage();
  const errors = collectPageErrors(page);
  const l = await link({ amount: 1299, currency: "EUR", description: "Season pass" });
  await page.goto(l.url);
  await page.click("a.method[href$='/card']");
  await page.waitForURL(/\/card$/);
  const formAction = (await page.getAttribute("form[novalidate]", "action")) ?? "";
  assert.equal(
    new URL(formAction).origin,
    new URL(carrierNetwork().http_url).origin,
    "posts to the provider",
  );
  await checkPage(page, "card-form");
  await assertNamedOnly(page, "#card-cvc", "Security code");
  await assertNamedOnly(page, "#card-number", "Card number");
  await page.fill("#card-number", "4242 4242 4242 4241");
  await page.fill("#card-cvc", "123");
  await page.click("form[novalidate] button[type=submit]");
  await page.waitForURL(/\/card\?error=number_invalid$/);
  assert.equal(await page.getAttribute("#card-number", "aria-invalid"), "true");
  assert.match((await page.textContent("#error-summary")) ?? "", /card number/);
  await checkPage(page, "card-form-error");
  await page.fill("#card-number", CARD.replace(/(\d{4})(?=\d)/g, "$1 "));
  await page.selectOption("#card-exp-month", "11");
  await page.selectOption("#card-exp-year", String(new Date().getUTCFullYear() + 3));
  await page.fill("#card-cvc", "321");
  await page.click("form[novalidate] button[type=submit]");
  await page.waitForURL(/\/card\/return\?token=tok_/);
  assert.match((await page.textContent("#card-chosen")) ?? "", /visa ending 0007/);
  await checkPage(page, "card-confirm");
  await page.click("form[action$='/card/pay'] button[type=submit]");
  await page.waitForURL(/\/cardpsp\/3ds\//);
  await page.click("button[value=approve]");
  await page.waitForURL(/\/done$/);
  assert.equal(await page.textContent("h1"), "Payment successful");
  assert.match((await page.textContent(".amount")) ?? "", /12[.,]99/);
  await checkPage(page, "card-done");
  const sessionId = /\/checkout\/(cs_[0-9a-z]+)\//.exec(page.url())![1]!;
  const session = await http<{ status: string; payment: string }>(
    live.url,
    "GET",
    `/v1/checkout_sessions/${sessionId}`,
    key,
  );
  assert.equal(session.body.status, "complete");
  const payment = await http<{ amount_captured: number; payment_method: { last4: string } }>(
    live.url,
    "GET",
    `/v1/payments/${session.body.payment}`,
    key,
  );
  assert.equal(payment.body.amount_captured, 1299);
  assert.equal(payment.body.payment_method.last4, "0007");
  // The card number crossed to the provider only: no row, no log line of Centime holds it.
  assert.deepEqual(await rowsContaining(live.database.db, CARD), []);
  assert.ok(logLines.length > 0, "the server logged");
  assert.deepEqual(
    logLines.filter((line) => line.includes(CARD)),
    [],
  );
  assert.deepEqual(
    errors.filter((e) => !/status of 40[0-9]/.test(e)),
    [],
    "no CSP violation or script error",
  );
  await context.close();
});

test("pay a session with a voucher code on a phone: a wrong code, then the right one", async () => {
  const customer = await http<{ id: string }>(live.url, "POST", "/v1/customers", key, {
    email: "mia@example.com",
  });
  const batch = await http<{ id: string }>(live.url, "POST", "/v1/voucher_batches", key, {
    count: 1,
    value: { amount: 1000, currency: "EUR" },
    serial_prefix: "G",
  });
  assert.equal(batch.status, 201, JSON.stringify(batch.body));
  assert.equal(
    (await http(live.url, "POST", `/v1/voucher_batches/${batch.body.id}/approve`, ADMIN_KEY)).status,
    200,
  );
  const csv = await fetch(`${live.url}/v1/voucher_batches/${batch.body.id}/codes`, {
    headers: { authorization: `Bearer ${key}` },
  });
  const code = (await csv.text()).trim().split("\n")[1]!.split(",")[1]!;
  const activated = await http(live.url, "POST", `/v1/voucher_batches/${batch.body.id}/activate`, key, {
    serial_from: "G00000001",
    serial_to: 1,
  });
  assert.equal(activated.status, 200, JSON.stringify(activated.body));
  const session = await http<{ id: string; url: string }>(live.url, "POST", "/v1/checkout_sessions", key, {
    amount: 750,
    currency: "EUR",
    description: "Starter pack",
    customer: customer.body.id,
  });
  assert.equal(session.status, 201, JSON.stringify(session.body));
  const context = await phoneContext(browser);
  const page = await context.newPage();
  const errors = collectPageErrors(page);
  await page.goto(session.body.url);
  await checkPage(page, "methods-with-customer");
  await page.click("a.method[href$='/voucher']");
  await page.waitForURL(/\/voucher$/);
  await checkPage(page, "voucher");
  await assertNamedOnly(page, "#voucher-code", "Voucher code");
  // One character mistyped: the code comes back as typed, and fixing that character is enough
  // (the field was emptied, and the payer retyped the whole code).
  const last = code.at(-1)!;
  const typo = `${code.slice(0, -1)}${last === "A" ? "B" : "A"}`;
  await page.fill("#voucher-code", typo);
  await page.click("form[action$='/voucher/redeem'] button[type=submit]");
  await page.waitForURL(/\/voucher\/redeem$/);
  assert.equal(await page.getAttribute("#voucher-code", "aria-invalid"), "true");
  assert.match((await page.textContent("#error-summary")) ?? "", /This code cannot be used/);
  assert.equal(await page.inputValue("#voucher-code"), typo, "the code typed is kept");
  await checkPage(page, "voucher-error");
  await page.focus("#voucher-code");
  await page.keyboard.press("End");
  await page.keyboard.press("Backspace");
  await page.keyboard.type(last);
  await page.click("form[action$='/voucher/redeem'] button[type=submit]");
  await page.waitForURL(/\/done$/);
  assert.equal(await page.textContent("h1"), "Payment successful");
  await checkPage(page, "voucher-done");
  const wallets = await http<{ data: { currency: string; balance: number }[] }>(
    live.url,
    "GET",
    `/v1/customers/${customer.body.id}/wallets`,
    key,
  );
  assert.equal(wallets.body.data.find((w) => w.currency === "EUR")?.balance, 250, "10.00 − 7.50 left");
  assert.deepEqual(
    errors.filter((e) => !/status of 40[0-9]/.test(e)),
    [],
    "no CSP violation or script error",
  );
  await context.close();
});
