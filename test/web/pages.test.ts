/**
 * The web foundation: escaping, locale negotiation, money by ISO 4217 digits, complete message
 * catalogues, strict security headers, CSRF protection and the HTML error page.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import Fastify from "fastify";
import { ApiError } from "../../src/platform/errors.ts";
import {
  contentSecurityPolicy,
  formatMoney,
  loadCatalogues,
  Messages,
  missingKeys,
  negotiateLocale,
  pagesSurface,
  renderTemplate,
} from "../../src/web/index.ts";

const SECURITY = { cookieSecret: "test-cookie-secret-0123456789abcdef", secureCookies: false };

async function pagesApp() {
  const app = Fastify();
  await app.register(
    pagesSurface(SECURITY, async (pages) => {
      pages.get("/page", async (_request, reply) =>
        reply.page(
          "web/templates/home",
          { exampleAmount: 199n, exampleCurrency: "EUR", languages: [] },
          { title: "<script>alert(1)</script>" },
        ),
      );
      pages.post("/act", async () => "done");
      pages.get("/refused", async () => {
        throw new ApiError("resource_missing", undefined, "No such <b>thing</b>.");
      });
      pages.get("/broken", async () => {
        throw new Error("secret internals: password=hunter2");
      });
    }),
  );
  return app;
}

test("values are escaped in templates; the layout never trusts data", () => {
  const html = renderTemplate("web/templates/error", {
    t: (key: string) => key,
    messageKey: "error.request",
    detail: `<img src=x onerror="alert(1)">`,
    status: 400,
  });
  assert.ok(!html.includes("<img"), html);
  assert.match(html, /&lt;img src=x onerror=&quot;alert\(1\)&quot;&gt;/);
});

test("the locale comes from an explicit choice, then Accept-Language by language, then English", () => {
  assert.equal(negotiateLocale(null, "fr-CA,fr;q=0.9,en;q=0.8"), "fr");
  assert.equal(negotiateLocale(null, "de-DE,ro;q=0.5,en;q=0.4"), "ro");
  assert.equal(negotiateLocale(null, "en;q=0.2, ar;q=0.9"), "ar");
  assert.equal(negotiateLocale("es", "fr"), "es");
  assert.equal(negotiateLocale("xx", "pt-BR"), "pt");
  assert.equal(negotiateLocale(undefined, "de, *;q=0"), "en");
  assert.equal(negotiateLocale(undefined, undefined), "en");
  assert.equal(negotiateLocale(undefined, "fr", ["en", "ro"]), "en");
});

test("money is formatted with each currency's ISO 4217 digits, from a decimal string, never a float", () => {
  assert.equal(formatMoney(199n, "EUR", "en"), "€1.99");
  assert.equal(formatMoney(199n, "EUR", "fr"), "1,99\u00a0€");
  assert.equal(formatMoney(500n, "JPY", "en"), "¥500");
  assert.equal(formatMoney(1500n, "KWD", "en"), "KWD\u00a01.500");
  assert.equal(formatMoney(200n, "XOF", "fr"), "200\u00a0F\u202fCFA");
  assert.equal(formatMoney(-5n, "EUR", "en"), "-€0.05");
  // Past 2^53 every digit survives.
  assert.equal(formatMoney(9_007_199_254_740_993n, "EUR", "en"), "€90,071,992,547,409.93");
  assert.equal(formatMoney(1234n, "GOLD", "en", 2), "12.34 GOLD");
  assert.equal(formatMoney(1234n, "GEMS", "fr"), "1\u202f234 GEMS");
});

test("every locale has every message of the English catalogue, and each compiles", () => {
  const catalogues = loadCatalogues(new URL("../../src/web/messages", import.meta.url).pathname);
  assert.deepEqual(missingKeys(catalogues), {});
  const messages = new Messages(catalogues);
  for (const locale of ["en", "fr", "ro", "es", "pt", "ar"] as const) {
    const t = messages.translator(locale);
    assert.match(t("error.status", { status: 404 }), /404/);
  }
});

test("in a right-to-left language, text put into a message keeps its own direction (isolated); numbers and left-to-right languages are untouched", () => {
  const messages = new Messages({
    en: {
      hint: "We sent a code to {number}.",
      count: "{n, number} codes",
      kind: "{type, select, email {E-mail} other {Other}} {value}",
    },
    ar: {
      hint: "أرسلنا رمزًا إلى {number}.",
      count: "{n, number} رموز",
      kind: "{type, select, email {البريد الإلكتروني} other {آخر}} {value}",
    },
  });
  // An argument that chooses a branch is not isolated, or no branch would match it (the portal's
  // identities all read "Other" in Arabic when it was).
  assert.equal(
    messages.translator("ar")("kind", { type: "email", value: "a@example.org" }),
    "البريد الإلكتروني \u2068a@example.org\u2069",
  );
  // A phone number, masked or not, is isolated left to right (LRI … PDI): it has no letter for a
  // first-strong isolate to go by (reported as "33+" and "4 568 ••07••" in Arabic).
  const ar = messages.translator("ar");
  assert.equal(ar("hint", { number: "+33 6•• •• •• 78" }), "أرسلنا رمزًا إلى \u2066+33 6•• •• •• 78\u2069.");
  assert.equal(ar("hint", { number: "07•• ••4 568" }), "أرسلنا رمزًا إلى \u206607•• ••4 568\u2069.");
  assert.equal(ar("hint", { number: "+33" }), "أرسلنا رمزًا إلى \u2066+33\u2069.");
  assert.equal(ar("hint", { number: "+971 50 123 4567" }), "أرسلنا رمزًا إلى \u2066+971 50 123 4567\u2069.");
  // Anything with letters keeps the first-strong isolate: its own letters decide.
  assert.equal(ar("hint", { number: "100 gems" }), "أرسلنا رمزًا إلى \u2068100 gems\u2069.");
  assert.equal(
    messages.translator("en")("hint", { number: "+33 6•• •• •• 78" }),
    "We sent a code to +33 6•• •• •• 78.",
  );
  assert.ok(!messages.translator("ar")("count", { n: 3 }).includes("\u2068"), "ICU formats numbers itself");
});

test("example phone numbers written in right-to-left messages are isolated left to right", () => {
  const src = new URL("../../src/", import.meta.url).pathname;
  const unisolated: string[] = [];
  for (const folder of readdirSync(src)) {
    const file = join(src, folder, "messages", "ar.json");
    if (!existsSync(file)) continue;
    for (const [key, text] of Object.entries(
      JSON.parse(readFileSync(file, "utf8")) as Record<string, string>,
    )) {
      // A literal number of several digit groups ("+212 612 345 678") must sit inside LRI … PDI.
      const bare = text.replace(/\u2066[^\u2069]*\u2069/g, "");
      if (/\+\d+(?:[\s-]\d+)+/.test(bare)) unisolated.push(`${folder}: ${key}`);
    }
  }
  assert.deepEqual(unisolated, []);
});

test("pages carry a strict CSP, refuse framing and have their title escaped", async () => {
  const app = await pagesApp();
  const response = await app.inject({ method: "GET", url: "/page", headers: { "accept-language": "fr" } });
  assert.equal(response.statusCode, 200);
  assert.match(String(response.headers["content-type"]), /^text\/html; charset=utf-8/);
  const csp = String(response.headers["content-security-policy"]);
  assert.equal(csp, contentSecurityPolicy());
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.ok(!csp.includes("unsafe-inline") && !csp.includes("unsafe-eval"));
  assert.equal(response.headers["x-frame-options"], "DENY");
  assert.equal(response.headers["content-language"], "fr");
  assert.match(response.body, /<html lang="fr" dir="ltr">/);
  assert.ok(!response.body.includes("<script>alert"), "title escaped");
  assert.ok(!/<script>(?!<\/script>)[^<]/.test(response.body), "no inline script");
  assert.match(response.body, /1,99\u00a0€/);
  await app.close();
});

test("framing origins are named in frame-ancestors only when a page allows them", () => {
  const csp = contentSecurityPolicy({ frameAncestors: ["https://shop.example"] });
  assert.match(csp, /frame-ancestors https:\/\/shop\.example/);
});

test("Arabic pages are right to left", async () => {
  const app = await pagesApp();
  const response = await app.inject({ method: "GET", url: "/page?lang=ar" });
  assert.match(response.body, /<html lang="ar" dir="rtl">/);
  assert.match(String(response.headers["set-cookie"]), /centime_lang=ar/);
  await app.close();
});

test("a state-changing form without the CSRF token is refused with a page, with it accepted", async () => {
  const app = await pagesApp();
  const refused = await app.inject({
    method: "POST",
    url: "/act",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    payload: "a=1",
  });
  assert.equal(refused.statusCode, 403);
  assert.match(refused.body, /<h1>This form has expired<\/h1>/);

  const page = await app.inject({ method: "GET", url: "/page" });
  const token = /name="csrf-token" content="([^"]+)"/.exec(page.body)?.[1];
  assert.ok(token);
  const cookies = ([] as string[])
    .concat(page.headers["set-cookie"] ?? [])
    .map((c) => c.split(";")[0])
    .join("; ");
  const forged = await app.inject({
    method: "POST",
    url: "/act",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: cookies },
    payload: `_csrf=${encodeURIComponent(`${token}x`)}`,
  });
  assert.equal(forged.statusCode, 403);
  const accepted = await app.inject({
    method: "POST",
    url: "/act",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: cookies },
    payload: `_csrf=${encodeURIComponent(token)}`,
  });
  assert.equal(accepted.statusCode, 200);
  assert.equal(accepted.body, "done");
  await app.close();
});

test("errors become HTML pages: known refusals say why, failures reveal nothing", async () => {
  const app = await pagesApp();
  const refused = await app.inject({ method: "GET", url: "/refused" });
  assert.equal(refused.statusCode, 404);
  assert.match(refused.body, /<p class="muted">No such &lt;b&gt;thing&lt;\/b&gt;\./);
  // The refusal's detail is the API's English: on a page in another language it is marked as
  // English, left to right (in Arabic its full stop was drawn first: ".No such thing"), and its
  // own link back to where to start.
  const arabic = await app.inject({ method: "GET", url: "/refused?lang=ar" });
  assert.match(arabic.body, /<html lang="ar" dir="rtl">/);
  assert.match(arabic.body, /<p class="muted" lang="en" dir="ltr">No such &lt;b&gt;thing/);
  assert.match(arabic.body, /<a href="\/">/);
  const broken = await app.inject({ method: "GET", url: "/broken" });
  assert.equal(broken.statusCode, 500);
  assert.ok(!broken.body.includes("hunter2"));
  assert.match(broken.body, /something went wrong/);
  await app.close();
});
