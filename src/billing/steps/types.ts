import type { PaymentProvider, PaymentRow, ProviderAnswer } from "../../payments/index.ts";
import type { Plan } from "../engine.ts";
import type { JobRow, SubscriptionRow } from "../model.ts";
import type { DunningPolicy } from "../policy.ts";
import type { ResolvedRules } from "../rules.ts";

/** A claimed job and what it is decided with. Steps never change an item; they replan it. */
export interface Item {
  readonly job: JobRow;
  readonly sub: SubscriptionRow;
  readonly rules: ResolvedRules;
  readonly policy: DunningPolicy;
  readonly provider: PaymentProvider;
  /** The subscriber's charges in this currency count against the rules' caps. */
  readonly capped: boolean;
  /** The subscriber's local day and month now (cap counters). */
  readonly dayKey: string;
  readonly monthKey: string;
}

/** An item and what the pipeline so far has decided for it. Each step returns new ones. */
export interface Planned {
  readonly item: Item;
  readonly plan: Plan;
}

export type Charge = Extract<Plan, { kind: "charge" }>;

export type SubscriptionPayment = PaymentRow & { subscription_id: string; billing_period: number | null };

/** A charge attempt whose answer is known or awaited, ready to be settled. */
export interface Attempt {
  item: Item;
  payment: SubscriptionPayment;
  /** A new attempt is charged; a known one (its job points at it) is only asked about. */
  isNew: boolean;
  purpose: "period" | "debt";
  /** What the attempt reserved under the caps (the amount it was planned at). */
  reserved: bigint;
  /** Cap keys the attempt's amount was reserved under (the local day and month it was made in). */
  usageKeys: readonly [string, string] | null;
  answer: ProviderAnswer | null;
}

export interface BatchReport {
  claimed: number;
  charged: number;
  succeeded: number;
  deferred: number;
  synced: number;
  /** Deferrals by reason (outside_window, operator_tps, cap_reached, min_interval, not_due, …). */
  deferredBy: Record<string, number>;
}

export function emptyReport(): BatchReport {
  return { claimed: 0, charged: 0, succeeded: 0, deferred: 0, synced: 0, deferredBy: {} };
}
