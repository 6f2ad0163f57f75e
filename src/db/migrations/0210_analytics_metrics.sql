-- Analytics metrics beyond payments (docs/analytics.md, issue 13): distributions (provider
-- latency and error rate per operator, webhook delivery lag), voucher redemptions and webhook
-- attempts in the feed, and the exchange rates of the reporting currency.

-- Histograms: how many values fell at or below `le_ms` (rounded up to two significant digits)
-- per grain, bucket and key, so p50/p99 come from sums (exact to the rounding) and add up
-- across buckets. `errors` of the same values (provider calls whose outcome is unknown or not
-- sent). Metrics: provider_latency (provider_interactions), webhook_lag (event → delivery).
create table analytics_distributions (
  grain text not null check (grain in ('minute', 'hour', 'day')),
  bucket timestamptz not null,
  merchant_id text not null,
  mode text not null,
  metric text not null,
  provider text not null default '',
  operator text not null default '',
  le_ms integer not null,
  count bigint not null default 0,
  errors bigint not null default 0,
  primary key (grain, merchant_id, mode, bucket, metric, provider, operator, le_ms)
) partition by range (bucket);
create table analytics_distributions_default partition of analytics_distributions default;
create index analytics_distributions_all on analytics_distributions (grain, mode, bucket);

-- Rows that are not events also go through the feed (same horizon, same cursor, counted once):
-- webhook attempts (the delivery lag; written by the webhook worker, never on the payment path)
-- and voucher redemptions (which write no event). Their id is the feed row's event_id.
create function analytics_feed_append_rows() returns trigger language plpgsql as $$
begin
  insert into analytics_feed (event_id, created)
  select r.id, r.created from new_rows r order by r.id;
  return null;
end
$$;

create trigger webhook_attempts_analytics_feed after insert on webhook_attempts
  referencing new table as new_rows
  for each statement execute function analytics_feed_append_rows();

create trigger voucher_redemptions_analytics_feed after insert on voucher_redemptions
  referencing new table as new_rows
  for each statement execute function analytics_feed_append_rows();

-- Rates for totals in the reporting currency, per day (UTC): the rate of a day is the newest
-- one set for that day or before it. Decimal strings, never floats.
create table analytics_exchange_rates (
  from_currency text not null,
  to_currency text not null,
  day date not null,
  rate text not null,
  created timestamptz not null,
  primary key (from_currency, to_currency, day)
);
