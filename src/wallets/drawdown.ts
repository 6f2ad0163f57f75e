import { minBigint } from "../currencies/index.ts";

/**
 * The order in which a payment draws on a wallet's grants (documented in docs/wallets.md):
 * 1. higher `priority` first;
 * 2. then the grant that expires soonest (grants without expiry last);
 * 3. then promotional before paid (given credit is used before bought credit);
 * 4. then the oldest (smallest id: ids are time-sortable).
 * Expired grants are never drawn on, even before the expiry job has swept them.
 */
export interface DrawableGrant {
  id: string;
  category: "paid" | "promotional";
  remaining: bigint;
  priority: number;
  expiresAtMs: number | null;
}

export interface Draw {
  grantId: string;
  category: "paid" | "promotional";
  amount: bigint;
}

export function compareGrants(a: DrawableGrant, b: DrawableGrant): number {
  if (a.priority !== b.priority) return b.priority - a.priority;
  const ea = a.expiresAtMs ?? Number.POSITIVE_INFINITY;
  const eb = b.expiresAtMs ?? Number.POSITIVE_INFINITY;
  if (ea !== eb) return ea < eb ? -1 : 1;
  if (a.category !== b.category) return a.category === "promotional" ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** What to take from which grant to pay `amount`, or null when the grants do not cover it. */
export function drawDown(grants: readonly DrawableGrant[], amount: bigint, nowMs: number): Draw[] | null {
  let left = amount;
  const draws: Draw[] = [];
  const usable = grants.filter((g) => g.remaining > 0n && (g.expiresAtMs === null || g.expiresAtMs > nowMs));
  for (const grant of [...usable].sort(compareGrants)) {
    if (left === 0n) break;
    const take = minBigint(grant.remaining, left);
    draws.push({ grantId: grant.id, category: grant.category, amount: take });
    left -= take;
  }
  return left === 0n ? draws : null;
}

/** How a capture of `amount` out of held draws splits: posted parts in draw order, the rest released. */
export function splitCapture(held: readonly { amount: bigint }[], amount: bigint): bigint[] {
  let left = amount;
  return held.map((d) => {
    const take = minBigint(d.amount, left);
    left -= take;
    return take;
  });
}
