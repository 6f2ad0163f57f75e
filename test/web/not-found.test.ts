/**
 * An address no route knows: a browser (asking for text/html) gets a localized HTML page with a
 * way back, under the page headers; API clients, and anything under /v1/, keep the JSON error.
 * Before, /admin/nope or /portal/nope answered a browser with the API's JSON.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createTestApp, type TestApp } from "../support/app.ts";

const BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";
let t: TestApp;

before(async () => {
  t = await createTestApp();
});
after(async () => {
  await t?.close();
});

function get(url: string, headers: Record<string, string> = {}) {
  return t.app.inject({ method: "GET", url, headers });
}

test("a browser lost in the back office gets the back office's way back, in its language", async () => {
  const r = await get("/admin/nope", { accept: BROWSER, "accept-language": "fr-FR,fr;q=0.9" });
  assert.equal(r.statusCode, 404);
  assert.match(String(r.headers["content-type"]), /^text\/html/);
  assert.equal(r.headers["content-language"], "fr");
  assert.match(String(r.headers["content-security-policy"]), /script-src 'self'/);
  assert.match(r.body, /<html lang="fr" dir="ltr">/);
  assert.match(r.body, /<title>Erreur 404 · Centime<\/title>/);
  assert.match(r.body, /<h1>Page introuvable<\/h1>/);
  assert.match(r.body, /<a href="\/admin">Aller au back-office<\/a>/);
});

test("the portal, a deep checkout address and the rest each say where to start again", async () => {
  const portal = await get("/portal/nope", { accept: BROWSER, "accept-language": "ar" });
  assert.equal(portal.statusCode, 404);
  assert.match(portal.body, /<html lang="ar" dir="rtl">/);
  assert.match(portal.body, /<a href="\/portal">/);
  const deep = await get("/checkout/nope/x/y?lang=es", { accept: BROWSER });
  assert.equal(deep.statusCode, 404);
  assert.match(deep.body, /<html lang="es"/);
  assert.match(deep.body, /<a href="\/">Ir a la página de inicio<\/a>/);
  const chosen = await get("/nope", { accept: BROWSER, cookie: "centime_lang=ro" });
  assert.match(chosen.body, /<html lang="ro"/);
});

test("API clients and the API's own addresses keep the JSON error", async () => {
  for (const [url, accept] of [
    ["/admin/nope", "*/*"],
    ["/admin/nope", "application/json"],
    ["/v1/nothing-here", BROWSER],
  ] as const) {
    const r = await get(url, { accept });
    assert.equal(r.statusCode, 404, url);
    assert.match(String(r.headers["content-type"]), /^application\/json/, `${url} ${accept}`);
    assert.equal(r.json().error.code, "route_not_found");
  }
  const post = await t.app.inject({ method: "POST", url: "/admin/nope", headers: { accept: BROWSER } });
  assert.equal(post.json().error.code, "route_not_found");
});
