/** The public entry of currencies/: what other folders may use. */

export type { Fraction } from "./decimal.ts";
export { isDecimal, minBigint, parseDecimal } from "./decimal.ts";
export { CurrencyReports } from "./reports.ts";
export { Currencies } from "./service.ts";
