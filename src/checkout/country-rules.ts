/**
 * What each country's rules ask of a carrier payment page (shared/design/carrier-billing.md §5):
 * a second explicit confirmation with the price (UK PSA two-stage sign-up; Italy AGCOM; France
 * Internet+ asks for a confirmation page), and the shortest one-time code an operator may send.
 * Countries not listed get the default: the PIN itself is the confirmation.
 */
export interface CarrierCountryRules {
  /** A second, explicit confirmation showing the price, never pre-ticked. */
  doubleOptIn: boolean;
  /** The shortest acceptable one-time code. */
  otpDigitsMin: number;
}

const DEFAULT_RULES: CarrierCountryRules = { doubleOptIn: false, otpDigitsMin: 4 };

const RULES: Readonly<Record<string, Partial<CarrierCountryRules>>> = {
  GB: { doubleOptIn: true },
  IT: { doubleOptIn: true, otpDigitsMin: 5 },
  FR: { doubleOptIn: true },
  HU: { doubleOptIn: true },
  BE: { doubleOptIn: true },
};

export function carrierRules(country: string | null | undefined): CarrierCountryRules {
  return { ...DEFAULT_RULES, ...(country ? RULES[country] : undefined) };
}
