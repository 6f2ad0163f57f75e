-- The back office: staff and their roles, sign-in (sessions, certificates, throttling), restricted
-- API keys, four-eyes approvals and the append-only, hash-chained audit log.

-- Custom roles; the default roles (owner, administrator, finance, support, developer, viewer) live
-- in code. merchant_id null = a platform role.
create table staff_roles (
  id text primary key,
  merchant_id text references merchants (id),
  name text not null,
  permissions text[] not null,
  created timestamptz not null
);
create unique index staff_roles_name on staff_roles (coalesce(merchant_id, ''), name);

create table staff (
  id text primary key,
  -- null = the platform's own staff; otherwise a merchant's team member.
  merchant_id text references merchants (id),
  email text not null,
  role text not null,
  -- The mode a merchant team member acts in through the API.
  mode text not null check (mode in ('test', 'live')),
  password_hash text,
  totp_secret text,
  time_zone text not null default 'UTC',
  locale text not null default 'en',
  disabled_at timestamptz,
  created timestamptz not null
);
create unique index staff_email on staff (coalesce(merchant_id, ''), lower(email));

-- Personal keys (`sk_staff_…`): only a hash is stored.
create table staff_keys (
  id text primary key,
  staff_id text not null references staff (id),
  secret_hash text not null unique,
  redacted text not null,
  created timestamptz not null,
  revoked_at timestamptz
);

create table staff_sessions (
  token_hash text primary key,
  staff_id text not null references staff (id),
  method text not null check (method in ('password', 'certificate')),
  created timestamptz not null,
  expires_at timestamptz not null
);
create index staff_sessions_expiry on staff_sessions (expires_at);

-- Client certificates issued by `centime certs issue`, by SHA-256 fingerprint of the DER.
create table staff_certificates (
  fingerprint text primary key,
  staff_id text not null references staff (id),
  serial text not null,
  not_after timestamptz not null,
  revoked_at timestamptz,
  created timestamptz not null
);

-- Failed sign-ins per subject (an e-mail or an address) in the current window.
create table signin_failures (
  subject text primary key,
  failures integer not null,
  window_start timestamptz not null
);

-- Restricted secret keys: null = every permission of the merchant.
alter table api_keys add column permissions text[];

-- Refunds by staff above these amounts (minor units per currency) need a second person.
alter table merchants add column refund_approval_thresholds jsonb not null default '{}';

create table approvals (
  id text primary key,
  merchant_id text,
  mode text not null,
  action text not null,
  arguments jsonb not null,
  -- SHA-256 of the canonical arguments: what the approver saw is what runs.
  arguments_hash text not null,
  permission text not null,
  maker text not null,
  status text not null check (status in ('pending', 'approved', 'rejected', 'expired', 'failed')),
  expires_at timestamptz not null,
  decided_by text,
  decided_at timestamptz,
  result jsonb,
  created timestamptz not null
);
create index approvals_status on approvals (status, id);

-- The audit log: one row per write or refusal, append-only, partitioned by day. Rows are chained
-- in lanes (a lane's head is locked only by the transaction appending to it), so no single head
-- row serializes every write.
create table audit_events (
  id text not null,
  created timestamptz not null,
  lane smallint not null,
  seq bigint not null,
  actor text not null,
  actor_kind text not null,
  credential text,
  merchant_id text,
  mode text,
  action text not null,
  object text,
  ip text,
  user_agent text,
  request_id text,
  outcome text not null check (outcome in ('success', 'refused')),
  status_code integer,
  changes jsonb,
  prev_hash text not null,
  hash text not null,
  primary key (id, created)
) partition by range (created);
create table audit_events_default partition of audit_events default;
create index audit_events_chain on audit_events (lane, seq);
create index audit_events_actor on audit_events (actor, id);
create index audit_events_object on audit_events (object, id);
create index audit_events_action on audit_events (action, id);
create index audit_events_merchant on audit_events (merchant_id, id);

create table audit_heads (
  lane smallint primary key,
  seq bigint not null,
  hash text not null
);
insert into audit_heads (lane, seq, hash)
select lane, 0, repeat('0', 64) from generate_series(0, 15) as lane;

create table audit_checkpoints (
  day date primary key,
  heads jsonb not null,
  created timestamptz not null
);

create function audit_events_refuse_change() returns trigger language plpgsql as $$
begin
  raise exception 'audit_events is append-only: % refused', tg_op using errcode = '42501';
end;
$$;
create trigger audit_events_append_only before update or delete on audit_events
  for each row execute function audit_events_refuse_change();
create trigger audit_events_no_truncate before truncate on audit_events_default
  for each statement execute function audit_events_refuse_change();
