/**
 * The web foundation shared by every page surface (checkout, portal, back office): templates with
 * auto-escaping, ICU messages in six locales, money by ISO 4217 digits, one stylesheet, static
 * assets without a build step, strict security headers and CSRF protection. See docs/pages.md.
 */
export { assetRoutes, assetTransferSize, assetUrl, registerAsset } from "./assets.ts";
export { homePage } from "./home.ts";
export {
  type Catalogue,
  type Catalogues,
  DEFAULT_LOCALE,
  direction,
  isLocale,
  LOCALES,
  type Locale,
  loadCatalogues,
  Messages,
  mergeCatalogues,
  missingKeys,
  negotiateLocale,
  type Translate,
} from "./i18n.ts";
export { decimalString, formatDateTime, formatMoney, parseMajorAmount } from "./money.ts";
export {
  notFoundPage,
  PageRedirect,
  type PagesOptions,
  pagesSurface,
  type RenderOptions,
  startOf,
  wantsPage,
} from "./pages.ts";
export { formatPhone } from "./phone.ts";
export { addRateLimitHeaders, type PageRateLimiter } from "./rate-limit.ts";
export { type PageHelpers, renderTemplate } from "./render.ts";
export { applyPageHeaders, contentSecurityPolicy, type PagePolicy } from "./security.ts";
