-- Analytics: rollups fed from the events outbox in commit order, operator health, and the
-- cursors of the outbox readers (the rollup ingest, the NATS JetStream publisher).
-- See docs/analytics.md.

-- Commit order for outbox readers. Event ids carry the writer's clock (a test clock can be months
-- ahead or behind) and concurrent transactions commit out of id order, so a reader that follows
-- ids would skip events. Each event records the id of the transaction that wrote it; a reader
-- consumes events in (txid, id) order, only below the oldest transaction still running, where no
-- later commit can land. A row trigger because the core inserts events with
-- `select * from json_populate_recordset(...)`, which would write null over a column default.
alter table events add column txid xid8;
update events set txid = '1'::xid8;
alter table events alter column txid set not null;
create function events_stamp_txid() returns trigger language plpgsql as $$
begin
  new.txid := pg_current_xact_id();
  return new;
end
$$;
create trigger events_stamp_txid before insert on events
  for each row execute function events_stamp_txid();
create index events_commit_order on events (txid, id);

-- Where each outbox reader is: the last (txid, id) it has consumed. Moved in the same transaction
-- as what the reader writes (rollups), or after the outside world acknowledged (JetStream).
create table analytics_cursors (
  name text primary key,
  txid xid8 not null,
  event_id text not null,
  events_consumed bigint not null default 0,
  -- The created time of the last consumed event, for the lag.
  last_event_created timestamptz,
  updated timestamptz not null
);

-- What the ingest knows of each payment: its status and the amount it counts under it, so that a
-- change of status moves one count from the old status to the new one. Grows with payments, so
-- partitioned by day on the payment's creation.
create table analytics_payment_states (
  created timestamptz not null,
  payment_id text not null,
  status text not null,
  -- The failure code under which a failed or canceled payment is counted.
  reason text not null,
  amount bigint not null,
  primary key (created, payment_id)
) partition by range (created);
create table analytics_payment_states_default partition of analytics_payment_states default;

-- Rollups: one row per time bucket and key. `metric` says what is counted, `outcome` the state
-- (payments: status; events: the event type; …) and `reason` why (a failure code). Dimensions
-- are '' when unknown so they can be part of the key. Small: rows per minute are bounded by the
-- combinations that occur, not by the payments.
create table analytics_minute (
  merchant_id text not null,
  mode text not null,
  metric text not null,
  bucket timestamptz not null,
  app text not null,
  method text not null,
  operator text not null,
  country text not null,
  currency text not null,
  product text not null,
  outcome text not null,
  reason text not null,
  step text not null,
  count bigint not null,
  amount bigint not null,
  primary key (merchant_id, mode, metric, bucket, app, method, operator, country, currency, product, outcome, reason, step)
);
create table analytics_hour (like analytics_minute including defaults including constraints);
alter table analytics_hour add primary key (merchant_id, mode, metric, bucket, app, method, operator, country, currency, product, outcome, reason, step);
create table analytics_day (like analytics_minute including defaults including constraints);
alter table analytics_day add primary key (merchant_id, mode, metric, bucket, app, method, operator, country, currency, product, outcome, reason, step);

-- Operator health per merchant, mode and operator: the last verdict, so that an alert is raised
-- once when an operator degrades and once when it recovers.
create table analytics_operator_health (
  merchant_id text not null,
  mode text not null,
  operator text not null,
  status text not null check (status in ('healthy', 'degraded')),
  acceptance_rate double precision,
  baseline_acceptance_rate double precision,
  attempts bigint not null,
  baseline_attempts bigint not null,
  since timestamptz not null,
  checked timestamptz not null,
  primary key (merchant_id, mode, operator)
);

-- Per-merchant reporting settings: the time zone charts are drawn in and the currency totals are
-- converted to.
create table analytics_settings (
  merchant_id text primary key,
  time_zone text not null default 'UTC',
  reporting_currency text,
  updated timestamptz not null
);
create index analytics_minute_bucket on analytics_minute (bucket);
