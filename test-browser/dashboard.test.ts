/**
 * The live dashboard in a real Chromium on a phone: its tiles equal the JSON API, new payments
 * show within 2 s through server-sent events, a dropped connection loses no count, the page is
 * accessible and fits the screen, and the strict CSP reports nothing.
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
let secretKey: string;

type Summary = {
  payments: { total: number };
  revenue: { total: number };
  acceptance: { rate: number | null };
};

before(async () => {
  live = await startLiveServer();
  browser = await launchBrowser();
  const merchant = await http<{ secret_key: string }>(live.url, "POST", "/v1/merchants", ADMIN_KEY, {
    name: "Dashboard studio",
    default_currency: "EUR",
  });
  assert.equal(merchant.status, 201, JSON.stringify(merchant.body));
  secretKey = merchant.body.secret_key;
});
after(async () => {
  await browser?.close();
  await live?.close();
});

let payments = 0;

/** A payment; retried with its Idempotency-Key when the connection was just cut. */
async function pay(scenario: string, amount: number, operator: string) {
  const key = `dashboard-${payments++}`;
  const body = {
    amount,
    currency: "EUR",
    payment_method: { type: "sandbox", scenario },
    metadata: { operator, country: "FR", app: "game" },
  };
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await http(live.url, "POST", "/v1/payments", secretKey, body, { "idempotency-key": key });
      assert.ok(r.status === 201 || r.status === 200, JSON.stringify(r.body));
      return;
    } catch (error) {
      if (attempt >= 2) throw error;
    }
  }
}

/** Polls the page from here: the page's CSP rightly forbids the eval a page-side wait would need. */
async function waitTile(page: Page, path: string, value: string, timeoutMs: number) {
  await until(
    `tile ${path}`,
    () => tile(page, path),
    (seen) => seen === value,
    timeoutMs,
  );
}

async function summary(): Promise<Summary> {
  const r = await http<Summary>(live.url, "GET", "/v1/analytics/summary", secretKey);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

async function until<T>(
  what: string,
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 10_000,
) {
  const start = Date.now();
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: still ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const tile = (page: Page, path: string) => page.getAttribute(`[data-tile="${path}"]`, "data-value");

test("the dashboard on a phone: API totals, live updates within 2 s, no count lost across a dropped connection", async () => {
  for (let i = 0; i < 4; i++) await pay("approve", 150, "op1");
  await pay("decline_generic", 150, "op2");
  await until("the ingest", summary, (s) => s.payments.total === 5);

  const context = await phoneContext(browser);
  await context.setExtraHTTPHeaders({ authorization: `Bearer ${secretKey}` });
  const page = await context.newPage();
  const errors = collectPageErrors(page);
  const response = await page.goto(`${live.url}/admin/dashboard?range=1h`);
  assert.equal(response?.status(), 200);

  // The same totals as the JSON API.
  const api = await summary();
  assert.equal(await tile(page, "payments.total"), String(api.payments.total));
  assert.equal(await tile(page, "revenue.total"), String(api.revenue.total));
  assert.equal(await tile(page, "acceptance.rate"), String(api.acceptance.rate));
  assert.equal(api.revenue.total, 600);
  await page.waitForSelector('#live-status[data-state="live"]');
  assert.ok(await page.$("#chart-payments canvas"), "uPlot drew the payments chart");

  // New payments reach the page within 2 s.
  const started = Date.now();
  for (let i = 0; i < 3; i++) await pay("approve", 100, "op1");
  await waitTile(page, "payments.total", "8", 2_000);
  const elapsedMs = Date.now() - started;
  assert.ok(elapsedMs < 2_000, `updated after ${elapsedMs} ms`);

  // Drop every connection (the event stream with it) and pay meanwhile: after the reconnect the
  // page shows every payment, once.
  await context.setOffline(true);
  live.server.app!.server.closeAllConnections();
  for (let i = 0; i < 2; i++) await pay("approve", 100, "op2");
  await until("the ingest", summary, (s) => s.payments.total === 10);
  await context.setOffline(false);
  await waitTile(page, "payments.total", "10", 10_000);
  const after = await summary();
  assert.equal(await tile(page, "payments.total"), "10");
  assert.equal(await tile(page, "revenue.total"), String(after.revenue.total));
  assert.equal(after.revenue.total, 1100);

  // Phone-sized: no sideways scroll, accessible, nothing refused by the CSP.
  const overflow = await page.evaluate<number>("document.documentElement.scrollWidth - window.innerWidth");
  assert.ok(overflow <= 0, `no horizontal scroll (overflow ${overflow}px)`);
  assert.deepEqual(await seriousViolations(page), []);
  const csp = errors.filter((e) => /Content Security Policy|Refused/.test(e));
  assert.deepEqual(csp, []);
  await screenshot(page, "dashboard-phone");
  await context.close();
});

test("the dashboard refuses a request without a key and a publishable key", async () => {
  const none = await fetch(`${live.url}/admin/dashboard`);
  assert.equal(none.status, 401);
  assert.match(none.headers.get("content-type") ?? "", /text\/html/);
  const stream = await fetch(`${live.url}/admin/dashboard/stream`);
  assert.equal(stream.status, 401);
});
