/** How reconciliation spaces its questions to a provider (payments, refunds, give-backs). */

export const RECONCILE_BACKOFF_MAX_MS = 5 * 60_000;
export const RECONCILE_UNRESOLVED_AFTER_MS = 15 * 60_000;

/**
 * When to ask again after `checks` answers that settled nothing: exponential from `baseMs`, capped,
 * with ±20% jitter so payments that went unknown together (an operator outage) are not all asked
 * again in the same second.
 */
export function reconcileDelayMs(
  checks: number,
  baseMs: number,
  maxMs: number,
  random = Math.random,
): number {
  const exponential = Math.min(maxMs, Math.max(1, baseMs) * 2 ** Math.min(checks, 30));
  return Math.min(maxMs, Math.round(exponential * (0.8 + 0.4 * random())));
}
