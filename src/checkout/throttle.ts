/**
 * Limits on what a payer's browser can make us do: numbers entered (each may text a PIN to a
 * phone, so an attacker could pump SMS), PINs tried (guessing). Counted per session, per client
 * address and per MSISDN in fixed windows, in this process's memory (a multi-process installation
 * multiplies the limits by its API processes: see docs/checkout.md).
 */
export const THROTTLE_LIMITS = {
  msisdn_entries_per_session_max: 5,
  msisdn_entries_per_ip_hour_max: 20,
  msisdn_entries_per_msisdn_hour_max: 6,
  pin_attempts_per_session_max: 8,
  pin_attempts_per_ip_hour_max: 30,
  pin_attempts_per_msisdn_hour_max: 10,
  pin_resends_per_session_max: 3,
  pin_resend_delay_ms: 30_000,
  window_ms: 60 * 60_000,
  keys_max: 100_000,
} as const;

interface Window {
  startMs: number;
  count: number;
}

export class Throttle {
  private readonly windows = new Map<string, Window>();

  constructor(private readonly windowMs: number = THROTTLE_LIMITS.window_ms) {}

  /**
   * Counts one event against every key and answers whether all stayed within their limits, and
   * if not, in how many seconds the earliest full window ends. A refused event is not counted.
   */
  take(
    keys: readonly { key: string; max: number }[],
    nowMs: number,
  ): { allowed: true } | { allowed: false; retryAfterSeconds: number } {
    let retryAfterMs = 0;
    for (const { key, max } of keys) {
      const window = this.current(key, nowMs);
      if (window.count >= max) retryAfterMs = Math.max(retryAfterMs, window.startMs + this.windowMs - nowMs);
    }
    if (retryAfterMs > 0) return { allowed: false, retryAfterSeconds: Math.ceil(retryAfterMs / 1000) };
    for (const { key } of keys) this.current(key, nowMs).count++;
    return { allowed: true };
  }

  /** `RateLimit-Policy` of one key (IETF draft 8): `max` events per window. */
  policyHeader(name: string, max: number): string {
    return `"${name}";q=${max};w=${Math.round(this.windowMs / 1000)}`;
  }

  /** `RateLimit` of one key: events left in its window, seconds until the window ends. */
  stateHeader(name: string, key: string, max: number, nowMs: number): string {
    const window = this.windows.get(key);
    if (!window || nowMs - window.startMs >= this.windowMs) return `"${name}";r=${max};t=0`;
    const left = Math.max(0, max - window.count);
    return `"${name}";r=${left};t=${Math.ceil((window.startMs + this.windowMs - nowMs) / 1000)}`;
  }

  private current(key: string, nowMs: number): Window {
    let window = this.windows.get(key);
    if (!window || nowMs - window.startMs >= this.windowMs) {
      if (this.windows.size >= THROTTLE_LIMITS.keys_max) this.sweep(nowMs);
      window = { startMs: nowMs, count: 0 };
      this.windows.set(key, window);
    }
    return window;
  }

  private sweep(nowMs: number): void {
    for (const [key, window] of this.windows)
      if (nowMs - window.startMs >= this.windowMs) this.windows.delete(key);
    // Still full: forget the oldest half rather than grow without bound.
    if (this.windows.size >= THROTTLE_LIMITS.keys_max) {
      let i = 0;
      for (const key of this.windows.keys()) if (i++ % 2 === 0) this.windows.delete(key);
    }
  }
}
