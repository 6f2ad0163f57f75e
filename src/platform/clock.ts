/** Time is an input: production reads the system clock, tests drive a fake one. */
export interface Clock {
  nowMs(): number;
}

/** Durations in milliseconds, so that no file spells out 86_400_000 again. */
export const SECOND_MS = 1_000;
export const MINUTE_MS = 60 * SECOND_MS;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;

export const systemClock: Clock = { nowMs: () => Date.now() };

export class FakeClock implements Clock {
  constructor(private currentMs: number = Date.parse("2026-01-01T00:00:00Z")) {}
  nowMs(): number {
    return this.currentMs;
  }
  advance(ms: number): void {
    this.currentMs += ms;
  }
  set(ms: number): void {
    this.currentMs = ms;
  }
}

/** The last instant formatted: one request formats its own `nowMs` many times. */
let isoMs = Number.NaN;
let isoText = "";

export function iso(ms: number): string {
  if (ms !== isoMs) {
    isoText = new Date(ms).toISOString();
    isoMs = ms;
  }
  return isoText;
}

/**
 * Whether the runtime knows this IANA time zone, aliases included. `Intl.supportedValuesOf`
 * lists ICU's canonical names only (`Asia/Calcutta`, not `Asia/Kolkata`), so it refused real
 * zones; what `Intl.DateTimeFormat` accepts is what the scheduler and the pages can use.
 */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}
