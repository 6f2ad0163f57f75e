-- The period index a subscription's anchor stands for. A late-paid period that moves the anchor
-- (deferral) and a resume start counting from a new anchor, but periods keep their numbers:
-- `billing_period` of a succeeded payment is never reused (payments_subscription_period_success).
-- A period n is due at anchor + (n - anchor_period) × period.
alter table subscriptions add column anchor_period integer not null default 0;
