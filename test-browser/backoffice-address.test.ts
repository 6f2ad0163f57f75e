/**
 * A customer's postal address on the back office's customer page, in Chromium on a phone: laid
 * out as the address's country writes it (France: postal code before the town in capitals; the
 * United States: town, state and ZIP on one line), the country named in the staff member's
 * language, in English and in French; axe-core finds nothing serious.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { generate } from "otplib";
import type { Browser, Page } from "playwright-core";
import { PASSWORD } from "../test/backoffice/admin-session.ts";
import { ADMIN_KEY } from "../test/support/app.ts";
import { http, type LiveServer } from "../test/support/server.ts";
import { collectPageErrors, phoneContext, screenshot, seriousViolations } from "./support/browser.ts";
import { closePageSuite, openPageSuite } from "./support/suite.ts";

let live: LiveServer;
let browser: Browser;
let merchantId: string;
let secretKey: string;

before(async () => {
  ({ live, browser, merchantId, secretKey } = await openPageSuite());
});
after(async () => {
  await closePageSuite({ live, browser });
});

async function customer(name: string, address: Record<string, string>): Promise<string> {
  const r = await http<{ id: string }>(live.url, "POST", "/v1/customers", secretKey, {
    email: `${name.toLowerCase().replace(/\W/g, "")}@example.org`,
    metadata: { name },
    address,
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.id;
}

async function signIn(page: Page, lang: string, next: string) {
  const email = `support-${lang}@pixelforge.example`;
  const r = await http<{ totp: { secret: string } }>(live.url, "POST", "/v1/staff", ADMIN_KEY, {
    email,
    role: "support",
    merchant: merchantId,
    password: PASSWORD,
    locale: lang,
    time_zone: "Europe/Paris",
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  await page.goto(`${live.url}${next}?lang=${lang}`);
  assert.match(page.url(), /\/admin\/login/);
  await page.fill("#email", email);
  await page.fill("#password", PASSWORD);
  await page.fill("#code", await generate({ secret: r.body.totp.secret }));
  await page.focus("button[type=submit]");
  await Promise.all([page.waitForNavigation({ timeout: 60_000 }), page.keyboard.press("Enter")]);
}

/** The address block's lines, as the reader sees them (one per <br>). */
async function addressLines(page: Page): Promise<string[]> {
  // A string, so that the DOM's types stay out of this Node program.
  return page.evaluate<string[]>(`Array.from(document.querySelector("address.postal-address").childNodes)
    .filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.textContent.trim())`);
}

for (const [lang, words] of [
  ["en", { label: "Postal address", france: "France", us: "United States" }],
  ["fr", { label: "Adresse postale", france: "France", us: "États-Unis" }],
] as const) {
  test(`${lang}: the customer page shows the address as its country writes it`, async () => {
    const paris = await customer(`Élodie Durand ${lang}`, {
      line1: "12 rue de la Paix",
      line2: "Bâtiment B, 3e étage",
      city: "Paris",
      postal_code: "75002",
      country: "FR",
    });
    const mountainView = await customer(`Sam Lee ${lang}`, {
      line1: "1600 Amphitheatre Pkwy",
      city: "Mountain View",
      region: "CA",
      postal_code: "94043",
      country: "US",
    });
    const context = await phoneContext(browser, { locale: lang });
    const page = await context.newPage();
    const errors = collectPageErrors(page);
    await signIn(page, lang, `/admin/customers/${paris}`);
    assert.match(page.url(), new RegExp(`/admin/customers/${paris}`));
    assert.equal(await page.getAttribute("html", "lang"), lang);
    assert.ok((await page.textContent(".facts"))?.includes(words.label));
    assert.deepEqual(await addressLines(page), [
      "12 rue de la Paix",
      "Bâtiment B, 3e étage",
      "75002 PARIS",
      words.france,
    ]);
    assert.deepEqual(await seriousViolations(page), []);
    const shot = await screenshot(page, `admin-customer-address-fr-${lang}`);
    console.log(`screenshot: ${shot}`);

    await page.goto(`${live.url}/admin/customers/${mountainView}`);
    assert.deepEqual(await addressLines(page), [
      "1600 Amphitheatre Pkwy",
      "Mountain View, CA 94043",
      words.us,
    ]);
    assert.deepEqual(await seriousViolations(page), []);
    console.log(`screenshot: ${await screenshot(page, `admin-customer-address-us-${lang}`)}`);
    assert.deepEqual(errors, []);
    await context.close();
  });
}
