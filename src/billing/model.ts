import type { PaymentMethod } from "../payments/index.ts";
import { iso } from "../platform/clock.ts";
import { toJsonAmount } from "../platform/money.ts";
import type { Mode } from "../platform/scope.ts";

export type SubscriptionStatus = "incomplete" | "trialing" | "active" | "past_due" | "paused" | "canceled";

export interface Consent {
  method: "web" | "mo" | "header_enrichment" | "pin" | "operator_page" | "api";
  recorded_at: string;
  ip_address?: string;
  user_agent?: string;
  text?: string;
  reference?: string;
  /** Double opt-in: when the second stage (PIN) was verified. */
  pin_verified_at?: string;
}

export interface SubscriptionRow {
  id: string;
  merchant_id: string;
  mode: Mode;
  customer_id: string;
  price_id: string;
  product_id: string;
  status: SubscriptionStatus;
  amount: bigint;
  currency: string;
  period: string;
  country: string | null;
  operator: string | null;
  time_zone: string;
  /** Resolved by the method's provider, as on payments (a carrier number routed to its operator). */
  payment_method: PaymentMethod;
  consent: Consent;
  next_action: { type: "enter_pin"; enter_pin: { attempts_remaining: number; pin_length: number } } | null;
  pin_attempts: number;
  anchor: Date;
  period_index: number;
  /** The period index `anchor` stands for (moved by a deferral or a resume; periods keep their numbers). */
  anchor_period: number;
  current_period_start: Date | null;
  current_period_end: Date | null;
  trial_end: Date | null;
  retry_count: number;
  retry_started: Date | null;
  ladder_step: number;
  debt: bigint;
  debt_since: Date | null;
  last_charge_at: Date | null;
  last_reminder_at: Date | null;
  charges_succeeded: number;
  cancel_reason: string | null;
  canceled_at: Date | null;
  test_clock_id: string | null;
  metadata: Record<string, string>;
  created: Date;
  updated: Date;
  /**
   * Not a column: when the scheduler will next try to charge (its job's `run_at`), joined on
   * read; null when nothing will be charged (awaiting the PIN, paused, canceled).
   */
  next_charge_at?: Date | null;
}

/** The schedule of a subscription never charged yet: period 0 starts at `anchor`, nothing owed. */
export function unchargedSchedule(anchor: Date) {
  return {
    pin_attempts: 0,
    anchor,
    period_index: 0,
    anchor_period: 0,
    current_period_start: null,
    current_period_end: null,
    trial_end: null,
    retry_count: 0,
    retry_started: null,
    ladder_step: 0,
    debt: 0n,
    debt_since: null,
    last_charge_at: null,
    last_reminder_at: null,
    charges_succeeded: 0,
    cancel_reason: null,
    canceled_at: null,
  } satisfies Partial<SubscriptionRow>;
}

export interface JobRow {
  subscription_id: string;
  merchant_id: string;
  mode: Mode;
  clock_key: string;
  run_at: Date;
  pending_payment_id: string | null;
  attempts: number;
  created: Date;
}

export interface ProductRow {
  id: string;
  merchant_id: string;
  mode: Mode;
  name: string;
  description: string | null;
  parent_id: string | null;
  active: boolean;
  metadata: Record<string, string>;
  created: Date;
  updated: Date;
}

export interface PriceRow {
  id: string;
  merchant_id: string;
  mode: Mode;
  product_id: string;
  amount: bigint;
  currency: string;
  country: string | null;
  recurring_period: string | null;
  trial_days: number;
  active: boolean;
  metadata: Record<string, string>;
  created: Date;
  /** Memberships: access granted when the price is bought. */
  grants?: { entitlement: string; period: string } | null;
}

export interface TestClockRow {
  id: string;
  merchant_id: string;
  mode: Mode;
  name: string | null;
  frozen_time: Date;
  processed_until: Date;
  status: "ready" | "advancing";
  created: Date;
  updated: Date;
}

const ms = (d: Date | null) => (d === null ? null : iso(d.getTime()));

export function presentSubscription(s: SubscriptionRow) {
  return {
    id: s.id,
    object: "subscription" as const,
    created: iso(s.created.getTime()),
    livemode: s.mode === "live",
    status: s.status,
    customer: s.customer_id,
    price: s.price_id,
    product: s.product_id,
    amount: toJsonAmount(s.amount),
    currency: s.currency,
    recurring: { period: s.period },
    country: s.country,
    operator: s.operator,
    time_zone: s.time_zone,
    payment_method: s.payment_method,
    consent: s.consent,
    next_action: s.next_action,
    next_charge_at: ms(s.next_charge_at ?? null),
    current_period_start: ms(s.current_period_start),
    current_period_end: ms(s.current_period_end),
    trial_end: ms(s.trial_end),
    billing_period: s.period_index,
    retry_count: s.retry_count,
    debt: toJsonAmount(s.debt),
    cancel_reason: s.cancel_reason,
    canceled_at: ms(s.canceled_at),
    test_clock: s.test_clock_id,
    metadata: s.metadata,
    updated: iso(s.updated.getTime()),
  };
}

export function presentProduct(p: ProductRow) {
  return {
    id: p.id,
    object: "product" as const,
    created: iso(p.created.getTime()),
    livemode: p.mode === "live",
    name: p.name,
    description: p.description,
    parent: p.parent_id,
    active: p.active,
    metadata: p.metadata,
    updated: iso(p.updated.getTime()),
  };
}

export function presentPrice(p: PriceRow) {
  return {
    id: p.id,
    object: "price" as const,
    created: iso(p.created.getTime()),
    livemode: p.mode === "live",
    product: p.product_id,
    amount: toJsonAmount(p.amount),
    currency: p.currency,
    country: p.country,
    type: p.recurring_period === null ? ("one_time" as const) : ("recurring" as const),
    recurring: p.recurring_period === null ? null : { period: p.recurring_period },
    trial_days: p.trial_days,
    active: p.active,
    metadata: p.metadata,
    grants: p.grants ?? null,
  };
}

export function presentTestClock(c: TestClockRow) {
  return {
    id: c.id,
    object: "test_clock" as const,
    created: iso(c.created.getTime()),
    livemode: false,
    name: c.name,
    frozen_time: iso(c.frozen_time.getTime()),
    status: c.status,
  };
}
