/**
 * Local time for billing: windows and periods across DST changes, fractional offsets and month
 * ends, checked against wall-clock readings from Intl (an implementation independent of ours).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  inWindow,
  localDayKey,
  nextWindowOpenMs,
  parseWindow,
  periodProblem,
  periodStartMs,
} from "../../src/billing/time.ts";

function wall(timeZone: string, atMs: number): string {
  return new Intl.DateTimeFormat("sv-SE", {
    timeZone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  }).format(new Date(atMs));
}

const WINDOW = parseWindow("08:00", "21:00");
const ZONES = [
  "Europe/Paris",
  "America/New_York",
  "America/Santiago",
  "Australia/Sydney",
  "Pacific/Auckland",
  "Asia/Kathmandu",
  "Asia/Kolkata",
  "Africa/Casablanca",
  "Pacific/Chatham",
  "America/St_Johns",
  "UTC",
];

describe("charging windows", () => {
  test("the window opens at 08:00 local on DST change days", () => {
    // Europe: 2026-03-29 (23-hour day) and 2026-10-25 (25-hour day); US: 2026-03-08 and 2026-11-01.
    const cases = [
      ["Europe/Paris", "2026-03-29T00:30:00Z", "2026-03-29 08:00"],
      ["Europe/Paris", "2026-10-24T20:30:00Z", "2026-10-25 08:00"],
      ["America/New_York", "2026-03-08T03:00:00Z", "2026-03-08 08:00"],
      ["America/New_York", "2026-11-01T02:00:00Z", "2026-11-01 08:00"],
      ["Australia/Sydney", "2026-04-04T12:00:00Z", "2026-04-05 08:00"],
    ] as const;
    for (const [zone, from, expected] of cases) {
      const open = nextWindowOpenMs(zone, WINDOW, Date.parse(from));
      assert.equal(wall(zone, open), expected, `${zone} from ${from}`);
    }
  });

  test("a window that starts inside a DST gap opens right after the gap", () => {
    const early = parseWindow("02:30", "21:00");
    // 2026-03-29 in Paris: 02:00 jumps to 03:00.
    const open = nextWindowOpenMs("Europe/Paris", early, Date.parse("2026-03-28T23:00:00Z"));
    assert.equal(wall("Europe/Paris", open), "2026-03-29 03:00");
    assert.ok(inWindow("Europe/Paris", early, open));
  });

  test("property: the next opening is inside the window, not before the start, and no earlier opening exists", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ZONES),
        fc.integer({ min: Date.parse("2026-01-01T00:00:00Z"), max: Date.parse("2027-12-31T00:00:00Z") }),
        (zone, atMs) => {
          const open = nextWindowOpenMs(zone, WINDOW, atMs);
          assert.ok(open >= atMs);
          const text = wall(zone, open);
          const minute = Number(text.slice(11, 13)) * 60 + Number(text.slice(14, 16));
          assert.ok(minute >= 8 * 60 && minute < 21 * 60, `${zone} ${text}`);
          // Nothing inside the window between the start and the opening (sampled each 15 minutes).
          for (let probe = atMs; probe < open; probe += 15 * 60_000) {
            const p = wall(zone, probe);
            const m = Number(p.slice(11, 13)) * 60 + Number(p.slice(14, 16));
            assert.ok(m < 8 * 60 || m >= 21 * 60 || probe === open, `${zone} ${p} was open`);
          }
        },
      ),
      { numRuns: 300, seed: 5 },
    );
  });

  test("local day keys follow the zone, including 45-minute offsets", () => {
    assert.equal(localDayKey("Asia/Kathmandu", Date.parse("2026-05-01T18:14:00Z")), "D2026-05-01");
    assert.equal(localDayKey("Asia/Kathmandu", Date.parse("2026-05-01T18:15:00Z")), "D2026-05-02");
    assert.equal(localDayKey("Pacific/Chatham", Date.parse("2026-05-01T11:15:00Z")), "D2026-05-02");
  });
});

describe("periods", () => {
  test("monthly from the 31st: Feb 28, then back to Mar 31", () => {
    const anchor = Date.parse("2026-01-31T10:00:00Z");
    const starts = [0, 1, 2, 3].map((n) => wall("UTC", periodStartMs(anchor, "UTC", "P1M", n)));
    assert.deepEqual(starts, [
      "2026-01-31 10:00",
      "2026-02-28 10:00",
      "2026-03-31 10:00",
      "2026-04-30 10:00",
    ]);
  });

  test("daily renewals keep their local hour across DST", () => {
    const anchor = Date.parse("2026-03-27T08:00:00Z"); // 09:00 in Paris (UTC+1)
    const hours = [0, 1, 2, 3].map((n) =>
      wall("Europe/Paris", periodStartMs(anchor, "Europe/Paris", "P1D", n)).slice(11),
    );
    assert.deepEqual(hours, ["09:00", "09:00", "09:00", "09:00"]);
    const gaps = [1, 2, 3].map(
      (n) =>
        periodStartMs(anchor, "Europe/Paris", "P1D", n) - periodStartMs(anchor, "Europe/Paris", "P1D", n - 1),
    );
    assert.deepEqual(gaps, [86_400_000, 82_800_000, 86_400_000]);
  });

  test("period validation", () => {
    for (const ok of ["P1D", "P1W", "P2W", "P1M", "P3M", "P1Y", "PT12H", "P1DT12H"])
      assert.equal(periodProblem(ok), undefined, ok);
    for (const bad of ["P", "PT", "1D", "P1.5D", "PT30M", "P11Y", "P-1D", "p1d"])
      assert.ok(periodProblem(bad), bad);
  });
});
