import { fromDecimal } from "../sdk/money.ts";
import type { CarrierRules, CarrierRulesConfig, CountryRulesConfig } from "./types.ts";

/**
 * Country and operator rules for carrier billing (shared/design/carrier-billing.md §5), resolved
 * from the one configuration file: an operator's `rules` override its country's, which override
 * `defaults.rules`. Payments, checkout pages and renewals all read them from here.
 */
export function resolveRules(
  defaults: CarrierRulesConfig,
  country: CountryRulesConfig | undefined,
  operator: { time_zone?: string; tps_max: number; rules?: Partial<CarrierRulesConfig> } | undefined,
): CarrierRules {
  const merged = { ...defaults, ...country, ...(operator?.rules ?? {}) };
  const time_zone =
    operator?.time_zone && operator.time_zone !== "UTC" ? operator.time_zone : country?.time_zone;
  return {
    time_zone: time_zone ?? "UTC",
    window: merged.window,
    caps: merged.caps ? capsInMinorUnits(merged.caps) : null,
    double_opt_in: merged.double_opt_in,
    pin_length_min: merged.pin_length_min,
    min_interval_minutes: merged.min_interval_minutes,
    receipts: merged.receipts,
    annual_reminder: merged.annual_reminder,
    partial_payments: merged.partial_payments,
    tps_max: operator?.tps_max ?? defaults.tps_max,
  };
}

function capsInMinorUnits(caps: NonNullable<CarrierRulesConfig["caps"]>): NonNullable<CarrierRules["caps"]> {
  const minor = (value: string | undefined, field: string) => {
    if (value === undefined) return undefined;
    const amount = fromDecimal(value, caps.currency);
    if (amount === undefined || amount <= 0n) {
      throw new Error(`operators.config.json: caps.${field} "${value}" is not an amount in ${caps.currency}`);
    }
    return amount;
  };
  const out: NonNullable<CarrierRules["caps"]> = { currency: caps.currency };
  const transactionMax = minor(caps.transaction_max, "transaction_max");
  const dayMax = minor(caps.day_max, "day_max");
  const monthMax = minor(caps.month_max, "month_max");
  if (transactionMax !== undefined) out.transaction_max = transactionMax;
  if (dayMax !== undefined) out.day_max = dayMax;
  if (monthMax !== undefined) out.month_max = monthMax;
  return out;
}
