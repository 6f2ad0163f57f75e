import { readFileSync } from "node:fs";
import { join } from "node:path";
import { IntlMessageFormat } from "intl-messageformat";

/**
 * Locales of the pages payers and staff see. Messages are ICU MessageFormat strings kept in one
 * JSON catalogue per locale and capability (`<capability>/messages/<locale>.json`); English is
 * complete and every other locale falls back to it key by key.
 */
export const LOCALES = ["en", "fr", "ro", "es", "pt", "ar"] as const;
export type Locale = (typeof LOCALES)[number];
export const DEFAULT_LOCALE: Locale = "en";

const RIGHT_TO_LEFT: ReadonlySet<Locale> = new Set(["ar"]);

export function isLocale(value: unknown): value is Locale {
  return typeof value === "string" && (LOCALES as readonly string[]).includes(value);
}

export function direction(locale: Locale): "ltr" | "rtl" {
  return RIGHT_TO_LEFT.has(locale) ? "rtl" : "ltr";
}

/**
 * The locale to show: an explicit choice (a session's locale, `?lang=`, a cookie) when supported,
 * else the best match of `Accept-Language` by language (`fr-CA` → `fr`), else English.
 */
export function negotiateLocale(
  explicit: string | null | undefined,
  acceptLanguage: string | undefined,
  supported: readonly Locale[] = LOCALES,
): Locale {
  const pick = (tag: string): Locale | undefined => {
    const language = tag.trim().toLowerCase().split("-")[0];
    return supported.find((l) => l === language);
  };
  if (explicit) {
    const chosen = pick(explicit);
    if (chosen) return chosen;
  }
  const ranked = (acceptLanguage ?? "")
    .split(",")
    .map((part, index) => {
      const [tag = "", ...params] = part.split(";");
      const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
      const weight = q ? Number(q.slice(2)) : 1;
      return { tag, weight: Number.isFinite(weight) ? weight : 0, index };
    })
    .filter((entry) => entry.tag.trim() !== "" && entry.weight > 0)
    .sort((a, b) => b.weight - a.weight || a.index - b.index);
  for (const { tag } of ranked) {
    const chosen = pick(tag);
    if (chosen) return chosen;
  }
  return supported.includes(DEFAULT_LOCALE) ? DEFAULT_LOCALE : (supported[0] ?? DEFAULT_LOCALE);
}

export type Catalogue = Readonly<Record<string, string>>;
export type Catalogues = Readonly<Partial<Record<Locale, Catalogue>>>;
export type Translate = (key: string, values?: Record<string, string | number | bigint | Date>) => string;

/** Reads `<dir>/<locale>.json` for every locale that has a file. */
export function loadCatalogues(dir: string): Catalogues {
  const out: Partial<Record<Locale, Catalogue>> = {};
  for (const locale of LOCALES) {
    try {
      out[locale] = JSON.parse(readFileSync(join(dir, `${locale}.json`), "utf8")) as Catalogue;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    }
  }
  if (!out.en) throw new Error(`${dir}/en.json is missing: English is the fallback of every message`);
  return out;
}

/** Several capabilities' catalogues as one (a page shows the shared layout and its own messages). */
export function mergeCatalogues(...all: Catalogues[]): Catalogues {
  const out: Partial<Record<Locale, Record<string, string>>> = {};
  for (const catalogues of all) {
    for (const locale of LOCALES) {
      const messages = catalogues[locale];
      if (messages) out[locale] = { ...(out[locale] ?? {}), ...messages };
    }
  }
  return out;
}

/** Keys that English has and a locale lacks: tests keep every catalogue complete. */
export function missingKeys(catalogues: Catalogues): Record<string, string[]> {
  const english = Object.keys(catalogues.en ?? {});
  const out: Record<string, string[]> = {};
  for (const locale of LOCALES) {
    const messages = catalogues[locale];
    const missing = english.filter((key) => !messages || !(key in messages));
    if (missing.length > 0) out[locale] = missing;
  }
  return out;
}

/** Unicode's first-strong isolate and its closing mark (UAX #9, as Fluent's `useIsolating`). */
const FIRST_STRONG_ISOLATE = "\u2068";
const LEFT_TO_RIGHT_ISOLATE = "\u2066";
const POP_DIRECTIONAL_ISOLATE = "\u2069";

/**
 * A phone number, masked or not ("+33 6 12 34 56 78", "06 ••••5678", "+33"): digits and
 * separators with no letter, which a first-strong isolate leaves to the bidi algorithm's weak
 * rules; they are always written left to right, so they are isolated as such.
 */
const PHONE_LIKE = /^\+?[\d•]+(?:[\s().-]*[\d•]+)*$/u;

/** Text that reads left to right whatever surrounds it (a phone number in an Arabic sentence). */
export function leftToRight(text: string): string {
  return `${LEFT_TO_RIGHT_ISOLATE}${text}${POP_DIRECTIONAL_ISOLATE}`;
}

type MessageElement = ReturnType<IntlMessageFormat["getAst"]>[number];
/** `TYPE.argument` of the ICU parser intl-messageformat uses: a plain `{name}`. */
const ARGUMENT = 1;

/**
 * The arguments a message only prints as they are (`{number}`), which are the ones to isolate: an
 * argument that chooses a branch (`{method, select, …}`, `{n, plural, …}`) must reach ICU as it is,
 * or no branch matches it.
 */
function printedArguments(ast: readonly MessageElement[]): ReadonlySet<string> {
  const printed = new Set<string>();
  const choosing = new Set<string>();
  const walk = (elements: readonly MessageElement[]): void => {
    for (const element of elements) {
      if ("options" in element) {
        choosing.add(element.value);
        for (const option of Object.values(element.options)) walk(option.value);
      } else if ("children" in element) walk(element.children);
      else if (element.type === ARGUMENT) printed.add(element.value);
    }
  };
  walk(ast);
  for (const name of choosing) printed.delete(name);
  return printed;
}

/**
 * In a right-to-left message, text put into it (a masked phone number, an e-mail address, a
 * product's name) keeps its own direction: without the isolate "+33 6•• 78" or "100 gems" inside
 * Arabic text shows its parts out of order.
 */
function isolated(
  values: Record<string, unknown> | undefined,
  printed: ReadonlySet<string>,
): Record<string, unknown> | undefined {
  if (!values) return values;
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(values)) {
    if (typeof value !== "string" || !printed.has(name)) out[name] = value;
    else if (PHONE_LIKE.test(value)) out[name] = leftToRight(value);
    else out[name] = `${FIRST_STRONG_ISOLATE}${value}${POP_DIRECTIONAL_ISOLATE}`;
  }
  return out;
}

/** Compiles each message once per locale and formats it with ICU plural, select and number rules. */
export class Messages {
  private readonly compiled = new Map<string, { format: IntlMessageFormat; printed: ReadonlySet<string> }>();

  constructor(private readonly catalogues: Catalogues) {}

  translator(locale: Locale): Translate {
    return (key, values) => {
      const cacheKey = `${locale}\u0000${key}`;
      let compiled = this.compiled.get(cacheKey);
      if (!compiled) {
        const own = this.catalogues[locale]?.[key];
        const source = own ?? this.catalogues.en?.[key];
        if (source === undefined) return key;
        const format = new IntlMessageFormat(source, own === undefined ? "en" : locale);
        compiled = { format, printed: printedArguments(format.getAst()) };
        this.compiled.set(cacheKey, compiled);
      }
      const text = compiled.format.format(
        (RIGHT_TO_LEFT.has(locale) ? isolated(values, compiled.printed) : values) as Record<
          string,
          string | number | Date
        >,
      );
      return typeof text === "string" ? text : String(text);
    };
  }
}
