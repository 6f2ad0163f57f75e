/**
 * Every event type Centime writes, in one list: what a webhook endpoint may subscribe to (besides
 * `*`), and what the emitters' types allow, so that a type written nowhere cannot be subscribed to
 * and a new one cannot be written without being listed (the compiler says so).
 */
export const EVENT_TYPES = [
  "payment.created",
  "payment.requires_action",
  "payment.requires_capture",
  "payment.processing",
  "payment.succeeded",
  "payment.failed",
  "payment.canceled",
  "payment.attempt_unresolved",
  "payment.late_success_reversed",
  "payment.review_approved",
  "payment.review_refused",
  "refund.created",
  "refund.succeeded",
  "refund.failed",
  "refund_request.created",
  "refund_request.approved",
  "refund_request.declined",
  "subscription.created",
  "subscription.updated",
  "subscription.canceled",
  "subscription.paused",
  "subscription.resumed",
  "subscription.renewed",
  "subscription.past_due",
  "subscription.partially_paid",
  "subscription.requires_action",
  "subscription.charge_skipped",
  "subscription.reminder",
  "subscription.receipt",
  "subscription.debt_collected",
  "subscription.debt_written_off",
  "checkout_session.completed",
  "checkout_session.expired",
  "entitlement.granted",
  "entitlement.shortened",
  "wallet_grant.expired",
  "operator.degraded",
  "operator.recovered",
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

const KNOWN: ReadonlySet<string> = new Set(EVENT_TYPES);

export function isEventType(value: string): value is EventType {
  return KNOWN.has(value);
}
