import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { isLocale, type Locale, loadCatalogues, Messages } from "../web/index.ts";

/** Checkout's ICU messages (messages/<locale>.json): the pages and the receipts. */
export const CHECKOUT_CATALOGUES = loadCatalogues(join(dirname(fileURLToPath(import.meta.url)), "messages"));
export const CHECKOUT_MESSAGES = new Messages(CHECKOUT_CATALOGUES);

/** A session's locale ("fr", "pt-BR", …) as one of ours; English when it is none of them. */
export function sessionLocale(locale: string | null): Locale {
  const language = (locale ?? "").slice(0, 2).toLowerCase();
  return isLocale(language) ? language : "en";
}
