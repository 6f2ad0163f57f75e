/**
 * A token bucket per API key, in this process: `ratePerSecond` sustained, `burst` at once.
 * Behind a load balancer each API process keeps its own buckets.
 */
const BUCKETS_MAX = 100_000;

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; updatedMs: number }>();

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
  ) {}

  /** Takes one token; returns 0, or how many milliseconds until one is available. */
  take(subject: string, nowMs: number): number {
    if (this.ratePerSecond === 0) return 0;
    let bucket = this.buckets.get(subject);
    if (!bucket) {
      if (this.buckets.size >= BUCKETS_MAX) this.buckets.clear();
      bucket = { tokens: this.burst, updatedMs: nowMs };
      this.buckets.set(subject, bucket);
    }
    bucket.tokens = Math.min(
      this.burst,
      bucket.tokens + ((nowMs - bucket.updatedMs) * this.ratePerSecond) / 1000,
    );
    bucket.updatedMs = nowMs;
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil(((1 - bucket.tokens) * 1000) / this.ratePerSecond));
  }
}
