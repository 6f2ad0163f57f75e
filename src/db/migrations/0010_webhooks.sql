-- Webhook endpoints, the delivery queue fed from the events outbox, and the log of attempts.
-- See docs/webhooks.md.

create table webhook_endpoints (
  id text primary key,
  merchant_id text not null,
  mode text not null check (mode in ('test', 'live')),
  url text not null,
  description text,
  -- Event types to deliver; '*' means all.
  events text[] not null,
  enabled boolean not null default true,
  -- Why the platform disabled it ('gone' after a 410), null when the merchant did.
  disabled_reason text,
  -- The signing secret ('whsec_…'). Signing needs the secret itself, so it is stored; it is shown
  -- only when created or rotated and never logged.
  secret text not null,
  -- During a rotation both secrets sign until the previous one expires.
  previous_secret text,
  previous_secret_expires timestamptz,
  created timestamptz not null,
  updated timestamptz not null
);
create index webhook_endpoints_list on webhook_endpoints (merchant_id, mode, id);
-- The fan-out trigger probes this on every event insert: one index lookup when there is none.
create index webhook_endpoints_enabled on webhook_endpoints (merchant_id, mode) where enabled;

-- One row per (event, endpoint) to deliver; a manual redelivery adds another row.
create table webhook_deliveries (
  id bigint generated always as identity primary key,
  merchant_id text not null,
  mode text not null,
  endpoint_id text not null references webhook_endpoints (id) on delete cascade,
  event_id text not null,
  object_id text not null,
  status text not null check (status in ('pending', 'succeeded', 'failed', 'canceled')),
  manual boolean not null default false,
  attempt_count integer not null default 0,
  -- When a pending delivery is due. A worker that claims it moves this to the end of its lease, so
  -- a claim left by a killed worker becomes due again by itself.
  next_attempt_at timestamptz not null,
  -- The claim that may record the outcome; a worker whose lease ran out cannot overwrite a newer one.
  lease_token text,
  created timestamptz not null,
  updated timestamptz not null
);
create index webhook_deliveries_due on webhook_deliveries (next_attempt_at, id) where status = 'pending';
-- Per-object ordering: is an earlier delivery for this object still pending on this endpoint?
create index webhook_deliveries_object on webhook_deliveries (endpoint_id, object_id, id) where status = 'pending';
create index webhook_deliveries_endpoint on webhook_deliveries (endpoint_id, id);
create index webhook_deliveries_event on webhook_deliveries (event_id);
create index webhook_deliveries_created on webhook_deliveries (created);

create table webhook_attempts (
  id text primary key,
  merchant_id text not null,
  mode text not null,
  endpoint_id text not null references webhook_endpoints (id) on delete cascade,
  delivery_id bigint not null,
  event_id text not null,
  event_type text not null,
  attempt_number integer not null,
  manual boolean not null,
  status text not null check (status in ('succeeded', 'failed')),
  response_status integer,
  -- A short code: 'timeout', 'connection_refused', 'address_blocked', 'redirect_not_followed', …
  error text,
  latency_ms integer not null,
  url text not null,
  created timestamptz not null
);
create index webhook_attempts_endpoint on webhook_attempts (endpoint_id, id);
create index webhook_attempts_created on webhook_attempts (created);

-- Fan-out from the outbox. Deliveries are queued in the transaction that writes the events, so an
-- event becomes deliverable exactly when it commits, whatever the commit order of concurrent
-- transactions: nothing scans events by id, so nothing can be skipped. One statement-level run
-- per insert statement keeps batched event writes cheap.
create function webhooks_fan_out() returns trigger language plpgsql as $$
begin
  insert into webhook_deliveries
    (merchant_id, mode, endpoint_id, event_id, object_id, status, next_attempt_at, created, updated)
  select e.merchant_id, e.mode, w.id, e.id, e.object_id, 'pending', e.created, e.created, e.created
  from new_events e
  join webhook_endpoints w
    on w.merchant_id = e.merchant_id and w.mode = e.mode and w.enabled
   and w.events && array['*', e.type]
  order by e.id, w.id;
  return null;
end
$$;

create trigger events_fan_out after insert on events
  referencing new table as new_events
  for each statement execute function webhooks_fan_out();
