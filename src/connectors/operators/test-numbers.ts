/**
 * Numbers regulators reserve for drama, documentation and tests. libphonenumber marks some of
 * them invalid (no country), yet a developer in test mode must be able to use them: each range
 * names the country its numbers are routed to. Listed in docs/carrier-payments.md.
 */
export interface TestNumberRange {
  country: string;
  pattern: RegExp;
  /** As the regulator writes it. */
  range: string;
  source: string;
}

export const TEST_NUMBER_RANGES: readonly TestNumberRange[] = [
  {
    country: "GB",
    pattern: /^\+447700900\d{3}$/,
    range: "07700 900000 – 07700 900999 (mobile)",
    source: "Ofcom, numbers reserved for TV and radio drama",
  },
  {
    country: "US",
    pattern: /^\+1[2-9]\d{2}55501\d{2}$/,
    range: "NXX-555-0100 – NXX-555-0199 in every area code (routed as US)",
    source: "NANPA, 555 line numbers reserved for fictitious use",
  },
  {
    country: "AU",
    pattern: /^\+6149157\d{4}$/,
    range: "0491 570 000 – 0491 579 999 (mobile)",
    source: "ACMA, numbers for use in creative works",
  },
  {
    country: "FR",
    pattern: /^\+3363998\d{4}$/,
    range: "06 39 98 00 00 – 06 39 98 99 99 (mobile)",
    source: "ARCEP, numbers reserved for fiction",
  },
  {
    country: "IE",
    pattern: /^\+35320910\d{4}$/,
    range: "020 910 0000 – 020 910 9999 (mobile)",
    source: "ComReg, numbers for drama and advertising",
  },
];

/** The country of a documented test number, or undefined. */
export function testNumberCountry(e164: string): string | undefined {
  return TEST_NUMBER_RANGES.find((r) => r.pattern.test(e164))?.country;
}
