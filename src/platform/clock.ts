/** Time is an input: production reads the system clock, tests drive a fake one. */
export interface Clock {
  nowMs(): number;
}

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

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}
