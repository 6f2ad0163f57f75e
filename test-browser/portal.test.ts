/**
 * The payer portal in a real headless Chromium on a phone: a payer signs in with a code read from
 * the development message catcher, sees charges from two merchants paid two ways (the carrier
 * bill through the simulator, a wallet), cancels a subscription in one step, asks for a refund;
 * Arabic right to left; axe-core finds no serious violation; the CSP is never violated.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser, Page } from "playwright-core";
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

const MSISDN = "+33612345678";
let live: LiveServer;
let browser: Browser;
let keyA: string;
let keyB: string;
let subscription: string;

async function api<T = Record<string, unknown>>(
  key: string,
  method: "GET" | "POST",
  path: string,
  body?: unknown,
) {
  const r = await http<T>(live.url, method, path, key, body);
  assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

before(async () => {
  live = await startLiveServer();
  browser = await launchBrowser();
  keyA = (await api<{ secret_key: string }>(ADMIN_KEY, "POST", "/v1/merchants", { name: "Pixel Forge" }))
    .secret_key;
  keyB = (await api<{ secret_key: string }>(ADMIN_KEY, "POST", "/v1/merchants", { name: "Star Oracle" }))
    .secret_key;

  // Merchant A: a carrier charge to the payer's number, on the operator's bill (the simulator).
  let carrier = await api<{ id: string; status: string }>(keyA, "POST", "/v1/payments", {
    amount: 199,
    currency: "EUR",
    description: "100 gems",
    payment_method: { type: "carrier", msisdn: MSISDN, operator: "20801" },
  });
  if (carrier.status === "requires_action")
    carrier = await api(keyA, "POST", `/v1/payments/${carrier.id}/confirm`, { pin: "1234" });
  await eventually(async () => {
    const p = await api<{ status: string }>(keyA, "GET", `/v1/payments/${carrier.id}`);
    return p.status === "succeeded" ? p : undefined;
  });

  // Merchant B: a wallet payment by its customer with the same number, and a subscription.
  await api(keyB, "POST", "/v1/currencies", { code: "GEMS", name: "Gems", minor_digits: 0 });
  const customer = await api<{ id: string }>(keyB, "POST", "/v1/customers", {
    msisdn: MSISDN,
    country: "FR",
  });
  await api(keyB, "POST", "/v1/wallet_grants", {
    customer: customer.id,
    currency: "GEMS",
    amount: 500,
    category: "paid",
  });
  const wallet = await api<{ status: string }>(keyB, "POST", "/v1/payments", {
    amount: 120,
    currency: "GEMS",
    customer: customer.id,
    description: "Golden sword",
    payment_method: { type: "wallet" },
  });
  assert.equal(wallet.status, "succeeded");
  const product = await api<{ id: string }>(keyB, "POST", "/v1/products", { name: "Daily horoscope" });
  const price = await api<{ id: string }>(keyB, "POST", "/v1/prices", {
    product: product.id,
    amount: 99,
    currency: "EUR",
    recurring: { period: "P1W" },
  });
  let sub = await api<{ id: string; status: string }>(keyB, "POST", "/v1/subscriptions", {
    customer: customer.id,
    price: price.id,
    payment_method: { type: "sandbox", scenario: "approve" },
  });
  // France asks the subscriber to confirm with a PIN (double opt-in).
  if (sub.status === "incomplete")
    sub = await api(keyB, "POST", `/v1/subscriptions/${sub.id}/confirm`, { pin: "1234" });
  // The first period is charged by the scheduler in the subscriber's local charging window.
  assert.ok(["incomplete", "active"].includes(sub.status), JSON.stringify(sub));
  subscription = sub.id;
  // Merchant A refunds at once up to 5 EUR.
  await api(keyA, "POST", "/v1/refund_request_policy", { automatic_max: { EUR: 500 } });
});
after(async () => {
  await browser?.close();
  await live?.close();
});

async function checkPage(page: Page, name: string): Promise<void> {
  const overflow = await page.evaluate<number>("document.documentElement.scrollWidth - window.innerWidth");
  assert.ok(overflow <= 0, `${name}: no sideways scroll (${overflow}px)`);
  assert.deepEqual(await seriousViolations(page), [], `${name}: accessibility`);
  await screenshot(page, `portal-${name}`);
}

async function caughtCode(to: string): Promise<string> {
  const r = await api<{ data: Array<{ body: string }> }>(
    ADMIN_KEY,
    "GET",
    `/v1/test_helpers/messages?to=${encodeURIComponent(to)}&limit=1`,
  );
  const code = /\b(\d{6})\b/.exec(r.data[0]?.body ?? "")?.[1];
  assert.ok(code, JSON.stringify(r));
  return code;
}

test("sign in with a code, see two merchants and two methods, cancel, ask for a refund", async () => {
  const context = await phoneContext(browser);
  const page = await context.newPage();
  const errors = collectPageErrors(page);
  const response = await page.goto(`${live.url}/portal`);
  assert.equal(response?.status(), 200);
  await checkPage(page, "signin");
  await page.fill("#contact", "06 12");
  await page.click("button[type=submit]");
  assert.equal(await page.getAttribute("#contact", "aria-invalid"), "true");
  await checkPage(page, "signin-error");
  await page.fill("#contact", "+33 6 12 34 56 78");
  await page.click("button[type=submit]");
  await page.waitForSelector("#code");
  assert.equal(await page.getAttribute("#code", "autocomplete"), "one-time-code");
  await checkPage(page, "code");
  await page.fill("#code", await caughtCode(MSISDN));
  await page.click("button[type=submit]");
  await page.waitForURL(/\/portal$/);
  const main = (await page.textContent("main")) ?? "";
  assert.match(main, /Pixel Forge/);
  assert.match(main, /Star Oracle/);
  assert.match(main, /Mobile bill/);
  assert.match(main, /Wallet/);
  assert.match(main, /Daily horoscope/);
  await checkPage(page, "home");

  // Cancel in one step.
  await page.click(`#${subscription} form[action$='/cancel'] button`);
  await page.waitForURL(/done=canceled/);
  assert.match((await page.textContent("#done")) ?? "", /subscription is canceled/);
  const sub = await api<{ status: string; cancel_reason: string }>(
    keyB,
    "GET",
    `/v1/subscriptions/${subscription}`,
  );
  assert.equal(sub.status, "canceled");
  assert.equal(sub.cancel_reason, "subscriber");

  // The consent record downloads as JSON.
  const evidence = await page.evaluate<{ object: string; consent: unknown }>(
    `fetch("/portal/subscriptions/${subscription}/consent").then((r) => r.json())`,
  );
  assert.equal(evidence.object, "consent_evidence");
  assert.ok(evidence.consent);

  // A cap the currency cannot hold comes back as typed, with how to fix it.
  await page.selectOption("#cap-currency", "EUR");
  await page.fill("#cap-amount", "20.505");
  await page.click("form[action='/portal/caps'] button.button--secondary");
  await page.waitForURL(/error=amount/);
  assert.equal(await page.inputValue("#cap-amount"), "20.505");
  assert.equal(await page.inputValue("#cap-currency"), "EUR");
  assert.match((await page.textContent("#cap-error")) ?? "", /like 20 or 20.50/);
  await checkPage(page, "cap-error");

  // Ask for a refund of the carrier charge: under merchant A's threshold, refunded at once.
  const charge = page.locator("li.charge", { hasText: "Pixel Forge" });
  await charge.locator("input[name=reason]").fill("My child bought this");
  await charge.locator("button").click();
  await page.waitForURL(/done=refund_approved/);
  await checkPage(page, "after-refund");
  const requests = await api<{ data: Array<{ status: string; reason: string; refund: string }> }>(
    keyA,
    "GET",
    "/v1/refund_requests",
  );
  assert.equal(requests.data.length, 1);
  assert.equal(requests.data[0]!.reason, "My child bought this");
  const refund = await eventually(async () => {
    const r = await api<{ status: string; amount: number }>(
      keyA,
      "GET",
      `/v1/refunds/${requests.data[0]!.refund}`,
    );
    return r.status === "succeeded" ? r : undefined;
  });
  assert.equal(refund.amount, 199);
  // The refused number answered 400, which Chromium logs; nothing else may appear.
  assert.deepEqual(
    errors.filter((e) => !/status of 400/.test(e)),
    [],
    "no CSP violation or script error",
  );
  await context.close();
});

test("Arabic, right to left, on a phone", async () => {
  const context = await phoneContext(browser, { locale: "ar" });
  const page = await context.newPage();
  const errors = collectPageErrors(page);
  await page.goto(`${live.url}/portal?lang=ar`);
  assert.equal(await page.getAttribute("html", "dir"), "rtl");
  // The example number reads left to right inside the Arabic hint (it read "678 345 612 212+").
  assert.equal(await drawnDigits(page, "#contact-hint"), "+212612345678");
  await checkPage(page, "signin-ar");
  await page.fill("#contact", MSISDN);
  await page.click("button[type=submit]");
  await page.waitForSelector("#code");
  await page.fill("#code", await caughtCode(MSISDN));
  await page.click("button[type=submit]");
  await page.waitForURL(/\/portal$/);
  assert.match((await page.textContent("h1")) ?? "", /مدفوعاتك/);
  await checkPage(page, "home-ar");
  assert.deepEqual(errors, []);
  await context.close();
});
