-- Remote providers (carriers, card networks): a payment records its attempt before calling out,
-- keeps what the provider needs to continue (a consent id, its reference), and callbacks find the
-- payment by our attempt id. An idempotency record may point at the object whose response it
-- will hold once the attempt settles.
alter table payments add column provider_state jsonb;
alter table payments add column provider_reference text;
create index payments_attempt on payments (attempt_id);

alter table refunds add column reconcile_after timestamptz;
alter table refunds add column provider_reference text;
create index refunds_to_reconcile on refunds (reconcile_after) where status = 'pending';

alter table idempotency_keys add column resource_id text;
create index idempotency_keys_unfinished on idempotency_keys (resource_id) where status_code is null;

create index provider_interactions_attempt on provider_interactions (attempt_id) where attempt_id is not null;

-- Wire exchanges that belong to no payment (a token fetch, an operator lookup) are logged too.
alter table provider_interactions alter column merchant_id drop not null;
alter table provider_interactions alter column mode drop not null;

-- Payments awaiting the provider or the payer (a 3-D Secure redirect) are checked when due.
drop index payments_to_reconcile;
create index payments_reconcile_due on payments (reconcile_after) where reconcile_after is not null;

-- The interaction log is searchable by payment, MSISDN, operator and time.
alter table provider_interactions add column msisdn text;
alter table provider_interactions add column operator text;
create index provider_interactions_msisdn on provider_interactions (msisdn, id) where msisdn is not null;
create index provider_interactions_operator on provider_interactions (operator, id) where operator is not null;

-- Payments waiting for the payer's MO message are found by the code the payer texts.
create index payments_awaiting_mo on payments ((provider_state ->> 'mo_code')) where status = 'requires_action';
