import { carrierRulesFor } from "../connectors/index.ts";

/**
 * What a country's rules ask of a carrier payment page (shared/design/carrier-billing.md §5),
 * read from the operator and country configuration that renewals follow too: a second explicit
 * confirmation showing the price (UK PSA two-stage sign-up, Italy AGCOM, France Internet+), and
 * the shortest one-time code an operator may send.
 */
export interface CarrierCountryRules {
  /** A second, explicit confirmation showing the price, never pre-ticked. */
  doubleOptIn: boolean;
  /** The shortest acceptable one-time code. */
  otpDigitsMin: number;
}

export function carrierRules(
  country: string | null | undefined,
  operator?: string | null,
): CarrierCountryRules {
  const rules = carrierRulesFor(country ?? null, operator ?? null);
  return { doubleOptIn: rules.double_opt_in, otpDigitsMin: rules.pin_length_min };
}
