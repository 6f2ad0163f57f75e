import addressFormatter from "@fragaria/address-formatter";
import { getCountries } from "libphonenumber-js";
import { ApiError } from "../platform/errors.ts";

/** A customer's postal address as the API takes and returns it. */
export interface PostalAddress {
  line1: string;
  line2?: string;
  city: string;
  postal_code?: string;
  region?: string;
  /** ISO 3166-1 alpha-2. */
  country: string;
}

const COUNTRIES = new Set<string>(getCountries());

/** Postal codes stay loose (no per-country check: the formatting library has none): letters, digits, spaces, hyphens. */
const POSTAL_CODE = /^[A-Za-z0-9](?:[A-Za-z0-9 -]{0,14}[A-Za-z0-9])?$/;

/**
 * Checks what the schema cannot (a real country, no blank lines) and trims every part, dropping
 * empty optional ones. Errors name the field: `address.country`, `address.line1`…
 */
export function normalizeAddress(input: PostalAddress): PostalAddress {
  const part = (name: keyof PostalAddress, required: boolean): string | undefined => {
    const value = input[name]?.trim().replace(/\s+/g, " ");
    if (required && !value)
      throw new ApiError("parameter_invalid", `address.${name}`, `address.${name} must not be blank.`);
    return value || undefined;
  };
  const country = input.country.trim().toUpperCase();
  if (!COUNTRIES.has(country))
    throw new ApiError(
      "parameter_invalid",
      "address.country",
      "address.country must be an ISO 3166-1 alpha-2 code such as FR.",
    );
  const postal = part("postal_code", false);
  if (postal !== undefined && !POSTAL_CODE.test(postal))
    throw new ApiError(
      "parameter_invalid",
      "address.postal_code",
      "address.postal_code may hold letters, digits, spaces and hyphens only.",
    );
  const line2 = part("line2", false);
  const region = part("region", false);
  return {
    line1: part("line1", true)!,
    ...(line2 ? { line2 } : {}),
    city: part("city", true)!,
    ...(postal ? { postal_code: postal.toUpperCase() } : {}),
    ...(region ? { region } : {}),
    country,
  };
}

/**
 * Countries whose post asks for the town (and postal code line) in capitals: La Poste (FR, MC),
 * Royal Mail's post town (GB), Luxembourg's "L-1234 LUXEMBOURG" style (LU).
 */
const UPPERCASE_TOWN = new Set(["FR", "MC", "GB", "LU"]);

/**
 * The address as lines, in the order and layout its country writes them (OpenCage's address
 * templates, through @fragaria/address-formatter): postal code before or after the town, the
 * region where it is written, the town in capitals where customary, and last the country's name
 * in the reader's language.
 */
export function formatAddress(address: PostalAddress, locale = "en"): string[] {
  if (address.country === "JP" && JAPANESE_SCRIPT.test(`${address.line1}${address.city}`))
    return [...japaneseOrder(address), countryName(address.country, locale)];
  const lines = addressFormatter.format(
    {
      road: address.line1,
      city: address.city,
      ...(address.postal_code ? { postcode: address.postal_code } : {}),
      ...(address.region ? { state: address.region } : {}),
      countryCode: address.country,
    },
    { output: "array", appendCountry: false, abbreviate: false },
  );
  const out: string[] = [];
  for (const line of lines) {
    const isTown = line.includes(address.city);
    out.push(isTown && UPPERCASE_TOWN.has(address.country) ? line.toLocaleUpperCase(locale) : line);
    // The second line (flat, building) goes right after the street line.
    if (address.line2 && line === address.line1) out.push(address.line2);
  }
  if (address.line2 && !out.includes(address.line2)) out.splice(1, 0, address.line2);
  // Templates that write no region when the town is known (IT, RO…): it keeps a line of its own.
  const region = address.region;
  if (region && !out.some((line) => containsWord(line, region))) out.push(region);
  out.push(countryName(address.country, locale));
  return out;
}

const JAPANESE_SCRIPT = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]/u;

/**
 * An address written in Japanese goes from the largest place to the smallest, as Japan Post asks
 * (the templates know only the Latin-script order): 〒 and the postal code, the prefecture and the
 * city or ward on one line, then the district, block and building.
 */
function japaneseOrder(address: PostalAddress): string[] {
  return [
    ...(address.postal_code ? [`〒${address.postal_code}`] : []),
    `${address.region ?? ""}${address.city}`,
    address.line1,
    ...(address.line2 ? [address.line2] : []),
  ];
}

/** "Cluj" is not written by "400114 Cluj-Napoca"; "CA" is by "Mountain View, CA 94043". */
function containsWord(line: string, word: string): boolean {
  const at = line.indexOf(word);
  if (at < 0) return false;
  const before = at === 0 ? " " : line[at - 1]!;
  const after = line[at + word.length] ?? " ";
  return /[\s,]/.test(before) && /[\s,]/.test(after);
}

function countryName(code: string, locale: string): string {
  try {
    return new Intl.DisplayNames([locale], { type: "region" }).of(code) ?? code;
  } catch {
    return code;
  }
}
