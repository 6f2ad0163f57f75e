/**
 * The payer portal's pages (`/portal`, pages.ts, wired by src/http/app.ts), its messages in every
 * locale and its stylesheet. The payers' capability (src/payers) does the work.
 */
import { fileURLToPath } from "node:url";
import { LOCALES, loadCatalogues, registerAsset } from "../web/index.ts";

const here = fileURLToPath(new URL(".", import.meta.url));

export const PORTAL_CATALOGUES = loadCatalogues(`${here}messages`);
registerAsset("portal.css", `${here}assets/portal.css`);

const NAMES: Record<(typeof LOCALES)[number], string> = {
  en: "English",
  fr: "Français",
  ro: "Română",
  es: "Español",
  pt: "Português",
  ar: "العربية",
};

export const LANGUAGES = LOCALES.map((code) => ({ code, name: NAMES[code] }));
