/**
 * What every page test starts with: the platform started on a free port (embedded database, or
 * DATABASE_URL's server), headless Chromium, and one merchant to show pages of.
 */
import type { Browser } from "playwright-core";
import { ADMIN_KEY } from "../../test/support/app.ts";
import { http, type LiveServer, startLiveServer } from "../../test/support/server.ts";
import { launchBrowser } from "./browser.ts";

export interface PageSuite {
  live: LiveServer;
  browser: Browser;
  merchantId: string;
  secretKey: string;
}

export async function openPageSuite(merchantName = "Pixel Forge"): Promise<PageSuite> {
  const live = await startLiveServer();
  const browser = await launchBrowser();
  const merchant = await http<{ merchant: { id: string }; secret_key: string }>(
    live.url,
    "POST",
    "/v1/merchants",
    ADMIN_KEY,
    { name: merchantName },
  );
  return { live, browser, merchantId: merchant.body.merchant.id, secretKey: merchant.body.secret_key };
}

/** Closes what `openPageSuite` opened; safe when it failed half way. */
export async function closePageSuite(suite: { live?: LiveServer; browser?: Browser }): Promise<void> {
  await suite.browser?.close();
  await suite.live?.close();
}
