import { Temporal } from "temporal-polyfill";
import { DAY_MS, MINUTE_MS } from "../platform/clock.ts";

/**
 * Local time for billing: periods (ISO 8601 durations added in the subscriber's zone, so a
 * monthly renewal stays on the same local day across DST), charging windows and the local
 * calendar keys caps are counted in.
 */

/** Every UTC offset in use is a multiple of 15 minutes and changes at a local whole or half hour,
 * so the offset is constant inside each UTC-aligned 15-minute bucket and can be cached per bucket. */
const OFFSET_BUCKET_MS = 15 * MINUTE_MS;
const OFFSET_CACHE_ENTRIES_MAX = 200_000;

const offsetCache = new Map<string, number>();

/** The zone's UTC offset in ms at an instant (cached: Temporal costs ~70 µs a call). */
export function offsetMs(timeZone: string, atMs: number): number {
  const bucket = Math.floor(atMs / OFFSET_BUCKET_MS);
  const key = `${timeZone}\u0000${bucket}`;
  const hit = offsetCache.get(key);
  if (hit !== undefined) return hit;
  const offset =
    Temporal.Instant.fromEpochMilliseconds(bucket * OFFSET_BUCKET_MS).toZonedDateTimeISO(timeZone)
      .offsetNanoseconds / 1_000_000;
  if (offsetCache.size >= OFFSET_CACHE_ENTRIES_MAX) offsetCache.clear();
  offsetCache.set(key, offset);
  return offset;
}

/** Wall-clock fields of an instant in a zone. */
export function localParts(
  timeZone: string,
  atMs: number,
): {
  year: number;
  month: number;
  day: number;
  minuteOfDay: number;
} {
  const local = new Date(atMs + offsetMs(timeZone, atMs));
  return {
    year: local.getUTCFullYear(),
    month: local.getUTCMonth() + 1,
    day: local.getUTCDate(),
    minuteOfDay: local.getUTCHours() * 60 + local.getUTCMinutes(),
  };
}

export function localDayKey(timeZone: string, atMs: number): string {
  const p = localParts(timeZone, atMs);
  return `D${p.year}-${String(p.month).padStart(2, "0")}-${String(p.day).padStart(2, "0")}`;
}

export function localMonthKey(timeZone: string, atMs: number): string {
  const p = localParts(timeZone, atMs);
  return `M${p.year}-${String(p.month).padStart(2, "0")}`;
}

// ---------------------------------------------------------------------------------------------
// Periods

const PERIOD_PATTERN = /^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$/;
/** Shortest billing period: a shorter one would let renewals outrun the scheduler's retries. */
export const PERIOD_MIN_MS = 60 * MINUTE_MS;
/** Longest: ten years. */
export const PERIOD_MAX_MS = 3660 * DAY_MS;

/** Checks an ISO 8601 duration used as a billing period; returns a reason when it is not valid. */
export function periodProblem(period: string): string | undefined {
  if (!PERIOD_PATTERN.test(period)) return "must be an ISO 8601 duration such as P1D, P1W, P1M or P1Y";
  const d = Temporal.Duration.from(period);
  const start = Temporal.ZonedDateTime.from("2026-01-01T00:00:00[UTC]");
  const lengthMs = start.add(d).epochMilliseconds - start.epochMilliseconds;
  if (lengthMs < PERIOD_MIN_MS) return "must be at least one hour";
  if (lengthMs > PERIOD_MAX_MS) return "must be at most ten years";
  return undefined;
}

const durationCache = new Map<string, Temporal.Duration>();

function duration(period: string, times: number): Temporal.Duration {
  let d = durationCache.get(period);
  if (!d) {
    d = Temporal.Duration.from(period);
    durationCache.set(period, d);
  }
  return Temporal.Duration.from({
    years: d.years * times,
    months: d.months * times,
    weeks: d.weeks * times,
    days: d.days * times,
    hours: d.hours * times,
    minutes: d.minutes * times,
    seconds: d.seconds * times,
  });
}

/**
 * When period n starts: the anchor plus n periods, computed from the anchor each time (never by
 * repeated addition, so Jan 31 + 1 month = Feb 28 does not drag March to the 28th).
 */
export function periodStartMs(anchorMs: number, timeZone: string, period: string, n: number): number {
  if (n === 0) return anchorMs;
  // One renewal asks for the same period start several times (plan, settle, next run): cache it.
  const key = `${anchorMs}\u0000${timeZone}\u0000${period}\u0000${n}`;
  const hit = periodCache.get(key);
  if (hit !== undefined) return hit;
  const start = Temporal.Instant.fromEpochMilliseconds(anchorMs)
    .toZonedDateTimeISO(timeZone)
    .add(duration(period, n)).epochMilliseconds;
  if (periodCache.size >= PERIOD_CACHE_ENTRIES_MAX) periodCache.clear();
  periodCache.set(key, start);
  return start;
}

const PERIOD_CACHE_ENTRIES_MAX = 500_000;
const periodCache = new Map<string, number>();

export function addDaysMs(atMs: number, timeZone: string, days: number): number {
  return Temporal.Instant.fromEpochMilliseconds(atMs).toZonedDateTimeISO(timeZone).add({ days })
    .epochMilliseconds;
}

// ---------------------------------------------------------------------------------------------
// Charging windows

/** A daily local window [start, end) in minutes after local midnight. */
export interface Window {
  start_minute: number;
  end_minute: number;
}

export function parseWindow(start: string, end: string): Window {
  const minutes = (hhmm: string) => {
    const [h, m] = hhmm.split(":").map(Number);
    return (h ?? 0) * 60 + (m ?? 0);
  };
  return { start_minute: minutes(start), end_minute: minutes(end) };
}

export function inWindow(timeZone: string, window: Window, atMs: number): boolean {
  const minute = localParts(timeZone, atMs).minuteOfDay;
  return minute >= window.start_minute && minute < window.end_minute;
}

/**
 * The first instant at or after `atMs` inside the window. Walks forward in local days with
 * Temporal, so a day of 23 or 25 hours (DST) still opens at its local start time; a local start
 * time that does not exist that day (a DST gap) opens at the first instant after the gap.
 */
export function nextWindowOpenMs(timeZone: string, window: Window, atMs: number): number {
  if (inWindow(timeZone, window, atMs)) return atMs;
  const here = Temporal.Instant.fromEpochMilliseconds(atMs).toZonedDateTimeISO(timeZone);
  for (let dayOffset = 0; dayOffset <= 2; dayOffset++) {
    const date = here.toPlainDate().add({ days: dayOffset });
    const open = date.toZonedDateTime({
      timeZone,
      plainTime: Temporal.PlainTime.from({
        hour: Math.floor(window.start_minute / 60),
        minute: window.start_minute % 60,
      }),
    }).epochMilliseconds;
    if (open >= atMs && inWindow(timeZone, window, open)) {
      // A start inside a DST gap converts to a time shifted past the gap; the window already
      // opened at the end of the gap, so step back while still inside (15-minute steps are exact:
      // offsets change on quarter hours).
      let first = open;
      while (first - OFFSET_BUCKET_MS >= atMs && inWindow(timeZone, window, first - OFFSET_BUCKET_MS))
        first -= OFFSET_BUCKET_MS;
      return first;
    }
    if (open >= atMs) {
      for (let probe = open; probe < open + 3 * 60 * MINUTE_MS; probe += OFFSET_BUCKET_MS) {
        if (inWindow(timeZone, window, probe)) return probe;
      }
    }
  }
  // Unreachable for any window that is open at least 15 minutes a day.
  throw new Error(`invariant violated: no window opening found for ${timeZone}`);
}

/** The instant the window closes on the local day of `atMs` (for spreading inside it). */
export function windowCloseMs(timeZone: string, window: Window, atMs: number): number {
  const p = localParts(timeZone, atMs);
  const minutesLeft = window.end_minute - p.minuteOfDay;
  return atMs + Math.max(0, minutesLeft) * MINUTE_MS - (atMs % MINUTE_MS);
}
