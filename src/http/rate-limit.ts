/**
 * Token buckets per subject (an API key, or an address that keeps failing to authenticate), in
 * this process: `ratePerSecond` sustained, `burst` at once. Behind a load balancer each API
 * process keeps its own buckets.
 *
 * Each answer carries what the IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers-08)
 * say: the policy as a quota over a window (`burst` requests, refilled in `burst / ratePerSecond`
 * seconds), the requests left now and the seconds until the bucket is full again.
 */
const BUCKETS_MAX = 100_000;

export interface Take {
  allowed: boolean;
  /** Whole requests left in the bucket after this one. */
  remaining: number;
  /** Seconds until the bucket is full again. */
  resetSeconds: number;
  /** When refused: seconds until one request is allowed again (at least 1). */
  retryAfterSeconds: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; updatedMs: number }>();
  /** `RateLimit-Policy`: the same on every answer of this limiter. */
  readonly policyHeader: string;

  constructor(
    private readonly name: string,
    readonly ratePerSecond: number,
    readonly burst: number,
  ) {
    const windowSeconds = ratePerSecond === 0 ? 0 : Math.max(1, Math.ceil(burst / ratePerSecond));
    this.policyHeader = `"${name}";q=${burst};w=${windowSeconds}`;
  }

  get enabled(): boolean {
    return this.ratePerSecond > 0;
  }

  /** The bucket of `subject` after refilling it up to `nowMs` (created full). */
  private bucket(subject: string, nowMs: number): { tokens: number; updatedMs: number } {
    let bucket = this.buckets.get(subject);
    if (!bucket) {
      if (this.buckets.size >= BUCKETS_MAX) this.buckets.clear();
      bucket = { tokens: this.burst, updatedMs: nowMs };
      this.buckets.set(subject, bucket);
    }
    bucket.tokens = Math.min(
      this.burst,
      bucket.tokens + (Math.max(0, nowMs - bucket.updatedMs) * this.ratePerSecond) / 1000,
    );
    bucket.updatedMs = nowMs;
    return bucket;
  }

  private answer(tokens: number, allowed: boolean): Take {
    const missing = this.burst - tokens;
    return {
      allowed,
      remaining: Math.max(0, Math.floor(tokens)),
      resetSeconds: Math.ceil(missing / this.ratePerSecond),
      retryAfterSeconds: allowed ? 0 : Math.max(1, Math.ceil((1 - tokens) / this.ratePerSecond)),
    };
  }

  /** Takes one request from the bucket, when there is one. */
  take(subject: string, nowMs: number): Take {
    const bucket = this.bucket(subject, nowMs);
    if (bucket.tokens < 1) return this.answer(bucket.tokens, false);
    bucket.tokens -= 1;
    return this.answer(bucket.tokens, true);
  }

  /** Whether `subject` has a request left, without taking it. */
  peek(subject: string, nowMs: number): Take {
    if (!this.buckets.has(subject)) return this.answer(this.burst, true);
    const bucket = this.bucket(subject, nowMs);
    return this.answer(bucket.tokens, bucket.tokens >= 1);
  }

  /** `RateLimit`: what is left for this subject after this request. */
  stateHeader(take: Take): string {
    return `"${this.name}";r=${take.remaining};t=${take.resetSeconds}`;
  }
}
