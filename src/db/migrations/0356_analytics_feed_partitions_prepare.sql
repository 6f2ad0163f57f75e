-- Day partitions on analytics_feed, step 1 of 3. The feed has been partitioned by range of
-- `created` since 0130, but with only its default partition, pruned by row deletes: two rows a
-- payment, so at 100 M payments a day billions of deletes a month. From 0358 on, a day is a
-- partition and goes whole (src/db/partitions.ts), once the rollups have counted all of it.
--
-- As for the other logs (0161-0163, 0323-0325) nothing is copied: the default partition becomes
-- the legacy partition of everything before the cutover (the start of the day after tomorrow,
-- UTC), proved by a CHECK added here without a scan (NOT VALID, a brief lock), validated in 0357
-- without blocking writes, attached in 0358 without a scan.
--
-- Rows dated at or after the cutover (events of a clock ahead of real time) cannot stay in the
-- legacy partition: they wait in analytics_feed_ahead and go back through the parent in 0358, with
-- their xid and seq, so a reader's (xid, seq) cursor sees them exactly as before.
insert into partitioned_tables (name, prefix, cutover_at, cutover_id, key_type)
select 'analytics_feed', '', c.at, to_char(c.at at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), 'timestamptz'
from (select date_trunc('day', now() at time zone 'utc') at time zone 'utc' + interval '2 days' as at) c;

create table analytics_feed_ahead (seq bigint not null, xid xid8 not null, event_id text not null, created timestamptz not null);

with moved as (
  delete from analytics_feed_default f
   using partitioned_tables t
   where t.name = 'analytics_feed' and f.created >= t.cutover_at
  returning f.seq, f.xid, f.event_id, f.created
)
insert into analytics_feed_ahead (seq, xid, event_id, created)
select seq, xid, event_id, created from moved;

do $$
begin
  execute format('alter table analytics_feed_default add constraint analytics_feed_before_cutover check (created < %L::timestamptz) not valid',
    (select cutover_id from partitioned_tables where name = 'analytics_feed'));
end
$$;
