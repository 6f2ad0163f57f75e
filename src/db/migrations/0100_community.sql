-- The community back office (issue 11): inner currencies and exchange rates, wallets made of
-- grants, memberships (entitlements), scratch cards (vouchers) and affiliate commissions. Every
-- movement of value is also on the ledger; these tables say why it moved and what is left.

create table inner_currencies (
  merchant_id text not null,
  mode text not null,
  code text not null check (code ~ '^[A-Z]{4,8}$'),
  name text not null,
  minor_digits smallint not null check (minor_digits between 0 and 6),
  created timestamptz not null,
  primary key (merchant_id, mode, code)
);

-- Rates are decimal strings (never floats); the newest valid one is the current rate.
create table exchange_rates (
  id text primary key,
  merchant_id text not null,
  mode text not null,
  from_currency text not null,
  to_currency text not null,
  rate text not null,
  source text,
  valid_from timestamptz not null,
  valid_until timestamptz,
  created timestamptz not null
);
create index exchange_rates_current on exchange_rates (merchant_id, mode, from_currency, to_currency, valid_from desc, id desc);
create index exchange_rates_list on exchange_rates (merchant_id, mode, id);

-- A wallet is the sum of its customer's grants in one currency. `remaining` is what is left;
-- the ledger's wallet accounts (never below zero) hold the same total per category.
create table wallet_grants (
  id text primary key,
  merchant_id text not null,
  mode text not null,
  customer_id text not null,
  currency text not null,
  category text not null check (category in ('paid', 'promotional')),
  amount bigint not null check (amount > 0),
  remaining bigint not null,
  priority integer not null default 0,
  expires_at timestamptz,
  source text not null check (source in ('api', 'top_up', 'refund', 'voucher', 'commission')),
  source_id text,
  -- For top-ups: the rate used and how the payment's amount was split (converted, residue).
  conversion jsonb,
  status text not null check (status in ('active', 'depleted', 'expired', 'revoked')),
  created timestamptz not null,
  check (remaining >= 0 and remaining <= amount)
);
create index wallet_grants_customer on wallet_grants (customer_id, currency) where status = 'active';
create index wallet_grants_all on wallet_grants (customer_id, currency, id);
create index wallet_grants_expiry on wallet_grants (expires_at) where status = 'active' and expires_at is not null;
create index wallet_grants_source on wallet_grants (source_id) where source_id is not null;

-- What a wallet payment took from each grant: a hold, then posted or released, or posted at once.
create table wallet_draws (
  id text primary key,
  merchant_id text not null,
  mode text not null,
  payment_id text not null,
  grant_id text not null references wallet_grants (id),
  amount bigint not null check (amount > 0),
  transfer_id text not null,
  status text not null check (status in ('held', 'posted', 'released')),
  amount_posted bigint not null default 0,
  amount_refunded bigint not null default 0,
  created timestamptz not null
);
create index wallet_draws_payment on wallet_draws (payment_id);

-- What a payment does when it succeeds besides moving its own money (a top-up, a price's grants).
alter table payments add column effects jsonb;
alter table refunds add column effects jsonb;

alter table prices add column grants jsonb;

alter table customers add column referred_by text;
create index customers_referred_by on customers (referred_by) where referred_by is not null;

-- Memberships: one row per customer and entitlement, read by one primary-key lookup.
create table entitlements (
  customer_id text not null,
  entitlement text not null,
  merchant_id text not null,
  mode text not null,
  active_until timestamptz not null,
  updated timestamptz not null,
  primary key (customer_id, entitlement)
) with (fillfactor = 80);

-- Each prolongation, so a refund knows what to take back.
create table entitlement_grants (
  id text primary key,
  merchant_id text not null,
  mode text not null,
  customer_id text not null,
  entitlement text not null,
  period text not null,
  source text not null check (source in ('payment', 'voucher')),
  source_id text not null,
  added_ms bigint not null check (added_ms >= 0),
  removed_ms bigint not null default 0 check (removed_ms >= 0 and removed_ms <= added_ms),
  created timestamptz not null
);
create index entitlement_grants_source on entitlement_grants (source_id);

create table voucher_batches (
  id text primary key,
  merchant_id text not null,
  mode text not null,
  status text not null check (status in ('pending_approval', 'approved')),
  count integer not null check (count > 0),
  value_amount bigint check (value_amount > 0),
  value_currency text,
  entitlement text,
  period text,
  expires_at timestamptz,
  code_length integer not null,
  alphabet text not null,
  group_size integer not null,
  serial_prefix text not null,
  breakage_rate text not null default '0',
  created_by text not null,
  approved_by text,
  approved_at timestamptz,
  -- The printer's file, encrypted, until its one download.
  codes_sealed text,
  codes_downloaded_at timestamptz,
  created timestamptz not null,
  check ((value_amount is null) = (value_currency is null)),
  check ((entitlement is null) = (period is null)),
  check ((value_amount is null) <> (entitlement is null))
);
create index voucher_batches_list on voucher_batches (merchant_id, mode, id);

create table vouchers (
  batch_id text not null references voucher_batches (id),
  serial_number integer not null,
  merchant_id text not null,
  mode text not null,
  code_hash text not null unique,
  status text not null check (status in ('inactive', 'active', 'redeemed', 'voided')),
  activated_at timestamptz,
  redemption_id text,
  primary key (batch_id, serial_number)
);

create table voucher_redemptions (
  id text primary key,
  merchant_id text not null,
  mode text not null,
  batch_id text not null,
  serial_number integer not null,
  customer_id text not null,
  status text not null check (status in ('pending', 'posted')),
  granted jsonb not null,
  hold_transfer_id text,
  created timestamptz not null,
  updated timestamptz not null
);
create index voucher_redemptions_pending on voucher_redemptions (created) where status = 'pending';

-- Failed redemption attempts per customer and per IP, counted in fixed windows.
create table voucher_failures (
  merchant_id text not null,
  mode text not null,
  subject text not null,
  window_start timestamptz not null,
  failures integer not null,
  primary key (merchant_id, mode, subject, window_start)
);

create table commission_plans (
  id text primary key,
  merchant_id text not null,
  mode text not null,
  levels jsonb not null,
  hold_days integer not null check (hold_days >= 0),
  max_depth integer not null check (max_depth between 1 and 10),
  product_id text,
  active boolean not null default true,
  created timestamptz not null
);
create index commission_plans_active on commission_plans (merchant_id, mode, id) where active;

create table commissions (
  id text primary key,
  merchant_id text not null,
  mode text not null,
  plan_id text not null,
  payment_id text not null,
  affiliate_id text not null,
  customer_id text not null,
  level integer not null,
  percent text not null,
  amount bigint not null check (amount > 0),
  currency text not null,
  status text not null check (status in ('pending', 'approved', 'paid', 'reversed')),
  hold_until timestamptz not null,
  hold_transfer_id text not null,
  paid_via text,
  created timestamptz not null,
  updated timestamptz not null
);
create index commissions_affiliate on commissions (merchant_id, mode, affiliate_id, id);
create index commissions_list on commissions (merchant_id, mode, id);
create index commissions_payment on commissions (payment_id);
create index commissions_due on commissions (hold_until) where status = 'pending';

-- A run of back-to-back periods of one length is computed from its first start (anchor), so
-- Jan 31 + 1 month + 1 month lands on Mar 31, not Mar 28.
alter table entitlements add column anchor_at timestamptz;
alter table entitlements add column run_period text;
alter table entitlements add column run_count integer not null default 0;

-- Breakage recognized so far, and when an expired batch's last liability went to breakage.
alter table voucher_batches add column breakage_recognized bigint not null default 0;
alter table voucher_batches add column closed_at timestamptz;
create index voucher_batches_open on voucher_batches (expires_at) where status = 'approved' and closed_at is null and value_amount is not null;
