/**
 * Checkout figures (docs/checkout.md): the hosted page's time to first byte and weight, the cost
 * of verifying a payment link, and checkout sessions created per second through the API. Runs on
 * the embedded database, or on PostgreSQL when DATABASE_URL is set (a fresh database):
 *
 *   node --import tsx bench/checkout.ts [--sessions 2000] [--concurrency 16]
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres node --import tsx bench/checkout.ts
 */
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { gzipSync } from "node:zlib";
import { newLinkKey, signLinkPath, verifyLink } from "../src/checkout/link-signing.ts";
import { assetTransferSize } from "../src/web/index.ts";
import { ADMIN_KEY } from "../test/support/app.ts";
import { http, startLiveServer } from "../test/support/server.ts";

const { values } = parseArgs({
  options: {
    sessions: { type: "string", default: "2000" },
    concurrency: { type: "string", default: "16" },
    pages: { type: "string", default: "200" },
  },
});
const SESSIONS = Number(values.sessions);
const CONCURRENCY = Number(values.concurrency);
const PAGES = Number(values.pages);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

// 1. Link verification, pure: HMAC-SHA256 and the checks, no database.
const key = newLinkKey("kbench1");
const ring = { current: key, byKid: new Map([[key.kid, key]]) };
const id = "plink_01kb2n3m4p5q6r7s8t9v0wxyza";
const query = Object.fromEntries(
  new URL(
    signLinkPath({ id, amount: 199n, currency: "EUR", expiresAtSeconds: 2_000_000_000 }, ring),
    "http://x",
  ).searchParams,
);
for (let i = 0; i < 10_000; i++) verifyLink(id, query, ring, Date.now());
const verifications = 200_000;
let started = process.hrtime.bigint();
for (let i = 0; i < verifications; i++) verifyLink(id, query, ring, 1_900_000_000_000);
const verifyUs = Number(process.hrtime.bigint() - started) / verifications / 1000;

const live = await startLiveServer();
const engine = process.env.DATABASE_URL ? "PostgreSQL" : "embedded";
try {
  const merchant = await http<{ secret_key: string }>(live.url, "POST", "/v1/merchants", ADMIN_KEY, {
    name: "Bench studio",
  });
  const sk = merchant.body.secret_key;

  // 2. Sessions created per second, over HTTP on loopback.
  let next = 0;
  const failures: number[] = [];
  started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < SESSIONS) {
        next++;
        const r = await http(live.url, "POST", "/v1/checkout_sessions", sk, {
          amount: 199,
          currency: "EUR",
          description: "Gems",
        });
        if (r.status !== 201) failures.push(r.status);
      }
    }),
  );
  const sessionsS = Number(process.hrtime.bigint() - started) / 1e9;

  // 3. The hosted page: first byte and weight of the first page a payer sees.
  const session = await http<{ url: string }>(live.url, "POST", "/v1/checkout_sessions", sk, {
    amount: 199,
    currency: "EUR",
  });
  const pageUrl = `${session.body.url}/carrier`;
  const ttfb: number[] = [];
  let html = "";
  for (let i = 0; i < PAGES; i++) {
    const t0 = performance.now();
    const response = await fetch(pageUrl, { headers: { "accept-language": "fr-FR" } });
    ttfb.push(performance.now() - t0);
    html = await response.text();
  }
  ttfb.sort((a, b) => a - b);
  const htmlGzip = gzipSync(html).length;
  const assets = ["centime.css", "checkout.css", "centime-page.js", "checkout.js", "favicon.svg"];
  const assetBytes = assets.reduce((sum, name) => sum + assetTransferSize(name), 0);

  const lines = [
    `checkout bench on the ${engine} database, load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
    `link verification: ${verifyUs.toFixed(2)} µs per link (${verifications} verifications, one core)`,
    `sessions created: ${(SESSIONS / sessionsS).toFixed(0)}/s (${SESSIONS} over HTTP, ${CONCURRENCY} in flight, ${failures.length} failed)`,
    `hosted page (/checkout/:id/carrier): TTFB p50 ${percentile(ttfb, 50).toFixed(1)} ms, p95 ${percentile(ttfb, 95).toFixed(1)} ms (${PAGES} requests)`,
    `hosted page weight: HTML ${(html.length / 1024).toFixed(1)} KB (${(htmlGzip / 1024).toFixed(1)} KB gzip) + assets ${(assetBytes / 1024).toFixed(1)} KB gzip = ${((htmlGzip + assetBytes) / 1024).toFixed(1)} KB transferred`,
  ];
  console.log(lines.join("\n"));
} finally {
  await live.close();
}
