/**
 * The API documentation as a person sees it: /docs in a real headless Chromium renders the
 * operations from the OpenAPI document, and a payment can be read back from the running API.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";
import { http, type LiveServer, startLiveServer } from "../test/support/server.ts";
import { screenshot } from "./support/browser.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
let live: LiveServer;

before(async () => {
  live = await startLiveServer();
});
after(() => live.close());

test("/docs renders every resource's operations in a browser", async () => {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  try {
    const page = await browser.newPage();
    const response = await page.goto(`${live.url}/docs`);
    assert.equal(response?.status(), 200);
    const expected = [
      "/v1/payments",
      "/v1/refunds",
      "/v1/customers",
      "/v1/webhook_endpoints",
      "/v1/ledger/trial_balance",
    ];
    // Twenty-odd tags start collapsed (a reader opens the one she needs; all of them open at once
    // is a page of several hundred operations): every tag is listed, and opening one shows its
    // operations.
    await page.waitForSelector(".opblock-tag", { timeout: 20_000 });
    const tags = await page.$$eval(".opblock-tag", (nodes) => nodes.map((n) => n.getAttribute("data-tag")));
    for (const tag of [
      "payments",
      "refunds",
      "customers",
      "webhooks",
      "ledger",
      "risk",
      "analytics",
      "payers",
    ]) {
      assert.ok(tags.includes(tag), `tag ${tag} is listed (saw ${tags.join(", ")})`);
    }
    for (const tag of ["payments", "refunds", "customers", "webhooks", "ledger"]) {
      await page.click(`#operations-tag-${tag}`);
    }
    await page.waitForSelector(".opblock-summary-path", { timeout: 20_000 });
    await page.waitForFunction(`document.querySelectorAll(".opblock-summary-path").length >= 15`, undefined, {
      timeout: 20_000,
    });
    const paths = await page.$$eval(".opblock-summary-path", (nodes) =>
      nodes.map((n) => n.textContent ?? ""),
    );
    for (const path of expected) {
      assert.ok(
        paths.some((p) => p.replace(/\u200b/g, "") === path),
        `${path} is listed (saw ${paths.length} operations)`,
      );
    }
    const title = await page.textContent(".title");
    assert.match(title ?? "", /Centime API/);
    await screenshot(page, "docs");
  } finally {
    await browser.close();
  }
  const health = await http(live.url, "GET", "/health");
  assert.equal(health.status, 200);
});
