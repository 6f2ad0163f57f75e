import { periodStartMs } from "../billing/index.ts";

/**
 * Membership arithmetic, pure. Access is prolonged from the later of now and the current end.
 * Back-to-back purchases of one period length form a run computed from its first start in the
 * member's time zone (anchor + n periods), so month ends do not drift: Jan 31 + P1M + P1M is
 * Mar 31, not Mar 28. A refund shortens access by its share of what the purchase added, and ends
 * the run (the next purchase starts a new one from the new end).
 */
export interface MembershipState {
  activeUntilMs: number;
  anchorMs: number | null;
  runPeriod: string | null;
  runCount: number;
}

export interface Prolongation {
  state: MembershipState;
  /** How much the purchase added to the access, in milliseconds. */
  addedMs: number;
  startMs: number;
}

export function prolong(
  current: MembershipState | null,
  period: string,
  timeZone: string,
  nowMs: number,
): Prolongation {
  if (
    current &&
    current.activeUntilMs > nowMs &&
    current.runPeriod === period &&
    current.anchorMs !== null &&
    current.runCount > 0
  ) {
    const runCount = current.runCount + 1;
    const activeUntilMs = periodStartMs(current.anchorMs, timeZone, period, runCount);
    return {
      state: { activeUntilMs, anchorMs: current.anchorMs, runPeriod: period, runCount },
      addedMs: activeUntilMs - current.activeUntilMs,
      startMs: current.activeUntilMs,
    };
  }
  const startMs = current && current.activeUntilMs > nowMs ? current.activeUntilMs : nowMs;
  const activeUntilMs = periodStartMs(startMs, timeZone, period, 1);
  return {
    state: { activeUntilMs, anchorMs: startMs, runPeriod: period, runCount: 1 },
    addedMs: activeUntilMs - startMs,
    startMs,
  };
}

/**
 * What a refund of `refunded` out of `paid` takes back of a purchase that added `addedMs`,
 * given that `removedMs` was taken back already: cumulative, so partial refunds adding up to the
 * whole take back exactly what was added.
 */
export function shortening(addedMs: number, removedMs: number, refundedTotal: bigint, paid: bigint): number {
  const owed = Number((BigInt(addedMs) * refundedTotal) / paid);
  return Math.max(0, Math.min(addedMs, owed) - removedMs);
}

export function shorten(current: MembershipState, byMs: number): MembershipState {
  return { activeUntilMs: current.activeUntilMs - byMs, anchorMs: null, runPeriod: null, runCount: 0 };
}
