/**
 * The embeddable form: a game's web shop on another origin mounts the checkout with
 * /js/centime.js and a client secret; the payer pays inside the iframe and the shop hears of it by
 * postMessage. A page on an origin the app does not allow cannot frame the checkout.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser } from "playwright-core";
import { startShop } from "../examples/web-shop/server.ts";
import { ADMIN_KEY } from "../test/support/app.ts";
import { http, type LiveServer, startLiveServer } from "../test/support/server.ts";
import { launchBrowser, phoneContext, screenshot, seriousViolations } from "./support/browser.ts";

let live: LiveServer;
let browser: Browser;
const keys = { secret: "", publishable: "" };
let price = "";
const shops: { close(): Promise<void> }[] = [];

before(async () => {
  live = await startLiveServer();
  browser = await launchBrowser();
  const merchant = await http<{ secret_key: string; publishable_key: string }>(
    live.url,
    "POST",
    "/v1/merchants",
    ADMIN_KEY,
    {
      name: "Space Miner Ltd",
    },
  );
  keys.secret = merchant.body.secret_key;
  keys.publishable = merchant.body.publishable_key;
  const product = await http<{ id: string }>(live.url, "POST", "/v1/products", keys.secret, {
    name: "500 crystals",
  });
  const p = await http<{ id: string }>(live.url, "POST", "/v1/prices", keys.secret, {
    product: product.body.id,
    amount: 499,
    currency: "EUR",
  });
  price = p.body.id;
});
after(async () => {
  for (const shop of shops) await shop.close();
  await browser?.close();
  await live?.close();
});

async function shopFor(allowed: (shopOrigin: string) => string[]) {
  // Bind first, so the shop's origin is known before the app that allows it is made.
  const shop = await startShop({
    centimeUrl: live.url,
    secretKey: keys.secret,
    publishableKey: keys.publishable,
    app: "",
    price,
    port: 0,
  });
  shops.push(shop);
  const app = await http<{ id: string }>(live.url, "POST", "/v1/apps", keys.secret, {
    name: "Space Miner",
    allowed_origins: allowed(shop.url),
  });
  assert.equal(app.status, 201, JSON.stringify(app.body));
  await shop.close();
  const port = Number(new URL(shop.url).port);
  const again = await startShop({
    centimeUrl: live.url,
    secretKey: keys.secret,
    publishableKey: keys.publishable,
    app: app.body.id,
    price,
    port,
  });
  shops.push(again);
  return again;
}

test("a shop on another origin mounts the form; the payer pays inside it; the shop is told", async () => {
  const shop = await shopFor((origin) => [origin]);
  const context = await phoneContext(browser);
  const page = await context.newPage();
  await page.goto(shop.url);
  const frame = await (await page.waitForSelector("#pay iframe")).contentFrame();
  assert.ok(frame);
  await frame.click("a.method[href$='/carrier']");
  await frame.waitForSelector("#msisdn");
  assert.match((await frame.textContent(".summary-total")) ?? "", /4[.,]99/);
  await frame.fill("#msisdn", "+31610020000");
  await frame.click("button[type=submit]");
  await frame.waitForURL(/\/carrier\/pin$/);
  await frame.fill("#pin", "1234");
  await frame.click("form[action$='/carrier/pin'] button[type=submit]");
  await frame.waitForURL(/\/done$/);
  await page.waitForFunction(`document.getElementById("result")?.textContent?.startsWith("Paid: cs_")`);
  const sessionId = ((await page.textContent("#result")) ?? "").replace("Paid: ", "");
  const session = await http<{ status: string; app: string }>(
    live.url,
    "GET",
    `/v1/checkout_sessions/${sessionId}`,
    keys.secret,
  );
  assert.equal(session.body.status, "complete");
  assert.deepEqual(await seriousViolations(page), []);
  await screenshot(page, "embedded-shop-paid");
  await context.close();
});

test("a page on an origin the app does not allow cannot frame the checkout", async () => {
  const shop = await shopFor(() => ["https://elsewhere.example.com"]);
  const context = await phoneContext(browser);
  const page = await context.newPage();
  const blocked: string[] = [];
  page.on("console", (message) => blocked.push(message.text()));
  await page.goto(shop.url);
  const iframe = await page.waitForSelector("#pay iframe");
  const frame = await iframe.contentFrame();
  await new Promise((r) => setTimeout(r, 1500));
  const rendered = frame ? await frame.$("#msisdn").catch(() => null) : null;
  assert.equal(rendered, null, "the checkout does not render in the frame");
  assert.ok(
    blocked.some((text) => /frame-ancestors/.test(text)),
    `the browser reports the frame-ancestors refusal: ${blocked.join(" | ")}`,
  );
  await context.close();
});

test("the embed entry refuses a publishable key of another merchant", async () => {
  const other = await http<{ publishable_key: string }>(live.url, "POST", "/v1/merchants", ADMIN_KEY, {
    name: "Other",
  });
  const session = await http<{ client_secret: string }>(
    live.url,
    "POST",
    "/v1/checkout_sessions",
    keys.secret,
    {
      line_items: [{ price }],
    },
  );
  const response = await fetch(
    `${live.url}/embed/${session.body.client_secret}?pk=${other.body.publishable_key}`,
    { redirect: "manual" },
  );
  assert.equal(response.status, 403);
  assert.equal(response.headers.get("x-frame-options"), "DENY");
});
