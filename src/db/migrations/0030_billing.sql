-- Billing: catalog (products, prices), subscriptions, the charging jobs table, per-subscriber cap
-- usage, per-operator rate counters, dunning policies and test clocks. Every table leads with
-- merchant_id and mode except the scheduler's own coordination tables.

create table test_clocks (
  id text primary key,
  merchant_id text not null,
  mode text not null check (mode = 'test'),
  name text,
  frozen_time timestamptz not null,
  -- Every due charge up to here has been processed; below frozen_time while advancing.
  processed_until timestamptz not null,
  status text not null check (status in ('ready', 'advancing')),
  created timestamptz not null,
  updated timestamptz not null
);
create index test_clocks_list on test_clocks (merchant_id, mode, id);
create index test_clocks_advancing on test_clocks (status) where status = 'advancing';

-- Customers created under a test clock run on that clock's time.
alter table customers add column test_clock_id text;

create table products (
  id text primary key,
  merchant_id text not null,
  mode text not null,
  name text not null,
  description text,
  parent_id text,
  active boolean not null default true,
  metadata jsonb not null default '{}',
  created timestamptz not null,
  updated timestamptz not null
);
create index products_list on products (merchant_id, mode, id);
create index products_parent on products (merchant_id, mode, parent_id, id) where parent_id is not null;

create table prices (
  id text primary key,
  merchant_id text not null,
  mode text not null,
  product_id text not null references products (id),
  amount bigint not null check (amount > 0),
  currency text not null,
  country text,
  -- An ISO 8601 duration (P1D, P1W, P1M, PT12H, P1Y2M); null for a one-time price.
  recurring_period text,
  trial_days integer not null default 0 check (trial_days >= 0),
  active boolean not null default true,
  metadata jsonb not null default '{}',
  created timestamptz not null
);
create index prices_list on prices (merchant_id, mode, id);
create index prices_product on prices (merchant_id, mode, product_id, id);

create table subscriptions (
  id text primary key,
  merchant_id text not null,
  mode text not null,
  customer_id text not null,
  price_id text not null,
  product_id text not null,
  status text not null check (status in ('incomplete', 'trialing', 'active', 'past_due', 'paused', 'canceled')),
  amount bigint not null check (amount > 0),
  currency text not null,
  period text not null,
  country text,
  operator text,
  time_zone text not null,
  payment_method jsonb not null,
  consent jsonb not null,
  next_action jsonb,
  pin_attempts integer not null default 0,
  -- Period n starts at anchor + n * period in the subscriber's time zone.
  anchor timestamptz not null,
  period_index integer not null default 0,
  current_period_start timestamptz,
  current_period_end timestamptz,
  trial_end timestamptz,
  -- Dunning state of the unpaid period: failed attempts so far, when retries began, the ladder step.
  retry_count integer not null default 0,
  retry_started timestamptz,
  ladder_step integer not null default 0,
  -- Unpaid remainders of partial payments, also on the ledger (subscription_debt accounts).
  debt bigint not null default 0 check (debt >= 0),
  debt_since timestamptz,
  last_charge_at timestamptz,
  last_reminder_at timestamptz,
  charges_succeeded integer not null default 0,
  cancel_reason text,
  canceled_at timestamptz,
  test_clock_id text,
  metadata jsonb not null default '{}',
  created timestamptz not null,
  updated timestamptz not null
) with (fillfactor = 70);
create index subscriptions_list on subscriptions (merchant_id, mode, id);
create index subscriptions_customer on subscriptions (merchant_id, mode, customer_id, id);

-- The jobs table: one row per live subscription, the next thing to do for it and when.
-- Renewals rewrite subscriptions, counters and jobs constantly: free space in every page (fillfactor)
-- lets PostgreSQL update them in place without touching the indexes (HOT) where no indexed column changes.
-- Workers claim due rows with FOR UPDATE SKIP LOCKED; the row lock is the subscription's mutex
-- (API cancels lock it too). clock_key is '' for real time, else the test clock's id.
create table billing_jobs (
  subscription_id text primary key,
  merchant_id text not null,
  mode text not null,
  clock_key text not null default '',
  run_at timestamptz not null,
  -- A charge whose outcome is not known yet: the next run asks the provider, never charges again.
  pending_payment_id text,
  attempts integer not null default 0,
  created timestamptz not null
);
create index billing_jobs_due on billing_jobs (clock_key, run_at);

-- Money the scheduler moves, per subscriber and local day or month, for caps.
create table billing_cap_usage (
  customer_id text not null,
  period_key text not null,
  currency text not null,
  amount bigint not null default 0,
  primary key (customer_id, period_key, currency)
) with (fillfactor = 70);

-- Charges sent per operator in the current second, so no operator gets more than its TPS. The
-- budget is split over a few shards; a batch takes the shards no other worker holds (SKIP
-- LOCKED), so concurrent workers never queue behind each other. A row counts for `second` only:
-- a later second starts again from zero.
create table billing_operator_seconds (
  operator text not null,
  shard smallint not null,
  second bigint not null,
  used integer not null default 0,
  primary key (operator, shard)
) with (fillfactor = 50);

create table dunning_policies (
  id text primary key,
  merchant_id text not null,
  mode text not null,
  -- '' is the merchant's default; otherwise an operator id (MCC+MNC).
  operator text not null default '',
  policy jsonb not null,
  created timestamptz not null,
  updated timestamptz not null,
  unique (merchant_id, mode, operator)
);

-- Every charge attempt is a payment carrying its subscription; billing_period is the period it
-- pays (null for debt collection). Exactly one success per subscription and period, enforced here
-- as the last line of defence behind the job lock.
alter table payments add column subscription_id text;
alter table payments add column billing_period integer;
create index payments_subscription on payments (merchant_id, mode, subscription_id, id) where subscription_id is not null;
create unique index payments_subscription_period_success on payments (subscription_id, billing_period)
  where status = 'succeeded' and billing_period is not null;
