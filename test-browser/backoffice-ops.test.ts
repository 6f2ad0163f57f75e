/**
 * The back office's operations screens in Chromium on a phone: an operator opens the risk review
 * queue and approves a held payment, and creates a restricted API key (shown once), in English
 * and in French; the webhooks and operators pages are checked too. axe-core finds no serious
 * violation on any of them; screenshots are kept for a person to look at.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { generate } from "otplib";
import type { Browser, Page } from "playwright-core";
import { ADMIN_KEY } from "../test/support/app.ts";
import { eventually, http, type LiveServer } from "../test/support/server.ts";
import { collectPageErrors, phoneContext, screenshot, seriousViolations } from "./support/browser.ts";
import { closePageSuite, openPageSuite } from "./support/suite.ts";

let live: LiveServer;
let browser: Browser;
let merchantId: string;
let secretKey: string;
const PASSWORD = "correct horse battery staple";
let counter = 0;

before(async () => {
  ({ live, browser, merchantId, secretKey } = await openPageSuite());
  const rule = await http(live.url, "POST", "/v1/risk_rules", secretKey, {
    name: "big first payments",
    rule: "review if amount >= 7000",
    mode: "enforce",
  });
  assert.equal(rule.status, 201, JSON.stringify(rule.body));
  // An endpoint nobody answers at: its deliveries fail, so the webhooks page has something to show.
  const endpoint = await http(live.url, "POST", "/v1/webhook_endpoints", secretKey, {
    url: "https://hooks.invalid/centime",
    events: ["payment.succeeded", "payment.failed"],
  });
  assert.equal(endpoint.status, 201, JSON.stringify(endpoint.body));
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

async function signIn(page: Page, who: { email: string; totp: string }, lang: string) {
  await page.goto(`${live.url}/admin?lang=${lang}`);
  await page.fill("#email", who.email);
  await page.fill("#password", PASSWORD);
  await page.fill("#code", await generate({ secret: who.totp }));
  await press(page, "button[type=submit]");
  assert.match(page.url(), /\/admin\/payments/);
}

async function checked(page: Page, name: string) {
  assert.equal(await page.getAttribute("html", "lang"), name.endsWith("-fr") ? "fr" : "en");
  assert.deepEqual(await seriousViolations(page), [], name);
  await screenshot(page, name);
}

for (const [lang, words] of [
  [
    "en",
    {
      reviews: "Payments held for review",
      approved: "Approved: the payer was charged.",
      keys: "API keys",
      shownOnce: "Copy the key now: it is shown this once and never again.",
    },
  ],
  [
    "fr",
    {
      reviews: "Paiements en attente de revue",
      approved: "Approuvé : le payeur a été débité.",
      keys: "Clés d'API",
      shownOnce: "Copiez la clé maintenant : elle n'est montrée que cette fois.",
    },
  ],
] as const) {
  test(`${lang}: an operator approves a held payment from the review queue`, async () => {
    counter++;
    const held = await http<{ id: string; status: string }>(live.url, "POST", "/v1/payments", secretKey, {
      amount: 7000 + counter,
      currency: "EUR",
      payment_method: { type: "sandbox", scenario: "approve" },
    });
    assert.equal(held.body.status, "processing", JSON.stringify(held.body));
    const operator = await invite("administrator", lang);
    const context = await phoneContext(browser, { locale: lang });
    const page = await context.newPage();
    const errors = collectPageErrors(page);
    await signIn(page, operator, lang);
    await page.goto(`${live.url}/admin/risk/reviews`);
    assert.equal((await page.textContent("h1"))?.trim(), words.reviews);
    assert.ok((await page.textContent(`li[id="${held.body.id}"]`))?.includes("big first payments"));
    await checked(page, `admin-risk-reviews-${lang}`);
    await press(page, `form[action="/admin/risk/reviews/${held.body.id}/approve"] button`);
    assert.equal((await page.textContent(".notice--success"))?.trim(), words.approved);
    await checked(page, `admin-risk-reviews-approved-${lang}`);
    await eventually(async () => {
      const p = await http<{ status: string }>(live.url, "GET", `/v1/payments/${held.body.id}`, secretKey);
      return p.body.status === "succeeded" ? true : undefined;
    });
    // The operations pages beside it: webhooks (failed deliveries) and operators.
    await page.goto(`${live.url}/admin/webhooks`);
    await checked(page, `admin-webhooks-${lang}`);
    await page.goto(`${live.url}/admin/operators?country=FR`);
    await checked(page, `admin-operators-${lang}`);
    assert.deepEqual(errors, []);
    await context.close();
  });

  test(`${lang}: an operator creates a restricted API key, shown once`, async () => {
    const operator = await invite("administrator", lang);
    const context = await phoneContext(browser, { locale: lang });
    const page = await context.newPage();
    const errors = collectPageErrors(page);
    await signIn(page, operator, lang);
    await page.goto(`${live.url}/admin/api-keys`);
    assert.equal((await page.textContent("h1"))?.trim(), words.keys);
    await checked(page, `admin-api-keys-${lang}`);
    await page.fill("#name", `reporting ${lang}`);
    await page.check('input[name="permissions"][value="payment:read"]');
    await press(page, 'form[action="/admin/api-keys"] button[type=submit]');
    assert.equal((await page.textContent(".notice--warning"))?.trim(), words.shownOnce);
    const secret = (await page.textContent("#secret"))?.trim() ?? "";
    assert.match(secret, /^sk_test_[0-9A-Za-z]+$/);
    await checked(page, `admin-api-key-created-${lang}`);
    assert.equal((await http(live.url, "GET", "/v1/payments", secret)).status, 200);
    const write = await http(live.url, "POST", "/v1/customers", secret, { email: "a@b.example" });
    assert.equal(write.status, 403);
    await page.goto(`${live.url}/admin/api-keys`);
    assert.ok(!(await page.content()).includes(secret), "the secret is not shown again");
    assert.ok((await page.textContent("main"))?.includes(`reporting ${lang}`));
    assert.deepEqual(errors, []);
    await context.close();
  });
}
