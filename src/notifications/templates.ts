import { fileURLToPath } from "node:url";
import { isLocale, type Locale, loadCatalogues, Messages } from "../web/index.ts";

/** Texts of the messages to payers, ICU MessageFormat per locale (`messages/<locale>.json`). */
export const NOTIFICATION_CATALOGUES = loadCatalogues(fileURLToPath(new URL("./messages", import.meta.url)));
const messages = new Messages(NOTIFICATION_CATALOGUES);

export function localeOf(value: string | null | undefined): Locale {
  const language = value?.toLowerCase().split(/[-_]/)[0];
  return isLocale(language) ? language : "en";
}

export function messageText(
  locale: string | null | undefined,
  key: string,
  values: Record<string, string | number> = {},
): string {
  return messages.translator(localeOf(locale))(key, values);
}
