-- The risk engine (docs/risk.md): a merchant's rules and lists, the decisions they produced, and
-- the observations velocity counters count.

create table risk_rules (
  id text primary key,
  merchant_id text not null,
  mode text not null check (mode in ('test', 'live')),
  name text not null,
  -- The canonical text of the rule (what the API shows); compiled again when loaded.
  rule text not null,
  action text not null check (action in ('allow', 'block', 'review', 'require_pin')),
  status text not null check (status in ('shadow', 'enforce', 'disabled')),
  -- 'default': one of the rules that protect a new merchant, made on first use (docs/risk.md).
  origin text not null check (origin in ('merchant', 'default')),
  created timestamptz not null,
  updated timestamptz not null
);
create unique index risk_rules_name on risk_rules (merchant_id, mode, name);
create index risk_rules_list on risk_rules (merchant_id, mode, id);

create table risk_list_entries (
  id text primary key,
  merchant_id text not null,
  mode text not null check (mode in ('test', 'live')),
  list_type text not null check (list_type in ('blocklist', 'allowlist')),
  list text not null check (list in ('msisdns', 'ips', 'card_fingerprints', 'countries')),
  value text not null,
  created timestamptz not null
);
create unique index risk_list_entries_value on risk_list_entries (merchant_id, mode, list_type, list, value);
create index risk_list_entries_list on risk_list_entries (merchant_id, mode, id);

-- One row per rule that matched (shadow rules too), with the attribute values it read. Only grows:
-- partitioned by day like audit_events.
create table risk_decisions (
  id text not null,
  created timestamptz not null,
  merchant_id text not null,
  mode text not null,
  payment_id text,
  flow text not null,
  rule_id text not null,
  rule_name text not null,
  rule text not null,
  action text not null,
  rule_mode text not null,
  -- Whether this rule decided what happened (an enforced rule stronger than the others that matched).
  decided boolean not null,
  attribute_values jsonb not null,
  primary key (id, created)
) partition by range (created);
create table risk_decisions_default partition of risk_decisions default;
create index risk_decisions_payment on risk_decisions (payment_id, id);
create index risk_decisions_merchant on risk_decisions (merchant_id, mode, id);

-- Velocity counters count these: append-only (no row per counted value that every payment of a
-- busy number would update), read through the window index, and gone when their day's partition
-- is dropped (src/risk/partitions.ts keeps days ahead and drops those past the longest window).
create table risk_observations (
  created timestamptz not null,
  merchant_id text not null,
  mode text not null,
  kind text not null,
  subject text not null,
  value text
) partition by range (created);
create table risk_observations_default partition of risk_observations default;
create index risk_observations_window on risk_observations (merchant_id, mode, kind, subject, created);

-- The review queue: payments a `review` rule holds before any money moves.
create index payments_risk_review on payments (created, id) where provider_state ->> 'risk_review' = 'open';
