import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Eta } from "eta";
import { environmentValue } from "../platform/config.ts";
import { assetUrl } from "./assets.ts";
import { direction, type Locale, type Translate } from "./i18n.ts";
import { formatDateTime, formatMoney } from "./money.ts";
import { formatPhone } from "./phone.ts";

/**
 * Templates are Eta files under `src/`, named from there (`checkout/templates/pay`), so a
 * capability keeps its templates beside its code and shares the layout in `web/templates/`.
 * `<%= %>` escapes (HTML-escaping is on for every value); `<%~ %>` is reserved for the layout's
 * body and for includes, which are templates themselves.
 */
const SRC = join(dirname(fileURLToPath(import.meta.url)), "..");

const eta = new Eta({
  views: SRC,
  autoEscape: true,
  autoTrim: false,
  cache: environmentValue("NODE_ENV") !== "development",
  defaultExtension: ".eta",
});

/** What every template can use, beside its own data. */
export interface PageHelpers {
  locale: Locale;
  dir: "ltr" | "rtl";
  t: Translate;
  money: (amount: bigint | number, currency: string, innerDigits?: number) => string;
  date: (value: Date | string) => string;
  /** An MSISDN grouped as its country writes it (international form). */
  phone: (msisdn: string) => string;
  asset: (name: string) => string;
  /** The CSRF token for this page's forms (`<input type="hidden" name="_csrf">`). */
  csrf: string;
  /** The page title, before " · Centime". */
  title: string;
  /** Load htmx on this page. */
  htmx: boolean;
  /** Extra scripts of the capability, by asset name (never inline). */
  scripts: readonly string[];
  /** Extra stylesheets by asset name. */
  styles: readonly string[];
  /**
   * Seconds after which a page without scripts reloads itself (`<meta http-equiv="refresh">` inside
   * `<noscript>`: with scripts on, the page's script polls instead and no timed reload surprises
   * the reader, WCAG 2.2.1).
   */
  refreshSeconds: number | null;
}

export function pageHelpers(input: {
  locale: Locale;
  t: Translate;
  csrf: string;
  title: string;
  timeZone?: string;
  htmx?: boolean;
  scripts?: readonly string[];
  styles?: readonly string[];
  refreshSeconds?: number | undefined;
}): PageHelpers {
  const { locale } = input;
  return {
    locale,
    dir: direction(locale),
    t: input.t,
    money: (amount, currency, innerDigits) => formatMoney(amount, currency, locale, innerDigits),
    date: (value) => formatDateTime(value, locale, input.timeZone),
    phone: formatPhone,
    asset: assetUrl,
    csrf: input.csrf,
    title: input.title,
    htmx: input.htmx ?? false,
    scripts: input.scripts ?? [],
    styles: input.styles ?? [],
    refreshSeconds: input.refreshSeconds ?? null,
  };
}

/** Renders a template with its data and the page helpers. */
export function renderTemplate(view: string, data: object): string {
  return eta.render(view.startsWith("/") ? view : `/${view}`, data);
}
