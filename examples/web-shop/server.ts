/**
 * A game's web shop that sells through Centime's embedded form. The shop's server creates a
 * checkout session with its secret key (the price comes from the catalog, never from the
 * browser) and hands the page only the session's client secret; the page mounts the form with
 * the publishable key. It talks to Centime through the SDK (packages/sdk). Run it:
 *
 *   CENTIME_URL=http://127.0.0.1:8080 CENTIME_SECRET_KEY=sk_test_… CENTIME_PUBLISHABLE_KEY=pk_test_… \
 *   CENTIME_APP=app_… CENTIME_PRICE=price_… node --import tsx examples/web-shop/server.ts
 *
 * then open http://127.0.0.1:3000 (add the shop's origin to the app's allowed_origins first).
 */
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createCentime } from "../../packages/sdk/src/index.ts";

export interface ShopOptions {
  centimeUrl: string;
  secretKey: string;
  publishableKey: string;
  app: string;
  price: string;
  port?: number;
  host?: string;
}

const here = dirname(fileURLToPath(import.meta.url));
const SHOP_SCRIPT = readFileSync(join(here, "shop.js"));

const escape = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

export async function startShop(options: ShopOptions): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const centime = createCentime({ baseUrl: options.centimeUrl, apiKey: options.secretKey });
  const server = createServer(async (request, response) => {
    if (request.url === "/shop.js") {
      response.writeHead(200, { "content-type": "text/javascript; charset=utf-8" });
      response.end(SHOP_SCRIPT);
      return;
    }
    if (request.url !== "/") {
      response.writeHead(404).end();
      return;
    }
    // One session per visit, made server-side: the browser never chooses what it pays.
    const { data: session } = await centime.POST("/v1/checkout_sessions", {
      body: { line_items: [{ price: options.price }], app: options.app },
    });
    if (!session?.client_secret) {
      response.writeHead(502, { "content-type": "text/plain" }).end("Could not start a checkout");
      return;
    }
    response.writeHead(200, {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": `default-src 'self'; script-src 'self' ${options.centimeUrl}; frame-src ${options.centimeUrl}`,
    });
    response.end(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Space Miner shop</title></head>
<body>
<main>
<h1>Space Miner: 500 crystals</h1>
<div id="pay" data-client-secret="${escape(session.client_secret)}" data-publishable-key="${escape(options.publishableKey)}"></div>
<p id="result" role="status"></p>
</main>
<script src="${escape(options.centimeUrl)}/js/centime.js"></script>
<script src="/shop.js"></script>
</body></html>`);
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 3000, options.host ?? "127.0.0.1", resolve));
  const address = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? "127.0.0.1"}:${address.port}`,
    server,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const env = process.env;
  const shop = await startShop({
    centimeUrl: env.CENTIME_URL ?? "http://127.0.0.1:8080",
    secretKey: env.CENTIME_SECRET_KEY ?? "",
    publishableKey: env.CENTIME_PUBLISHABLE_KEY ?? "",
    app: env.CENTIME_APP ?? "",
    price: env.CENTIME_PRICE ?? "",
    port: Number(env.PORT ?? 3000),
  });
  console.log(`shop at ${shop.url}`);
}
