-- Time partitions, step 3 of 3, metadata only (no row is read or moved): each table is renamed
-- <name>_legacy and attached, without a scan (its validated CHECK proves the bound), as the first
-- partition of a new partitioned table of the same name and shape; a default partition takes ids
-- of days with no partition yet; the days from the cutover on get their own partition (the
-- partition job keeps creating them ahead and drops expired ones, src/db/partitions.ts).
do $$
declare
  t record;
  day timestamptz;
begin
  for t in select * from partitioned_tables order by name loop
    execute format('create table %I (like %I including defaults including constraints including indexes including storage) partition by range (id)',
      t.name || '_new', t.name);
    execute format('alter table %I drop constraint %I', t.name || '_new', t.name || '_before_cutover');
    execute format('alter table %I rename to %I', t.name, t.name || '_legacy');
    execute format('alter index %I rename to %I', t.name || '_pkey', t.name || '_legacy_pkey');
    execute format('alter table %I rename to %I', t.name || '_new', t.name);
    execute format('alter index %I rename to %I', t.name || '_new_pkey', t.name || '_pkey');
    -- Row and statement triggers move to the new parent (below), which clones row triggers onto
    -- its partitions: the legacy table's own would fire twice.
    if t.name = 'provider_interactions' then
      drop trigger provider_interactions_stage_bodies on provider_interactions_legacy;
    elsif t.name = 'events' then
      drop trigger events_fan_out on events_legacy;
    end if;
    execute format('alter table %I attach partition %I for values from (minvalue) to (%L)',
      t.name, t.name || '_legacy', t.cutover_id);
    execute format('create table %I partition of %I default', t.name || '_default', t.name);
    day := t.cutover_at;
    while day < t.cutover_at + interval '7 days' loop
      execute format('create table %I partition of %I for values from (%L) to (%L)',
        t.name || '_p' || to_char(day at time zone 'utc', 'YYYYMMDD'), t.name,
        centime_id_floor(t.prefix, day), centime_id_floor(t.prefix, day + interval '1 day'));
      day := day + interval '1 day';
    end loop;
  end loop;
end
$$;

create trigger provider_interactions_stage_bodies before insert on provider_interactions
  for each row execute function provider_interactions_stage_bodies();

create trigger events_fan_out after insert on events
  referencing new table as new_events
  for each statement execute function webhooks_fan_out();
