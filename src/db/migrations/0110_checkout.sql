-- Checkout: apps, hosted checkout sessions, signed payment links, the payer journey's steps,
-- delivery after payment (fulfilment orders and game-key codes), receipts. See docs/checkout.md.

create table checkout_apps (
  id text primary key,
  merchant_id text not null,
  mode text not null check (mode in ('test', 'live')),
  name text not null,
  -- Origins (scheme://host[:port]) allowed to frame the embedded form.
  allowed_origins text[] not null default '{}',
  fulfilment_url text,
  -- Signs delivery orders (Standard Webhooks, 'whsec_…'); shown once when the app is created.
  fulfilment_secret text not null,
  metadata jsonb not null default '{}',
  created timestamptz not null,
  updated timestamptz not null
);
create index checkout_apps_list on checkout_apps (merchant_id, mode, id);

create table payment_links (
  id text primary key,
  merchant_id text not null,
  mode text not null check (mode in ('test', 'live')),
  app_id text,
  line_items jsonb not null,
  amount_total bigint not null check (amount_total > 0),
  currency text not null,
  description text,
  expires_at timestamptz,
  max_uses integer check (max_uses > 0),
  -- Completed payments through the link.
  uses integer not null default 0 check (uses >= 0),
  active boolean not null default true,
  after_completion jsonb not null,
  metadata jsonb not null default '{}',
  created timestamptz not null,
  updated timestamptz not null
);
create index payment_links_list on payment_links (merchant_id, mode, id);

create table checkout_sessions (
  id text primary key,
  merchant_id text not null,
  mode text not null check (mode in ('test', 'live')),
  app_id text,
  payment_link_id text,
  status text not null check (status in ('open', 'complete', 'expired')),
  amount_total bigint not null check (amount_total > 0),
  currency text not null,
  description text,
  line_items jsonb not null,
  customer_id text,
  payer jsonb not null default '{}',
  locale text,
  payment_method_types text[] not null,
  success_url text,
  cancel_url text,
  expires_at timestamptz not null,
  metadata jsonb not null default '{}',
  client_secret text not null unique,
  -- The payment in flight, or the one that completed the session. One at a time.
  payment_id text,
  completed_at timestamptz,
  -- null: nothing to deliver (no fulfilment URL); else pending → delivered | failed.
  fulfilment_status text check (fulfilment_status in ('pending', 'delivered', 'failed')),
  -- Codes handed out on completion: [{product, code}].
  codes jsonb not null default '[]',
  pin_resends integer not null default 0,
  attempts integer not null default 0,
  created timestamptz not null,
  updated timestamptz not null,
  check ((status = 'complete') = (completed_at is not null))
);
create index checkout_sessions_list on checkout_sessions (merchant_id, mode, id);
create index checkout_sessions_link on checkout_sessions (payment_link_id, id) where payment_link_id is not null;
create index checkout_sessions_due on checkout_sessions (expires_at) where status = 'open';
create index checkout_sessions_in_flight on checkout_sessions (updated) where status = 'open' and payment_id is not null;

-- Every payment a session started, so a payment finds its session (and a second success is refunded).
create table checkout_attempts (
  payment_id text primary key,
  session_id text not null,
  merchant_id text not null,
  mode text not null,
  method text not null,
  created timestamptz not null
);
create index checkout_attempts_session on checkout_attempts (session_id);

-- Game keys attached to a product, handed out one per unit bought, exactly once.
create table checkout_product_codes (
  id bigint generated always as identity primary key,
  merchant_id text not null,
  mode text not null,
  product_id text not null,
  code text not null,
  session_id text,
  assigned_at timestamptz,
  created timestamptz not null,
  unique (merchant_id, mode, product_id, code)
);
create index checkout_product_codes_free on checkout_product_codes (merchant_id, mode, product_id, id)
  where session_id is null;

-- Delivery orders to an app's fulfilment URL: one per completed session, retried until acknowledged.
create table checkout_fulfilments (
  session_id text primary key,
  merchant_id text not null,
  mode text not null,
  app_id text not null,
  url text not null,
  status text not null check (status in ('pending', 'delivered', 'failed')),
  attempt_count integer not null default 0,
  next_attempt_at timestamptz not null,
  last_response_status integer,
  last_error text,
  created timestamptz not null,
  updated timestamptz not null
);
create index checkout_fulfilments_due on checkout_fulfilments (next_attempt_at) where status = 'pending';
-- The order body, apart from the queue row that each attempt updates.
create table checkout_fulfilment_bodies (
  session_id text primary key,
  message_id text not null,
  body text not null
);

-- Receipts to payers. The development sender keeps them here (the outbox), readable through the API.
create table checkout_receipts (
  id text primary key,
  merchant_id text not null,
  mode text not null,
  session_id text not null,
  channel text not null,
  recipient text not null,
  subject text not null,
  body text not null,
  status text not null check (status in ('outbox', 'sent', 'failed')),
  created timestamptz not null
);
create index checkout_receipts_list on checkout_receipts (merchant_id, mode, id);
create index checkout_receipts_session on checkout_receipts (session_id);

-- A payer who confirmed an MSISDN by PIN in one of a merchant's apps, recognized in its others.
create table checkout_payer_consents (
  id text primary key,
  merchant_id text not null,
  mode text not null,
  msisdn text not null,
  operator text not null,
  app_id text,
  session_id text not null,
  created timestamptz not null,
  expires_at timestamptz not null
);
create index checkout_payer_consents_msisdn on checkout_payer_consents (merchant_id, mode, msisdn, expires_at);

-- Keys that sign payment-link URLs. A retired key still verifies until retires_at (the overlap).
create table checkout_link_keys (
  kid text primary key,
  secret text not null,
  created timestamptz not null,
  retires_at timestamptz
);

-- Every step of every payer journey, for the conversion funnel (analytics reads it). Append-only,
-- partitioned by day on `created`; the default partition takes any day not created yet.
create table checkout_steps (
  id text not null,
  session_id text not null,
  merchant_id text not null,
  mode text not null,
  app_id text,
  country text,
  operator text,
  method text,
  step text not null,
  created timestamptz not null,
  primary key (created, id)
) partition by range (created);
create table checkout_steps_default partition of checkout_steps default;
create index checkout_steps_session on checkout_steps (session_id);
create index checkout_steps_funnel on checkout_steps (merchant_id, mode, created);
