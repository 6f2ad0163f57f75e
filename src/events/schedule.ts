import { WEBHOOK_LIMITS } from "./limits.ts";

/** A number in [0, 1): injectable so a test can pin the jitter. */
export type Random = () => number;

/** How many attempts a delivery gets before it is given up. */
export const ATTEMPTS_MAX = WEBHOOK_LIMITS.retry_schedule_ms.length;

/**
 * The delay before attempt `attemptNumber + 1`, given that `attemptNumber` attempts have failed,
 * with jitter; undefined when the schedule is exhausted.
 */
export function retryDelayMs(attemptsMade: number, random: Random): number | undefined {
  const base = WEBHOOK_LIMITS.retry_schedule_ms[attemptsMade];
  if (base === undefined) return undefined;
  const spread = base * WEBHOOK_LIMITS.retry_jitter_ratio;
  return Math.round(base - spread + 2 * spread * random());
}

/**
 * `Retry-After` as milliseconds from now: delay-seconds or an HTTP date. Capped; undefined when
 * absent or unreadable.
 */
export function parseRetryAfterMs(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  let delayMs: number | undefined;
  if (/^\d+$/.test(text)) delayMs = Number(text) * 1000;
  else {
    const at = Date.parse(text);
    if (!Number.isNaN(at)) delayMs = Math.max(0, at - nowMs);
  }
  if (delayMs === undefined) return undefined;
  return Math.min(delayMs, WEBHOOK_LIMITS.retry_after_max_ms);
}
