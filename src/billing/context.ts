import { randomInt } from "node:crypto";
import type { Db, Queryable } from "../db/db.ts";
import { BALANCE_SLOT_COUNT, type Ledger } from "../ledger/index.ts";
import type { ProviderRegistry } from "../payments/index.ts";
import type { Clock } from "../platform/clock.ts";
import type { Logger } from "../platform/log.ts";
import type { RiskGate } from "../risk/index.ts";
import type { SubscriptionRow } from "./model.ts";
import { DEFAULT_DUNNING_POLICY, type DunningPolicy } from "./policy.ts";
import { type ResolvedRules, rulesFor } from "./rules.ts";

/** What the charging scheduler and the subscription flows need, built once per process. */
export interface BillingContext {
  db: Db;
  ledger: Ledger;
  /** Every decision reads this clock (test clocks and simulations move it). */
  clock: Clock;
  /** The payments' provider registry: renewals charge through the same providers as payments. */
  providers: ProviderRegistry;
  /** What this context remembers between batches (never module state). */
  caches: BillingCaches;
  logger?: Logger;
  /** The risk engine: asked before a subscription starts; unset, every subscription may start. */
  risk?: RiskGate;
  /** Overrides of the rules (simulations and benchmarks use their own operators). */
  rules?: (country: string | null, operator: string | null) => ResolvedRules;
}

export function billingContext(options: Omit<BillingContext, "caches">): BillingContext {
  return { ...options, caches: new BillingCaches() };
}

/** Each operator's per-second budget is split over this many rows (steps/tps.ts). */
export const OPERATOR_SECOND_SHARDS = 8;

/** Policies change rarely: each context keeps them this long (a write through it clears them). */
export const POLICY_CACHE_MS = 10_000;

export type PolicyMap = Map<string, DunningPolicy>;

/** A context's memory: dunning policies by merchant, operators whose TPS rows exist, a slot turn. */
export class BillingCaches {
  private readonly policies = new Map<string, { loadedMs: number; rows: [string, DunningPolicy][] }>();
  /** Operators whose `billing_operator_seconds` rows exist (created or seen through this context). */
  readonly operatorRows = new Set<string>();
  /**
   * Where this context starts, among the ledger's balance slots and each operator's TPS shards:
   * random, so that workers (each with its own context) do not walk the same rows in step.
   */
  private slotTurn = randomInt(BALANCE_SLOT_COUNT);
  readonly shardOffset = randomInt(OPERATOR_SECOND_SHARDS);

  forgetPolicies(merchantId: string): void {
    this.policies.delete(merchantId);
  }

  /** The ledger balance slot of the next batch, in turn: concurrent workers rarely meet on one row. */
  nextBalanceSlot(): number {
    this.slotTurn = (this.slotTurn + 1) % BALANCE_SLOT_COUNT;
    return this.slotTurn;
  }

  /** The dunning policies of some merchants, by `merchant/mode/operator` ('' for the default). */
  async loadPolicies(tx: Queryable, merchantIds: string[], nowMs: number): Promise<PolicyMap> {
    const map: PolicyMap = new Map();
    const missing = merchantIds.filter((id) => {
      const hit = this.policies.get(id);
      if (!hit || nowMs - hit.loadedMs > POLICY_CACHE_MS || nowMs < hit.loadedMs) return true;
      for (const [key, policy] of hit.rows) map.set(key, policy);
      return false;
    });
    if (missing.length === 0) return map;
    const { rows } = await tx.query<{
      merchant_id: string;
      mode: string;
      operator: string;
      policy: DunningPolicy;
    }>(
      "select merchant_id, mode, operator, policy from dunning_policies where merchant_id = any($1::text[])",
      [missing],
    );
    for (const id of missing) this.policies.set(id, { loadedMs: nowMs, rows: [] });
    for (const r of rows) {
      const entry: [string, DunningPolicy] = [
        `${r.merchant_id}/${r.mode}/${r.operator}`,
        { ...DEFAULT_DUNNING_POLICY, ...r.policy },
      ];
      this.policies.get(r.merchant_id)?.rows.push(entry);
      map.set(entry[0], entry[1]);
    }
    return map;
  }
}

export function policyFor(policies: PolicyMap, sub: SubscriptionRow): DunningPolicy {
  return (
    (sub.operator ? policies.get(`${sub.merchant_id}/${sub.mode}/${sub.operator}`) : undefined) ??
    policies.get(`${sub.merchant_id}/${sub.mode}/`) ??
    DEFAULT_DUNNING_POLICY
  );
}

export function rulesOf(
  ctx: BillingContext,
  sub: Pick<SubscriptionRow, "country" | "operator">,
): ResolvedRules {
  return (ctx.rules ?? rulesFor)(sub.country, sub.operator);
}
