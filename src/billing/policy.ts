/**
 * Dunning: what to do when a renewal fails. One policy per merchant (the default) and optionally
 * per operator, stored as data (`dunning_policies`); the built-in default applies otherwise.
 */
export interface DunningPolicy {
  /** Delay after the 1st, 2nd, … failed attempt (the last one repeats); each retry also waits for the window. */
  retry_delays_minutes: number[];
  /** Give up this many days after the first failure of a period. */
  retry_days_max: number;
  /** After the retries (or a hard decline): cancel the subscription or pause it. */
  final_action: "cancel" | "pause";
  /** Price points tried after insufficient funds, in percent of the price, where the operator allows. */
  partial_ladder_percent: number[];
  /** How soon to try to collect debt (unpaid remainders of partial payments) after a renewal. */
  debt_retry_minutes: number;
  /** Debt older than this is written off. */
  debt_write_off_days: number;
  /**
   * Deferral: a renewal that is paid late starts its period when paid ("move the period"), so the
   * subscriber gets a whole period; otherwise periods stay on the original anchor.
   */
  defer_period_on_late_payment: boolean;
}

export const DEFAULT_DUNNING_POLICY: DunningPolicy = {
  retry_delays_minutes: [240, 240, 480, 1440],
  retry_days_max: 5,
  final_action: "cancel",
  partial_ladder_percent: [100, 50, 20],
  debt_retry_minutes: 1440,
  debt_write_off_days: 30,
  defer_period_on_late_payment: false,
};

export const POLICY_LIMITS = {
  retry_delays_count_max: 20,
  retry_delay_minutes_min: 15,
  retry_delay_minutes_max: 7 * 1440,
  retry_days_max: 60,
  debt_write_off_days_max: 365,
} as const;

/** Checks a policy a merchant sends; returns [param, reason] when it is not valid. */
export function policyProblem(p: DunningPolicy): [string, string] | undefined {
  if (p.retry_delays_minutes.length === 0) return ["retry_delays_minutes", "must not be empty"];
  for (const [i, d] of p.retry_delays_minutes.entries()) {
    if (d < POLICY_LIMITS.retry_delay_minutes_min || d > POLICY_LIMITS.retry_delay_minutes_max)
      return [`retry_delays_minutes.${i}`, "must be between 15 minutes and 7 days"];
  }
  const ladder = p.partial_ladder_percent;
  if (ladder[0] !== 100) return ["partial_ladder_percent", "must start at 100"];
  for (let i = 1; i < ladder.length; i++) {
    if (ladder[i]! >= ladder[i - 1]! || ladder[i]! < 1)
      return [`partial_ladder_percent.${i}`, "must decrease and stay at least 1"];
  }
  return undefined;
}

/** The amount of a price point: percent of the price, rounded down, at least one minor unit. */
export function ladderAmount(price: bigint, percent: number): bigint {
  const amount = (price * BigInt(percent)) / 100n;
  return amount < 1n ? 1n : amount;
}
