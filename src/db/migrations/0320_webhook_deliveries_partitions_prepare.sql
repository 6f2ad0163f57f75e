-- Day partitions on webhook_deliveries (issue 17), step 1 of 3, like 0161–0163 for the other
-- tables: no row is copied. The queue keeps its bigint key, but new ids become time-ordered:
-- milliseconds since 2020-01-01 UTC times 2^20 plus a sequence (centime_delivery_id), so a UTC
-- day is a range of the key, the key stays the partition key (updates in place of status and lease
-- stay within a partition), webhook_attempts.delivery_id and the back office keep their type, and
-- every existing identity id (small numbers) lies below the cutover: the table becomes, as it is,
-- the partition of everything before the cutover (the start of the day after tomorrow, UTC),
-- proved by a CHECK added here without a scan (NOT VALID, a brief lock), validated in 0321
-- without blocking writes and attached in 0322 without a scan. See docs/scaling.md.

-- The same as sequenceIdFloor() in src/platform/ids.ts.
create function centime_delivery_id_floor(at timestamptz) returns bigint language sql immutable as $$
  select (floor(extract(epoch from at) * 1000)::bigint - 1577836800000) * 1048576
$$;

-- Within one millisecond, ids follow the sequence (the order of insertion, as the identity did).
create sequence webhook_deliveries_seq;
create function centime_delivery_id(at timestamptz) returns bigint language sql volatile as $$
  select centime_delivery_id_floor(at) + nextval('webhook_deliveries_seq') % 1048576
$$;

-- Tables keyed by such a bigint (rather than a prefixed text id), or by a time, say so.
alter table partitioned_tables add column key_type text not null default 'text'
  check (key_type in ('text', 'bigint', 'timestamptz'));

insert into partitioned_tables (name, prefix, cutover_at, cutover_id, key_type)
select 'webhook_deliveries', '', c.at, centime_delivery_id_floor(c.at)::text, 'bigint'
from (select date_trunc('day', now() at time zone 'utc') at time zone 'utc' + interval '2 days' as at) c;

do $$
begin
  execute format('alter table webhook_deliveries add constraint webhook_deliveries_before_cutover check (id < %s) not valid',
    (select cutover_id from partitioned_tables where name = 'webhook_deliveries'));
end
$$;
