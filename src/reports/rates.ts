import type { Currencies, Fraction } from "../currencies/index.ts";
import type { Db } from "../db/db.ts";
import { iso } from "../platform/clock.ts";
import type { AuthScope } from "../platform/scope.ts";
import { minorFactor } from "./convert.ts";

/** A rate a report converted with, as the answer lists it. */
export interface RateUsed {
  currency: string;
  reporting_currency: string;
  /** As recorded: target major units per source major unit of the recorded direction. */
  rate: string;
  /** The rate was recorded from the reporting currency into this one: its exact inverse was used. */
  inverted: boolean;
  exchange_rate: string;
  valid_from: string;
  source: string | null;
  /** The instant whose valid rate was taken. */
  applied_at: string;
}

export interface RateChoice {
  factor: Fraction;
  used: RateUsed | null;
}

/**
 * The rate of each currency into the reporting one, valid at `atMs`: the direct rate, else the
 * exact inverse of the reverse one; null when there is neither (the rows stay unconverted).
 */
export async function ratesInto(
  db: Db,
  currencies: Currencies,
  scope: AuthScope,
  codes: readonly string[],
  reporting: string,
  reportingDigits: number,
  atMs: number,
): Promise<Map<string, RateChoice | null>> {
  const out = new Map<string, RateChoice | null>();
  for (const currency of codes) {
    if (currency === reporting) {
      out.set(currency, { factor: { numerator: 1n, denominator: 1n }, used: null });
      continue;
    }
    const digits = await currencies.digits(db, scope, currency);
    if (digits === null) {
      out.set(currency, null);
      continue;
    }
    const direct = await currencies.currentRate(db, scope, currency, reporting, atMs);
    const reverse = direct ? null : await currencies.currentRate(db, scope, reporting, currency, atMs);
    const row = direct ?? reverse;
    if (!row) {
      out.set(currency, null);
      continue;
    }
    const inverted = !direct;
    out.set(currency, {
      factor: minorFactor(row.rate, digits, reportingDigits, inverted),
      used: {
        currency,
        reporting_currency: reporting,
        rate: row.rate,
        inverted,
        exchange_rate: row.id,
        valid_from: iso(row.valid_from.getTime()),
        source: row.source,
        applied_at: iso(atMs),
      },
    });
  }
  return out;
}
