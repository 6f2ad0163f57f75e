import { plan } from "../engine.ts";
import { ladderAmount } from "../policy.ts";
import type { CapUsage } from "./caps.ts";
import type { Charge, Item, Planned } from "./types.ts";

/**
 * Step 2: decides each job with the pure `plan()`: drop (not live), defer (not due, outside the
 * window, too soon, cap reached), sync (an attempt's outcome is unknown), write off, give up, or
 * charge an amount. A planned charge reserves its amount under the caps at once.
 */
export function decide(items: readonly Item[], usage: CapUsage, nowMs: number): Planned[] {
  return items.map((item) => {
    const p = plan({
      nowMs,
      sub: item.sub,
      job: item.job,
      rules: item.rules,
      policy: item.policy,
      usage: usage.of(item),
    });
    if (p.kind === "charge") usage.reserve(item, p.amount);
    return { item, plan: p };
  });
}

/**
 * Step 3 (in-process providers; remote ones are asked after commit, `remote.ts`): where the
 * provider can tell the payer's balance, a charge it does not cover becomes the highest price
 * point it covers, or is skipped (a failed attempt for dunning, no charge sent); a debt
 * collection takes what the balance covers, or waits.
 */
export async function checkBalances(
  planned: readonly Planned[],
  usage: CapUsage,
  nowMs: number,
): Promise<Planned[]> {
  const out: Planned[] = [];
  for (const entry of planned) {
    const { item, plan: p } = entry;
    if (p.kind !== "charge" || !item.provider.inProcess || !item.provider.balance) {
      out.push(entry);
      continue;
    }
    const balance = await item.provider.balance({
      paymentMethod: item.sub.payment_method,
      currency: item.sub.currency,
      nowMs,
    });
    const next = balance === undefined ? p : fitToBalance(item, p, balance, nowMs);
    if (next !== p) {
      usage.reserve(item, -p.amount);
      if (next.kind === "charge") usage.reserve(item, next.amount);
    }
    out.push(next === p ? entry : { item, plan: next });
  }
  return out;
}

/** What a charge becomes when the payer's balance is known. */
export function fitToBalance(item: Item, p: Charge, balance: bigint, nowMs: number): Planned["plan"] {
  if (balance >= p.amount) return p;
  const fit = highestCovered(item, p, balance);
  if (fit) return { ...p, amount: fit.amount, percent: fit.percent };
  if (p.purpose === "debt")
    return {
      kind: "defer",
      run_at_ms: nowMs + item.policy.debt_retry_minutes * 60_000,
      reason: "balance_low_for_debt",
    };
  return { kind: "skip", reason: "balance_low" };
}

/** The highest price point at or below the planned one that the balance covers. */
function highestCovered(item: Item, p: Charge, balance: bigint): { amount: bigint; percent: number } | null {
  if (balance <= 0n) return null;
  if (p.purpose === "debt") return { amount: balance, percent: 100 };
  if (!item.rules.partial_payments) return null;
  for (const percent of item.policy.partial_ladder_percent) {
    if (percent > p.percent) continue;
    const amount = ladderAmount(item.sub.amount, percent);
    if (amount <= balance) return { amount, percent };
  }
  return null;
}
