/** The back office's messages: every key of English in French, Romanian and Spanish; the CLI verifies the chain. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { interpretQuery } from "../../src/backoffice/search.ts";
import { loadCatalogues } from "../../src/web/index.ts";

test("French, Romanian and Spanish have every English key", () => {
  const catalogues = loadCatalogues(new URL("../../src/backoffice/messages", import.meta.url).pathname);
  const english = Object.keys(catalogues.en ?? {});
  assert.ok(english.length > 50);
  for (const locale of ["fr", "ro", "es"] as const) {
    const missing = english.filter((k) => !(k in (catalogues[locale] ?? {})));
    assert.deepEqual(missing, [], locale);
  }
});

test("the search box understands ids, numbers and last four digits", () => {
  assert.deepEqual(interpretQuery("pay_01abc"), { field: "id", value: "pay_01abc" });
  assert.deepEqual(interpretQuery("cus_01abc"), { field: "customer", value: "cus_01abc" });
  assert.deepEqual(interpretQuery("+33 6 12 34 56 78"), { field: "msisdn", value: "+33612345678" });
  assert.deepEqual(interpretQuery("33612345678"), { field: "msisdn", value: "+33612345678" });
  assert.deepEqual(interpretQuery("4242"), { field: "last4", value: "4242" });
  assert.equal(interpretQuery("'; drop table payments"), null);
});
