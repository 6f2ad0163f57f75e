/**
 * Headless Chromium for page tests: Debian's chromium driven by playwright-core, axe-core for
 * accessibility, screenshots kept out of the repository (in $CENTIME_SCREENSHOTS or the temp dir).
 */
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const PHONE = { width: 375, height: 740 };
export const DESKTOP = { width: 1280, height: 900 };

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
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
}

export function phoneContext(browser: Browser, options: { locale?: string } = {}): Promise<BrowserContext> {
  return browser.newContext({
    viewport: PHONE,
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    locale: options.locale ?? "en-GB",
  });
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: number;
}

/**
 * axe-core's WCAG 2.1 A/AA rules on the current page. The script is evaluated through the
 * DevTools protocol, so the page's CSP (no inline scripts) is neither weakened nor in the way.
 */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(AXE_SOURCE);
  // A string, so that the DOM's types stay out of this Node program.
  return page.evaluate<AxeViolation[]>(`(async () => {
    const result = await axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
    });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length }));
  })()`);
}

/** The violations a page must not have: serious and critical ones. */
export async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  return (await axeViolations(page)).filter((v) => v.impact === "serious" || v.impact === "critical");
}

/** Saves a screenshot outside the repository and returns its path, for a person to look at. */
export async function screenshot(page: Page, name: string): Promise<string> {
  const dir = process.env.CENTIME_SCREENSHOTS ?? join(tmpdir(), "centime-screenshots");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Console errors and CSP violations collected while a page is used. */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(error.message));
  return errors;
}

/**
 * The phone-number characters of an element (digits, "+", "•") in the order they are drawn, left
 * to right on each line, top line first: "+33" drawn as "33+" in an Arabic sentence reads "33+".
 */
export function drawnDigits(page: Page, selector: string): Promise<string> {
  return page.evaluate<string>(`(() => {
    const el = document.querySelector(${JSON.stringify(selector)});
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    const glyphs = [];
    for (let node = walker.nextNode(); node; node = walker.nextNode())
      for (let i = 0; i < node.data.length; i++) {
        if (!/[+0-9•]/.test(node.data[i])) continue;
        const range = document.createRange();
        range.setStart(node, i);
        range.setEnd(node, i + 1);
        const box = range.getBoundingClientRect();
        glyphs.push({ c: node.data[i], top: Math.round(box.top), left: box.left });
      }
    glyphs.sort((a, b) => a.top - b.top || a.left - b.left);
    return glyphs.map((g) => g.c).join("");
  })()`);
}
