-- Day partitions on analytics_feed, step 3 of 3, metadata only: the default partition is detached,
-- renamed analytics_feed_legacy (its indexes too) and attached again for everything before the
-- cutover (no scan: its validated CHECK proves the bound); a new, empty default partition and the
-- first 7 days (the partition job may have made some already) take the rest. The rows that waited
-- in analytics_feed_ahead (0356) go back through the parent with their xid and seq.
do $$
declare
  t partitioned_tables;
  ix record;
  day timestamptz;
  part text;
begin
  select * into strict t from partitioned_tables where name = 'analytics_feed';
  alter table analytics_feed detach partition analytics_feed_default;
  alter table analytics_feed_default rename to analytics_feed_legacy;
  for ix in
    select c.relname as name from pg_index i join pg_class c on c.oid = i.indexrelid
     where i.indrelid = 'analytics_feed_legacy'::regclass
  loop
    execute format('alter index %I rename to %I', ix.name, replace(ix.name, 'analytics_feed_default', 'analytics_feed_legacy'));
  end loop;
  create table analytics_feed_default partition of analytics_feed default;
  execute format('alter table analytics_feed attach partition analytics_feed_legacy for values from (minvalue) to (%L)',
    t.cutover_id);
  day := t.cutover_at;
  while day < t.cutover_at + interval '7 days' loop
    part := 'analytics_feed_p' || to_char(day at time zone 'utc', 'YYYYMMDD');
    execute format('create table if not exists %I partition of analytics_feed for values from (%L) to (%L)', part, day, day + interval '1 day');
    day := day + interval '1 day';
  end loop;
  insert into analytics_feed (seq, xid, event_id, created) overriding system value
  select seq, xid, event_id, created from analytics_feed_ahead;
  drop table analytics_feed_ahead;
end
$$;
