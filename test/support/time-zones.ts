/**
 * A time zone where it is about midday now. Subscribers get one so that their first charge falls
 * inside the charging window (08:00–21:00 local by default) whatever the hour a suite runs: a
 * French subscriber at night is (rightly) deferred to the morning, and tests that waited for the
 * charge failed after 21:00 UTC.
 */
const ZONES = [
  "Pacific/Honolulu",
  "America/Los_Angeles",
  "America/New_York",
  "America/Sao_Paulo",
  "Europe/London",
  "Europe/Paris",
  "Asia/Dubai",
  "Asia/Kolkata",
  "Asia/Bangkok",
  "Asia/Tokyo",
  "Australia/Sydney",
  "Pacific/Auckland",
];

export function middayTimeZone(at: Date = new Date()): string {
  const hourIn = (timeZone: string) =>
    Number(new Intl.DateTimeFormat("en-GB", { timeZone, hour: "2-digit", hourCycle: "h23" }).format(at));
  // Neighbours are at most about three hours apart, so one is always between 10:00 and 17:00.
  const zone = ZONES.find((z) => hourIn(z) >= 10 && hourIn(z) < 17);
  if (!zone) throw new Error(`no midday zone at ${at.toISOString()}`);
  return zone;
}
