/**
 * Resilience pieces shared by every connector: a deadline per call, a circuit breaker and a
 * token-bucket rate limit per operator. Time is read through `now` so tests can drive it.
 */

export const DEFAULT_DEADLINE_MS = 10_000;

export type Now = () => number;

/** Opens after `failure_count_max` consecutive failures, lets one probe through after `open_ms`. */
export class CircuitBreaker {
  private failures = 0;
  private openedAtMs: number | undefined;
  private probing = false;

  constructor(
    private readonly options: { failure_count_max: number; open_ms: number },
    private readonly now: Now = Date.now,
  ) {}

  get state(): "closed" | "open" | "half_open" {
    if (this.openedAtMs === undefined) return "closed";
    return this.now() - this.openedAtMs >= this.options.open_ms ? "half_open" : "open";
  }

  /** Returns false when the call must not be sent (the caller answers `not_sent`). */
  tryAcquire(): boolean {
    const state = this.state;
    if (state === "closed") return true;
    if (state === "open" || this.probing) return false;
    this.probing = true;
    return true;
  }

  retryAfterMs(): number {
    if (this.openedAtMs === undefined) return 0;
    return Math.max(0, this.options.open_ms - (this.now() - this.openedAtMs));
  }

  success(): void {
    this.failures = 0;
    this.openedAtMs = undefined;
    this.probing = false;
  }

  /** Only transport failures count (timeouts, resets, 5xx): a decline is a healthy answer. */
  failure(): void {
    this.probing = false;
    this.failures += 1;
    if (this.failures >= this.options.failure_count_max) this.openedAtMs = this.now();
  }
}

/** `rate_per_s` tokens a second, bursts up to `burst_max`. */
export class TokenBucket {
  private tokens: number;
  private lastMs: number;

  constructor(
    private readonly options: { rate_per_s: number; burst_max: number },
    private readonly now: Now = Date.now,
  ) {
    this.tokens = options.burst_max;
    this.lastMs = now();
  }

  private refill(): void {
    const t = this.now();
    this.tokens = Math.min(
      this.options.burst_max,
      this.tokens + ((t - this.lastMs) * this.options.rate_per_s) / 1000,
    );
    this.lastMs = t;
  }

  tryTake(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** How long until one token is available. */
  waitMs(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) * 1000) / this.options.rate_per_s);
  }

  /** Waits up to `wait_ms_max` for a token; false when none came in time. */
  async take(wait_ms_max: number): Promise<boolean> {
    for (;;) {
      if (this.tryTake()) return true;
      const wait = this.waitMs();
      if (wait > wait_ms_max) return false;
      wait_ms_max -= wait;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

export class DeadlineExceeded extends Error {
  constructor(readonly timeout_ms: number) {
    super(`deadline of ${timeout_ms} ms exceeded`);
  }
}

/** Races a promise against a deadline; the loser's result is ignored. */
export function withDeadline<T>(promise: Promise<T>, timeout_ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineExceeded(timeout_ms)), timeout_ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
