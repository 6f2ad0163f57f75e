-- Core schema: merchants, keys, customers, payments, refunds, idempotency, events, provider
-- interactions and the double-entry ledger. Every business table leads with merchant_id and mode,
-- so the schema can later be distributed by merchant.

create table settings (
  name text primary key,
  value text not null
);

create table merchants (
  id text primary key,
  name text not null,
  default_currency text,
  created timestamptz not null
);

create table api_keys (
  id text primary key,
  merchant_id text not null references merchants (id),
  mode text not null check (mode in ('test', 'live')),
  type text not null check (type in ('secret', 'publishable')),
  secret_hash text not null unique,
  redacted text not null,
  name text,
  created timestamptz not null,
  expires_at timestamptz,
  revoked_at timestamptz
);
create index api_keys_merchant on api_keys (merchant_id, mode, id);

create table customers (
  id text primary key,
  merchant_id text not null references merchants (id),
  mode text not null,
  external_id text,
  email text,
  msisdn text,
  country text,
  time_zone text,
  locale text,
  metadata jsonb not null default '{}',
  created timestamptz not null
);
create index customers_list on customers (merchant_id, mode, id);
create index customers_external on customers (merchant_id, mode, external_id) where external_id is not null;

create table payments (
  id text primary key,
  merchant_id text not null,
  mode text not null,
  status text not null check (status in ('requires_action', 'processing', 'requires_capture', 'succeeded', 'failed', 'canceled')),
  amount bigint not null check (amount > 0),
  currency text not null,
  amount_captured bigint not null default 0,
  amount_refunded bigint not null default 0,
  -- Refunds that are pending or succeeded: what a new refund is checked against.
  amount_refund_reserved bigint not null default 0,
  capture_method text not null check (capture_method in ('automatic', 'manual')),
  customer_id text,
  description text,
  metadata jsonb not null default '{}',
  payment_method jsonb not null,
  provider text not null,
  attempt_id text not null,
  next_action jsonb,
  failure_code text,
  failure_message text,
  pin_attempts integer not null default 0,
  hold_transfer_id text,
  capture_before timestamptz,
  reconcile_after timestamptz,
  created timestamptz not null,
  updated timestamptz not null,
  check (amount_captured >= 0 and amount_captured <= amount),
  check (amount_refunded >= 0 and amount_refunded <= amount_refund_reserved),
  check (amount_refund_reserved <= amount_captured)
);
create index payments_list on payments (merchant_id, mode, id);
create index payments_customer on payments (merchant_id, mode, customer_id, id) where customer_id is not null;
create index payments_to_reconcile on payments (reconcile_after) where status = 'processing';
create index payments_holds on payments (capture_before) where status = 'requires_capture';

create table refunds (
  id text primary key,
  merchant_id text not null,
  mode text not null,
  payment_id text not null references payments (id),
  amount bigint not null check (amount > 0),
  currency text not null,
  status text not null check (status in ('pending', 'succeeded', 'failed')),
  reason text,
  failure_code text,
  metadata jsonb not null default '{}',
  created timestamptz not null,
  updated timestamptz not null
);
create index refunds_list on refunds (merchant_id, mode, id);
create index refunds_payment on refunds (payment_id);

create table idempotency_keys (
  merchant_id text not null,
  mode text not null,
  key text not null,
  request_hash text not null,
  status_code integer,
  response_body text,
  created timestamptz not null,
  expires_at timestamptz not null,
  primary key (merchant_id, mode, key)
);
create index idempotency_keys_expiry on idempotency_keys (expires_at);

create table events (
  id text primary key,
  merchant_id text not null,
  mode text not null,
  type text not null,
  object_id text not null,
  payment_id text,
  data json not null,
  created timestamptz not null
);
create index events_list on events (merchant_id, mode, id);
create index events_object on events (object_id);
create index events_payment on events (payment_id) where payment_id is not null;

-- Every request to and response from an outside provider, append-only.
create table provider_interactions (
  id text primary key,
  merchant_id text not null,
  mode text not null,
  payment_id text,
  refund_id text,
  provider text not null,
  operation text not null,
  attempt_id text,
  request json,
  response json,
  outcome text not null,
  latency_ms integer not null,
  created timestamptz not null
);
create index provider_interactions_payment on provider_interactions (payment_id) where payment_id is not null;

-- The ledger. Accounts per (merchant, mode, owner, purpose, currency); transfers are immutable;
-- balances are kept in slots so that concurrent writers to one account do not serialize on a row.
create table ledger_accounts (
  id text primary key,
  merchant_id text not null,
  mode text not null,
  owner_id text not null,
  purpose text not null,
  currency text not null,
  debits_must_not_exceed_credits boolean not null default false,
  credits_must_not_exceed_debits boolean not null default false,
  created timestamptz not null,
  unique (merchant_id, mode, owner_id, purpose, currency)
);

create table ledger_transfers (
  id text primary key,
  merchant_id text not null,
  mode text not null,
  journal_id text not null,
  type text not null check (type in ('single_phase', 'pending', 'post_pending', 'void_pending', 'expire_pending')),
  debit_account_id text not null references ledger_accounts (id),
  credit_account_id text not null references ledger_accounts (id),
  amount bigint not null check (amount >= 0),
  currency text not null,
  pending_id text references ledger_transfers (id),
  expires_at timestamptz,
  code text not null,
  reference text,
  created timestamptz not null,
  check (debit_account_id <> credit_account_id),
  check ((type in ('post_pending', 'void_pending', 'expire_pending')) = (pending_id is not null))
);
-- A pending transfer is resolved (posted, voided or expired) at most once.
create unique index ledger_transfers_resolution on ledger_transfers (pending_id) where pending_id is not null;
create index ledger_transfers_debit on ledger_transfers (debit_account_id, id);
create index ledger_transfers_credit on ledger_transfers (credit_account_id, id);
create index ledger_transfers_expiry on ledger_transfers (expires_at) where type = 'pending' and expires_at is not null;

create table ledger_balances (
  account_id text not null references ledger_accounts (id),
  slot smallint not null,
  debits_pending bigint not null default 0,
  debits_posted bigint not null default 0,
  credits_pending bigint not null default 0,
  credits_posted bigint not null default 0,
  primary key (account_id, slot)
);
