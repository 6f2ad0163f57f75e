/**
 * The payer's language after paying: the confirmation page and the receipt follow the session's
 * locale in each of the six locales (Arabic right to left), amounts in the currency's digits.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { call, createMerchant, createTestApp, type MerchantKeys, type TestApp } from "../support/app.ts";
import { createSessionVia, paySandbox } from "./support.ts";

let t: TestApp;
let m: MerchantKeys;
before(async () => {
  t = await createTestApp();
  m = await createMerchant(t.app);
});
after(() => t.close());

const EXPECTED = {
  en: {
    title: "Payment successful",
    subject: /^Your receipt from .+: €12\.34$/,
    paid: "Status: paid",
    dir: "ltr",
  },
  fr: {
    title: "Paiement réussi",
    subject: /^Votre reçu de .+ : 12,34\s€$/,
    paid: "Statut : payé",
    dir: "ltr",
  },
  ro: {
    title: "Plată reușită",
    subject: /^Chitanța dvs\. de la .+: 12,34\s(€|EUR)$/,
    paid: "Stare: plătit",
    dir: "ltr",
  },
  es: { title: "Pago realizado", subject: /^Tu recibo de .+: 12,34\s€$/, paid: "Estado: pagado", dir: "ltr" },
  pt: {
    title: "Pagamento concluído",
    subject: /^O seu recibo de .+: (€\s12,34|12,34\s€)$/,
    paid: "Estado: pago",
    dir: "ltr",
  },
  ar: { title: "تم الدفع بنجاح", subject: /^إيصالك من .+: /, paid: "الحالة: مدفوع", dir: "rtl" },
} as const;

for (const [locale, want] of Object.entries(EXPECTED)) {
  test(`${locale}: the confirmation page and the receipt are in the session's language`, async () => {
    const s = await createSessionVia(t.app, m.secretKey, {
      amount: 1234,
      currency: "EUR",
      locale: locale === "pt" ? "pt-PT" : locale,
      payer: { email: `payer-${locale}@example.com` },
    });
    await paySandbox(t, s.id);
    // A browser asking for English still gets the session's language.
    const page = await t.app.inject({
      method: "GET",
      url: `/checkout/${s.id}/done`,
      headers: { "accept-language": "en-GB,en;q=0.9" },
    });
    assert.equal(page.statusCode, 200);
    assert.match(page.body, new RegExp(`<html lang="${locale}" dir="${want.dir}"`));
    const title = /<h1>([^<]+)<\/h1>/.exec(page.body)?.[1];
    const english = locale === "en";
    assert.equal(title, want.title);
    if (!english) assert.notEqual(title, "Payment successful", "translated");
    const receipts = await call<{ data: { subject: string; body: string }[] }>(
      t.app,
      "GET",
      `/v1/checkout_receipts?checkout_session=${s.id}`,
      { key: m.secretKey },
    );
    const receipt = receipts.body.data[0]!;
    assert.match(receipt.subject, want.subject);
    assert.ok(receipt.body.includes(want.paid), receipt.body);
    if (!english) assert.doesNotMatch(receipt.body, /Amount:|Status:|Reference:/, "no English left");
    if (locale === "ar") assert.match(receipt.subject, /١٢٫٣٤|12[.,]34/);
  });
}
