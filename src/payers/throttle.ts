/**
 * Fixed-window counters in this process's memory: codes sent per recipient and per address,
 * failed sign-ins per subject and per address. A multi-process installation multiplies the limits
 * by its API processes (docs/payers.md); the codes' own attempt counter is in the database.
 */
export const PAYER_THROTTLE_LIMITS = {
  codes_per_recipient_hour_max: 5,
  codes_per_ip_hour_max: 20,
  signin_failures_per_subject_hour_max: 10,
  signin_failures_per_ip_hour_max: 50,
  signups_per_ip_hour_max: 20,
  window_ms: 60 * 60_000,
  keys_max: 100_000,
} as const;

interface Window {
  startMs: number;
  count: number;
}

export type ThrottleAnswer = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/** One counter: `name` is its policy in the IETF RateLimit fields. */
export interface ThrottleKey {
  name: string;
  key: string;
  max: number;
}

/** The counters of each edge, so that the flows and the RateLimit fields name the same ones. */
export const throttleKeys = {
  codes: (identity: { kind: string; value: string }, ip: string): ThrottleKey[] => [
    {
      name: "code-recipient",
      key: `code:${identity.kind}:${identity.value}`,
      max: PAYER_THROTTLE_LIMITS.codes_per_recipient_hour_max,
    },
    { name: "code-ip", key: `code-ip:${ip}`, max: PAYER_THROTTLE_LIMITS.codes_per_ip_hour_max },
  ],
  /** Failed sign-ins: per subject (`email:…`, `msisdn:…`) and per address. */
  signIn: (subject: string | null, ip: string): ThrottleKey[] => [
    ...(subject === null
      ? []
      : [
          {
            name: "signin-subject",
            key: `signin:${subject}`,
            max: PAYER_THROTTLE_LIMITS.signin_failures_per_subject_hour_max,
          },
        ]),
    { name: "signin-ip", key: `signin-ip:${ip}`, max: PAYER_THROTTLE_LIMITS.signin_failures_per_ip_hour_max },
  ],
  signUp: (ip: string): ThrottleKey[] => [
    { name: "signup-ip", key: `signup-ip:${ip}`, max: PAYER_THROTTLE_LIMITS.signups_per_ip_hour_max },
  ],
};

/** One policy's `RateLimit-Policy` and `RateLimit` list members (draft-ietf-httpapi-ratelimit-headers-08). */
export interface RateLimitField {
  policy: string;
  state: string;
}

export class PayerThrottle {
  private readonly windows = new Map<string, Window>();

  constructor(private readonly windowMs: number = PAYER_THROTTLE_LIMITS.window_ms) {}

  /** Whether every key is under its limit (counts nothing). */
  check(keys: readonly { key: string; max: number }[], nowMs: number): ThrottleAnswer {
    let retryAfterMs = 0;
    for (const { key, max } of keys) {
      const window = this.windows.get(key);
      if (window && nowMs - window.startMs < this.windowMs && window.count >= max)
        retryAfterMs = Math.max(retryAfterMs, window.startMs + this.windowMs - nowMs);
    }
    return retryAfterMs > 0
      ? { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)) }
      : { allowed: true };
  }

  /** Counts one event against every key, if all are under their limits. */
  take(keys: readonly { key: string; max: number }[], nowMs: number): ThrottleAnswer {
    const answer = this.check(keys, nowMs);
    if (answer.allowed) for (const { key } of keys) this.current(key, nowMs).count++;
    return answer;
  }

  /**
   * The RateLimit fields of `keys` now: each a quota over the fixed window, what is left of it and
   * the seconds until it starts again (0 when nothing has been counted).
   */
  fields(keys: readonly ThrottleKey[], nowMs: number): RateLimitField[] {
    const windowSeconds = Math.ceil(this.windowMs / 1000);
    return keys.map(({ name, key, max }) => {
      const window = this.windows.get(key);
      const open = window !== undefined && nowMs - window.startMs < this.windowMs;
      const remaining = open ? Math.max(0, max - window.count) : max;
      const reset = open ? Math.max(1, Math.ceil((window.startMs + this.windowMs - nowMs) / 1000)) : 0;
      return {
        policy: `"${name}";q=${max};w=${windowSeconds}`,
        state: `"${name}";r=${remaining};t=${reset}`,
      };
    });
  }

  private current(key: string, nowMs: number): Window {
    let window = this.windows.get(key);
    if (!window || nowMs - window.startMs >= this.windowMs) {
      if (this.windows.size >= PAYER_THROTTLE_LIMITS.keys_max) this.sweep(nowMs);
      window = { startMs: nowMs, count: 0 };
      this.windows.set(key, window);
    }
    return window;
  }

  private sweep(nowMs: number): void {
    for (const [key, window] of this.windows)
      if (nowMs - window.startMs >= this.windowMs) this.windows.delete(key);
    if (this.windows.size >= PAYER_THROTTLE_LIMITS.keys_max) {
      let i = 0;
      for (const key of this.windows.keys()) if (i++ % 2 === 0) this.windows.delete(key);
    }
  }
}
