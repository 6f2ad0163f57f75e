-- Time partitions, step 3 of 3, metadata only (no row is read or moved): each table is renamed
-- <name>_legacy and attached, without a scan (its validated CHECK proves the bound), as the first
-- partition of a new partitioned table of the same name and shape; a default partition takes ids
-- of days with no partition yet; the days from the cutover on get their own partition (the
-- partition job keeps creating them ahead and drops expired ones, src/db/partitions.ts).
do $$
declare
  t record;
  day timestamptz;
  defs text[];
  def text;
begin
  for t in select * from partitioned_tables order by name loop
    -- Every trigger of the table (ours and other capabilities', e.g. the webhook fan-out and the
    -- analytics feed on events) moves to the new parent: kept on the legacy partition, a
    -- statement trigger would no longer fire for inserts through the parent, and a row trigger
    -- would fire twice (the parent clones its row triggers onto its partitions).
    select coalesce(array_agg(pg_get_triggerdef(g.oid)), '{}') into defs
      from pg_trigger g where g.tgrelid = t.name::regclass and not g.tgisinternal;
    for def in select g.tgname from pg_trigger g where g.tgrelid = t.name::regclass and not g.tgisinternal loop
      execute format('drop trigger %I on %I', def, t.name);
    end loop;
    execute format('create table %I (like %I including defaults including constraints including indexes including storage) partition by range (id)',
      t.name || '_new', t.name);
    execute format('alter table %I drop constraint %I', t.name || '_new', t.name || '_before_cutover');
    execute format('alter table %I rename to %I', t.name, t.name || '_legacy');
    execute format('alter index %I rename to %I', t.name || '_pkey', t.name || '_legacy_pkey');
    execute format('alter table %I rename to %I', t.name || '_new', t.name);
    execute format('alter index %I rename to %I', t.name || '_new_pkey', t.name || '_pkey');
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
    -- The definitions name the table as it was called, which is now the partitioned parent.
    foreach def in array defs loop
      execute def;
    end loop;
  end loop;
end
$$;
