-- Real-time analytics (docs/analytics.md): a feed of the events outbox read by cursors, and the
-- per-minute, per-hour and per-day rollups built from it.

-- One row per event, written by a statement-level trigger in the transaction that writes the
-- event, stamped with that transaction's id. A reader takes only rows whose transaction is older
-- than every transaction still running (pg_snapshot_xmin), in (xid, seq) order: no row can appear
-- later below that horizon, so a cursor over (xid, seq) never skips one that commits late.
-- Append-only: partitioned by day like the other logs.
create table analytics_feed (
  seq bigint generated always as identity,
  xid xid8 not null default pg_current_xact_id(),
  event_id text not null,
  created timestamptz not null,
  primary key (created, seq)
) partition by range (created);
create table analytics_feed_default partition of analytics_feed default;
create index analytics_feed_order on analytics_feed (xid, seq);

create function analytics_feed_append() returns trigger language plpgsql as $$
begin
  insert into analytics_feed (event_id, created)
  select e.id, e.created from new_events e order by e.id;
  return null;
end
$$;

create trigger events_analytics_feed after insert on events
  referencing new table as new_events
  for each statement execute function analytics_feed_append();

-- Where each reader of the feed is: the last (xid, seq) it consumed. A reader locks its row for
-- the length of a batch and advances it in the transaction that applies the batch.
-- A reader that works outside a transaction (the NATS publisher) holds a lease instead of a lock.
create table analytics_cursors (
  name text primary key,
  xid xid8 not null default '0',
  seq bigint not null default 0,
  lease_owner text,
  lease_until timestamptz,
  updated timestamptz not null default now()
);
insert into analytics_cursors (name) values ('rollups'), ('nats');

-- Counts and amounts (minor units) per bucket and key. `grain` is minute, hour or day; empty
-- strings stand for "none" so that every key is a plain primary key. Partitioned by bucket.
create table analytics_rollups (
  grain text not null check (grain in ('minute', 'hour', 'day')),
  bucket timestamptz not null,
  merchant_id text not null,
  mode text not null,
  metric text not null,
  app text not null default '',
  method text not null default '',
  operator text not null default '',
  country text not null default '',
  currency text not null default '',
  product text not null default '',
  reason text not null default '',
  count bigint not null default 0,
  amount bigint not null default 0,
  primary key (grain, merchant_id, mode, bucket, metric, app, method, operator, country, currency, product, reason)
) partition by range (bucket);
create table analytics_rollups_default partition of analytics_rollups default;
-- The admin's view across merchants.
create index analytics_rollups_all on analytics_rollups (grain, mode, bucket);

-- Operator health: the last state each operator was found in, so that an alert is raised once per
-- change (operator.degraded, then operator.recovered).
create table analytics_operator_health (
  operator text not null,
  mode text not null,
  state text not null check (state in ('healthy', 'degraded')),
  acceptance_now numeric,
  acceptance_before numeric,
  changed timestamptz not null,
  primary key (operator, mode)
);
