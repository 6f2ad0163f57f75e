-- Reconciliation backs off per payment (reconcile_checks: how many times the provider was asked
-- since the attempt went unknown), and an attempt the provider cannot account for is flagged for a
-- person (unresolved_since) instead of being decided failed. Both nullable: rows written from
-- JSON without them read as 0 checks and not flagged.
alter table payments add column reconcile_checks integer;
alter table payments add column unresolved_since timestamptz;

create index payments_unresolved on payments (merchant_id, mode, id)
  where unresolved_since is not null;
