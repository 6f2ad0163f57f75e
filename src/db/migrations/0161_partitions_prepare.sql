-- Time partitions on the append-only tables that exist already (issue 17), step 1 of 3.
-- provider_interactions, events and webhook_attempts become partitioned by day on their
-- time-ordered ids (`partition by range (id)`): the primary key and every lookup by id keep
-- working, and a day is a range of the key. The existing table is not copied: it becomes the
-- partition of everything before a cutover (the start of the day after tomorrow, UTC), proved by a
-- CHECK constraint added here without a scan (NOT VALID, a brief lock), validated in 0162 with a
-- lock that lets writes go on, and attached in 0163 without a scan. See docs/scaling.md.

-- The smallest id of a prefix at an instant: the same as idFloor() in src/platform/ids.ts.
create function centime_id_floor(prefix text, at timestamptz) returns text language plpgsql immutable as $$
declare
  ms bigint := floor(extract(epoch from at) * 1000);
  encoded text := '';
begin
  for i in 1..10 loop
    encoded := substr('0123456789abcdefghjkmnpqrstvwxyz', (ms % 32)::int + 1, 1) || encoded;
    ms := ms / 32;
  end loop;
  return prefix || '_' || encoded || repeat('0', 16);
end
$$;

-- The tables partitioned by day, their id prefix, and where their pre-partition history ends.
create table partitioned_tables (
  name text primary key,
  prefix text not null,
  cutover_at timestamptz not null,
  cutover_id text not null
);
insert into partitioned_tables (name, prefix, cutover_at, cutover_id)
select t.name, t.prefix, c.at, centime_id_floor(t.prefix, c.at)
from (values ('provider_interactions', 'ix'), ('events', 'evt'), ('webhook_attempts', 'wha')) as t(name, prefix)
cross join (select date_trunc('day', now() at time zone 'utc') at time zone 'utc' + interval '2 days' as at) c;

do $$
declare
  t record;
begin
  for t in select * from partitioned_tables loop
    execute format('alter table %I add constraint %I check (id < %L) not valid',
      t.name, t.name || '_before_cutover', t.cutover_id);
  end loop;
end
$$;
