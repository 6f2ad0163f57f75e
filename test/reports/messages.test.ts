/**
 * Goal: every message the reports page uses exists in all four catalogues (en, fr, ro, es), the
 * keys built at render time (groupings, statement lines) included, and each parses as ICU.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { REVENUE_GROUPS } from "../../src/reports/index.ts";
import { STATEMENT_LINES } from "../../src/reports/statement.ts";
import { loadCatalogues, Messages } from "../../src/web/index.ts";

const dir = new URL("../../src/reports/messages", import.meta.url).pathname;
const template = readFileSync(new URL("../../src/reports/templates/reports.eta", import.meta.url), "utf8");

test("every key of the reports page is in every catalogue", () => {
  const catalogues = loadCatalogues(dir);
  const used = new Set(
    [...template.matchAll(/\br\("([a-z_.]+)"/g)].map((m) => m[1]!).filter((k) => !k.endsWith("_")),
  );
  for (const g of REVENUE_GROUPS) used.add(`reports.group_${g}`);
  for (const l of STATEMENT_LINES) used.add(`reports.line_${l}`);
  used.add("reports.rate_inverted");
  assert.ok(used.size > 40, `${used.size} keys found`);
  const locales = ["en", "fr", "ro", "es"] as const;
  for (const locale of locales) {
    const catalogue = catalogues[locale] ?? {};
    for (const key of used) assert.ok(key in catalogue, `${locale}: ${key}`);
    // No key in one catalogue that the others lack.
    assert.deepEqual(Object.keys(catalogue).sort(), Object.keys(catalogues.en ?? {}).sort(), locale);
  }
  const messages = new Messages(catalogues);
  for (const locale of locales) {
    const t = messages.translator(locale);
    assert.match(t("reports.revenue_caption", { count: 2 }), /2/);
    assert.match(t("reports.rate", { from: "GBP", to: "EUR", rate: "1.25", valid_from: "x" }), /1\.25/);
  }
});
