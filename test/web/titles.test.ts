/**
 * Page titles (`<title>`) are translated like the pages they name: every literal title of a
 * page in src/ is a key of the catalogues, and the pages of each surface carry it in the reader's
 * language. Before, every locale's tab read "Pay · Centime", "Portal · Centime", "403 · Centime".
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { call, createMerchant, createTestApp, type MerchantKeys, type TestApp } from "../support/app.ts";

let t: TestApp;
let m: MerchantKeys;
before(async () => {
  t = await createTestApp();
  m = await createMerchant(t.app);
});
after(async () => {
  await t?.close();
});

const SRC = join(import.meta.dirname, "../../src");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sourceFiles(join(dir, entry.name))
      : entry.name.endsWith(".ts")
        ? [join(dir, entry.name)]
        : [],
  );
}

function englishKeys(): Set<string> {
  const keys = new Set<string>();
  for (const capability of readdirSync(SRC)) {
    try {
      const en = JSON.parse(readFileSync(join(SRC, capability, "messages", "en.json"), "utf8"));
      for (const key of Object.keys(en)) keys.add(key);
    } catch {}
  }
  return keys;
}

function titleOf(html: string): string {
  return /<title>([^<]*)<\/title>/.exec(html)?.[1] ?? "";
}

test("every literal page title in src/ is a message key (the brand's own home page aside)", () => {
  const keys = englishKeys();
  const titles: string[] = [];
  for (const file of sourceFiles(SRC)) {
    if (file.includes("/simulator/") || file.includes("/http/")) continue;
    for (const match of readFileSync(file, "utf8").matchAll(/\btitle: "([^"]+)"/g)) titles.push(match[1]!);
  }
  assert.ok(titles.length > 25, `found ${titles.length} titles`);
  const notKeys = titles.filter((title) => title !== "Centime" && !keys.has(title));
  assert.deepEqual(notKeys, []);
});

test("the pages of every surface carry a title in the reader's language", async () => {
  const fr = { "accept-language": "fr-FR,fr;q=0.9" };
  const get = (url: string) => t.app.inject({ method: "GET", url, headers: fr });
  const link = await call<{ url: string }>(t.app, "POST", "/v1/payment_links", {
    key: m.secretKey,
    body: { amount: 199, currency: "EUR", description: "100 gems" },
  });
  const path = new URL(link.body.url).pathname + new URL(link.body.url).search;
  const opened = await get(path);
  const session = opened.headers.location ? await get(String(opened.headers.location)) : opened;
  assert.equal(titleOf(session.body), "Choisissez comment payer · Centime");
  const tampered = await get(path.replace("amount=199", "amount=1"));
  assert.equal(tampered.statusCode, 403);
  assert.equal(titleOf(tampered.body), "Ce lien de paiement n’est pas valide · Centime");
  const missing = await get("/checkout/cs_0000000000000000000000000");
  assert.equal(missing.statusCode, 404);
  assert.equal(titleOf(missing.body), "Erreur 404 · Centime");
  assert.equal(titleOf((await get("/portal")).body), "Voir et gérer ce que vous payez · Centime");
  assert.equal(titleOf((await get("/admin/login")).body), "Connexion au back-office · Centime");
  const ar = await t.app.inject({ method: "GET", url: "/portal?lang=ar" });
  assert.match(titleOf(ar.body), /^[\u0600-\u06ff]/, titleOf(ar.body));
});
