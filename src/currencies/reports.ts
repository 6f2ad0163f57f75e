import type { Db } from "../db/db.ts";
import type { Clock } from "../platform/clock.ts";
import { toJsonSum } from "../platform/money.ts";
import type { AuthScope } from "../platform/scope.ts";
import { minorRate } from "./convert.ts";
import { type Fraction, parseDecimal } from "./decimal.ts";
import type { Currencies } from "./service.ts";

/**
 * Multi-currency accounting: the trial balance per currency (real and inner), the balance of
 * every account purpose per currency, and those balances converted into a reporting currency at
 * the current rates, with the rates used. Conversions for reports round toward zero.
 */
export class CurrencyReports {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly currencies: Currencies,
  ) {}

  async report(scope: AuthScope, reportingCurrency?: string) {
    const nowMs = this.clock.nowMs();
    const reporting = reportingCurrency ?? (await this.defaultCurrency(scope));
    const reportingDigits = await this.currencies.requireDigits(
      this.db,
      scope,
      reporting,
      "reporting_currency",
    );
    const { rows } = await this.db.query<{
      currency: string;
      purpose: string;
      debits: bigint;
      credits: bigint;
    }>(
      `select a.currency, a.purpose, coalesce(sum(b.debits_posted), 0)::bigint as debits,
         coalesce(sum(b.credits_posted), 0)::bigint as credits
       from ledger_accounts a join ledger_balances b on b.account_id = a.id
       where a.merchant_id = $1 and a.mode = $2 group by a.currency, a.purpose order by a.currency, a.purpose`,
      [scope.merchantId, scope.mode],
    );
    const trial = new Map<string, { debits: bigint; credits: bigint }>();
    for (const r of rows) {
      const t = trial.get(r.currency) ?? { debits: 0n, credits: 0n };
      t.debits += r.debits;
      t.credits += r.credits;
      trial.set(r.currency, t);
    }
    const rates = new Map<
      string,
      {
        factor: Fraction;
        shown: { currency: string; rate: string; exchange_rate: string; inverted: boolean };
      } | null
    >();
    for (const currency of trial.keys()) {
      if (currency === reporting) {
        rates.set(currency, {
          factor: { numerator: 1n, denominator: 1n },
          shown: { currency, rate: "1", exchange_rate: "", inverted: false },
        });
        continue;
      }
      rates.set(currency, await this.rateInto(scope, currency, reporting, reportingDigits, nowMs));
    }
    const data = rows.map((r) => {
      const balance = r.credits - r.debits;
      const rate = rates.get(r.currency);
      let converted: number | bigint | null = null;
      if (rate) {
        const magnitude =
          ((balance < 0n ? -balance : balance) * rate.factor.numerator) / rate.factor.denominator;
        converted = toJsonSum(balance < 0n ? -magnitude : magnitude);
      }
      return {
        currency: r.currency,
        purpose: r.purpose,
        debits: toJsonSum(r.debits),
        credits: toJsonSum(r.credits),
        balance: toJsonSum(balance),
        converted,
      };
    });
    return {
      object: "currency_report" as const,
      reporting_currency: reporting,
      trial_balance: [...trial].map(([currency, t]) => ({
        currency,
        debits: toJsonSum(t.debits),
        credits: toJsonSum(t.credits),
        balanced: t.debits === t.credits,
      })),
      data,
      rates_used: [...rates.values()].flatMap((r) => (r?.shown.exchange_rate ? [r.shown] : [])),
      unconverted_currencies: [...rates].flatMap(([currency, r]) => (r ? [] : [currency])),
    };
  }

  /** Reporting minor units per minor unit of `currency`: the direct rate, else the inverse of the reverse one. */
  private async rateInto(
    scope: AuthScope,
    currency: string,
    reporting: string,
    reportingDigits: number,
    nowMs: number,
  ) {
    const digits = await this.currencies.digits(this.db, scope, currency);
    if (digits === null) return null;
    const direct = await this.currencies.currentRate(this.db, scope, currency, reporting, nowMs);
    if (direct) {
      return {
        factor: minorRate(parseDecimal(direct.rate), digits, reportingDigits),
        shown: { currency, rate: direct.rate, exchange_rate: direct.id, inverted: false },
      };
    }
    const reverse = await this.currencies.currentRate(this.db, scope, reporting, currency, nowMs);
    if (!reverse) return null;
    const r = minorRate(parseDecimal(reverse.rate), reportingDigits, digits);
    return {
      factor: { numerator: r.denominator, denominator: r.numerator },
      shown: { currency, rate: reverse.rate, exchange_rate: reverse.id, inverted: true },
    };
  }

  private async defaultCurrency(scope: AuthScope): Promise<string> {
    const { rows } = await this.db.query<{ default_currency: string | null }>(
      "select default_currency from merchants where id = $1",
      [scope.merchantId],
    );
    return rows[0]?.default_currency ?? "EUR";
  }
}
