-- Day partitions on idempotency_keys (issue 17), step 1 of 3. The table has no time-ordered id, so
-- it is partitioned by range of `created` (the claim's time). A unique key must contain the
-- partition key, so (merchant_id, mode, key) can no longer be unique across the table: a retry
-- that crosses midnight lands in another partition and would not conflict with the first request.
-- 0325 therefore enforces "one live claim per key" with a row trigger instead: a transaction
-- advisory lock per key (held to commit: a concurrent claim of the same key, in any partition, waits
-- for the first to commit or roll back) and then a lookup of the key in every partition, which
-- sees the first claim once committed (PL/pgSQL takes a fresh snapshot per statement). See
-- docs/scaling.md and test/idempotency/partitions.test.ts.
--
-- As for the other tables, nothing is copied: the table becomes the partition of everything
-- before the cutover (the start of the day after tomorrow, UTC), proved by a CHECK added here
-- without a scan, validated in 0324 without blocking writes, attached in 0325 without a scan.
insert into partitioned_tables (name, prefix, cutover_at, cutover_id, key_type)
select 'idempotency_keys', '', c.at, to_char(c.at at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), 'timestamptz'
from (select date_trunc('day', now() at time zone 'utc') at time zone 'utc' + interval '2 days' as at) c;

do $$
begin
  execute format('alter table idempotency_keys add constraint idempotency_keys_before_cutover check (created < %L::timestamptz) not valid',
    (select cutover_id from partitioned_tables where name = 'idempotency_keys'));
end
$$;
