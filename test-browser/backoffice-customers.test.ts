/**
 * The customer screens in Chromium on a phone: a support agent finds a customer by phone number,
 * opens them and pauses their subscription; the subscriptions list and the catalog (with a field
 * error) render and pass axe-core. Each in English and in French.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { generate } from "otplib";
import type { Browser, Page } from "playwright-core";
import { ADMIN_KEY } from "../test/support/app.ts";
import { eventually, http, type LiveServer } from "../test/support/server.ts";
import { middayTimeZone } from "../test/support/time-zones.ts";
import { collectPageErrors, phoneContext, screenshot, seriousViolations } from "./support/browser.ts";
import { closePageSuite, openPageSuite } from "./support/suite.ts";

let live: LiveServer;
let browser: Browser;
let merchantId: string;
let secretKey: string;
let priceId: string;
const PASSWORD = "correct horse battery staple";
let counter = 0;

before(async () => {
  ({ live, browser, merchantId, secretKey } = await openPageSuite());
  const product = await http<{ id: string }>(live.url, "POST", "/v1/products", secretKey, {
    name: "Football alerts",
  });
  const price = await http<{ id: string }>(live.url, "POST", "/v1/prices", secretKey, {
    product: product.body.id,
    amount: 199,
    currency: "EUR",
    recurring: { period: "P1W" },
  });
  assert.equal(price.status, 201, JSON.stringify(price.body));
  priceId = price.body.id;
});
after(async () => {
  await closePageSuite({ live, browser });
});

async function invite(role: string, locale: string) {
  counter++;
  const email = `${role}${counter}@pixelforge.example`;
  const r = await http<{ totp: { secret: string } }>(live.url, "POST", "/v1/staff", ADMIN_KEY, {
    email,
    role,
    merchant: merchantId,
    password: PASSWORD,
    locale,
    time_zone: "Europe/Paris",
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return { email, totp: r.body.totp.secret };
}

/** By keyboard, as many staff work: focus the control and press Enter (no pointer races). */
async function press(page: Page, selector: string) {
  await page.focus(selector);
  await Promise.all([page.waitForNavigation({ timeout: 60_000 }), page.keyboard.press("Enter")]);
}

async function signIn(page: Page, who: { email: string; totp: string }, lang: string, next: string) {
  await page.goto(`${live.url}${next}?lang=${lang}`);
  assert.match(page.url(), /\/admin\/login/);
  await page.fill("#email", who.email);
  await page.fill("#password", PASSWORD);
  await page.fill("#code", await generate({ secret: who.totp }));
  await press(page, "button[type=submit]");
}

/** A subscriber with an active weekly subscription (the worker takes the first charge). */
async function subscriber(name: string) {
  counter++;
  const msisdn = `+336${String(counter).padStart(8, "0")}`;
  const customer = await http<{ id: string }>(live.url, "POST", "/v1/customers", secretKey, {
    msisdn,
    // Midday where they live: the worker charges at once whatever the hour the suite runs.
    time_zone: middayTimeZone(),
    email: `subscriber${counter}@example.org`,
    metadata: { name },
  });
  assert.equal(customer.status, 201, JSON.stringify(customer.body));
  const sub = await http<{ id: string }>(live.url, "POST", "/v1/subscriptions", secretKey, {
    customer: customer.body.id,
    price: priceId,
    payment_method: { type: "sandbox", scenario: "approve" },
  });
  assert.equal(sub.status, 201, JSON.stringify(sub.body));
  await eventually(async () => {
    const s = await http<{ status: string }>(live.url, "GET", `/v1/subscriptions/${sub.body.id}`, secretKey);
    return s.body.status === "active" ? true : undefined;
  }, 30_000);
  await http(live.url, "POST", "/v1/wallet_grants", secretKey, {
    customer: customer.body.id,
    currency: "EUR",
    amount: 300,
    category: "promotional",
    expires_at: "2099-06-30T12:00:00Z",
  });
  return { id: customer.body.id, msisdn, subscription: sub.body.id };
}

for (const [lang, words] of [
  [
    "en",
    {
      customers: "Customers",
      find: "Find customers",
      price: "€1.99 a week",
      paused: "The subscription is paused: no charges until it is resumed.",
      status: "Paused",
      error:
        "Enter the amount as it is written in the currency, like 1.99, with no more decimals than the currency has.",
    },
  ],
  [
    "fr",
    {
      customers: "Clients",
      find: "Trouver les clients",
      price: "1,99 € par semaine",
      paused: "L'abonnement est suspendu : aucun prélèvement jusqu'à sa reprise.",
      status: "Suspendu",
      error:
        "Saisissez le montant tel qu’on l’écrit dans la devise, comme 1,99, sans plus de décimales que la devise n’en a.",
    },
  ],
] as const) {
  test(`${lang}: a support agent finds a customer by phone number and pauses their subscription`, async () => {
    const who = await subscriber(lang === "en" ? "Alice Martin" : "Élodie Durand");
    const agent = await invite("support", lang);
    const context = await phoneContext(browser, { locale: lang });
    const page = await context.newPage();
    const errors = collectPageErrors(page);
    await signIn(page, agent, lang, "/admin/payments");
    assert.equal(await page.getAttribute("html", "lang"), lang);
    await press(page, `nav a[href="/admin/customers"]`);
    assert.equal((await page.textContent("h1"))?.trim(), words.customers);
    // Typed as people read it out: spaces, no plus sign.
    await page.fill("#q", who.msisdn.replace("+33", "33 ").replace(/(\d{2})(?=\d)/g, "$1 "));
    await press(page, `button:has-text("${words.find}")`);
    assert.deepEqual(await seriousViolations(page), []);
    await screenshot(page, `admin-customers-${lang}`);
    await press(page, `a[href="/admin/customers/${who.id}"]`);
    // Intl puts a (narrow) no-break space in "1,99 €".
    const panel = (await page.textContent(`#${who.subscription}`))?.replace(/\s+/g, " ");
    assert.ok(panel?.includes(words.price), panel);
    assert.deepEqual(await seriousViolations(page), []);
    await screenshot(page, `admin-customer-${lang}`);
    await press(page, `form[action="/admin/subscriptions/${who.subscription}/pause"] button`);
    assert.equal((await page.textContent(".notice--success"))?.trim(), words.paused);
    assert.ok((await page.textContent(`#${who.subscription} .status`))?.includes(words.status));
    assert.equal(
      await page.locator(`form[action="/admin/subscriptions/${who.subscription}/resume"]`).count(),
      1,
    );
    assert.deepEqual(await seriousViolations(page), []);
    await screenshot(page, `admin-customer-paused-${lang}`);
    const sub = await http<{ status: string }>(
      live.url,
      "GET",
      `/v1/subscriptions/${who.subscription}`,
      secretKey,
    );
    assert.equal(sub.body.status, "paused");
    const audit = await http<{ data: unknown[] }>(
      live.url,
      "GET",
      `/v1/audit_events?object=${who.subscription}&action=subscriptions.pause`,
      ADMIN_KEY,
    );
    assert.equal(audit.body.data.length, 1, "the pause is in the audit log, by the agent");

    await page.goto(`${live.url}/admin/subscriptions?status=paused`);
    assert.ok((await page.textContent("main"))?.includes(who.subscription));
    assert.deepEqual(await seriousViolations(page), []);
    await screenshot(page, `admin-subscriptions-${lang}`);
    assert.deepEqual(errors, []);
    await context.close();
  });

  test(`${lang}: a developer's price with a bad amount is named beside the field`, async () => {
    const developer = await invite("developer", lang);
    const context = await phoneContext(browser, { locale: lang });
    const page = await context.newPage();
    const errors = collectPageErrors(page);
    await signIn(page, developer, lang, "/admin/catalog");
    assert.match(page.url(), /\/admin\/catalog/);
    assert.deepEqual(await seriousViolations(page), []);
    // A digit EUR does not have (amounts are typed as written: "1.99" is accepted).
    await page.fill("#price-amount", "1.999");
    await press(page, "#price-form button[type=submit]");
    assert.equal((await page.textContent("#price-amount-error"))?.trim(), words.error);
    assert.equal(await page.getAttribute("#price-amount", "aria-invalid"), "true");
    assert.deepEqual(await seriousViolations(page), []);
    await screenshot(page, `admin-catalog-error-${lang}`);
    // The refused form comes back with its 400 status, which Chromium logs; nothing else may fail.
    assert.deepEqual(
      errors.filter((e) => !e.includes("status of 400")),
      [],
    );
    assert.equal(errors.length, 1);
    await context.close();
  });
}
