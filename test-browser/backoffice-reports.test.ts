/**
 * The finance reports page in Chromium on a phone, in English and French: a finance member picks
 * a period and a grouping, sees the revenue in the original currencies and converted (half to
 * even) with the rate used, the month's statement, downloads the CSV, and axe-core finds no
 * serious violation.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { generate } from "otplib";
import type { Browser, Page } from "playwright-core";
import { ADMIN_KEY } from "../test/support/app.ts";
import { http, type LiveServer } from "../test/support/server.ts";
import { collectPageErrors, phoneContext, screenshot, seriousViolations } from "./support/browser.ts";
import { closePageSuite, openPageSuite } from "./support/suite.ts";

let live: LiveServer;
let browser: Browser;
let merchantId: string;
let secretKey: string;
const PASSWORD = "correct horse battery staple";

before(async () => {
  ({ live, browser, merchantId, secretKey } = await openPageSuite("Ledger & Co"));
  const pay = async (amount: number, currency: string) => {
    const r = await http<{ id: string }>(live.url, "POST", "/v1/payments", secretKey, {
      amount,
      currency,
      payment_method: { type: "sandbox", scenario: "approve" },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body.id;
  };
  const eur = await pay(1999, "EUR");
  await pay(1234, "GBP");
  const refund = await http(live.url, "POST", "/v1/refunds", secretKey, { payment: eur, amount: 500 });
  assert.equal(refund.status, 201, JSON.stringify(refund.body));
  const rate = await http(live.url, "POST", "/v1/exchange_rates", secretKey, {
    from: "GBP",
    to: "EUR",
    rate: "1.25",
    valid_from: new Date(Date.now() - 60_000).toISOString(),
  });
  assert.equal(rate.status, 201, JSON.stringify(rate.body));
});
after(async () => {
  await closePageSuite({ live, browser });
});

async function signIn(page: Page, path: string, email: string, secret: string) {
  await page.goto(`${live.url}${path}`);
  await page.fill("#email", email);
  await page.fill("#password", PASSWORD);
  await page.fill("#code", await generate({ secret }));
  await page.focus("button[type=submit]");
  await Promise.all([page.waitForNavigation(), page.keyboard.press("Enter")]);
}

/** A money amount as the page shows it (Intl with the currency's ISO 4217 digits). */
function money(locale: string, minor: bigint, currency: string): string {
  const text = minor.toString().padStart(3, "0");
  const decimal = `${text.slice(0, -2)}.${text.slice(-2)}`;
  return new Intl.NumberFormat(locale, { style: "currency", currency }).format(decimal as unknown as number);
}

const normalize = (s: string) => s.replace(/[\u00a0\u202f]/g, " ");

for (const locale of ["en", "fr"] as const) {
  test(`a finance member reads the revenue, the rates used and the statement (${locale})`, async () => {
    const email = `finance-${locale}@ledger.example`;
    const staff = await http<{ totp: { secret: string } }>(live.url, "POST", "/v1/staff", ADMIN_KEY, {
      email,
      role: "finance",
      merchant: merchantId,
      password: PASSWORD,
      locale,
      time_zone: "Europe/Paris",
    });
    assert.equal(staff.status, 201, JSON.stringify(staff.body));
    const context = await phoneContext(browser, { locale });
    const page = await context.newPage();
    const errors = collectPageErrors(page);
    await signIn(page, "/admin/reports", email, staff.body.totp.secret);
    assert.match(page.url(), /\/admin\/reports/);
    assert.ok(await page.$('nav a[href="/admin/reports"][aria-current="page"]'), "a link in the navigation");
    // Group by currency through the form.
    await page.selectOption("#group_by", "currency");
    await Promise.all([page.waitForNavigation(), page.click("form.panel button[type=submit]")]);
    assert.match(page.url(), /group_by=currency/);
    const text = normalize((await page.textContent("main")) ?? "");
    assert.match(text, locale === "en" ? /Revenue/ : /Chiffre d’affaires/);
    // EUR: 19.99 gross, 5.00 refunded, 14.99 net; GBP 12.34 → 15.425 EUR → 15.42 (half to even).
    for (const expected of [
      money(locale, 1999n, "EUR"),
      money(locale, 500n, "EUR"),
      money(locale, 1499n, "EUR"),
      money(locale, 1234n, "GBP"),
      money(locale, 1542n, "EUR"),
      money(locale, 1499n + 1542n, "EUR"),
    ]) {
      assert.ok(text.includes(normalize(expected)), `${expected} on the page`);
    }
    assert.match(text, /1 GBP = 1\.25 EUR/);
    // The month's statement: closing balance 14.99 EUR and 12.34 GBP.
    assert.match(text, locale === "en" ? /Closing balance/ : /Solde de clôture/);
    // CSV download with the session.
    const href = await page.getAttribute('a[href^="/admin/reports/revenue.csv"]', "href");
    assert.ok(href);
    const csv = await page.request.get(`${live.url}${href}`);
    assert.equal(csv.status(), 200);
    assert.match(csv.headers()["content-type"] ?? "", /^text\/csv/);
    const lines = (await csv.text()).trimEnd().split("\r\n");
    assert.equal(
      lines[0],
      "group,currency,count,gross,refund_count,refunds,net,reporting_currency,converted_gross,converted_refunds,converted_net",
    );
    assert.deepEqual(lines.slice(1), [
      "EUR,EUR,1,1999,1,500,1499,EUR,1999,500,1499",
      "GBP,GBP,1,1234,0,0,1234,EUR,1542,0,1542",
    ]);
    const statementHref = await page.getAttribute('a[href^="/admin/reports/statement.csv"]', "href");
    const statement = await (await page.request.get(`${live.url}${statementHref}`)).text();
    assert.match(statement, /,EUR,closing_balance,,,,1499\r\n/);

    assert.deepEqual(await seriousViolations(page), []);
    const shot = await screenshot(page, `backoffice-reports-phone-${locale}`);
    // Nothing wider than the phone: the tables scroll inside their own box.
    const overflow = await page.evaluate<number>("document.documentElement.scrollWidth");
    assert.ok(overflow <= 375, `page width ${overflow} (screenshot ${shot})`);
    assert.deepEqual(errors, []);
    await context.close();
  });
}
