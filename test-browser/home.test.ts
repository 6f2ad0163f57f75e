/**
 * The first page a newcomer sees, in a real headless Chromium on a phone: the shared stylesheet
 * and scripts load under the strict CSP, axe-core finds no serious violation, Arabic is right to
 * left, and the layout does not overflow sideways.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Browser } from "playwright-core";
import { type LiveServer, startLiveServer } from "../test/support/server.ts";
import {
  collectPageErrors,
  launchBrowser,
  phoneContext,
  screenshot,
  seriousViolations,
} from "./support/browser.ts";

let live: LiveServer;
let browser: Browser;

before(async () => {
  live = await startLiveServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await live?.close();
});

test("the home page on a phone: styled, no CSP violation, accessible, no sideways scroll", async () => {
  const context = await phoneContext(browser);
  const page = await context.newPage();
  const errors = collectPageErrors(page);
  const response = await page.goto(`${live.url}/`);
  assert.equal(response?.status(), 200);
  assert.equal(await page.textContent("h1"), "Centime is running");
  // The stylesheet applied: the body has the canvas colour from centime.css.
  const background = await page.evaluate<string>("getComputedStyle(document.body).backgroundColor");
  assert.equal(background, "rgb(243, 242, 241)");
  const overflow = await page.evaluate<number>("document.documentElement.scrollWidth - window.innerWidth");
  assert.ok(overflow <= 0, `no horizontal scroll (overflow ${overflow}px)`);
  assert.deepEqual(await seriousViolations(page), []);
  assert.deepEqual(errors, []);
  await screenshot(page, "home-phone-en");
  await context.close();
});

test("in Arabic the page is right to left and translated; the choice sticks", async () => {
  const context = await phoneContext(browser, { locale: "ar" });
  const page = await context.newPage();
  await page.goto(`${live.url}/`);
  assert.equal(await page.getAttribute("html", "dir"), "rtl");
  assert.equal(await page.getAttribute("html", "lang"), "ar");
  assert.equal(await page.textContent("h1"), "Centime يعمل");
  assert.deepEqual(await seriousViolations(page), []);
  await screenshot(page, "home-phone-ar");
  await page.click('a[lang="fr"]');
  assert.equal(await page.getAttribute("html", "lang"), "fr");
  await page.goto(`${live.url}/`);
  assert.equal(await page.getAttribute("html", "lang"), "fr", "the chosen language is remembered");
  await context.close();
});
