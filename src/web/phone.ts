import { parsePhoneNumberFromString } from "libphonenumber-js";

/**
 * A phone number for people: E.164 grouped the way its country writes it, in international form
 * so that staff in another country still see the country code ("+33 6 12 34 56 78",
 * "+44 7700 900120"). What libphonenumber cannot read is shown as it was given.
 */
export function formatPhone(msisdn: string): string {
  return parsePhoneNumberFromString(msisdn)?.formatInternational() ?? msisdn;
}
