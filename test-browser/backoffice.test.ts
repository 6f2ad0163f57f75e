/**
 * The back office in Chromium on a phone: a support agent signs in (password and TOTP), finds a
 * payment by the payer's number and refunds it; an owner approves what a finance member asked
 * for. Each in English and in French, with axe-core finding no serious violation.
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
});
after(async () => {
  await closePageSuite({ live, browser });
});

async function invite(role: string, locale: string) {
  counter++;
  const email = `${role}${counter}@pixelforge.example`;
  const r = await http<{ api_key: string; totp: { secret: string } }>(
    live.url,
    "POST",
    "/v1/staff",
    ADMIN_KEY,
    {
      email,
      role,
      merchant: merchantId,
      password: PASSWORD,
      locale,
      time_zone: "Europe/Paris",
    },
  );
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return { email, key: r.body.api_key, totp: r.body.totp.secret };
}

/** By keyboard, as many staff work: focus the control and press Enter (no pointer races). */
async function press(page: Page, selector: string) {
  await page.focus(selector);
  await Promise.all([page.waitForNavigation({ timeout: 60_000 }), page.keyboard.press("Enter")]);
}

async function signIn(page: Page, who: { email: string; totp: string }, lang: string) {
  await page.goto(`${live.url}/admin?lang=${lang}`);
  assert.match(page.url(), /\/admin\/login/);
  assert.deepEqual(await seriousViolations(page), []);
  // Every field is styled, the authenticator code included (it had no type, so no style).
  const thin = await page.evaluate<string[]>(
    `[...document.querySelectorAll("input:not([type=hidden])")].filter((el) => getComputedStyle(el).borderTop !== getComputedStyle(document.querySelector("input[type=password], input[type=email], input[type=text]")).borderTop).map((el) => el.id)`,
  );
  assert.deepEqual(thin, [], "every input has the designed border");
  await screenshot(page, `admin-login-${lang}`);
  await page.fill("#email", who.email);
  await page.fill("#password", PASSWORD);
  await page.fill("#code", await generate({ secret: who.totp }));
  await press(page, "button[type=submit]");
}

/** A payment on an Albanian subscriber's bill (OneAPI operators refund at once), PIN confirmed. */
async function paidByPhone(amount: number): Promise<{ id: string; msisdn: string }> {
  counter++;
  const msisdn = `+35569${String(counter).padStart(3, "0")}0000`;
  const r = await http<{ id: string }>(live.url, "POST", "/v1/payments", secretKey, {
    amount,
    currency: "ALL",
    payment_method: { type: "carrier", msisdn },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  await http(live.url, "POST", `/v1/payments/${r.body.id}/confirm`, secretKey, { pin: "1234" });
  await eventually(async () => {
    const p = await http<{ status: string }>(live.url, "GET", `/v1/payments/${r.body.id}`, secretKey);
    return p.body.status === "succeeded" ? true : undefined;
  });
  return { id: r.body.id, msisdn };
}

for (const [lang, words] of [
  [
    "en",
    {
      search: "Find payments",
      refunded: "The refund was sent.",
      approve: "Approve",
      approved: "The batch is approved: its codes exist.",
      staff: "Staff and roles",
    },
  ],
  [
    "fr",
    {
      search: "Trouver les paiements",
      refunded: "Le remboursement a été envoyé.",
      approve: "Approuver",
      approved: "Le lot est approuvé : ses codes existent.",
      staff: "Équipe et rôles",
    },
  ],
] as const) {
  test(`${lang}: a support agent finds a payment by MSISDN and refunds part of it`, async () => {
    const payment = await paidByPhone(3000);
    const agent = await invite("support", lang);
    const context = await phoneContext(browser, { locale: lang });
    const page = await context.newPage();
    const errors = collectPageErrors(page);
    await signIn(page, agent, lang);
    assert.match(page.url(), /\/admin\/payments/);
    assert.equal(await page.getAttribute("html", "lang"), lang);
    await page.fill("#q", payment.msisdn.replace("+355", "355 "));
    await press(page, `button:has-text("${words.search}")`);
    assert.deepEqual(await seriousViolations(page), []);
    await screenshot(page, `admin-payments-${lang}`);
    await press(page, `a[href="/admin/payments/${payment.id}"]`);
    assert.deepEqual(await seriousViolations(page), []);
    // In the currency's own format: 1 lek is 100 minor units (ALL has two digits in ISO 4217).
    await page.fill("#amount", "1");
    await press(page, "button.button--danger");
    assert.equal((await page.textContent(".notice--success"))?.trim(), words.refunded);
    await screenshot(page, `admin-payment-refunded-${lang}`);
    // The operator settles carrier refunds on its own time.
    await eventually(async () => {
      const p = await http<{ amount_refunded: number }>(
        live.url,
        "GET",
        `/v1/payments/${payment.id}`,
        secretKey,
      );
      return p.body.amount_refunded === 100 ? true : undefined;
    });
    const audit = await http<{ data: Array<{ actor: { id: string }; action: string }> }>(
      live.url,
      "GET",
      `/v1/audit_events?object=${payment.id}&action=refunds.create`,
      ADMIN_KEY,
    );
    assert.equal(audit.body.data.length, 1, "the refund is in the audit log, by the agent");
    assert.deepEqual(errors, []);
    await context.close();
  });

  test(`${lang}: an owner approves what a finance member asked for`, async () => {
    const finance = await invite("finance", lang);
    const owner = await invite("owner", lang);
    const asked = await http<{ id: string; status: string }>(
      live.url,
      "POST",
      "/v1/ledger/adjustments",
      finance.key,
      {
        currency: "EUR",
        amount: 500,
        direction: "credit",
        reason: "Goodwill credit",
      },
    );
    assert.equal(asked.status, 202);
    const context = await phoneContext(browser, { locale: lang });
    const page = await context.newPage();
    await signIn(page, owner, lang);
    await page.goto(`${live.url}/admin/approvals`);
    assert.deepEqual(await seriousViolations(page), []);
    await screenshot(page, `admin-approvals-${lang}`);
    await press(page, `form[action="/admin/approvals/${asked.body.id}/approve"] button`);
    const decided = await http<{ status: string; decided_by: string }>(
      live.url,
      "GET",
      `/v1/approvals/${asked.body.id}`,
      ADMIN_KEY,
    );
    assert.equal(decided.body.status, "approved");
    await context.close();
  });

  test(`${lang}: an owner approves a voucher batch that a finance member created`, async () => {
    const finance = await invite("finance", lang);
    const owner = await invite("owner", lang);
    const created = await http<{ id: string; status: string }>(
      live.url,
      "POST",
      "/v1/voucher_batches",
      finance.key,
      { count: 5, value: { amount: 500, currency: "EUR" } },
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.status, "pending_approval");

    // The finance member sees the batch but cannot approve their own.
    const financeContext = await phoneContext(browser, { locale: lang });
    const financePage = await financeContext.newPage();
    await signIn(financePage, finance, lang);
    await financePage.goto(`${live.url}/admin/vouchers`);
    assert.equal(
      await financePage.locator(`form[action="/admin/vouchers/${created.body.id}/approve"]`).count(),
      0,
    );
    await financeContext.close();

    const context = await phoneContext(browser, { locale: lang });
    const page = await context.newPage();
    const errors = collectPageErrors(page);
    await signIn(page, owner, lang);
    await page.goto(`${live.url}/admin/vouchers`);
    assert.equal(await page.getAttribute("html", "lang"), lang);
    assert.deepEqual(await seriousViolations(page), []);
    const thinFields = await page.evaluate<string[]>(
      `[...document.querySelectorAll("input:not([type=hidden])")].filter((el) => getComputedStyle(el).borderTop !== getComputedStyle(document.querySelector("input[type=password], input[type=email], input[type=text]")).borderTop).map((el) => el.id)`,
    );
    assert.deepEqual(thinFields, [], "the batch fields have the designed border");
    await screenshot(page, `admin-vouchers-${lang}`);
    const button = `form[action="/admin/vouchers/${created.body.id}/approve"] button`;
    assert.equal((await page.textContent(button))?.trim(), words.approve);
    await press(page, button);
    assert.equal((await page.textContent(".notice--success"))?.trim(), words.approved);
    assert.deepEqual(await seriousViolations(page), []);
    await screenshot(page, `admin-vouchers-approved-${lang}`);
    const batch = await http<{ status: string }>(
      live.url,
      "GET",
      `/v1/voucher_batches/${created.body.id}`,
      secretKey,
    );
    assert.equal(batch.body.status, "approved");
    const audit = await http<{ data: Array<{ actor: { id: string } }> }>(
      live.url,
      "GET",
      `/v1/audit_events?object=${created.body.id}&action=voucher_batches.approve`,
      ADMIN_KEY,
    );
    assert.equal(audit.body.data.length, 1, "the approval is in the audit log");
    assert.deepEqual(errors, []);
    await context.close();
  });

  test(`${lang}: an owner sees the team and the roles`, async () => {
    const owner = await invite("owner", lang);
    const context = await phoneContext(browser, { locale: lang });
    const page = await context.newPage();
    const errors = collectPageErrors(page);
    await signIn(page, owner, lang);
    await page.goto(`${live.url}/admin/staff`);
    assert.equal((await page.textContent("h1"))?.trim(), words.staff);
    assert.ok((await page.textContent("main"))?.includes(owner.email));
    assert.ok((await page.textContent("main"))?.includes("voucher:approve"));
    assert.deepEqual(await seriousViolations(page), []);
    await screenshot(page, `admin-staff-${lang}`);
    assert.deepEqual(errors, []);
    await context.close();
  });
}

test("a platform owner (no merchant of their own) chooses a merchant before its pages; a merchant's agent has no such page", async () => {
  const paid = await paidByPhone(1500);
  counter++;
  const email = `platform${counter}@centime.example`;
  const owner = await http<{ totp: { secret: string } }>(live.url, "POST", "/v1/staff", ADMIN_KEY, {
    email,
    role: "owner",
    password: PASSWORD,
  });
  assert.equal(owner.status, 201, JSON.stringify(owner.body));
  const context = await phoneContext(browser, { locale: "en" });
  const page = await context.newPage();
  const errors = collectPageErrors(page);
  await signIn(page, { email, totp: owner.body.totp.secret }, "en");
  // Before: the payments page answered a bare 400 "Choose a merchant first." with no way to do it.
  assert.match(page.url(), /\/admin\/merchants\?next=%2Fadmin%2Fpayments$/);
  assert.equal(await page.textContent("h1"), "Choose a merchant");
  assert.deepEqual(await seriousViolations(page), []);
  await screenshot(page, "admin-merchants");
  await page.fill("#q", "pixel");
  await press(page, "form[role=search] button[type=submit]");
  await press(
    page,
    `form[action="/admin/merchants/choose"]:has(input[name=merchant][value="${merchantId}"]):has(input[name=mode][value=test]) button`,
  );
  assert.match(page.url(), /\/admin\/payments$/);
  assert.match((await page.textContent(".merchant-choice")) ?? "", /Merchant: Pixel Forge \(Test data\)/);
  assert.ok(
    await page.isVisible(`a[href="/admin/payments/${paid.id}"]`),
    "the merchant's payments are listed",
  );
  // The table scrolls in its frame; the page itself never scrolls sideways on a phone (it did by 74 px).
  assert.equal(await page.evaluate<number>("document.documentElement.scrollWidth - window.innerWidth"), 0);
  assert.deepEqual(await seriousViolations(page), []);
  await screenshot(page, "admin-payments-platform");
  // On a phone a row of a many-column table is a card: each value after its column's name.
  const firstCell = page.locator("table.stack tbody tr").first().locator("td").first();
  // (Runs in the page: the window's getComputedStyle, which Node's types do not declare.)
  type StyleOf = { getComputedStyle(element: unknown, pseudo: string): { content: string } };
  const label = await firstCell.evaluate(
    (td) => (globalThis as unknown as StyleOf).getComputedStyle(td, "::before").content,
  );
  assert.equal(label, '"Payment"');
  // The audit log (platform-wide) reads the same way, and shows the choice just made.
  await page.goto(`${live.url}/admin/audit`);
  assert.match((await page.textContent("table.stack tbody")) ?? "", /merchants\.choose/);
  // People are shown by e-mail, each a link that filters the log by them.
  await press(page, `table.stack tbody a:text-is("${email}")`);
  assert.match(page.url(), /\/admin\/audit\?actor=stf_/);
  assert.match((await page.textContent("table.stack tbody")) ?? "", /merchants\.choose/);
  assert.equal(await page.evaluate<number>("document.documentElement.scrollWidth - window.innerWidth"), 0);
  assert.deepEqual(await seriousViolations(page), []);
  await screenshot(page, "admin-audit-phone");
  assert.deepEqual(errors, []);
  await context.close();

  const agent = await invite("support", "en");
  const agentContext = await phoneContext(browser, { locale: "en" });
  const agentPage = await agentContext.newPage();
  await signIn(agentPage, agent, "en");
  const choice = await agentPage.goto(`${live.url}/admin/merchants`);
  assert.equal(choice?.status(), 404);
  assert.equal(await agentPage.locator(".merchant-choice").count(), 0);
  await agentContext.close();
});

test("a support agent answers a payer's refund request from the queue on a phone", async () => {
  const payment = await paidByPhone(2500);
  // The payer signs in with a code sent to the number they paid with, and asks.
  await http(live.url, "POST", "/v1/payer_sessions/codes", undefined, { msisdn: payment.msisdn });
  const caught = await http<{ data: Array<{ body: string }> }>(
    live.url,
    "GET",
    `/v1/test_helpers/messages?to=${encodeURIComponent(payment.msisdn)}&limit=1`,
    ADMIN_KEY,
  );
  const code = /\b(\d{6})\b/.exec(caught.body.data[0]?.body ?? "")?.[1];
  assert.ok(code, JSON.stringify(caught.body));
  const session = await http<{ token: string }>(live.url, "POST", "/v1/payer_sessions", undefined, {
    msisdn: payment.msisdn,
    code,
  });
  const asked = await http<{ id: string; status: string }>(
    live.url,
    "POST",
    "/v1/payer/refund_requests",
    session.body.token,
    { payment: payment.id, reason: "Bought by mistake" },
  );
  assert.equal(asked.status, 201, JSON.stringify(asked.body));

  const agent = await invite("support", "en");
  const context = await phoneContext(browser, { locale: "en" });
  const page = await context.newPage();
  const errors = collectPageErrors(page);
  await signIn(page, agent, "en");
  await page.goto(`${live.url}/admin/refund-requests`);
  assert.deepEqual(await seriousViolations(page), []);
  const overflow = await page.evaluate<number>("document.documentElement.scrollWidth - window.innerWidth");
  assert.ok(overflow <= 0, `no sideways scroll (${overflow}px)`);
  await screenshot(page, "admin-refund-requests-en");
  await press(page, `form[action="/admin/refund-requests/${asked.body.id}/approve"] button`);
  assert.match((await page.textContent(".notice--success")) ?? "", /Approved/);
  await screenshot(page, "admin-refund-requests-approved-en");
  await eventually(async () => {
    const p = await http<{ amount_refunded: number }>(
      live.url,
      "GET",
      `/v1/payments/${payment.id}`,
      secretKey,
    );
    return p.body.amount_refunded === 2500 ? true : undefined;
  });
  assert.deepEqual(errors, []);
  await context.close();
});

test("amounts and statuses never break inside, in the payments list at any width", async () => {
  // Three minor digits and a long carrier number beside it squeeze the amount column the most.
  for (const [amount, currency] of [
    [1500, "KWD"],
    [123_456_789, "KWD"],
    [199, "EUR"],
  ] as const) {
    const r = await http<{ id: string }>(live.url, "POST", "/v1/payments", secretKey, {
      amount,
      currency,
      payment_method: { type: "sandbox", scenario: "approve" },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  }
  await paidByPhone(123_456);
  for (const width of [1280, 700, 390]) {
    // One agent a sign-in: a TOTP code is single-use.
    const agent = await invite("support", "en");
    const context = await browser.newContext({ viewport: { width, height: 800 }, locale: "en" });
    const page = await context.newPage();
    await signIn(page, agent, "en");
    await page.goto(`${live.url}/admin/payments`);
    assert.ok((await page.locator("td.num").count()) >= 4, "the list, signed in");
    // Each amount's text on one line: its glyphs' boxes share one top.
    const broken = await page.evaluate<string[]>(`
      [...document.querySelectorAll("td.num, .money, .status")].filter((el) => {
        const range = document.createRange();
        range.selectNodeContents(el);
        const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
        return tops.size > 1;
      }).map((el) => el.textContent)`);
    assert.deepEqual(broken, [], `${width} px`);
    await screenshot(page, `admin-payments-money-${width}`);
    await context.close();
  }
});
