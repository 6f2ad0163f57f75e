/**
 * The live dashboard in Chromium on a phone: it shows the same totals as the JSON API, takes up
 * new payments through server-sent events, keeps its counts across a dropped connection, and
 * axe-core finds no serious violation.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { generate } from "otplib";
import type { Browser, Page } from "playwright-core";
import { ADMIN_KEY } from "../test/support/app.ts";
import { eventually, http, type LiveServer, startLiveServer } from "../test/support/server.ts";
import {
  collectPageErrors,
  launchBrowser,
  phoneContext,
  screenshot,
  seriousViolations,
} from "./support/browser.ts";

let live: LiveServer;
let browser: Browser;
let merchantId: string;
let secretKey: string;
const PASSWORD = "correct horse battery staple";

type Analytics = {
  series: Array<{ key: Record<string, string>; points: Array<{ count: number; amount: number }> }>;
};

before(async () => {
  live = await startLiveServer();
  browser = await launchBrowser();
  const merchant = await http<{ merchant: { id: string }; secret_key: string }>(
    live.url,
    "POST",
    "/v1/merchants",
    ADMIN_KEY,
    { name: "Pixel Forge" },
  );
  merchantId = merchant.body.merchant.id;
  secretKey = merchant.body.secret_key;
});
after(async () => {
  await browser?.close();
  await live?.close();
});

async function pay(scenario: string, amount: number, currency = "EUR") {
  const r = await http(live.url, "POST", "/v1/payments", secretKey, {
    amount,
    currency,
    payment_method: { type: "sandbox", scenario },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
}

/** Succeeded and failed counts, and succeeded amount per currency, from the JSON API. */
async function fromApi(from: string, to: string, granularity: string) {
  const r = await http<Analytics>(
    live.url,
    "GET",
    `/v1/analytics/payments?from=${from}&to=${to}&granularity=${granularity}&group_by=status`,
    secretKey,
  );
  const out = { succeeded: 0, failed: 0, revenue: {} as Record<string, number> };
  for (const s of r.body.series) {
    for (const p of s.points) {
      if (s.key.status === "succeeded") {
        out.succeeded += p.count;
        out.revenue[s.key.currency!] = (out.revenue[s.key.currency!] ?? 0) + p.amount;
      }
      if (s.key.status === "failed") out.failed += p.count;
    }
  }
  return out;
}

async function tile(page: Page, name: string): Promise<number> {
  const text = (await page.textContent(`[data-tile="${name}"]`)) ?? "";
  return Number(text.replace(/\D/g, ""));
}

async function waitForTile(page: Page, name: string, value: number) {
  await eventually(async () => ((await tile(page, name)) === value ? true : undefined), 20_000);
}

test("the dashboard matches the JSON API, updates live and survives a dropped connection", async () => {
  for (const [scenario, amount] of [
    ["approve", 199],
    ["approve", 250],
    ["decline_generic", 100],
    ["approve", 500],
  ] as const) {
    await pay(scenario, amount);
  }
  await pay("approve", 300, "GBP");
  // The worker's ingest catches up (no timing asserted: the bench measures the lag).
  await eventually(async () => {
    const now = new Date();
    const totals = await fromApi(
      new Date(now.getTime() - 3_600_000).toISOString(),
      now.toISOString(),
      "minute",
    );
    return totals.succeeded === 4 && totals.failed === 1 ? true : undefined;
  });

  const staff = await http<{ totp: { secret: string } }>(live.url, "POST", "/v1/staff", ADMIN_KEY, {
    email: "owner@pixelforge.example",
    role: "owner",
    merchant: merchantId,
    password: PASSWORD,
    locale: "en",
    time_zone: "Europe/Paris",
  });
  assert.equal(staff.status, 201, JSON.stringify(staff.body));
  const context = await phoneContext(browser, { locale: "en" });
  const page = await context.newPage();
  const errors = collectPageErrors(page);
  await page.goto(`${live.url}/admin/dashboard?range=1h`);
  await page.fill("#email", "owner@pixelforge.example");
  await page.fill("#password", PASSWORD);
  await page.fill("#code", await generate({ secret: staff.body.totp.secret }));
  await page.focus("button[type=submit]");
  await Promise.all([page.waitForNavigation(), page.keyboard.press("Enter")]);
  assert.match(page.url(), /\/admin\/dashboard\?range=1h/);
  assert.ok(await page.$('nav a[href="/admin/dashboard"][aria-current="page"]'), "a link in the navigation");

  // The same numbers as the JSON API over the same period.
  const dash = await page.$eval("#dashboard", (el) => ({
    ...(el as unknown as { dataset: Record<string, string> }).dataset,
  }));
  const api = await fromApi(dash.from!, dash.to!, dash.granularity!);
  assert.equal(await tile(page, "succeeded"), api.succeeded);
  assert.equal(await tile(page, "failed"), api.failed);
  assert.equal(api.succeeded, 4);
  const revenue = await page.$$eval("#revenue li", (els) =>
    els.map((el) => [
      (el as unknown as { dataset: Record<string, string> }).dataset.currency,
      el.textContent,
    ]),
  );
  assert.deepEqual(revenue, [
    ["EUR", "€9.49"],
    ["GBP", "£3.00"],
  ]);
  assert.equal(api.revenue.EUR, 949);
  assert.ok(await page.$("#chart canvas"), "uPlot drew the chart");
  assert.deepEqual(await seriousViolations(page), []);
  await screenshot(page, "admin-dashboard-phone");

  // New payments arrive by server-sent events, without a reload.
  await eventually(async () =>
    (await page.getAttribute("#dashboard", "data-connected")) === "true" ? true : undefined,
  );
  await pay("approve", 100);
  await pay("approve", 100);
  await waitForTile(page, "succeeded", 6);

  // A dropped connection: payments made while it is down are all there once it is back.
  await page.evaluate(() =>
    (globalThis as unknown as { centimeDashboard: { reconnect(): void } }).centimeDashboard.reconnect(),
  );
  await pay("approve", 100);
  await pay("decline_generic", 100);
  await waitForTile(page, "succeeded", 7);
  await waitForTile(page, "failed", 2);
  const after = await page.$eval("#dashboard", (el) => ({
    ...(el as unknown as { dataset: Record<string, string> }).dataset,
  }));
  const again = await fromApi(after.from!, after.to!, after.granularity!);
  assert.equal(again.succeeded, 7);
  assert.equal(again.failed, 2);
  assert.equal(await page.textContent('#revenue li[data-currency="EUR"]'), "€12.49");
  await screenshot(page, "admin-dashboard-live");
  assert.deepEqual(errors, []);
  await context.close();
});
