/**
 * The portal's second-identity form in headless Chromium on a phone: a payer signed in with a
 * number adds an e-mail address with the code the development catcher kept, after a wrong code
 * shown as a message beside the field; then both identities are listed and what the address paid
 * shows. Another account's number is refused with a message once its code is right. English,
 * French and Arabic (right to left); axe-core finds no serious violation; no CSP violation.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser, Page } from "playwright-core";
import { ADMIN_KEY } from "../test/support/app.ts";
import { http, type LiveServer, startLiveServer } from "../test/support/server.ts";
import {
  collectPageErrors,
  launchBrowser,
  phoneContext,
  screenshot,
  seriousViolations,
} from "./support/browser.ts";

let live: LiveServer;
let browser: Browser;
let key: string;
/** The forms' own buttons (the header's sign-out button is a submit button too). */
const SEND = 'form[action="/portal/identities/code"] button[type=submit]';
const CONFIRM = 'form[action="/portal/identities"] button[type=submit]';

async function api<T = Record<string, unknown>>(
  k: string,
  method: "GET" | "POST",
  path: string,
  body?: unknown,
) {
  const r = await http<T>(live.url, method, path, k, body);
  assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

before(async () => {
  live = await startLiveServer();
  browser = await launchBrowser();
  key = (await api<{ secret_key: string }>(ADMIN_KEY, "POST", "/v1/merchants", { name: "Pixel Forge" }))
    .secret_key;
});
after(async () => {
  await browser?.close();
  await live?.close();
});

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

async function checkPage(page: Page, name: string): Promise<void> {
  const overflow = await page.evaluate<number>("document.documentElement.scrollWidth - window.innerWidth");
  assert.ok(overflow <= 0, `${name}: no sideways scroll (${overflow}px)`);
  assert.deepEqual(await seriousViolations(page), [], `${name}: accessibility`);
  console.log(`screenshot: ${await screenshot(page, `portal-identity-${name}`)}`);
}

async function signIn(page: Page, msisdn: string, lang: string) {
  await page.goto(`${live.url}/portal?lang=${lang}`);
  await page.fill("#contact", msisdn);
  await page.click("button[type=submit]");
  await page.waitForSelector("#code");
  await page.fill("#code", await caughtCode(msisdn));
  await page.click("button[type=submit]");
  await page.waitForURL(/\/portal$/);
}

for (const [lang, n, words] of [
  [
    "en",
    "1",
    {
      wrong: /^The code is not correct/,
      done: /Added to your account/,
      email: "E-mail address",
      number: "Mobile number",
      taken: "This number is already linked to another account. Sign in with it to see its charges",
    },
  ],
  [
    "fr",
    "2",
    {
      wrong: /^Le code/,
      done: /Ajouté à votre compte/,
      email: "Adresse e-mail",
      number: "Numéro de mobile",
      taken: "Ce numéro est déjà lié à un autre compte. Connectez-vous avec lui pour voir ses paiements",
    },
  ],
  [
    "ar",
    "3",
    {
      wrong: /^الرمز غير صحيح/,
      done: /تمت الإضافة إلى حسابك/,
      email: "البريد الإلكتروني",
      number: "رقم الجوال",
      taken: "هذا الرقم مرتبط بحساب آخر. سجّل الدخول به لترى مدفوعاته",
    },
  ],
] as const) {
  test(`${lang}: a payer adds an e-mail address with its code and sees both`, async () => {
    const number = `+3361234560${n}`;
    const mail = `payer${n}@example.org`;
    const other = `+3361234570${n}`;
    // A charge known only by the address, and another account holding a second number.
    const customer = await api<{ id: string }>(key, "POST", "/v1/customers", { email: mail });
    await api(key, "POST", "/v1/payments", {
      amount: 450,
      currency: "EUR",
      customer: customer.id,
      description: `Season pass ${n}`,
      payment_method: { type: "sandbox", scenario: "approve" },
    });
    const otherContext = await phoneContext(browser, { locale: lang });
    await signIn(await otherContext.newPage(), other, lang);
    await otherContext.close();

    const context = await phoneContext(browser, { locale: lang });
    const page = await context.newPage();
    const errors = collectPageErrors(page);
    await signIn(page, number, lang);
    assert.ok(!((await page.textContent("main")) ?? "").includes(`Season pass ${n}`));
    await page.click('a[href="/portal/identities/new"]');
    await page.waitForSelector("#contact");
    assert.equal(await page.getAttribute("html", "dir"), lang === "ar" ? "rtl" : "ltr");
    await checkPage(page, `contact-${lang}`);
    await page.fill("#contact", mail);
    await page.click(SEND);
    await page.waitForSelector("#code");
    await page.fill("#code", "000000");
    await page.click(CONFIRM);
    await page.waitForSelector("#code-error");
    assert.match((await page.textContent("#code-error"))?.trim() ?? "", words.wrong);
    assert.equal(await page.getAttribute("#code", "aria-invalid"), "true");
    await checkPage(page, `wrong-code-${lang}`);
    await page.fill("#code", await caughtCode(mail));
    await page.click(CONFIRM);
    await page.waitForURL(/done=identity/);
    assert.match((await page.textContent("#done")) ?? "", words.done);
    const listed = (await page.locator("ul.identities li").allInnerTexts()).map((s) =>
      s.replace(/\s+/g, " "),
    );
    assert.deepEqual(
      listed.sort(),
      [`${words.email} ${mail}`, `${words.number} +33 6 12 34 56 0${n}`].sort(),
    );
    assert.ok(((await page.textContent("main")) ?? "").includes(`Season pass ${n}`));
    // A number reads left to right in a right-to-left page too: "+33" is drawn left of its last digits.
    const drawn = await page.evaluate<{ plus: number; last: number }>(`(() => {
      const text = [...document.querySelectorAll("ul.identities [dir=ltr]")]
        .map((e) => e.firstChild).find((t) => t && t.textContent.startsWith("+"));
      const range = document.createRange();
      range.setStart(text, 0); range.setEnd(text, 3);
      const plus = range.getBoundingClientRect().left;
      range.setStart(text, text.textContent.length - 2); range.setEnd(text, text.textContent.length);
      return { plus, last: range.getBoundingClientRect().left };
    })()`);
    assert.ok(
      drawn.plus < drawn.last,
      `${lang}: the number is drawn left to right (${JSON.stringify(drawn)})`,
    );
    await page
      .locator("ul.identities")
      .screenshot({ path: `/tmp/centime-screenshots/portal-identities-list-${lang}.png` });
    await checkPage(page, `added-${lang}`);

    // Another account's number: the right code, then the message.
    await page.click('a[href="/portal/identities/new"]');
    await page.fill("#contact", other);
    await page.click(SEND);
    await page.waitForSelector("#code");
    await page.fill("#code", await caughtCode(other));
    await page.click(CONFIRM);
    await page.waitForSelector("#contact-error");
    assert.equal((await page.textContent("#contact-error"))?.trim(), words.taken);
    await checkPage(page, `taken-${lang}`);
    // The refused forms answered 401 and 409, which Chromium logs; nothing else may appear.
    assert.deepEqual(
      errors.filter((e) => !/status of (401|409)/.test(e)),
      [],
    );
    await context.close();
  });
}
