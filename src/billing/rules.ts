import { type CarrierRules, carrierRulesFor } from "../connectors/index.ts";
import { parseWindow, type Window } from "./time.ts";

/**
 * The rules renewals follow come from the operator and country configuration
 * (`src/connectors/operators/operators.config.json`), the same that payments and checkout read;
 * billing adds the charging window parsed into minutes of the local day.
 */
export type BillingRules = CarrierRules;

export interface ResolvedRules extends BillingRules {
  window_minutes: Window;
}

const cache = new Map<string, ResolvedRules>();

/** The rules for a subscriber's country and operator (either may be unknown). */
export function rulesFor(country: string | null, operator: string | null): ResolvedRules {
  const key = `${country ?? ""}/${operator ?? ""}`;
  let resolved = cache.get(key);
  if (!resolved) {
    const rules = carrierRulesFor(country, operator);
    resolved = { ...rules, window_minutes: parseWindow(rules.window.start, rules.window.end) };
    cache.set(key, resolved);
  }
  return resolved;
}
