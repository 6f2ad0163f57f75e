-- Payers: accounts of the people who pay (across merchants), their confirmed numbers and
-- addresses, one-time codes, rotated refresh sessions, refund requests to merchants, spending
-- caps and merchant blocks; messages sent to payers (and the development catcher). See docs/payers.md.

create table payers (
  id text primary key,
  -- Lower-cased; the address the account was created with (confirmed or not: see payer_identities).
  email text,
  -- scrypt$N$r$p$salt$hash, null for accounts made by a one-time code.
  password_hash text,
  -- Monthly spending caps per currency (minor units): {"EUR": 2000}.
  monthly_caps jsonb not null default '{}',
  created timestamptz not null,
  updated timestamptz not null
);
create unique index payers_email on payers (email) where email is not null;

-- The MSISDNs and e-mail addresses a payer holds. A confirmed identity belongs to one payer; what
-- it matches (payments, subscriptions) is what the payer sees. `live`: confirmed by a message
-- that really left (not one the development catcher kept), so live-mode data may be shown.
create table payer_identities (
  kind text not null check (kind in ('msisdn', 'email')),
  value text not null,
  payer_id text not null references payers (id),
  confirmed_at timestamptz,
  live boolean not null default false,
  created timestamptz not null,
  primary key (kind, value)
);
create index payer_identities_payer on payer_identities (payer_id);

-- One-time codes: only a keyed hash is kept; a few attempts; short-lived. Rows are deleted once
-- expired (a sweep), so the table stays small.
create table payer_codes (
  id text primary key,
  kind text not null check (kind in ('msisdn', 'email')),
  value text not null,
  code_hash text not null,
  attempts integer not null default 0,
  live boolean not null,
  expires_at timestamptz not null,
  used_at timestamptz,
  created timestamptz not null
);
create index payer_codes_recipient on payer_codes (kind, value, created);
create index payer_codes_expiry on payer_codes (expires_at);

-- Refresh tokens (hashed), rotated on every use; a family is revoked when a rotated one comes back.
create table payer_sessions (
  id text primary key,
  payer_id text not null references payers (id),
  family_id text not null,
  refresh_hash text not null unique,
  live boolean not null,
  expires_at timestamptz not null,
  rotated_at timestamptz,
  revoked_at timestamptz,
  created timestamptz not null
);
create index payer_sessions_family on payer_sessions (family_id);
create index payer_sessions_expiry on payer_sessions (expires_at);

create table payer_merchant_blocks (
  payer_id text not null references payers (id),
  merchant_id text not null,
  created timestamptz not null,
  primary key (payer_id, merchant_id)
);

-- A merchant's policy for payers' refund requests: amounts up to automatic_max (per currency,
-- minor units) are refunded at once; anything else waits for the merchant's answer.
create table refund_request_policies (
  merchant_id text not null,
  mode text not null,
  automatic_max jsonb not null default '{}',
  window_days integer not null default 180 check (window_days between 1 and 3650),
  updated timestamptz not null,
  primary key (merchant_id, mode)
);

-- At most one request per payment (the unique index is what makes "exactly once" hold however
-- often the button is pressed).
create table refund_requests (
  id text primary key,
  merchant_id text not null,
  mode text not null,
  payer_id text not null,
  payment_id text not null,
  amount bigint not null check (amount > 0),
  currency text not null,
  reason text,
  status text not null check (status in ('pending', 'approved', 'declined')),
  decision text check (decision in ('automatic', 'merchant')),
  decline_reason text,
  refund_id text,
  decided_at timestamptz,
  created timestamptz not null,
  updated timestamptz not null
);
create unique index refund_requests_payment on refund_requests (payment_id);
create index refund_requests_list on refund_requests (merchant_id, mode, id);
create index refund_requests_payer on refund_requests (payer_id, id);

-- Messages to payers (codes, receipts, confirmations, reminders), append-only, by day. The body
-- of a secret message (a code) is kept only when the development catcher holds it.
create table payer_messages (
  id text not null,
  created timestamptz not null,
  channel text not null check (channel in ('sms', 'email')),
  recipient text not null,
  kind text not null,
  locale text not null,
  subject text,
  body text,
  status text not null check (status in ('caught', 'sent', 'failed')),
  merchant_id text,
  mode text,
  reference text,
  primary key (created, id)
) partition by range (created);
create table payer_messages_default partition of payer_messages default;
create index payer_messages_recipient on payer_messages (recipient, created);

-- Finding a payer's charges across merchants: by the number a carrier payment or subscription
-- carries, by the customer's number or e-mail, by the e-mail a checkout session was given.
create index payments_payer_msisdn on payments ((payment_method->>'msisdn'), id)
  where payment_method->>'msisdn' is not null;
create index subscriptions_payer_msisdn on subscriptions ((payment_method->>'msisdn'), id)
  where payment_method->>'msisdn' is not null;
create index customers_payer_msisdn on customers (msisdn) where msisdn is not null;
create index customers_payer_email on customers (lower(email)) where email is not null;
create index checkout_sessions_payer_email on checkout_sessions (lower(payer->>'email'))
  where payer->>'email' is not null;
create index checkout_sessions_payer_msisdn on checkout_sessions ((payer->>'msisdn'))
  where payer->>'msisdn' is not null;

-- Billing events already turned into a message to the subscriber (confirmation, receipt,
-- reminder): claimed here first, so two workers never send one twice. Append-only, by day of the
-- event (the key includes it, so the claim is exact).
create table payer_notices (
  event_created timestamptz not null,
  event_id text not null,
  created timestamptz not null,
  primary key (event_created, event_id)
) partition by range (event_created);
create table payer_notices_default partition of payer_notices default;
